-- Plan shape under row-level security, on a modest data set (30,000
-- tasks, a heavy user with about 2,000): the statements list_tasks and
-- search_tasks run start from the intended indexes, the keyset condition of
-- a deep page is an index condition (page 100 costs what page 1 costs), and
-- the RLS predicate never forces a sequential scan of the tasks.  The
-- statements read their values from parameters ($1 a filter text's values,
-- $2 the filter, $3 the cursor): they run with kept plans (_query_cached),
-- so a list's generic plan is checked, as the one a busy connection settles
-- on; a search's is checked as planned for its values.  Figures
-- at 1M tasks: bench/workflow.sh, bench/compare.sh.
\ir 7_workflow_helpers.psql
BEGIN;
SET ROLE tap_workflow;
SELECT pg_temp.wf_user('heavy') AS heavy, pg_temp.wf_user('other') AS other \gset
RESET ROLE;
-- EXPLAIN output of a statement as one text (runs as the caller)
CREATE FUNCTION pg_temp.wf_plan(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  line text;
  result text := '';
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || stmt LOOP
    result := result || line || E'\n';
  END LOOP;
  RETURN result;
END
$$;
-- EXPLAIN of a generated statement with its parameters: the generic plan
-- (what a kept plan becomes) or one planned for the values
CREATE FUNCTION pg_temp.wf_plan_p(stmt text, f jsonb, cur jsonb, generic boolean DEFAULT true) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  line text;
  result text := '';
BEGIN
  EXECUTE 'PREPARE wf_p(text[], jsonb, jsonb) AS ' || stmt;
  PERFORM set_config('plan_cache_mode', CASE WHEN generic THEN 'force_generic_plan' ELSE 'force_custom_plan' END, true);
  FOR line IN EXECUTE format('EXPLAIN (COSTS OFF) EXECUTE wf_p(%L, %L, %L)', taskmgmt._filter_params(f), f, cur) LOOP
    result := result || line || E'\n';
  END LOOP;
  DEALLOCATE wf_p;
  PERFORM set_config('plan_cache_mode', 'auto', true);
  RETURN result;
END
$$;
-- ok(), with the plan as a diagnostic when it fails
CREATE FUNCTION pg_temp.wf_plan_ok(cond boolean, description text, plan text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
  RETURN NEXT ok(cond, description);
  IF NOT coalesce(cond, false) THEN
    RETURN NEXT diag(plan);
  END IF;
END
$$;
SET LOCAL session_replication_role = replica;  -- bulk load without triggers
INSERT INTO taskmgmt.users (email, display_name)
SELECT 'plan' || g || '@wf.test', 'Plan ' || g FROM generate_series(1, 300) g;
INSERT INTO taskmgmt.tasks (title, description, status, priority, due_date, assignee_user_id, creator_id, tags)
SELECT 'task ' || g || CASE WHEN g % 1000 = 0 THEN ' kiwi mango' ELSE ' apple' END, 'words ' || g,
       (ARRAY['todo', 'in_progress', 'done', 'canceled'])[g % 4 + 1]::taskmgmt.task_status,
       (ARRAY['none', 'low', 'medium', 'high', 'urgent'])[g % 5 + 1]::taskmgmt.task_priority,
       CASE WHEN g % 10 <> 0 THEN date '2030-01-01' + g % 500 END,
       CASE WHEN g % 15 = 0 THEN :heavy ELSE (SELECT min(id) FROM taskmgmt.users) + g % 300 + 2 END,
       CASE WHEN g % 97 = 0 THEN :heavy ELSE :other END, '{}'
FROM generate_series(1, 30000) g;
SET LOCAL session_replication_role = origin;
ANALYZE taskmgmt.users, taskmgmt.tasks;
-- the bulk load went to the search index's pending list; an established
-- index (autovacuum flushes it) is what the planner should be judged on
SELECT gin_clean_pending_list('taskmgmt.tasks_search_idx') >= 0 AS flushed \gset

SET ROLE tap_workflow;
SELECT plan(33);
SELECT pg_temp.wf_as('heavy') IS NOT NULL AS signed_in \gset
SELECT '{"assignee": "me", "status": "todo,in_progress", "sort": "due_date", "limit": 50}' AS list \gset
SELECT is((SELECT count(*)::int FROM taskmgmt.filter_tasks(:'list')), 1000, '(the heavy user has 1000 open tasks)');

-- first page: an ordered scan of the assignee/due-date index, no sort
SELECT taskmgmt._filter_normalize(:'list') AS listf \gset
SELECT pg_temp.wf_plan_p(taskmgmt._list_sql(:'listf', NULL, 50), :'listf', NULL) AS p1 \gset
SELECT pg_temp.wf_plan_ok(:'p1'::text ~ 'Index Scan using tasks_assignee_due_idx',
                          'list first page: Index Scan using tasks_assignee_due_idx', :'p1');
SELECT pg_temp.wf_plan_ok(:'p1'::text !~ 'Seq Scan on tasks' AND :'p1'::text !~ 'Sort',
                          'list first page: no sequential scan, no sort', :'p1');

-- page 9 (after 400 rows): the cursor's keyset condition is part of the index condition
SELECT taskmgmt.list_tasks(:'list'::jsonb || '{"limit": 200}') -> 'next_cursor' AS cur \gset
SELECT taskmgmt.list_tasks(:'list'::jsonb || jsonb_build_object('limit', 200, 'cursor', :'cur'::jsonb)) -> 'next_cursor' AS cur \gset
SELECT taskmgmt._cursor_read(:'cur'::jsonb, 'list', taskmgmt._filter_hash(taskmgmt._filter_normalize(:'list'))) AS payload \gset
SELECT pg_temp.wf_plan_p(taskmgmt._list_sql(:'listf', :'payload', 50), :'listf', :'payload') AS p2 \gset
SELECT pg_temp.wf_plan_ok(:'p2'::text ~ 'Index Cond: \(\(assignee_user_id = taskmgmt.current_user_id\(\)\) AND \(ROW\(CASE WHEN \(due_date IS NULL\) THEN ''infinity''::date ELSE due_date END, id\) > ROW\(',
                          'deep page: Index Cond holds the keyset row comparison (leakproof, so RLS does not demote it)', :'p2');
SELECT pg_temp.wf_plan_ok(:'p2'::text ~ 'Index Scan using tasks_assignee_due_idx' AND :'p2'::text !~ 'Seq Scan on tasks' AND :'p2'::text !~ 'Sort',
                          'deep page: the same ordered index scan, no sort', :'p2');
SELECT is(jsonb_array_length(taskmgmt.list_tasks(:'list'::jsonb || jsonb_build_object('cursor', :'cur'::jsonb)) -> 'items'), 50,
          'the deep page is served');

-- descending sort: no sequential scan either
SELECT taskmgmt._filter_normalize('{"assignee": "me", "sort": "-due_date"}') AS f3 \gset
SELECT pg_temp.wf_plan_p(taskmgmt._list_sql(:'f3', NULL, 50), :'f3', NULL) AS p3 \gset
SELECT pg_temp.wf_plan_ok(:'p3'::text !~ 'Seq Scan on tasks', 'assignee=me, sort=-due_date: no sequential scan', :'p3');

-- no filter at all: the visibility arms give index paths (no scan of every task)
SELECT pg_temp.wf_plan_p(taskmgmt._list_sql('{}', NULL, 50), '{}', NULL) AS p4 \gset
SELECT pg_temp.wf_plan_ok(:'p4'::text !~ 'Seq Scan on tasks', 'unfiltered list of a regular user: no sequential scan', :'p4');

SELECT taskmgmt._filter_normalize('{"assignee": "none", "status": "todo"}') AS f8 \gset
SELECT pg_temp.wf_plan_p(taskmgmt._list_sql(:'f8', NULL, 50), :'f8', NULL) AS p8 \gset
SELECT pg_temp.wf_plan_ok(:'p8'::text !~ 'Seq Scan on tasks', 'assignee=none: no sequential scan', :'p8');

-- search: index-driven (the GIN index through the leakproof @@, or the
-- visibility arms when the user sees few tasks)
SELECT taskmgmt._filter_normalize('{"q": "kiwi mango"}') AS fq \gset
SELECT pg_temp.wf_plan_p(taskmgmt._search_sql(:'fq', NULL, 50), :'fq', NULL, false) AS p5 \gset
SELECT pg_temp.wf_plan_ok(:'p5'::text !~ 'Seq Scan on tasks', 'search: no sequential scan', :'p5');
SELECT set_eq($$SELECT (i -> 'task' ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.search_tasks('kiwi mango', '{"limit": 200}') -> 'items') i$$,
              $$SELECT id FROM taskmgmt.tasks WHERE title LIKE '%kiwi mango'$$, 'search finds exactly the visible matches');
-- an admin sees every task: the GIN index carries the search
RESET ROLE;
SELECT taskmgmt.make_admin('other@wf.test') IS NOT NULL AS admin \gset
SET ROLE tap_workflow;
SELECT pg_temp.wf_as('other') IS NOT NULL AS signed_in \gset
SELECT pg_temp.wf_plan_p(taskmgmt._search_sql(:'fq', NULL, 50), :'fq', NULL, false) AS p7 \gset
SELECT pg_temp.wf_plan_ok(:'p7'::text ~ 'Bitmap Index Scan on tasks_search_idx' AND :'p7'::text !~ 'Seq Scan on tasks',
                          'admin search: Bitmap Index Scan on tasks_search_idx, no sequential scan', :'p7');
SELECT is(jsonb_array_length(taskmgmt.search_tasks('kiwi mango') -> 'items'), 30, 'admin search finds every match');
-- the built-in @@ would not be usable ahead of RLS: that is why ours exists
SELECT pg_temp.wf_plan($$SELECT * FROM taskmgmt.tasks t WHERE t.search_vector @@ websearch_to_tsquery('english', 'kiwi mango')$$) AS p6 \gset
SELECT pg_temp.wf_plan_ok(:'p6'::text !~ 'tasks_search_idx', '(the built-in @@ cannot use the index under RLS)', :'p6');

-- the filter language (#14): the common shapes start from the same indexes,
-- with the values bound as parameters ($1).  (The page's assignee names may
-- come from a hash of the few users of this data set: no scan of the tasks.)
SELECT pg_temp.wf_as('heavy') IS NOT NULL AS signed_in \gset
-- EXPLAIN of the list statement of a filter, run as list_tasks runs it
CREATE FUNCTION pg_temp.fl_plan(filter jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  f jsonb := taskmgmt._filter_normalize(filter);
  line text;
  result text := '';
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || taskmgmt._list_sql(f, NULL, 51) USING taskmgmt._filter_params(f), f, NULL::jsonb LOOP
    result := result || line || E'\n';
  END LOOP;
  RETURN result;
END
$$;

SELECT pg_temp.fl_plan('{"filter": "assignee:me (status:todo OR status:in_progress)", "sort": "due_date"}') AS p1 \gset
SELECT pg_temp.wf_plan_ok(:'p1'::text ~ 'Index Scan using tasks_assignee_due_idx' AND :'p1'::text !~ 'Seq Scan on tasks',
                          'assignee:me with a status OR, by due date: the assignee/due-date index, no sequential scan', :'p1');
SELECT is(jsonb_array_length(taskmgmt.list_tasks('{"filter": "assignee:me (status:todo OR status:in_progress)", "sort": "due_date"}') -> 'items'), 50,
          '... and it lists a full page');
SELECT pg_temp.fl_plan('{"filter": "status:todo priority>=high"}') AS p2 \gset
SELECT pg_temp.wf_plan_ok(:'p2'::text !~ 'Seq Scan on tasks', 'status and priority of a regular user: no sequential scan', :'p2');
SELECT pg_temp.fl_plan('{"filter": "text:\"kiwi mango\""}') AS p3 \gset
SELECT pg_temp.wf_plan_ok(:'p3'::text !~ 'Seq Scan on tasks', 'text: no sequential scan', :'p3');
SELECT pg_temp.fl_plan('{"filter": "created>=7d"}') AS p4 \gset
SELECT pg_temp.wf_plan_ok(:'p4'::text !~ 'Seq Scan on tasks', 'created>=7d: no sequential scan', :'p4');
SELECT pg_temp.wf_plan_ok(:'p4'::text ~ '\$1', 'the values are parameters, not literals in the statement', :'p4');
-- the other common shapes: no sequential scan of the tasks
CREATE FUNCTION pg_temp.fl_no_seq_scan(filter jsonb, description text) RETURNS SETOF text LANGUAGE sql AS $$
  SELECT pg_temp.wf_plan_ok(p !~ 'Seq Scan on tasks', description, p) FROM pg_temp.fl_plan(filter) p
$$;
SELECT pg_temp.fl_no_seq_scan('{"filter": "status:todo due<2030-02-01", "sort": "due_date"}', 'status:todo due<date by due date');
SELECT pg_temp.fl_no_seq_scan('{"filter": "is:overdue"}', 'is:overdue');
SELECT pg_temp.fl_no_seq_scan('{"filter": "is:ready assignee:me"}', 'is:ready assignee:me');
SELECT pg_temp.fl_no_seq_scan('{"filter": "tag:blocked -status:done"}', 'tag:blocked -status:done');
SELECT pg_temp.fl_no_seq_scan('{"filter": "changed:status:7d"}', 'changed:status:7d');
SELECT pg_temp.fl_no_seq_scan('{"filter": "(assignee:me OR assignee:none) priority>=high", "sort": "-priority"}',
                              '(assignee:me OR assignee:none) priority>=high');

-- the same plan as the structured filter with the same meaning: the scans,
-- joins, sorts and limits that find the page's rows, node by node (the
-- page's rows come first, as CTE t; what the page statement builds around
-- them, the names and the planning counts, may be joined differently for
-- other row estimates)
CREATE FUNCTION pg_temp.plan_nodes(f jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(btrim(l), E'\n' ORDER BY n)
    FROM regexp_split_to_table(pg_temp.fl_plan(f), E'\n') WITH ORDINALITY x(l, n)
   WHERE l ~ '(Scan|Limit|Sort|Join|BitmapOr)'
     AND n < (SELECT coalesce(min(m), 0) FROM regexp_split_to_table(pg_temp.fl_plan(f), E'\n') WITH ORDINALITY y(k, m)
               WHERE k ~ 'CTE Scan on t')
$$;
SELECT is(pg_temp.plan_nodes(a), pg_temp.plan_nodes(b), format('%s plans as %s', a ->> 'filter', b - 'sort'))
  FROM (VALUES ('{"filter": "is:ready assignee:me"}'::jsonb, '{"ready": true, "assignee": "me"}'::jsonb),
               ('{"filter": "status:todo"}', '{"status": "todo"}'),
               ('{"filter": "status:todo OR status:in_progress"}', '{"status": "todo,in_progress"}'),
               ('{"filter": "assignee:me due<2030-03-01", "sort": "due_date"}',
                '{"assignee": "me", "due_before": "2030-03-01", "sort": "due_date"}'),
               ('{"filter": "priority>=high"}', '{"priority": "high,urgent"}'),
               ('{"filter": "tag:x"}', '{"tag": "x"}'),
               ('{"filter": "text:kiwi"}', '{"q": "kiwi"}')) v(a, b);

SELECT * FROM finish();
ROLLBACK;
