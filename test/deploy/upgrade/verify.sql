-- After ALTER EXTENSION taskmgmt UPDATE: the data made by data.sql is all
-- there and the API works on it.  Needs -v token=... task_id=... team_id=...
-- Prints "label|value" lines that the suite compares with what it expects.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only on
SET client_min_messages = warning;
SET search_path = taskmgmt, public;
SET ROLE deploy_upgrade_client;
BEGIN;
SELECT 'token_still_valid', authenticate(:'token') IS NOT NULL;
SELECT 'task', concat_ws(',', t ->> 'title', t ->> 'status', t ->> 'priority', t ->> 'version',
                         t -> 'assignee' ->> 'type', t -> 'tags' ->> 0)
  FROM get_task(:task_id) AS t;
SELECT 'update_with_version', update_task(:task_id, '{"priority": "urgent"}', 2) ->> 'version';
SELECT 'team', string_agg(x ->> 'name', ',') FROM jsonb_array_elements(list_teams()) AS x;
SELECT 'me', me() ->> 'email';
COMMIT;
SELECT 'member_password_sign_in', sign_in('up-member@example.com', 'correct horse battery staple') ? 'access_token';
SELECT 'member_sees_tasks', count(*) FROM tasks;
SELECT 'member_task_priority', get_task(:task_id) ->> 'priority';
SELECT 'member_sign_out', count(*) = 1 FROM (SELECT sign_out()) s;
SELECT 'outsider_sign_in', sign_in('up-outsider@example.com', 'correct horse battery staple') ? 'access_token';
SELECT 'outsider_sees_tasks', count(*) FROM tasks;
SELECT 'outsider_new_task', create_task('{"title": "After the upgrade"}') ->> 'version';
SELECT 'outsider_sign_out', count(*) = 1 FROM (SELECT sign_out()) s;
SELECT 'signed_out_sees_tasks', count(*) FROM tasks;
RESET ROLE;
-- the update counted the tasks into the tallies of an admin's report (87_reports.sql)
SELECT 'tallies_count_tasks', (SELECT sum(n) FROM task_tallies) = (SELECT count(*) FROM tasks) AND count(*) > 0 FROM tasks;
