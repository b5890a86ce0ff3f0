-- The task tallies behind an admin's report (87_reports.sql): they follow
-- every write (API, plain SQL, TRUNCATE; replica mode skips them, and
-- rebuild_task_tallies() counts again), compaction keeps the sums, only
-- admins read them, no client can write them through a trigger of its own,
-- and an admin's report from them equals the report of a user who sees the
-- same tasks, computed from the tasks themselves.
\ir 8_notify_helpers.psql
BEGIN;
SELECT plan(28);

SELECT pg_temp.mkuser('Ann') AS ann, pg_temp.mkuser('Bob') AS bob,
       pg_temp.mkuser('Root', true) AS root \gset
INSERT INTO taskmgmt.teams (name, created_by) VALUES ('Tally team', :ann) RETURNING id AS crew \gset
INSERT INTO taskmgmt.team_members (team_id, user_id, role) VALUES (:crew, :ann, 'owner'), (:crew, :bob, 'member');

-- Zero when the tallies agree with a count of the tasks, both ways.
CREATE FUNCTION pg_temp.tally_mismatches() RETURNS bigint LANGUAGE sql AS $$
  WITH by_assignee AS (
    SELECT assignee_user_id, assignee_team_id, status, sum(n) AS n
      FROM taskmgmt.task_tallies WHERE kind <> 'due' GROUP BY 1, 2, 3 HAVING sum(n) <> 0),
  counted AS (
    SELECT assignee_user_id, assignee_team_id, status, count(*)::numeric AS n FROM taskmgmt.tasks GROUP BY 1, 2, 3),
  by_due AS (
    SELECT status, due_date, sum(n) AS n FROM taskmgmt.task_tallies
     WHERE kind <> 'assignee' AND status IN ('todo', 'in_progress') AND due_date IS NOT NULL
     GROUP BY 1, 2 HAVING sum(n) <> 0),
  counted_due AS (
    SELECT status, due_date, count(*)::numeric AS n FROM taskmgmt.tasks
     WHERE status IN ('todo', 'in_progress') AND due_date IS NOT NULL GROUP BY 1, 2)
  SELECT (SELECT count(*) FROM ((TABLE by_assignee EXCEPT ALL TABLE counted)
                                UNION ALL (TABLE counted EXCEPT ALL TABLE by_assignee)) d)
       + (SELECT count(*) FROM ((TABLE by_due EXCEPT ALL TABLE counted_due)
                                UNION ALL (TABLE counted_due EXCEPT ALL TABLE by_due)) d)
$$;

-- ------------------------------------------------------------ every write
-- This file's tasks are the only ones: the tallies count every task.
INSERT INTO taskmgmt.tasks (title, creator_id) VALUES ('before', :ann);
SELECT ok((SELECT sum(n) FROM taskmgmt.task_tallies) > 0, 'a plain INSERT is tallied');
TRUNCATE taskmgmt.tasks CASCADE;
SELECT is((SELECT count(*) FROM taskmgmt.task_tallies), 0::bigint, 'TRUNCATE of the tasks empties the tallies');

SET ROLE tap_notify;
SELECT pg_temp.as_user(:ann) \gset
SELECT (taskmgmt.create_task(format('{"title": "a%s", "status": "%s", "due_date": "%s", "assignee": %s}',
          i, (ARRAY['todo', 'in_progress', 'done', 'canceled'])[i % 4 + 1], current_date + (i % 7) - 4,
          CASE i % 3 WHEN 0 THEN 'null' WHEN 1 THEN format('{"type": "user", "id": %s}', CASE WHEN i % 2 = 0 THEN :ann ELSE :bob END)
                     ELSE format('{"type": "team", "id": %s}', :crew) END)::jsonb) ->> 'id')::bigint AS last_id
  FROM generate_series(1, 24) i ORDER BY 1 DESC LIMIT 1 \gset
RESET ROLE;
SELECT is(pg_temp.tally_mismatches(), 0::bigint, 'create_task: the tallies count the tasks');
SELECT is((SELECT count(*) FROM taskmgmt.task_tallies WHERE kind <> 'delta'), 0::bigint, '... as delta rows only');

SET ROLE tap_notify;
SELECT pg_temp.as_user(:ann) \gset
SELECT count(taskmgmt.update_task(t.id, '{"status": "done"}')) AS n
  FROM taskmgmt.tasks t WHERE t.status = 'todo' AND t.id % 2 = 0 \gset
SELECT count(taskmgmt.update_task(t.id, format('{"assignee": {"type": "user", "id": %s}, "due_date": "%s"}', :bob, current_date - 9)::jsonb)) AS n
  FROM taskmgmt.tasks t WHERE t.assignee_user_id IS NULL AND t.assignee_team_id IS NULL \gset
SELECT taskmgmt.delete_task(:last_id) IS NOT NULL AS deleted \gset
RESET ROLE;
SELECT is(pg_temp.tally_mismatches(), 0::bigint, 'update_task (status, assignee, due date) and delete_task: still counted');
SELECT count(*) AS deltas FROM taskmgmt.task_tallies \gset
SET ROLE tap_notify;
SELECT pg_temp.as_user(:ann) \gset
SELECT count(taskmgmt.update_task(t.id, '{"title": "renamed only", "priority": "high"}')) AS n FROM taskmgmt.tasks t \gset
RESET ROLE;
SELECT is((SELECT count(*) FROM taskmgmt.task_tallies), :deltas::bigint, 'a change of other fields adds no delta');

-- a DBA's plain UPDATE in replica mode skips the triggers, these too
SET session_replication_role = replica;
UPDATE taskmgmt.tasks SET due_date = current_date - 30 WHERE status = 'in_progress';
SET session_replication_role = DEFAULT;
SELECT isnt(pg_temp.tally_mismatches(), 0::bigint, 'an UPDATE in replica mode is not counted');
SELECT ok(taskmgmt.rebuild_task_tallies() > 0 AND pg_temp.tally_mismatches() = 0,
          'rebuild_task_tallies() counts the tasks again');
DELETE FROM taskmgmt.tasks WHERE status = 'canceled';
SELECT is(pg_temp.tally_mismatches(), 0::bigint, 'a plain DELETE: still counted');

-- ------------------------------------------------------------ who reads them
SET ROLE tap_notify;
SELECT pg_temp.as_user(:bob) \gset
SELECT is((SELECT count(*) FROM taskmgmt.task_tallies), 0::bigint, 'a user who is not an admin reads no tally');
SELECT is(pg_temp.err($$INSERT INTO taskmgmt.task_tallies (kind, status, n) VALUES ('delta', 'todo', 1000)$$),
          '42501: permission denied for table task_tallies', 'nor writes one');
SELECT is(pg_temp.err($$SELECT taskmgmt.compact_task_tallies()$$),
          '42501: scheduled jobs run as the database owner or a superuser', 'nor compacts them');
CREATE TEMP TABLE fake (assignee_user_id bigint, assignee_team_id bigint, status taskmgmt.task_status, due_date date);
SELECT is(pg_temp.err($$CREATE TRIGGER fake_tally AFTER INSERT ON fake FOR EACH ROW EXECUTE FUNCTION taskmgmt._tasks_tally()$$),
          '42501: permission denied for function taskmgmt._tasks_tally', 'nor through a trigger of its own');
SELECT pg_temp.as_user(:root) \gset
SELECT ok((SELECT count(*) FROM taskmgmt.task_tallies) > 0, 'an admin reads them');

-- ------------------------------------------------------------ the report
-- Ann created every task, so she sees what the admin sees; her report is
-- computed from the tasks, the admin's from the tallies.
SELECT taskmgmt.report_summary() - 'generated_at' AS admin_report \gset
SELECT pg_temp.as_user(:ann) \gset
SELECT taskmgmt.report_summary() - 'generated_at' AS ann_report \gset
SELECT is(:'admin_report'::jsonb, :'ann_report'::jsonb, 'the admin''s report from the tallies = Ann''s from the tasks');
SELECT ok((:'admin_report'::jsonb -> 'overdue' ->> 'count')::int > 0
          AND (:'admin_report'::jsonb ->> 'completed_in_period')::int > 0
          AND jsonb_array_length(:'admin_report'::jsonb -> 'assignees') = 3,
          '... with overdue and completed tasks and three assignees in it');
-- the admin's figures are the tallies': a row too many shows
RESET ROLE;
INSERT INTO taskmgmt.task_tallies (kind, status, n) VALUES ('delta', 'canceled', 1000);
SET ROLE tap_notify;
SELECT pg_temp.as_user(:root) \gset
SELECT is((taskmgmt.report_summary() ->> 'total')::int - (:'ann_report'::jsonb ->> 'total')::int, 1000,
          'the admin''s report reads the tallies');
RESET ROLE;
DELETE FROM taskmgmt.task_tallies WHERE n = 1000;

-- ------------------------------------------------------------ compaction
SELECT is(taskmgmt.compact_task_tallies(), (SELECT count(*) FROM taskmgmt.task_tallies WHERE kind = 'delta'),
          'compaction folds every delta row');
SELECT is((SELECT count(*) FROM taskmgmt.task_tallies WHERE kind = 'delta' OR n = 0), 0::bigint,
          '... and leaves no delta and no zero row');
SELECT is(pg_temp.tally_mismatches(), 0::bigint, '... the sums still count the tasks');
UPDATE taskmgmt.tasks SET status = 'todo', due_date = current_date - 2 WHERE status = 'done';
SELECT is(pg_temp.tally_mismatches(), 0::bigint, 'sums and new deltas add up');
SET ROLE tap_notify;
SELECT pg_temp.as_user(:root) \gset
SELECT taskmgmt.report_summary() - 'generated_at' AS admin_report \gset
SELECT pg_temp.as_user(:ann) \gset
SELECT is(:'admin_report'::jsonb, taskmgmt.report_summary() - 'generated_at',
          'with sums and deltas, the admin''s report equals Ann''s');
RESET ROLE;
SELECT is(taskmgmt.compact_task_tallies() > 0, true, 'a second compaction folds the new deltas');
SELECT is(pg_temp.tally_mismatches(), 0::bigint, '... into the existing sums');
SELECT is(taskmgmt.compact_task_tallies(), 0::bigint, 'nothing to fold: 0');

SET ROLE tap_notify;
SELECT pg_temp.as_user(:root) \gset
SELECT taskmgmt.report_summary() - 'generated_at' AS admin_report \gset
SELECT pg_temp.as_user(:ann) \gset
SELECT is(:'admin_report'::jsonb, taskmgmt.report_summary() - 'generated_at',
          'after compaction, the admin''s report still equals Ann''s');
RESET ROLE;

SELECT is(taskmgmt.rebuild_task_tallies() > 0, true, 'rebuild_task_tallies recomputes them');
SELECT is(pg_temp.tally_mismatches(), 0::bigint, '... to the same counts');

SELECT * FROM finish();
ROLLBACK;
