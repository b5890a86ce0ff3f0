-- Server-set columns stay server-set whatever the door, plain SQL included
-- (#17): times and versions move by themselves, the actor is the signed-in
-- user, and a client that names such a column is refused (42501; the
-- privileges themselves are listed in 20_schema_policies.sql and the
-- identity matrix in 21_api_matrix.sql).  The suite runs as a plain member
-- of taskmgmt_client, signed in, and checks as the superuser.
\ir 8_notify_helpers.psql
BEGIN;
SELECT plan(31);

SELECT pg_temp.mkuser('Sam') AS sam, pg_temp.mkuser('Val') AS val \gset
-- Old times, written with triggers off (as a restore does), so that "set by
-- the server" shows as "= now()" inside this one transaction.
CREATE FUNCTION pg_temp.backdate(stmt text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  SET LOCAL session_replication_role = replica;
  EXECUTE stmt;
  SET LOCAL session_replication_role = origin;
END
$$;
SELECT pg_temp.backdate(format('UPDATE taskmgmt.users SET updated_at = %L WHERE id IN (%s, %s)',
                               '2000-01-01', :sam, :val));

-- ------------------------------------------------------------------ users
SET ROLE tap_notify;
SELECT pg_temp.as_user(:sam) \gset
SELECT is(pg_temp.err(format('UPDATE taskmgmt.users SET updated_at = %L WHERE id = %s', '2000-01-02', :sam)),
          '42501: permission denied for table users', 'a user cannot set their own updated_at');
UPDATE taskmgmt.users SET display_name = display_name WHERE id = :sam;
RESET ROLE;
SELECT is((SELECT updated_at FROM taskmgmt.users WHERE id = :sam), '2000-01-01'::timestamptz,
          'an UPDATE that changes nothing leaves updated_at alone');
SET ROLE tap_notify;
UPDATE taskmgmt.users SET display_name = 'Sammy' WHERE id = :sam;
RESET ROLE;
SELECT is((SELECT updated_at FROM taskmgmt.users WHERE id = :sam), now(),
          'a plain-SQL profile change moves updated_at');
SELECT pg_temp.backdate(format('UPDATE taskmgmt.users SET updated_at = %L WHERE id = %s', '2000-01-01', :sam));
SET ROLE tap_notify;
SELECT taskmgmt.update_me('{"timezone": "Europe/Paris"}') IS NOT NULL AS ok \gset
RESET ROLE;
SELECT is((SELECT updated_at FROM taskmgmt.users WHERE id = :sam), now(), 'so does update_me()');
UPDATE taskmgmt.users SET updated_at = '1999-01-01', display_name = 'Sam again' WHERE id = :sam;
SELECT is((SELECT updated_at FROM taskmgmt.users WHERE id = :sam), now(),
          'even a DBA''s UPDATE keeps updated_at the server''s (restores run with triggers off)');

-- ------------------------------------------------------------------ tasks
SET ROLE tap_notify;
SELECT pg_temp.as_user(:sam) \gset
INSERT INTO taskmgmt.tasks (title) VALUES ('psql task') RETURNING id AS t1, creator_id AS t1_creator \gset
SELECT is(:t1_creator::bigint, :'sam'::bigint, 'a task inserted in plain SQL is created by the signed-in user');
SELECT is(pg_temp.err(format('INSERT INTO taskmgmt.tasks (title, creator_id) VALUES (%L, %s)', 'x', :sam)),
          '42501: permission denied for table tasks', 'creator_id cannot be given, not even one''s own id');
SELECT is(pg_temp.err(format('INSERT INTO taskmgmt.tasks (title, creator_id) VALUES (%L, %s)', 'x', :val)),
          '42501: permission denied for table tasks', '... nor someone else''s');
SELECT is((taskmgmt.create_task('{"title": "api task"}') ->> 'creator_id')::bigint, :'sam'::bigint,
          'create_task() still records its caller');
SELECT is(pg_temp.err('SELECT taskmgmt.create_task(''{"title": "x", "creator_id": 1}'')'),
          'TM422: creator_id is read-only', 'and refuses a creator_id in its JSON');
RESET ROLE;
SELECT is((SELECT (created_at, updated_at, version) FROM taskmgmt.tasks WHERE id = :t1)::text,
          (now(), now(), 1)::text, 'created_at, updated_at and version are the server''s');

-- ------------------------------------------------------------------ teams
SET ROLE tap_notify;
SELECT pg_temp.as_user(:sam) \gset
INSERT INTO taskmgmt.teams (name) VALUES ('psql team') RETURNING id AS team, created_by AS team_creator \gset
SELECT is(:team_creator::bigint, :'sam'::bigint, 'a team inserted in plain SQL is created by the signed-in user');
SELECT is(pg_temp.err(format('INSERT INTO taskmgmt.teams (name, created_by) VALUES (%L, %s)', 'x', :sam)),
          '42501: permission denied for table teams', 'created_by cannot be given');
SELECT is(taskmgmt.create_team('api team') ->> 'name', 'api team', 'create_team() still works');
INSERT INTO taskmgmt.team_members (team_id, user_id, role) VALUES (:team, :sam, 'owner');
SELECT is(pg_temp.err(format('INSERT INTO taskmgmt.team_members (team_id, user_id, added_at) VALUES (%s, %s, %L)',
                             :team, :val, '2000-01-01')),
          '42501: permission denied for table team_members', 'added_at cannot be given');
RESET ROLE;
SELECT is((SELECT added_at FROM taskmgmt.team_members WHERE team_id = :team AND user_id = :sam), now(),
          'added_at is the server''s');

-- ------------------------------------------------------- comments, history
SET ROLE tap_notify;
SELECT pg_temp.as_user(:sam) \gset
INSERT INTO taskmgmt.comments (task_id, body) VALUES (:t1, 'first') RETURNING id AS c1, author_id AS c1_author \gset
SELECT is(:c1_author::bigint, :'sam'::bigint, 'a comment inserted in plain SQL is written by the signed-in user');
INSERT INTO taskmgmt.task_events (task_id, kind, description) VALUES (:t1, 'progress', 'halfway')
  RETURNING actor_id AS e1_actor, at = now() AS e1_now \gset
SELECT is(:e1_actor::bigint, :'sam'::bigint, 'a progress update in plain SQL is by the signed-in user');
SELECT ok(:'e1_now'::boolean, '... at the server''s time');
RESET ROLE;
SELECT pg_temp.backdate(format('UPDATE taskmgmt.comments SET created_at = %L, edited_at = %L WHERE id = %s',
                               '2000-01-01', '2000-01-01', :c1));
SET ROLE tap_notify;
UPDATE taskmgmt.comments SET body = 'edited' WHERE id = :c1;
RESET ROLE;
SELECT is((SELECT (created_at, edited_at)::text FROM taskmgmt.comments WHERE id = :c1),
          ('2000-01-01'::timestamptz, now())::text, 'editing moves edited_at and keeps created_at');
SET ROLE tap_notify;
UPDATE taskmgmt.comments SET deleted_at = '2000-01-01' WHERE id = :c1;
RESET ROLE;
SELECT is((SELECT deleted_at FROM taskmgmt.comments WHERE id = :c1), now(),
          'deleting records the server''s time, not the one given');

-- ------------------------------------------------------------ saved views
SET ROLE tap_notify;
SELECT pg_temp.as_user(:sam) \gset
SELECT (taskmgmt.save_view('mine', '{"status": "todo"}') ->> 'name') AS v \gset
RESET ROLE;
SELECT pg_temp.backdate(format('UPDATE taskmgmt.saved_views SET updated_at = %L WHERE user_id = %s', '2000-01-01', :sam));
SET ROLE tap_notify;
SELECT is(pg_temp.err('UPDATE taskmgmt.saved_views SET updated_at = now()'),
          '42501: permission denied for table saved_views', 'a view''s updated_at cannot be set');
UPDATE taskmgmt.saved_views SET name = 'renamed';
RESET ROLE;
SELECT is((SELECT updated_at FROM taskmgmt.saved_views WHERE user_id = :sam), now(),
          'renaming a view in plain SQL moves its updated_at');
SELECT pg_temp.backdate(format('UPDATE taskmgmt.saved_views SET updated_at = %L WHERE user_id = %s', '2000-01-01', :sam));
SET ROLE tap_notify;
SELECT (taskmgmt.set_default_view('renamed') ->> 'is_default') AS is_default \gset
SELECT is(:'is_default'::text, 'true', 'set_default_view() still works');
SELECT (taskmgmt.save_view('renamed', '{"status": "done"}') ->> 'name') AS v \gset
RESET ROLE;
SELECT is((SELECT updated_at FROM taskmgmt.saved_views WHERE user_id = :sam), now(),
          'and save_view() moves updated_at');

-- ---------------------------------------------------------- notifications
INSERT INTO taskmgmt.tasks (title, creator_id) VALUES ('Val''s', :val) RETURNING id AS t2 \gset
-- with an id, as if published (the suite never commits)
INSERT INTO taskmgmt.notifications (id, user_id, event, task_id, message)
VALUES (nextval('taskmgmt.notifications_id_seq'), :val, 'updated', :t2, 'hello');
SET ROLE tap_notify;
SELECT pg_temp.as_user(:val) \gset
UPDATE taskmgmt.notifications SET read_at = '2000-01-01';
RESET ROLE;
SELECT is((SELECT read_at FROM taskmgmt.notifications WHERE user_id = :val), now(),
          'marking a notification read in plain SQL records the server''s time');
SELECT pg_temp.backdate(format('UPDATE taskmgmt.notifications SET read_at = %L WHERE user_id = %s', '2001-01-01', :val));
SET ROLE tap_notify;
UPDATE taskmgmt.notifications SET read_at = '2030-01-01';
RESET ROLE;
SELECT is((SELECT read_at FROM taskmgmt.notifications WHERE user_id = :val), '2001-01-01'::timestamptz,
          'a read notification keeps the time it was read');
SET ROLE tap_notify;
UPDATE taskmgmt.notifications SET read_at = NULL;
RESET ROLE;
SELECT is((SELECT read_at FROM taskmgmt.notifications WHERE user_id = :val), NULL,
          'it can be marked unread again');
SET ROLE tap_notify;
SELECT is(pg_temp.err('UPDATE taskmgmt.notifications SET created_at = now()'),
          '42501: permission denied for table notifications', 'nothing else of it can be changed');
SELECT is(taskmgmt.mark_all_read(), 1, 'mark_all_read() still works');
RESET ROLE;
SELECT is((SELECT read_at FROM taskmgmt.notifications WHERE user_id = :val), now(), '... at the server''s time');

SELECT * FROM finish();
ROLLBACK;
