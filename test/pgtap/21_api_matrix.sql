-- The behaviour matrix: every API function, and plain SQL on the tables,
-- for each identity: anonymous, a plain user (no team), a member, a lead and
-- an owner of team T, and an admin (in no team).  'oth' owns team O and
-- private tasks nobody else but the admin may see.
--
-- No surrounding transaction: authenticate(token) signs in until the end of
-- the transaction, so each statement below carries exactly one identity.
-- pg_temp.outcome() runs one statement as one identity and then undoes it
-- (a subtransaction rolled back on purpose), so every cell of the matrix
-- starts from the same fixtures.  The fixtures are removed at the end.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tap_matrix_client') THEN
    CREATE ROLE tap_matrix_client LOGIN;
  END IF;
END $$;
GRANT taskmgmt_client TO tap_matrix_client;

CREATE TEMP TABLE who (name text PRIMARY KEY, id bigint, token text);
CREATE TEMP TABLE ids (name text PRIMARY KEY, id bigint);
CREATE TEMP TABLE m (n serial, kind text, stmt text,
                     anonymous text, usr text, mem text, led text, own text, adm text);
GRANT ALL ON who, ids, m, m_n_seq TO PUBLIC;

-- '{T}', '{tT}', '{usr}', ... in a statement stand for fixture ids.
CREATE FUNCTION pg_temp.expand(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT name, id FROM pg_temp.ids UNION ALL SELECT name, id FROM pg_temp.who LOOP
    stmt := replace(stmt, '{' || r.name || '}', r.id::text);
  END LOOP;
  RETURN stmt;
END $$;

-- Runs stmt as `who` and undoes it.  Answers the SQLSTATE it raised, or on
-- success 'ok' (calls) or the number of rows it touched (plain SQL).
CREATE FUNCTION pg_temp.outcome(who text, kind text, stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  st text;
  n bigint;
BEGIN
  IF who <> 'anonymous' THEN
    PERFORM taskmgmt.authenticate(w.token) FROM pg_temp.who w WHERE w.name = outcome.who;
  ELSIF taskmgmt.current_user_id() IS NOT NULL THEN
    RAISE EXCEPTION 'anonymous cell run while signed in';
  END IF;
  BEGIN
    EXECUTE pg_temp.expand(stmt);
    GET DIAGNOSTICS n = ROW_COUNT;
    RAISE EXCEPTION USING ERRCODE = 'TMZZZ';
  EXCEPTION WHEN OTHERS THEN
    st := SQLSTATE;
  END;
  RETURN CASE WHEN st <> 'TMZZZ' THEN st WHEN kind = 'rows' THEN n::text ELSE 'ok' END;
END $$;

SET ROLE tap_matrix_client;

-- Fixtures, built through the API itself.
INSERT INTO who (name, id)
SELECT n, (taskmgmt.register(n || '@matrix.test', n || ' matrix password', 'Matrix ' || n) ->> 'id')::bigint
  FROM unnest('{usr,mem,led,own,adm,oth}'::text[]) n;
RESET ROLE;
DO $$ BEGIN PERFORM taskmgmt.make_admin('adm@matrix.test'); END $$;
SET ROLE tap_matrix_client;
UPDATE who SET token = taskmgmt.password_grant(name || '@matrix.test', name || ' matrix password') ->> 'access_token';
DO $$
DECLARE
  t bigint;
  o bigint;
BEGIN
  PERFORM taskmgmt.authenticate(token) FROM who WHERE name = 'own';
  t := (taskmgmt.create_team('Matrix T') ->> 'id')::bigint;
  PERFORM taskmgmt.add_team_member(t, (SELECT id FROM who WHERE name = 'led'), 'lead');
  PERFORM taskmgmt.add_team_member(t, (SELECT id FROM who WHERE name = 'mem'), 'member');
  INSERT INTO ids VALUES ('T', t);
  -- E: the same members as T, and no task (a team with tasks cannot be deleted)
  o := (taskmgmt.create_team('Matrix E') ->> 'id')::bigint;
  PERFORM taskmgmt.add_team_member(o, (SELECT id FROM who WHERE name = 'led'), 'lead');
  PERFORM taskmgmt.add_team_member(o, (SELECT id FROM who WHERE name = 'mem'), 'member');
  INSERT INTO ids VALUES ('E', o);
  INSERT INTO ids VALUES ('tT', (taskmgmt.create_task(jsonb_build_object('title', 'T task', 'team_id', t)) ->> 'id')::bigint);
  PERFORM taskmgmt.authenticate(token) FROM who WHERE name = 'oth';
  o := (taskmgmt.create_team('Matrix O') ->> 'id')::bigint;
  INSERT INTO ids VALUES ('O', o);
  INSERT INTO ids VALUES ('tP', (taskmgmt.create_task('{"title": "oth private"}') ->> 'id')::bigint);
  INSERT INTO ids VALUES ('tO', (taskmgmt.create_task(jsonb_build_object('title', 'O task', 'team_id', o)) ->> 'id')::bigint);
  PERFORM taskmgmt.authenticate(token) FROM who WHERE name = 'usr';
  INSERT INTO ids VALUES ('tU', (taskmgmt.create_task('{"title": "usr private"}') ->> 'id')::bigint);
  -- C: created by usr, handed over to mem, then usr left it (#12.2)
  o := (taskmgmt.create_team('Matrix C') ->> 'id')::bigint;
  PERFORM taskmgmt.add_team_member(o, (SELECT id FROM who WHERE name = 'mem'), 'owner');
  PERFORM taskmgmt.remove_team_member(o, (SELECT id FROM who WHERE name = 'usr'));
  INSERT INTO ids VALUES ('C', o);
  INSERT INTO ids VALUES ('none', 999999999);
END $$;

-- The matrix.  28000 not signed in, 42501 not allowed, P0002 not found (or
-- not visible: the same), TM412 stale version, TM422 invalid, 23505 conflict.
INSERT INTO m (kind, stmt, anonymous, usr, mem, led, own, adm) VALUES
-- identity
('call', $$SELECT taskmgmt.register('new@matrix.test', 'a long password', 'New')$$, 'ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.register('OTH@matrix.test', 'a long password', 'Dup')$$, '23505', '23505', '23505', '23505', '23505', '23505'),
('call', $$SELECT taskmgmt.password_grant('oth@matrix.test', 'oth matrix password')$$, 'ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.authenticate('not.a.token')$$, '28000', '28000', '28000', '28000', '28000', '28000'),
('call', $$SELECT taskmgmt.refresh('not-a-refresh-token')$$, '28000', '28000', '28000', '28000', '28000', '28000'),
('call', $$SELECT taskmgmt.change_password('wrong current pw', 'a new long password')$$, '28000', '28P01', '28P01', '28P01', '28P01', '28P01'),
('call', $$SELECT taskmgmt.sign_out()$$, '28000', 'ok', 'ok', 'ok', 'ok', 'ok'),
-- profile and directory
('call', $$SELECT taskmgmt.me()$$, '28000', 'ok', 'ok', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.update_me('{"display_name": "Renamed", "timezone": "Asia/Tokyo"}')$$, '28000', 'ok', 'ok', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.update_me('{"role": "admin"}')$$, '28000', 'TM422', 'TM422', 'TM422', 'TM422', 'TM422'),
('call', $$SELECT taskmgmt.update_me('{"preferences": {"notifications": {"assigned": {"sms": true}}}}')$$, '28000', 'TM422', 'TM422', 'TM422', 'TM422', 'TM422'),
('call', $$SELECT taskmgmt.list_users(NULL, 10)$$, '28000', 'ok', 'ok', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.list_users(NULL, 0)$$, '28000', 'TM400', 'TM400', 'TM400', 'TM400', 'TM400'),
('call', $$SELECT taskmgmt.admin_update_user({usr}, '{"role": "admin"}')$$, '28000', '42501', '42501', '42501', '42501', 'ok'),
('call', $$SELECT taskmgmt.admin_update_user({none}, '{"role": "admin"}')$$, '28000', '42501', '42501', '42501', '42501', 'P0002'),
-- teams
('call', $$SELECT taskmgmt.create_team('New team')$$, '28000', 'ok', 'ok', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.create_team('')$$, '28000', 'TM422', 'TM422', 'TM422', 'TM422', 'TM422'),
('call', $$SELECT taskmgmt.list_teams()$$, '28000', 'ok', 'ok', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.get_team({T})$$, '28000', 'P0002', 'ok', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.get_team({O})$$, '28000', 'P0002', 'P0002', 'P0002', 'P0002', 'ok'),
('call', $$SELECT taskmgmt.get_team({none})$$, '28000', 'P0002', 'P0002', 'P0002', 'P0002', 'P0002'),
('call', $$SELECT taskmgmt.add_team_member({T}, {usr}, 'member')$$, '28000', 'P0002', '42501', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.add_team_member({T}, {usr}, 'lead')$$, '28000', 'P0002', '42501', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.add_team_member({T}, {usr}, 'owner')$$, '28000', 'P0002', '42501', '42501', 'ok', 'ok'),
('call', $$SELECT taskmgmt.add_team_member({T}, {own}, 'member')$$, '28000', 'P0002', '42501', '42501', 'TM422', 'TM422'),
('call', $$SELECT taskmgmt.add_team_member({O}, {usr}, 'member')$$, '28000', 'P0002', 'P0002', 'P0002', 'P0002', 'ok'),
('call', $$SELECT taskmgmt.add_team_member({none}, {usr}, 'member')$$, '28000', 'P0002', 'P0002', 'P0002', 'P0002', 'P0002'),
('call', $$SELECT taskmgmt.add_team_member({T}, {none}, 'member')$$, '28000', 'P0002', '42501', 'TM422', 'TM422', 'TM422'),
('call', $$SELECT taskmgmt.remove_team_member({T}, {mem})$$, '28000', 'P0002', 'ok', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.remove_team_member({T}, {led})$$, '28000', 'P0002', '42501', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.remove_team_member({T}, {own})$$, '28000', 'P0002', '42501', '42501', 'TM422', 'TM422'),
('call', $$SELECT taskmgmt.remove_team_member({T}, {usr})$$, '28000', 'P0002', 'P0002', 'P0002', 'P0002', 'P0002'),
('call', $$SELECT taskmgmt.remove_team_member({O}, {oth})$$, '28000', 'P0002', 'P0002', 'P0002', 'P0002', 'TM422'),
-- deleting a team: owners and admins, and only while no task refers to it (#12.1)
('call', $$SELECT taskmgmt.delete_team({E})$$, '28000', 'P0002', '42501', '42501', 'ok', 'ok'),
('call', $$SELECT taskmgmt.delete_team({T})$$, '28000', 'P0002', '42501', '42501', 'TM409', 'TM409'),
('call', $$SELECT taskmgmt.delete_team({O})$$, '28000', 'P0002', 'P0002', 'P0002', 'P0002', 'TM409'),
('call', $$SELECT taskmgmt.delete_team({none})$$, '28000', 'P0002', 'P0002', 'P0002', 'P0002', 'P0002'),
('call', $$SELECT taskmgmt.get_team({C})$$, '28000', 'P0002', 'ok', 'P0002', 'P0002', 'ok'),
('rows', $$SELECT FROM (SELECT taskmgmt.list_teams() AS l) x WHERE l @> jsonb_build_array(jsonb_build_object('id', {C}))$$, '28000', '0', '1', '0', '0', '1'),
-- tasks
('call', $$SELECT taskmgmt.create_task('{"title": "Mine"}')$$, '28000', 'ok', 'ok', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.create_task('{"title": ""}')$$, '28000', 'TM422', 'TM422', 'TM422', 'TM422', 'TM422'),
('call', $$SELECT taskmgmt.create_task('{"title": "x", "version": 3}')$$, '28000', 'TM422', 'TM422', 'TM422', 'TM422', 'TM422'),
('call', $$SELECT taskmgmt.create_task('{"title": "x", "team_id": {T}}')$$, '28000', 'TM422', 'ok', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.create_task('{"title": "x", "team_id": {O}}')$$, '28000', 'TM422', 'TM422', 'TM422', 'TM422', 'ok'),
('call', $$SELECT taskmgmt.create_task('{"title": "x", "team_id": {none}}')$$, '28000', 'TM422', 'TM422', 'TM422', 'TM422', 'TM422'),
('call', $$SELECT taskmgmt.create_task('{"title": "x", "assignee": {"type": "user", "id": {mem}}}')$$, '28000', '42501', 'ok', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.create_task('{"title": "x", "assignee": {"type": "user", "id": {led}}}')$$, '28000', '42501', '42501', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.create_task('{"title": "x", "assignee": {"type": "user", "id": {oth}}}')$$, '28000', '42501', '42501', '42501', '42501', 'ok'),
('call', $$SELECT taskmgmt.create_task('{"title": "x", "assignee": {"type": "team", "id": {T}}}')$$, '28000', '42501', 'ok', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.create_task('{"title": "x", "assignee": {"type": "team", "id": {O}}}')$$, '28000', '42501', '42501', '42501', '42501', 'ok'),
('call', $$SELECT taskmgmt.create_task('{"title": "x", "assignee": {"type": "team", "id": {none}}}')$$, '28000', '42501', '42501', '42501', '42501', 'TM422'),
('call', $$SELECT taskmgmt.get_task({tT})$$, '28000', 'P0002', 'ok', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.get_task({tP})$$, '28000', 'P0002', 'P0002', 'P0002', 'P0002', 'ok'),
('call', $$SELECT taskmgmt.get_task({tO})$$, '28000', 'P0002', 'P0002', 'P0002', 'P0002', 'ok'),
('call', $$SELECT taskmgmt.get_task({tU})$$, '28000', 'ok', 'P0002', 'P0002', 'P0002', 'ok'),
('call', $$SELECT taskmgmt.get_task({none})$$, '28000', 'P0002', 'P0002', 'P0002', 'P0002', 'P0002'),
('call', $$SELECT taskmgmt.update_task({tT}, '{"priority": "high"}', 1)$$, '28000', 'P0002', 'ok', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.update_task({tT}, '{"priority": "high"}', 7)$$, '28000', 'P0002', 'TM412', 'TM412', 'TM412', 'TM412'),
('call', $$SELECT taskmgmt.update_task({tT}, '{"priority": "high"}')$$, '28000', 'P0002', 'ok', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.update_task({tT}, '{"creator_id": {usr}}')$$, '28000', 'TM422', 'TM422', 'TM422', 'TM422', 'TM422'),
('call', $$SELECT taskmgmt.update_task({tT}, '{"assignee": {"type": "user", "id": {led}}}')$$, '28000', 'P0002', '42501', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.update_task({tT}, '{"team_id": {O}}')$$, '28000', 'P0002', 'TM422', 'TM422', 'TM422', 'ok'),
('call', $$SELECT taskmgmt.update_task({tP}, '{"priority": "high"}', 1)$$, '28000', 'P0002', 'P0002', 'P0002', 'P0002', 'ok'),
('call', $$SELECT taskmgmt.update_task({tP}, '{"priority": "high"}', 7)$$, '28000', 'P0002', 'P0002', 'P0002', 'P0002', 'TM412'),
('call', $$SELECT taskmgmt.update_task({none}, '{"priority": "high"}', 1)$$, '28000', 'P0002', 'P0002', 'P0002', 'P0002', 'P0002'),
('call', $$SELECT taskmgmt.delete_task({tT})$$, '28000', 'P0002', '42501', 'ok', 'ok', 'ok'),
('call', $$SELECT taskmgmt.delete_task({tP})$$, '28000', 'P0002', 'P0002', 'P0002', 'P0002', 'ok'),
('call', $$SELECT taskmgmt.delete_task({tU})$$, '28000', 'ok', 'P0002', 'P0002', 'P0002', 'ok'),
('call', $$SELECT taskmgmt.delete_task({none})$$, '28000', 'P0002', 'P0002', 'P0002', 'P0002', 'P0002'),
-- plain SQL: rows seen or touched, or the error
('rows', $$SELECT FROM taskmgmt.tasks WHERE id IN ({tT}, {tP}, {tO}, {tU})$$, '0', '1', '1', '1', '1', '4'),
('rows', $$SELECT FROM taskmgmt.tasks WHERE id = {tT}$$, '0', '0', '1', '1', '1', '1'),
('rows', $$SELECT FROM taskmgmt.teams WHERE id IN ({T}, {O})$$, '0', '0', '1', '1', '1', '2'),
('rows', $$SELECT FROM taskmgmt.team_members WHERE team_id IN ({T}, {O})$$, '0', '0', '3', '3', '3', '4'),
('rows', $$SELECT FROM taskmgmt.users WHERE id = {oth}$$, '0', '1', '1', '1', '1', '1'),
('rows', $$SELECT id, email, display_name, timezone, created_at, updated_at FROM taskmgmt.users WHERE id = {oth}$$, '0', '1', '1', '1', '1', '1'),
-- who is an admin, whose account is disabled: not for plain SQL (#12.2)
('rows', $$SELECT role FROM taskmgmt.users$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$SELECT FROM taskmgmt.users WHERE role = 'admin'$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$SELECT disabled FROM taskmgmt.users$$, '42501', '42501', '42501', '42501', '42501', '42501'),
-- the creator who left team C no longer sees it, not even its name (#12.2)
('rows', $$SELECT FROM taskmgmt.teams WHERE id = {C}$$, '0', '0', '1', '0', '0', '1'),
('rows', $$SELECT FROM taskmgmt.teams WHERE id = {C} AND taskmgmt._team_name(id) IS NOT NULL$$, '0', '0', '1', '0', '0', '1'),
('rows', $$SELECT preferences FROM taskmgmt.users WHERE id = {oth}$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$SELECT FROM taskmgmt.sessions$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$SELECT FROM taskmgmt.credentials$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$SELECT FROM taskmgmt.signing_keys$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$UPDATE taskmgmt.tasks SET title = 'by psql' WHERE id = {tT}$$, '0', '0', '1', '1', '1', '1'),
('rows', $$UPDATE taskmgmt.tasks SET title = 'by psql' WHERE id = {tP}$$, '0', '0', '0', '0', '0', '1'),
('rows', $$UPDATE taskmgmt.tasks SET version = 9 WHERE id = {tT}$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$UPDATE taskmgmt.tasks SET creator_id = {oth} WHERE id = {tT}$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$UPDATE taskmgmt.tasks SET assignee_user_id = {oth} WHERE id = {tT}$$, '0', '0', '42501', '42501', '42501', '1'),
('rows', $$UPDATE taskmgmt.tasks SET team_id = {O} WHERE id = {tT}$$, '0', '0', 'TM422', 'TM422', 'TM422', '1'),
('rows', $$DELETE FROM taskmgmt.tasks WHERE id = {tT}$$, '0', '0', '0', '1', '1', '1'),
('rows', $$DELETE FROM taskmgmt.tasks WHERE id = {tP}$$, '0', '0', '0', '0', '0', '1'),
('rows', $$INSERT INTO taskmgmt.tasks (title, creator_id) VALUES ('forged', {oth})$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$INSERT INTO taskmgmt.tasks (title, team_id) VALUES ('x', {O})$$, '42501', 'TM422', 'TM422', 'TM422', 'TM422', '1'),
('rows', $$INSERT INTO taskmgmt.tasks (title, team_id) VALUES ('x', {T})$$, '42501', 'TM422', '1', '1', '1', '1'),
('rows', $$INSERT INTO taskmgmt.tasks (id, title) OVERRIDING SYSTEM VALUE VALUES ({tP}, 'x')$$, '42501', '42501', '42501', '42501', '42501', '42501'),
-- server-set columns (#17): the server fills them in; naming one is refused
('rows', $$INSERT INTO taskmgmt.tasks (title) VALUES ('by psql')$$, '42501', '1', '1', '1', '1', '1'),
('rows', $$INSERT INTO taskmgmt.tasks (title, creator_id) SELECT 'x', taskmgmt.current_user_id()$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$INSERT INTO taskmgmt.tasks (title, created_at) VALUES ('x', '2000-01-01')$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$UPDATE taskmgmt.tasks SET updated_at = '2000-01-01' WHERE id = {tT}$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$UPDATE taskmgmt.users SET updated_at = '2000-01-01' WHERE id = taskmgmt.current_user_id()$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$INSERT INTO taskmgmt.teams (name) VALUES ('by psql')$$, '42501', '1', '1', '1', '1', '1'),
('rows', $$INSERT INTO taskmgmt.teams (name, created_by) SELECT 'x', taskmgmt.current_user_id()$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$INSERT INTO taskmgmt.team_members (team_id, user_id, added_at) VALUES ({T}, {usr}, '2000-01-01')$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$UPDATE taskmgmt.team_members SET added_at = '2000-01-01' WHERE team_id = {T}$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$INSERT INTO taskmgmt.comments (task_id, body, author_id) VALUES ({tT}, 'x', {oth})$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$INSERT INTO taskmgmt.comments (task_id, body, created_at) VALUES ({tT}, 'x', '2000-01-01')$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$UPDATE taskmgmt.comments SET edited_at = now() WHERE task_id = {tT}$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$INSERT INTO taskmgmt.task_events (task_id, kind, description, actor_id) VALUES ({tT}, 'progress', 'x', {oth})$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$INSERT INTO taskmgmt.task_events (task_id, kind, description, at) VALUES ({tT}, 'progress', 'x', '2000-01-01')$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$INSERT INTO taskmgmt.saved_views (name, user_id) VALUES ('v', {oth})$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$UPDATE taskmgmt.saved_views SET updated_at = '2000-01-01'$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$UPDATE taskmgmt.notifications SET created_at = '2000-01-01'$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$UPDATE taskmgmt.users SET role = 'admin' WHERE id = taskmgmt.current_user_id()$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$UPDATE taskmgmt.users SET disabled = true WHERE id = {oth}$$, '42501', '42501', '42501', '42501', '42501', '42501'),
('rows', $$UPDATE taskmgmt.users SET display_name = 'x' WHERE id = {usr}$$, '0', '1', '0', '0', '0', '1'),
('rows', $$UPDATE taskmgmt.teams SET name = 'x' WHERE id = {T}$$, '0', '0', '0', '1', '1', '1'),
-- plain DELETE: a lead may not delete the team (it would drop the owners' memberships)
('rows', $$DELETE FROM taskmgmt.teams WHERE id = {E}$$, '0', '0', '0', '0', '1', '1'),
('rows', $$DELETE FROM taskmgmt.teams WHERE id = {T}$$, '0', '0', '0', '0', 'TM409', 'TM409'),
('rows', $$DELETE FROM taskmgmt.teams WHERE id = {O}$$, '0', '0', '0', '0', '0', 'TM409'),
('rows', $$INSERT INTO taskmgmt.team_members (team_id, user_id) VALUES ({T}, {usr})$$, '42501', '42501', '42501', '1', '1', '1'),
('rows', $$INSERT INTO taskmgmt.team_members (team_id, user_id, role) VALUES ({T}, {usr}, 'owner')$$, '42501', '42501', '42501', '42501', '1', '1'),
('rows', $$INSERT INTO taskmgmt.team_members (team_id, user_id) VALUES ({O}, taskmgmt.current_user_id())$$, '42501', '42501', '42501', '42501', '42501', '1'),
('rows', $$UPDATE taskmgmt.team_members SET role = 'lead' WHERE team_id = {T} AND user_id = {mem}$$, '0', '0', '0', '1', '1', '1'),
('rows', $$UPDATE taskmgmt.team_members SET role = 'owner' WHERE team_id = {T} AND user_id = {led}$$, '0', '0', '0', '42501', '1', '1'),
('rows', $$DELETE FROM taskmgmt.team_members WHERE team_id = {T} AND user_id = {mem}$$, '0', '0', '1', '1', '1', '1'),
('rows', $$DELETE FROM taskmgmt.team_members WHERE team_id = {T} AND user_id = {own}$$, '0', '0', '0', '0', 'TM422', 'TM422');

SELECT plan((SELECT count(*)::int * 6 FROM m) + 7);

-- Who is who (and the anonymous column really is anonymous).
SELECT is(taskmgmt.current_user_id(), NULL, 'anonymous: current_user_id() is NULL');
SELECT is((SELECT taskmgmt.authenticate(token) FROM who WHERE name = w), (SELECT id FROM who WHERE name = w),
          w || ': authenticate() signs in as ' || w)
  FROM unnest('{usr,mem,led,own,adm}'::text[]) w;
SELECT is(taskmgmt.current_user_id(), NULL, 'and the identity ends with the transaction');

SELECT is(pg_temp.outcome('anonymous', kind, stmt), anonymous, 'anonymous: ' || stmt) FROM m ORDER BY n;
SELECT is(pg_temp.outcome('usr', kind, stmt), usr, 'user: ' || stmt) FROM m ORDER BY n;
SELECT is(pg_temp.outcome('mem', kind, stmt), mem, 'member: ' || stmt) FROM m ORDER BY n;
SELECT is(pg_temp.outcome('led', kind, stmt), led, 'lead: ' || stmt) FROM m ORDER BY n;
SELECT is(pg_temp.outcome('own', kind, stmt), own, 'owner: ' || stmt) FROM m ORDER BY n;
SELECT is(pg_temp.outcome('adm', kind, stmt), adm, 'admin: ' || stmt) FROM m ORDER BY n;

SELECT * FROM finish();

-- Remove the fixtures.
RESET ROLE;
DELETE FROM taskmgmt.tasks WHERE creator_id IN (SELECT id FROM who);
DELETE FROM taskmgmt.teams WHERE id IN (SELECT id FROM ids WHERE name IN ('T', 'O', 'E', 'C'));
DELETE FROM taskmgmt.users WHERE id IN (SELECT id FROM who);
