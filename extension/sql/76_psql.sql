-- Readable doors for psql users: the API functions answer one jsonb value
-- (right for programs, one wide line in psql); these give the same things
-- as rows and columns.
--   my_tasks                    VIEW: every task you can see, newest first
--   task_rows(filter)           the list filter's tasks (filter_tasks), in
--                               its sort order, every match (no paging)
--   task_history_rows(task_id)  task_history's events, newest first
--   comment_thread_rows(task_id) comment_thread in display order, indented
-- They are built on the tables and the public functions, run as the caller
-- (security_invoker view, SECURITY INVOKER functions), so row-level
-- security decides what they show exactly as it does for the API.

-- One readable row of a task: names instead of ids.  A set-returning SQL
-- function so that the planner inlines it (as _export_fields).
CREATE FUNCTION @extschema@._task_row(t @extschema@.tasks)
RETURNS TABLE (id bigint, title text, status @extschema@.task_status, priority @extschema@.task_priority,
               due_date date, assignee text, team text, tags text[], updated_at timestamptz, version integer)
LANGUAGE sql STABLE ROWS 1 AS $$
  SELECT t.id, t.title, t.status, t.priority, t.due_date,
         CASE WHEN t.assignee_user_id IS NOT NULL THEN
                (SELECT u.display_name FROM @extschema@.users u WHERE u.id = t.assignee_user_id)
              WHEN t.assignee_team_id IS NOT NULL THEN
                coalesce(@extschema@._team_name(t.assignee_team_id) || ' (team)', 'team #' || t.assignee_team_id) END,
         @extschema@._team_name(t.team_id), t.tags, t.updated_at, t.version
$$;

CREATE VIEW @extschema@.my_tasks WITH (security_invoker = true) AS
  SELECT r.*
    FROM @extschema@.tasks t
    CROSS JOIN LATERAL @extschema@._task_row(t) r
   ORDER BY t.created_at DESC, t.id DESC;
COMMENT ON VIEW @extschema@.my_tasks IS
  'Every task you can see, one readable row each, newest first: SELECT * FROM taskmgmt.my_tasks';
REVOKE ALL ON @extschema@.my_tasks FROM PUBLIC;
GRANT SELECT ON @extschema@.my_tasks TO taskmgmt_client;

-- The list filter without paging: limit and cursor are refused (SQL's LIMIT
-- does that job here); every other key is filter_tasks' business.
CREATE FUNCTION @extschema@.task_rows(filter jsonb DEFAULT '{}')
RETURNS TABLE (id bigint, title text, status @extschema@.task_status, priority @extschema@.task_priority,
               due_date date, assignee text, team text, tags text[], updated_at timestamptz, version integer)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  k text;
BEGIN
  FOREACH k IN ARRAY ARRAY['cursor', 'limit'] LOOP
    IF jsonb_typeof(filter) = 'object' AND filter ? k THEN
      PERFORM @extschema@._bad_parameter(k, 'is not a parameter of task_rows, which returns every matching task (use LIMIT)');
    END IF;
  END LOOP;
  RETURN QUERY SELECT r.* FROM @extschema@.filter_tasks(filter) t CROSS JOIN LATERAL @extschema@._task_row(t) r;
END
$$;
COMMENT ON FUNCTION @extschema@.task_rows(jsonb) IS
  'The tasks of a list filter as readable rows, in its sort order: SELECT * FROM taskmgmt.task_rows(''{"assignee": "me"}'')';

CREATE FUNCTION @extschema@.task_history_rows(task_id bigint)
RETURNS TABLE (id bigint, at timestamptz, actor text, kind text, description text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
  PERFORM @extschema@._require_user();
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = task_history_rows.task_id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  RETURN QUERY
  SELECT (j ->> 'id')::bigint, (j ->> 'at')::timestamptz, coalesce(j ->> 'actor_name', j ->> 'actor_role'),
         j ->> 'kind', j ->> 'description'
    FROM @extschema@.task_events e
    CROSS JOIN LATERAL @extschema@.task_event_json(e) j
   WHERE e.task_id = task_history_rows.task_id
   ORDER BY e.id DESC;
END
$$;
COMMENT ON FUNCTION @extschema@.task_history_rows(bigint) IS
  'The history of a task as rows, newest first (task_history without paging).';

CREATE FUNCTION @extschema@.comment_thread_rows(task_id bigint)
RETURNS TABLE (id bigint, parent_id bigint, depth integer, author text, comment text,
               created_at timestamptz, edited_at timestamptz)
LANGUAGE sql STABLE AS $$
  SELECT (c ->> 'id')::bigint, (c ->> 'parent_id')::bigint, (c ->> 'depth')::integer, c ->> 'author_name',
         repeat('  ', (c ->> 'depth')::integer)
           || CASE WHEN (c ->> 'deleted')::boolean THEN '(deleted)' ELSE c ->> 'body' END,
         (c ->> 'created_at')::timestamptz, (c ->> 'edited_at')::timestamptz
    FROM jsonb_array_elements(@extschema@.comment_thread(comment_thread_rows.task_id)) WITH ORDINALITY AS x (c, n)
   ORDER BY x.n
$$;
COMMENT ON FUNCTION @extschema@.comment_thread_rows(bigint) IS
  'The comments of a task as rows in thread order, replies indented (comment_thread as a table).';
