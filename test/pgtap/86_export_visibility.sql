-- Export and reports never show a task the caller may not see: for every
-- user, the CSV (with and without comments), the tasks_export view and the
-- report's figures cover exactly the rows row-level security lets them read.
-- Runs in one transaction that is rolled back.
SET client_min_messages = warning;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tap_export') THEN
    CREATE ROLE tap_export NOLOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
END $$;
GRANT taskmgmt_client TO tap_export;

BEGIN;
SELECT plan(32);
SET LOCAL search_path = taskmgmt, public;

-- Ids of the data rows of a CSV export (the first cell of every record;
-- titles here hold no line breaks).
CREATE FUNCTION pg_temp.csv_ids(csv text) RETURNS bigint[] LANGUAGE sql AS $$
  SELECT coalesce(array_agg(m[1]::bigint ORDER BY m[1]::bigint), '{}')
    FROM regexp_matches(csv, '(?:^|\r\n)([0-9]+),', 'g') m
$$;
CREATE FUNCTION pg_temp.visible_ids() RETURNS bigint[] LANGUAGE sql AS $$
  SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM taskmgmt.tasks
$$;
CREATE FUNCTION pg_temp.sign_in(email text) RETURNS void LANGUAGE sql AS $$
  SELECT FROM taskmgmt.sign_in(email, 'export tap password')
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO tap_export;

SET ROLE tap_export;
\o /dev/null
SELECT (register('alice@t86.export.test', 'export tap password', 'Alice') ->> 'id')::bigint AS alice,
       (register('bob@t86.export.test', 'export tap password', 'Bob') ->> 'id')::bigint AS bob,
       (register('carol@t86.export.test', 'export tap password', 'Carol') ->> 'id')::bigint AS carol,
       (register('dan@t86.export.test', 'export tap password', 'Dan') ->> 'id')::bigint AS dan \gset

-- Alice owns team Red with Carol; Bob owns team Blue; Dan is in no team.
SELECT * FROM pg_temp.sign_in('alice@t86.export.test');
SELECT (create_team('Red') ->> 'id')::bigint AS red \gset
SELECT add_team_member(:red, :carol);
SELECT create_task(format('{"title": "red-owned", "team_id": %s, "status": "done"}', :red)::jsonb);
SELECT create_task('{"title": "alice-private"}');
SELECT create_task(format('{"title": "carol-assigned", "assignee": {"type": "user", "id": %s}}', :carol)::jsonb);
-- Carol makes a task for team Red, then leaves the team: she still sees the
-- task (she created it) but may no longer read the team's name.
SELECT * FROM pg_temp.sign_in('carol@t86.export.test');
SELECT create_task(format('{"title": "carol-made-red", "team_id": %s}', :red)::jsonb);
SELECT remove_team_member(:red, :carol);
SELECT * FROM pg_temp.sign_in('bob@t86.export.test');
SELECT (create_team('Blue') ->> 'id')::bigint AS blue \gset
SELECT (create_task(format('{"title": "blue-secret", "team_id": %s, "status": "done"}', :blue)::jsonb) ->> 'id')::bigint AS blue_task \gset
SELECT (create_task('{"title": "bob-secret", "status": "in_progress"}') ->> 'id')::bigint AS bob_task \gset
SELECT add_comment(:bob_task, 'bob-whisper');
SELECT * FROM pg_temp.sign_in('dan@t86.export.test');
SELECT create_task('{"title": "dan-alone", "status": "done"}');
\o

-- Everyone's export holds exactly what they may see.
SELECT * FROM pg_temp.sign_in('alice@t86.export.test');
SELECT is(pg_temp.csv_ids(export_tasks_csv()), pg_temp.visible_ids(), 'alice: CSV ids = visible ids');
SELECT is(cardinality(pg_temp.visible_ids()), 4, 'alice sees her four tasks');
SELECT is(pg_temp.csv_ids(export_tasks_csv('{"include_comments": true}')), pg_temp.visible_ids(), 'alice: with comments too');
SELECT unalike(export_tasks_csv('{"include_comments": true}'), '%secret%', 'alice: no secret title');
SELECT unalike(export_tasks_csv('{"include_comments": true}'), '%bob-whisper%', 'alice: no comment of an invisible task');
SELECT is((SELECT array_agg(id::bigint ORDER BY id::bigint) FROM tasks_export), pg_temp.visible_ids(), 'alice: the view too');
SELECT is(pg_temp.csv_ids(export_tasks_csv(format('{"team": %s}', :blue)::jsonb)), '{}'::bigint[],
          'alice: filtering on another team finds nothing');
SELECT is(pg_temp.csv_ids(export_tasks_csv(format('{"assignee": "user:%s"}', :bob)::jsonb)), '{}'::bigint[],
          'alice: filtering on another user finds nothing');

SELECT * FROM pg_temp.sign_in('carol@t86.export.test');
SELECT is(pg_temp.csv_ids(export_tasks_csv()), pg_temp.visible_ids(), 'carol: CSV ids = visible ids');
SELECT is(cardinality(pg_temp.visible_ids()), 2, 'carol sees her assignment and the task she made');
SELECT is((SELECT team FROM tasks_export WHERE title = 'carol-made-red'), NULL, 'carol: the team she left is not named');
SELECT is((SELECT array_agg(_export_team_name(team_id) ORDER BY id) FROM tasks WHERE team_id IS NOT NULL),
          (SELECT array_agg(_team_name(team_id) ORDER BY id) FROM tasks WHERE team_id IS NOT NULL),
          'carol: the cached team names are _team_name''s');

SELECT * FROM pg_temp.sign_in('bob@t86.export.test');
SELECT is(pg_temp.csv_ids(export_tasks_csv('{"include_comments": true}')), ARRAY[:blue_task, :bob_task]::bigint[], 'bob: his two');
SELECT alike(export_tasks_csv('{"include_comments": true}'), '%bob-whisper%', 'bob: his own comment is there');

SELECT * FROM pg_temp.sign_in('dan@t86.export.test');
SELECT is(pg_temp.csv_ids(export_tasks_csv()), pg_temp.visible_ids(), 'dan: CSV ids = visible ids');
SELECT is(cardinality(pg_temp.visible_ids()), 1, 'dan sees one');

-- Reports count only visible tasks.
SELECT * FROM pg_temp.sign_in('alice@t86.export.test');
SELECT is((report_summary() ->> 'total')::int, 4, 'alice: report total');
SELECT is(report_summary() -> 'counts_by_status', '{"todo": 3, "in_progress": 0, "done": 1, "canceled": 0}'::jsonb,
          'alice: counts by status');
SELECT is((report_summary() ->> 'completed_in_period')::int, 1, 'alice: completed in period');
SELECT is((SELECT array_agg(a ->> 'name' ORDER BY a ->> 'name') FROM jsonb_array_elements(report_summary() -> 'assignees') a),
          ARRAY['Carol', NULL], 'alice: assignees are those of her tasks');
SELECT throws_ok(format($$SELECT report_summary('{"team": %s}')$$, :blue), 'P0002', 'team not found',
                 'alice: another team does not exist');
SELECT is((report_summary(format('{"team": %s}', :red)::jsonb) ->> 'total')::int, 2, 'alice: her team''s report');
SELECT is((SELECT team FROM tasks_export WHERE title = 'carol-made-red'), 'Red', 'alice: her team is named');

SELECT * FROM pg_temp.sign_in('bob@t86.export.test');
SELECT is(report_summary() -> 'counts_by_status', '{"todo": 0, "in_progress": 1, "done": 1, "canceled": 0}'::jsonb,
          'bob: counts by status');
SELECT is((report_summary(format('{"team": %s}', :blue)::jsonb) ->> 'completed_in_period')::int, 1, 'bob: his team');

SELECT * FROM pg_temp.sign_in('dan@t86.export.test');
SELECT is((report_summary() ->> 'total')::int, 1, 'dan: one task');
SELECT is((SELECT sum((w ->> 'completed')::int) FROM jsonb_array_elements(report_summary() -> 'weekly_throughput') w),
          1::bigint, 'dan: weekly throughput counts his one completion');

-- Streaming depends on the planner inlining export_tasks_csv_lines into the
-- caller's query, where the C function that makes the lines runs in a select
-- list, row by row (a function scan would collect every row first).
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  line text;
  plan text := '';
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
    plan := plan || line || E'\n';
  END LOOP;
  RETURN plan;
END $$;
SELECT unalike(pg_temp.plan_of('SELECT * FROM taskmgmt.export_tasks_csv_lines(''{}'')'),
               '%Function Scan on export_tasks_csv_lines%', 'export_tasks_csv_lines is inlined (FROM)');
SELECT alike(pg_temp.plan_of('SELECT * FROM taskmgmt.export_tasks_csv_lines(''{}'')'),
             '%ProjectSet%', 'its plan makes the lines in a select list (ProjectSet)');

-- Signed out: errors, and the view is empty.
SELECT * FROM sign_out();
SELECT throws_ok('SELECT export_tasks_csv()', '28000', 'not signed in', 'export needs sign-in');
SELECT throws_ok('SELECT report_summary()', '28000', 'not signed in', 'report needs sign-in');
SELECT is((SELECT count(*)::int FROM tasks_export), 0, 'the view shows nothing signed out');

SELECT * FROM finish();
ROLLBACK;
