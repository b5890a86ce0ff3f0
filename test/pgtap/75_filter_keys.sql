-- filter_keys(fn): the single list of what each API function's filter
-- accepts (the HTTP suite compares it with shim/openapi.json).  Checked here
-- against the functions themselves, both ways: every listed key is
-- accepted, every other key is refused (TM400, or TM422 from save_view) with
-- an error naming it.
\ir 7_workflow_helpers.psql
BEGIN;
SET ROLE tap_workflow;
SELECT pg_temp.wf_user('ann') AS ann \gset
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.create_task('{"title": "probe"}') ->> 'id')::bigint AS task \gset

-- one call per function, %L being the filter
CREATE TEMP TABLE calls (fn text PRIMARY KEY, stmt text NOT NULL);
INSERT INTO calls VALUES
  ('list_tasks', 'SELECT taskmgmt.list_tasks(%L)'),
  ('filter_tasks', 'SELECT count(*) FROM taskmgmt.filter_tasks(%L)'),
  ('task_rows', 'SELECT count(*) FROM taskmgmt.task_rows(%L)'),
  ('save_view', 'SELECT taskmgmt.save_view(''probe'', %L)'),
  ('search_tasks', 'SELECT taskmgmt.search_tasks(''probe'', %L)'),
  ('export_tasks_csv', 'SELECT taskmgmt.export_tasks_csv(%L)'),
  ('export_tasks_csv_lines', 'SELECT count(*) FROM taskmgmt.export_tasks_csv_lines(%L)'),
  ('task_history', 'SELECT taskmgmt.task_history(' || :task || ', %L)'),
  ('notifications', 'SELECT taskmgmt.notifications(%L)'),
  ('report_summary', 'SELECT taskmgmt.report_summary(%L)'),
  ('report_summary_pdf', 'SELECT length(taskmgmt.report_summary_pdf(%L))');
-- every key any function accepts, and one none does
CREATE TEMP VIEW all_keys AS
  SELECT DISTINCT k FROM calls, unnest(taskmgmt.filter_keys(fn)) k UNION SELECT 'not_a_key';

SELECT plan(2 * (SELECT count(*)::int FROM calls) + 3);

SELECT is(ARRAY(SELECT p.proname::text FROM pg_proc p
                 WHERE p.pronamespace = 'taskmgmt'::regnamespace AND p.proname !~ '^_'
                   AND 'filter' = ANY (p.proargnames) ORDER BY 1),
          ARRAY(SELECT fn FROM calls ORDER BY 1),
          'every API function with a filter argument is listed (and probed below)');
SELECT is(taskmgmt.filter_keys('get_task'), NULL, 'a function without a filter has no keys');
SELECT is(taskmgmt.filter_keys('search_tasks'),
          array_remove(array_remove(taskmgmt.filter_keys('list_tasks'), 'sort'), 'q'),
          'search takes the list''s keys but sort (it ranks) and q (its first argument)');

-- a JSON null value is "not given" for every key, so only the key's name is tested
SELECT is(ARRAY(SELECT k FROM unnest(taskmgmt.filter_keys(c.fn)) k
                 WHERE pg_temp.wf_err(format(c.stmt, jsonb_build_object(k, NULL))) <> 'ok'),
          '{}'::text[], c.fn || ': every key filter_keys lists is accepted')
  FROM calls c ORDER BY c.fn;
SELECT is(ARRAY(SELECT a.k || ' → ' || e
                  FROM all_keys a, pg_temp.wf_err(format(c.stmt, jsonb_build_object(a.k, NULL))) e
                 WHERE NOT a.k = ANY (taskmgmt.filter_keys(c.fn))
                   AND NOT (e LIKE 'TM4%' AND strpos(e, a.k) > 0)),
          '{}'::text[], c.fn || ': every other key is refused, with an error naming it')
  FROM calls c ORDER BY c.fn;

SELECT * FROM finish();
ROLLBACK;
