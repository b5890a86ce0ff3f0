-- The readable doors for psql users (my_tasks, task_rows, task_history_rows,
-- comment_thread_rows): the same rows as the API, and row-level security
-- exactly as for the API: a task you may not see is in none of them, its
-- history and thread do not exist for you, and signed out you get nothing.
\ir 7_workflow_helpers.psql
BEGIN;
SET ROLE tap_workflow;
SELECT pg_temp.wf_user('ann') AS ann, pg_temp.wf_user('bob') AS bob, pg_temp.wf_user('carol') AS carol \gset
SELECT plan(27);

SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.create_team('Design') ->> 'id')::bigint AS team \gset
SELECT taskmgmt.add_team_member(:team, :bob, 'member') IS NOT NULL AS added \gset
SELECT (taskmgmt.create_task('{"title": "ann private", "tags": ["x"]}') ->> 'id')::bigint AS t_private \gset
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'team work', 'team_id', :team, 'priority', 'high',
          'assignee', jsonb_build_object('type', 'team', 'id', :team))) ->> 'id')::bigint AS t_team \gset
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'for bob', 'due_date', '2030-01-15',
          'assignee', jsonb_build_object('type', 'user', 'id', :bob))) ->> 'id')::bigint AS t_bob \gset
SELECT taskmgmt.update_task(:t_bob, '{"status": "in_progress"}', 1) IS NOT NULL AS updated \gset
SELECT taskmgmt.add_update(:t_private, 'halfway') IS NOT NULL AS progress \gset
SELECT (taskmgmt.add_comment(:t_private, 'root') ->> 'id')::bigint AS c1 \gset
SELECT (taskmgmt.add_comment(:t_private, 'gone') ->> 'id')::bigint AS c3 \gset
SELECT (taskmgmt.add_comment(:t_private, 'a reply', :c1) ->> 'id')::bigint AS c2 \gset
SELECT taskmgmt.delete_comment(:c3) IS NULL AS deleted \gset
SELECT pg_temp.wf_as('carol') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.create_task('{"title": "carol private"}') ->> 'id')::bigint AS t_carol \gset

-- ---- what the functions run as ----
SELECT is(ARRAY(SELECT p.proname::text FROM pg_proc p
                 WHERE p.pronamespace = 'taskmgmt'::regnamespace AND p.prosecdef
                   AND p.proname IN ('_task_row', 'task_rows', 'task_history_rows', 'comment_thread_rows')),
          '{}'::text[], 'the row functions run as the caller (SECURITY INVOKER)');
SELECT ok((SELECT 'security_invoker=true' = ANY (c.reloptions) FROM pg_class c WHERE c.oid = 'taskmgmt.my_tasks'::regclass),
          'my_tasks is a security_invoker view');

-- ---- carol: only her own ----
SELECT is(ARRAY(SELECT id FROM taskmgmt.my_tasks), ARRAY[:t_carol]::bigint[], 'carol: my_tasks shows only her task');
SELECT is(ARRAY(SELECT id FROM taskmgmt.task_rows()), ARRAY[:t_carol]::bigint[], 'carol: task_rows() too');
SELECT is(ARRAY(SELECT id FROM taskmgmt.task_rows('{"q": "private"}')), ARRAY[:t_carol]::bigint[],
          'carol: a filter matching ann''s task finds only hers');
SELECT is(pg_temp.wf_err(format('SELECT * FROM taskmgmt.task_history_rows(%s)', :t_private)), 'P0002 task not found',
          'carol: ann''s task has no history for her (not found, as task_history)');
SELECT is(pg_temp.wf_err(format('SELECT * FROM taskmgmt.comment_thread_rows(%s)', :t_private)), 'P0002 task not found',
          'carol: nor a thread');
SELECT is(pg_temp.wf_err('SELECT * FROM taskmgmt.task_history_rows(999999999)'), 'P0002 task not found',
          'the same answer as for a task that does not exist');

-- ---- bob: the team's task and his own ----
SELECT pg_temp.wf_as('bob') IS NOT NULL AS signed_in \gset
SELECT is(ARRAY(SELECT id FROM taskmgmt.my_tasks), ARRAY[:t_bob, :t_team]::bigint[], 'bob: my_tasks, newest first');
SELECT is(ARRAY(SELECT id FROM taskmgmt.my_tasks ORDER BY id), ARRAY(SELECT id FROM taskmgmt.tasks ORDER BY id),
          'bob: exactly the tasks the table shows him');
SELECT is(ARRAY(SELECT id FROM taskmgmt.task_rows('{"assignee": "me"}')), ARRAY[:t_bob]::bigint[], 'bob: task_rows takes the list filter');
SELECT is(ARRAY(SELECT id FROM taskmgmt.task_rows('{"sort": "title"}')),
          ARRAY(SELECT (i ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.list_tasks('{"sort": "title"}') -> 'items') WITH ORDINALITY x(i, o) ORDER BY o),
          'bob: in the list''s order');
SELECT is((SELECT row(title, status, priority, due_date, assignee, team, tags, version)::text FROM taskmgmt.my_tasks WHERE id = :t_bob),
          row('for bob', 'in_progress', 'none', '2030-01-15', 'Bob', NULL, '{}', 2)::text, 'bob: a readable row (names, not ids)');
SELECT is((SELECT row(assignee, team, priority)::text FROM taskmgmt.task_rows() WHERE id = :t_team),
          row('Design (team)', 'Design', 'high')::text, 'bob: a team assignee and owning team by name');
SELECT is(pg_temp.wf_err('SELECT * FROM taskmgmt.task_rows(''{"limit": 5}'')'),
          'TM400 [limit] limit: is not a parameter of task_rows, which returns every matching task (use LIMIT)',
          'task_rows refuses limit (SQL''s LIMIT does that)');
SELECT is(pg_temp.wf_err('SELECT * FROM taskmgmt.task_rows(''{"colour": "red"}'')'),
          'TM400 [colour] colour: is not a known parameter', 'and unknown keys, like the list');
SELECT is((SELECT array_agg(row(kind, actor, description)::text ORDER BY id DESC) FROM taskmgmt.task_history_rows(:t_bob)),
          ARRAY(SELECT row(i ->> 'kind', i ->> 'actor_name', i ->> 'description')::text
                  FROM jsonb_array_elements(taskmgmt.task_history(:t_bob) -> 'items') WITH ORDINALITY x(i, o) ORDER BY o),
          'bob: task_history_rows has task_history''s events');
SELECT is(ARRAY(SELECT id FROM taskmgmt.task_history_rows(:t_bob)),
          ARRAY(SELECT id FROM taskmgmt.task_history_rows(:t_bob) ORDER BY id DESC), '... newest first');
SELECT is(pg_temp.wf_err(format('SELECT * FROM taskmgmt.task_history_rows(%s)', :t_private)), 'P0002 task not found',
          'bob: ann''s private task has no history for him');
SELECT is(pg_temp.wf_err(format('SELECT * FROM taskmgmt.comment_thread_rows(%s)', :t_private)), 'P0002 task not found',
          'bob: nor a thread');
SELECT ok(NOT EXISTS (SELECT FROM taskmgmt.my_tasks WHERE id IN (:t_private, :t_carol)), 'bob: nobody else''s private task');

-- ---- ann: her thread ----
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT is((SELECT array_agg(row(id, depth, author, comment)::text) FROM taskmgmt.comment_thread_rows(:t_private)),
          ARRAY[row(:c1, 0, 'Ann', 'root')::text, row(:c2, 1, 'Ann', '  a reply')::text, row(:c3, 0, 'Ann', '(deleted)')::text],
          'ann: the thread in display order, replies indented, a deleted comment as (deleted)');
SELECT is((SELECT array_agg(id) FROM taskmgmt.comment_thread_rows(:t_private)),
          ARRAY(SELECT (c ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.comment_thread(:t_private)) WITH ORDINALITY x(c, o) ORDER BY o),
          'ann: the same order as comment_thread');
SELECT is((SELECT count(*)::int FROM taskmgmt.task_history_rows(:t_private) WHERE kind = 'progress' AND description = 'halfway' AND actor = 'Ann'),
          1, 'ann: progress updates are in the history with their author');

-- ---- signed out: nothing ----
SELECT taskmgmt.sign_out() IS NULL AS signed_out \gset
SELECT is((SELECT count(*)::int FROM taskmgmt.my_tasks), 0, 'signed out: my_tasks is empty');
SELECT is(pg_temp.wf_err('SELECT * FROM taskmgmt.task_rows()'), '28000 not signed in', 'signed out: task_rows refuses');
SELECT is(pg_temp.wf_err(format('SELECT * FROM taskmgmt.task_history_rows(%s)', :t_bob))
          || ' / ' || pg_temp.wf_err(format('SELECT * FROM taskmgmt.comment_thread_rows(%s)', :t_bob)),
          '28000 not signed in / 28000 not signed in', 'signed out: history and thread refuse');

SELECT * FROM finish();
ROLLBACK;
