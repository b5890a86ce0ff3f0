-- History read back (#14): a task as it was at a moment, rebuilt from its
-- history (task_events, 71_history.sql), and the time tasks spend in each
-- status, for report_summary (87_reports.sql).  Both read the history under
-- the caller's policies: only tasks the caller can see now.

-- The fields the history records, with their values before a creation
-- event sets them (a created event names only the fields given a value).
CREATE FUNCTION @extschema@._as_of_defaults() RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '{"title": null, "description": "", "status": "todo", "priority": "none", "due_date": null,
           "team_id": null, "assignee": null, "tags": [], "parent_id": null, "recurrence": null,
           "started_at": null, "completed_at": null}'::jsonb
$$;

-- task_as_of(id, at): {id, as_of, title, ..., completed_at}, the task as its
-- history says it was at `at`.  P0002 for a task the caller cannot see (or
-- that no longer exists), and for a moment before the task was created.
CREATE FUNCTION @extschema@.task_as_of(id bigint, at timestamptz) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  e record;
  r jsonb;
  k text;
  v jsonb;
  fields constant jsonb := @extschema@._as_of_defaults();
BEGIN
  PERFORM @extschema@._require_user();
  IF task_as_of.at IS NULL THEN
    PERFORM @extschema@._bad_parameter('at', 'is required');
  END IF;
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = task_as_of.id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  FOR e IN SELECT ev.kind, ev.changes FROM @extschema@.task_events ev
            WHERE ev.task_id = task_as_of.id AND ev.at <= task_as_of.at AND ev.kind IN ('created', 'updated')
            ORDER BY ev.id LOOP
    IF e.kind = 'created' THEN
      r := fields;
    END IF;
    CONTINUE WHEN r IS NULL;
    FOR k, v IN SELECT * FROM jsonb_each(e.changes) LOOP
      IF fields ? k AND jsonb_typeof(v) = 'array' THEN
        r := jsonb_set(r, ARRAY[k], v -> 1);
      END IF;
    END LOOP;
  END LOOP;
  IF r IS NULL THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'P0002', MESSAGE = 'task did not exist at that time';
  END IF;
  RETURN jsonb_build_object('id', task_as_of.id, 'as_of', task_as_of.at) || r;
END
$$;

-- The query parameters of GET /tasks/{id}/as-of: at (an ISO 8601 timestamp).
CREATE FUNCTION @extschema@._as_of_param(params jsonb) RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  k text;
  v text := params ->> 'at';
BEGIN
  FOR k IN SELECT jsonb_object_keys(coalesce(params, '{}')) ORDER BY 1 LOOP
    IF k <> 'at' THEN PERFORM @extschema@._bad_parameter(k, 'is not a known parameter'); END IF;
  END LOOP;
  IF v IS NULL OR v !~ '^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$' THEN
    PERFORM @extschema@._bad_parameter('at', 'must be a timestamp such as 2030-01-31T12:00:00Z');
  END IF;
  BEGIN
    RETURN v::timestamptz;
  EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
    PERFORM @extschema@._bad_parameter('at', 'is not a valid timestamp');
  END;
  RETURN NULL;
END
$$;

-- report_summary's time_in_status_hours: per status, the stays that ended
-- (the task moved to another status) within [t_from, t_to), of the tasks in
-- the report's scope (team, and the visibility rule restated for a caller
-- who is not an admin, as in _report_figures; row-level security applies on
-- top): {status: {count, mean, p85}} in hours.  A stay still going on does
-- not count: its length is not known yet.  A stay ends with a status change
-- (an 'updated' event: the 'created' one starts a task's first stay), so
-- only the period's status changes are read, each paired with the task's
-- status event before it.  Which ones: for a report of everything (an
-- admin's), by their time; otherwise those of the tasks in scope, by task,
-- so that a user who sees few tasks reads few events.  Reading every event
-- of every task in scope took seconds at a million tasks; reading the
-- period's changes of all tasks to keep a few visible ones took a quarter
-- of a second for a user who sees 24.  Custom plans: the scope decides.
CREATE INDEX task_events_status_changes_idx ON @extschema@.task_events (at)
  INCLUDE (task_id, id) WHERE kind = 'updated' AND changes ? 'status';
CREATE INDEX task_events_task_status_changes_idx ON @extschema@.task_events (task_id, at)
  WHERE kind = 'updated' AND changes ? 'status';

CREATE FUNCTION @extschema@._time_in_status(team bigint, me bigint, my_teams bigint[],
                                            t_from timestamptz, t_to timestamptz) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SET plan_cache_mode = force_custom_plan AS $$
DECLARE
  ids bigint[];  -- the tasks in scope; NULL: every task
BEGIN
  IF team IS NOT NULL OR me IS NOT NULL THEN
    ids := ARRAY(SELECT t.id FROM @extschema@.tasks t
                  WHERE (team IS NULL OR t.team_id = team OR t.assignee_team_id = team)
                    AND (me IS NULL OR t.creator_id = me OR t.assignee_user_id = me
                         OR t.assignee_team_id = ANY (my_teams) OR t.team_id = ANY (my_teams)));
  END IF;
  RETURN (
    WITH ends AS (
      SELECT e.task_id, e.id, e.at
        FROM @extschema@.task_events e
        JOIN @extschema@.tasks t ON t.id = e.task_id
       WHERE e.kind = 'updated' AND e.changes ? 'status' AND e.at >= t_from AND e.at < t_to
         AND (ids IS NULL OR e.task_id = ANY (ids))
    ),
    stays AS MATERIALIZED (
      SELECT s.status, extract(epoch FROM ends.at - s.at) / 3600 AS h
        FROM ends
        CROSS JOIN LATERAL (
          SELECT p.changes -> 'status' ->> 1 AS status, p.at
            FROM @extschema@.task_events p
           WHERE p.task_id = ends.task_id AND p.id < ends.id
             AND p.kind IN ('created', 'updated') AND p.changes ? 'status'
           ORDER BY p.id DESC LIMIT 1) s
    )
    SELECT jsonb_object_agg(st, (
             SELECT jsonb_build_object('count', count(*), 'mean', round(avg(s.h)::numeric, 2),
                      'p85', round((percentile_cont(0.85) WITHIN GROUP (ORDER BY s.h))::numeric, 2))
               FROM stays s WHERE s.status = st)
           ORDER BY st)
      FROM unnest(enum_range(NULL::@extschema@.task_status)::text[]) st);
END
$$;
