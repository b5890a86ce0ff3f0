-- Data for the restore suite, made through the SQL API as clients do: every
-- trigger that derives rows (history, versions, mentions, notifications,
-- email) has fired once.  Prints the tokens restore.sh needs as name=value.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET search_path = taskmgmt, public;
SET ROLE restore_client;
SELECT register('ada@example.com', 'correct horse battery staple', 'Ada') ->> 'id' AS ada \gset
SELECT register('bob@example.com', 'correct horse battery staple', 'Bob') ->> 'id' AS bob \gset
SELECT password_grant('bob@example.com', 'correct horse battery staple') AS bob_tokens \gset
SELECT sign_in('ada@example.com', 'correct horse battery staple') IS NOT NULL AS signed_in \gset
SELECT create_team('Restorers') ->> 'id' AS team \gset
-- a webhook: every change below queues a delivery, which a restore must not queue again
SELECT create_webhook('{"url": "https://hooks.example.com/restore"}') IS NOT NULL AS hooked \gset
SELECT add_team_member(:team, :bob, 'member') IS NOT NULL AS added \gset
SELECT create_task(jsonb_build_object(
         'title', 'Restore the backup', 'priority', 'high', 'team_id', :team, 'tags', jsonb_build_array('ops'),
         'assignee', jsonb_build_object('type', 'user', 'id', :bob))) ->> 'id' AS t1 \gset
SELECT create_task(jsonb_build_object('title', 'Team task', 'due_date', current_date + 1,
         'assignee', jsonb_build_object('type', 'team', 'id', :team))) ->> 'id' AS t2 \gset
SELECT update_task(:t1, '{"status": "in_progress"}', 1) ->> 'version' AS v \gset
SELECT update_task(:t1, '{"description": "from the nightly dump", "priority": "urgent"}', 2) ->> 'version' AS v \gset
SELECT add_update(:t1, 'copied the dump to the new host') IS NOT NULL AS progress \gset
SELECT add_comment(:t1, 'Please check this, @bob') ->> 'id' AS c1 \gset
SELECT add_comment(:t1, 'and the @bob@example.com address', :c1) IS NOT NULL AS replied \gset
SELECT save_view('Mine', '{"assignee": "me"}', true) IS NOT NULL AS saved \gset
-- planning: a subtask, then a change to its parent (the parent's row moves
-- behind the subtask's, so the dump lists the subtask first), a relation,
-- and a recurring task done once (its next occurrence exists)
SELECT create_task(jsonb_build_object('title', 'Check the checksums', 'parent_id', :t1)) ->> 'id' AS sub \gset
SELECT update_task(:t1, '{"priority": "high"}', :v) ->> 'version' AS v \gset
SELECT add_relation(:t2, jsonb_build_object('type', 'blocks', 'task_id', :t1)) IS NOT NULL AS related \gset
SELECT create_task(jsonb_build_object('title', 'Weekly restore drill', 'recurrence', 'FREQ=WEEKLY',
         'due_date', current_date)) ->> 'id' AS drill \gset
SELECT update_task(:drill, '{"status": "done"}', 1) IS NOT NULL AS drilled \gset
SELECT sign_out() IS NULL AS signed_out \gset
RESET ROLE;
-- the mailer sent the first message; the others are still pending
UPDATE taskmgmt.email_outbox SET status = 'sent', attempts = 1, sent_at = now()
 WHERE id = (SELECT min(id) FROM taskmgmt.email_outbox);
SELECT :'bob_tokens'::jsonb ->> 'access_token' AS bob_access,
       :'bob_tokens'::jsonb ->> 'refresh_token' AS bob_refresh \gset
\echo bob_access=:bob_access
\echo bob_refresh=:bob_refresh
