-- History: a trigger records every change to a task (SQL API, plain SQL,
-- a DBA in psql) with a readable description and {field: [old, new]};
-- add_update posts progress into the same stream; task_history pages it,
-- newest first.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET search_path = taskmgmt, public;
SET ROLE regress_client;

SELECT new_user('hana@wf.example', 'Hana') AS hana, new_user('ivo@wf.example', 'Ivo') AS ivo,
       new_user('jon@wf.example', 'Jon') AS jon \gset
SELECT as_user('hana@wf.example');
SELECT (create_team('Design') ->> 'id')::bigint AS design \gset
SELECT add_team_member(:design, :ivo) IS NOT NULL AS ivo_in_design;
SELECT (create_task(format('{"title": "Draft the spec", "priority": "high", "assignee": {"type": "user", "id": %s}}', :ivo)::jsonb) ->> 'id')::bigint AS task \gset

-- The SQL API.
SELECT update_task(:task, format('{"status": "in_progress", "assignee": {"type": "team", "id": %s}}', :design)::jsonb) IS NOT NULL AS updated;
SELECT update_task(:task, '{"status": "done"}') IS NOT NULL AS done;
SELECT update_task(:task, '{"status": "todo", "due_date": "2030-01-15", "tags": ["spec"]}') ->> 'completed_at' AS completed_after_reopen;
SELECT update_task(:task, '{"title": "Final spec", "description": "All of it."}') IS NOT NULL AS renamed;
SELECT add_update(:task, 'Halfway there') ->> 'kind' AS progress;

SELECT e ->> 'kind' AS kind, e ->> 'actor_name' AS actor, e ->> 'source' AS source, e ->> 'description' AS description
  FROM jsonb_array_elements(task_history(:task) -> 'items') WITH ORDINALITY x(e, o) ORDER BY o;
-- changes: {field: [old, new]}; reopening keeps the completed_at it cleared
SELECT jsonb_object_keys(e -> 'changes') AS changed_on_reopen
  FROM jsonb_array_elements(task_history(:task) -> 'items') e
 WHERE e ->> 'description' LIKE 'status: Done → To Do%' ORDER BY 1;
SELECT (e -> 'changes' -> 'status') AS status_change,
       e -> 'changes' -> 'completed_at' ->> 0 IS NOT NULL AS old_completed_at_kept,
       e -> 'changes' -> 'completed_at' -> 1 AS new_completed_at
  FROM jsonb_array_elements(task_history(:task) -> 'items') e
 WHERE e ->> 'description' LIKE 'status: Done → To Do%';

-- Paging: {items, next_cursor}; limit 1..200; the cursor is opaque.
SELECT task_history(:task, '{"limit": 2}') AS p1 \gset
SELECT jsonb_array_length(:'p1'::jsonb -> 'items') AS page_1, :'p1'::jsonb ->> 'next_cursor' ~ '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' AS opaque_cursor;
SELECT jsonb_array_length(task_history(:task, jsonb_build_object('limit', 10, 'cursor', :'p1'::jsonb -> 'next_cursor')) -> 'items') AS rest;
SELECT err(format($$SELECT task_history(%s, '{"limit": 500}')$$, :task));
SELECT err(format($$SELECT task_history(%s, '{"cursor": "eyJpIjogMX0.AAAA"}')$$, :task));
SELECT err(format($$SELECT task_history(%s, '{"after": 3}')$$, :task));

-- Progress updates: not empty, not oversized, only on visible tasks.
SELECT err(format($$SELECT add_update(%s, ' ')$$, :task));
SELECT err(format($$SELECT add_update(%s, repeat('x', 10001))$$, :task));
-- Clients cannot write change events themselves.
SELECT err(format($$INSERT INTO task_events (task_id, kind, description) VALUES (%s, 'updated', 'forged')$$, :task));
SELECT err(format($$UPDATE task_events SET description = 'rewritten' WHERE task_id = %s$$, :task));

-- Someone who cannot see the task cannot reach its history.
SELECT as_user('jon@wf.example');
SELECT err(format('SELECT task_history(%s)', :task));
SELECT err(format($$SELECT add_update(%s, 'hi')$$, :task));
SELECT count(*) AS events_jon_sees FROM task_events WHERE task_id = :task;

-- A DBA's plain UPDATE in psql, as superuser, nobody signed in.
SELECT sign_out();
RESET ROLE;
UPDATE taskmgmt.tasks SET priority = 'urgent', status = 'in_progress' WHERE id = :task;
SELECT kind, actor_id, actor_role = current_user AS actor_role_is_me, source, description
  FROM taskmgmt.task_events WHERE task_id = :task ORDER BY id DESC LIMIT 1;
