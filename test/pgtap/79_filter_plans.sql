-- Plans of the filter language (#14) on the data set of 74_plans.sql: the
-- common shapes start from the same indexes as the structured filters, with
-- the values bound as parameters ($1), and the RLS predicate never forces a
-- sequential scan.
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

SET ROLE tap_workflow;
SELECT plan(6);
SELECT pg_temp.wf_as('heavy') IS NOT NULL AS signed_in \gset
-- EXPLAIN of the list statement of a filter, run as list_tasks runs it
CREATE FUNCTION pg_temp.fl_plan(filter jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  f jsonb := taskmgmt._filter_normalize(filter);
  line text;
  result text := '';
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || taskmgmt._list_sql(f, NULL, 51) USING taskmgmt._filter_params(f) LOOP
    result := result || line || E'\n';
  END LOOP;
  RETURN result;
END
$$;

SELECT pg_temp.fl_plan('{"filter": "assignee:me (status:todo OR status:in_progress)", "sort": "due_date"}') AS p1 \gset
SELECT pg_temp.wf_plan_ok(:'p1'::text ~ 'Index Scan using tasks_assignee_due_idx' AND :'p1'::text !~ 'Seq Scan',
                          'assignee:me with a status OR, by due date: the assignee/due-date index, no sequential scan', :'p1');
SELECT is(jsonb_array_length(taskmgmt.list_tasks('{"filter": "assignee:me (status:todo OR status:in_progress)", "sort": "due_date"}') -> 'items'), 50,
          '... and it lists a full page');
SELECT pg_temp.fl_plan('{"filter": "status:todo priority>=high"}') AS p2 \gset
SELECT pg_temp.wf_plan_ok(:'p2'::text !~ 'Seq Scan', 'status and priority of a regular user: no sequential scan', :'p2');
SELECT pg_temp.fl_plan('{"filter": "text:\"kiwi mango\""}') AS p3 \gset
SELECT pg_temp.wf_plan_ok(:'p3'::text !~ 'Seq Scan', 'text: no sequential scan', :'p3');
SELECT pg_temp.fl_plan('{"filter": "created>=7d"}') AS p4 \gset
SELECT pg_temp.wf_plan_ok(:'p4'::text !~ 'Seq Scan', 'created>=7d: no sequential scan', :'p4');
SELECT pg_temp.wf_plan_ok(:'p4'::text ~ '\$1', 'the values are parameters, not literals in the statement', :'p4');

SELECT * FROM finish();
ROLLBACK;
