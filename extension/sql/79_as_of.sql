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
-- (the task moved to another status) within [t_from, t_to), of the given
-- tasks: {status: {count, mean, p85}} in hours.  A stay still going on
-- does not count: its length is not known yet.
CREATE FUNCTION @extschema@._time_in_status(ids bigint[], t_from timestamptz, t_to timestamptz) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  WITH ch AS (
    SELECT e.task_id, e.id, e.at, e.changes -> 'status' ->> 1 AS status
      FROM @extschema@.task_events e
     WHERE e.task_id = ANY (ids) AND e.kind IN ('created', 'updated') AND e.changes ? 'status'
  ),
  stays AS (
    SELECT ch.status, lead(ch.at) OVER w AS left_at,
           extract(epoch FROM lead(ch.at) OVER w - ch.at) / 3600 AS h
      FROM ch WINDOW w AS (PARTITION BY ch.task_id ORDER BY ch.id)
  )
  SELECT jsonb_object_agg(st, (
           SELECT jsonb_build_object('count', count(*), 'mean', round(avg(s.h)::numeric, 2),
                    'p85', round((percentile_cont(0.85) WITHIN GROUP (ORDER BY s.h))::numeric, 2))
             FROM stays s WHERE s.status = st AND s.left_at >= t_from AND s.left_at < t_to)
         ORDER BY st)
    FROM unnest(enum_range(NULL::@extschema@.task_status)::text[]) st
$$;
