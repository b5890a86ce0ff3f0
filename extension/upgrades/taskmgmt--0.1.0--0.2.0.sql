-- taskmgmt 0.1.0 → 0.2.0.  Every change made to extension/sql/ since 0.1.0
-- goes here too, so that ALTER EXTENSION taskmgmt UPDATE gives exactly the
-- schema of a fresh CREATE EXTENSION (the suite deploy-upgrade compares them).
-- New columns go at the end of their table in extension/sql/ as well.
\echo Use "ALTER EXTENSION taskmgmt UPDATE TO '0.2.0'" to load this file. \quit


-- ==== filter keys: the accepted query parameters in one place (#19) ====
-- filter_keys(fn) lists what each API function's filter accepts; the
-- functions check against it and the HTTP suite compares it with openapi.json.
CREATE FUNCTION @extschema@.filter_keys(api_function text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE api_function
           WHEN 'list_tasks' THEN l
           WHEN 'filter_tasks' THEN l
           WHEN 'save_view' THEN l
           WHEN 'task_rows' THEN array_remove(array_remove(l, 'limit'), 'cursor')
           WHEN 'search_tasks' THEN array_remove(array_remove(l, 'sort'), 'q')
           WHEN 'export_tasks_csv' THEN l || '{include_comments}'::text[]
           WHEN 'export_tasks_csv_lines' THEN l || '{include_comments}'::text[]
           WHEN 'task_history' THEN '{limit,cursor}'
           WHEN 'notifications' THEN '{unread,cursor,limit,since}'
           WHEN 'report_summary' THEN '{team,from,to}'
           WHEN 'report_summary_pdf' THEN '{team,from,to}'
         END
    FROM (SELECT '{status,assignee,team,priority,tag,tag_mode,due_before,due_after,overdue,q,sort,limit,cursor,view}'::text[] AS l) k
$$;

COMMENT ON FUNCTION @extschema@.filter_keys(text) IS
  'The keys the filter argument of an API function accepts, e.g. filter_keys(''list_tasks'').';
REVOKE ALL ON FUNCTION @extschema@.filter_keys(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.filter_keys(text) TO taskmgmt_client;

CREATE OR REPLACE FUNCTION @extschema@._filter_normalize(filter jsonb, extra_keys text[] DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  known constant text[] := @extschema@.filter_keys('list_tasks');
  f jsonb := '{}';
  k text;
  v jsonb;
  items text[];
  s text;
  m text[];
  sorts jsonb := '[]';
  seen text[] := '{}';
BEGIN
  IF filter IS NULL OR filter = 'null' THEN filter := '{}'; END IF;
  IF jsonb_typeof(filter) <> 'object' THEN
    PERFORM @extschema@._bad_parameter('filter', 'must be a JSON object');
  END IF;
  IF filter ? 'view' AND filter -> 'view' <> 'null' THEN
    IF jsonb_typeof(filter -> 'view') <> 'string' THEN
      PERFORM @extschema@._bad_parameter('view', 'must be the name of a saved view');
    END IF;
    filter := @extschema@._view_filter(filter ->> 'view') || (filter - 'view');
  END IF;
  filter := filter - 'view';
  FOR k, v IN SELECT * FROM jsonb_each(filter) ORDER BY 1 LOOP
    IF NOT (k = ANY (known) OR k = ANY (extra_keys)) THEN
      PERFORM @extschema@._bad_parameter(k, 'is not a known parameter');
    END IF;
    CONTINUE WHEN v = 'null' OR (jsonb_typeof(v) = 'string' AND btrim(v #>> '{}') = '');
    CASE k
      WHEN 'status' THEN
        items := @extschema@._list_param(v, k);
        IF NOT items <@ enum_range(NULL::@extschema@.task_status)::text[] THEN
          PERFORM @extschema@._bad_parameter(k, 'must be a list of todo, in_progress, done, canceled');
        END IF;
        f := f || jsonb_build_object(k, (SELECT jsonb_agg(x ORDER BY x) FROM unnest(items) x));
      WHEN 'priority' THEN
        items := @extschema@._list_param(v, k);
        IF NOT items <@ enum_range(NULL::@extschema@.task_priority)::text[] THEN
          PERFORM @extschema@._bad_parameter(k, 'must be a list of none, low, medium, high, urgent');
        END IF;
        f := f || jsonb_build_object(k, (SELECT jsonb_agg(x ORDER BY x) FROM unnest(items) x));
      WHEN 'tag' THEN
        items := @extschema@._list_param(v, k);
        IF EXISTS (SELECT FROM unnest(items) x WHERE length(x) > 50) OR cardinality(items) > 20 THEN
          PERFORM @extschema@._bad_parameter(k, 'must be at most 20 tags of at most 50 characters');
        END IF;
        f := f || jsonb_build_object(k, (SELECT jsonb_agg(DISTINCT lower(x)) FROM unnest(items) x));
      WHEN 'tag_mode' THEN
        IF jsonb_typeof(v) <> 'string' OR lower(v #>> '{}') NOT IN ('any', 'all') THEN
          PERFORM @extschema@._bad_parameter(k, 'must be any or all');
        END IF;
        f := f || jsonb_build_object(k, lower(v #>> '{}'));
      WHEN 'assignee' THEN
        s := lower(btrim(v #>> '{}'));
        m := regexp_match(s, '^(user|team):([0-9]{1,18})$');
        IF jsonb_typeof(v) <> 'string' OR NOT (s IN ('me', 'none') OR m IS NOT NULL) THEN
          PERFORM @extschema@._bad_parameter(k, 'must be me, none, user:ID or team:ID');
        END IF;
        f := f || jsonb_build_object(k, CASE WHEN m IS NULL THEN s ELSE m[1] || ':' || m[2]::bigint END);
      WHEN 'team' THEN
        f := f || jsonb_build_object(k, @extschema@._id_param(v, k));
      WHEN 'due_before', 'due_after' THEN
        f := f || jsonb_build_object(k, @extschema@._date_param(v, k));
      WHEN 'overdue' THEN
        f := f || jsonb_build_object(k, @extschema@._bool_param(v, k));
      WHEN 'q' THEN
        IF jsonb_typeof(v) <> 'string' OR btrim(v #>> '{}') = '' THEN
          PERFORM @extschema@._bad_parameter(k, 'must be a non-empty search text');
        END IF;
        IF length(v #>> '{}') > 500 THEN
          PERFORM @extschema@._bad_parameter(k, 'must be at most 500 characters');
        END IF;
        f := f || jsonb_build_object(k, btrim(v #>> '{}'));
      WHEN 'sort' THEN
        FOREACH s IN ARRAY @extschema@._list_param(v, k) LOOP
          m := regexp_match(s, '^([-+]?)(priority|due_date|created_at|updated_at|title|status)$');
          IF m IS NULL THEN
            PERFORM @extschema@._bad_parameter(k,
              'must be a list of priority, due_date, created_at, updated_at, title, status, each optionally prefixed with - for descending');
          END IF;
          IF m[2] = ANY (seen) THEN
            PERFORM @extschema@._bad_parameter(k, 'names ' || m[2] || ' twice');
          END IF;
          seen := seen || m[2];
          sorts := sorts || jsonb_build_array(jsonb_build_array(m[2], CASE WHEN m[1] = '-' THEN 'desc' ELSE 'asc' END));
        END LOOP;
        f := f || jsonb_build_object(k, sorts);
      WHEN 'limit' THEN
        f := f || jsonb_build_object(k, @extschema@._limit_param(v));
      WHEN 'cursor' THEN
        IF jsonb_typeof(v) <> 'string' THEN
          PERFORM @extschema@._bad_parameter(k, 'must be a cursor string from next_cursor');
        END IF;
        f := f || jsonb_build_object(k, v);
      ELSE
        f := f || jsonb_build_object(k, v);  -- extra keys: validated by the caller
    END CASE;
  END LOOP;
  IF f ? 'tag_mode' AND NOT f ? 'tag' THEN
    f := f - 'tag_mode';
  END IF;
  RETURN f;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.task_history(id bigint, filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  k text;
  lim integer;
  cur jsonb;
  last_id bigint;
  items jsonb;
  n integer;
  fhash text := md5('history:' || id);
BEGIN
  PERFORM @extschema@._require_user();
  IF filter IS NULL OR jsonb_typeof(filter) <> 'object' THEN
    PERFORM @extschema@._bad_parameter('filter', 'must be a JSON object');
  END IF;
  FOR k IN SELECT jsonb_object_keys(filter) ORDER BY 1 LOOP
    IF NOT k = ANY (@extschema@.filter_keys('task_history')) THEN
      PERFORM @extschema@._bad_parameter(k, format('is not a known parameter (%s)',
                                                    array_to_string(@extschema@.filter_keys('task_history'), ', ')));
    END IF;
  END LOOP;
  lim := @extschema@._limit_param(filter -> 'limit');
  cur := @extschema@._cursor_read(filter -> 'cursor', 'history', fhash);
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = task_history.id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  IF cur IS NOT NULL THEN
    IF jsonb_typeof(cur -> 'i') IS DISTINCT FROM 'number' OR (cur ->> 'i') !~ '^[0-9]{1,18}$' THEN
      PERFORM @extschema@._bad_parameter('cursor', 'is not a valid cursor');
    END IF;
    last_id := (cur ->> 'i')::bigint;
  END IF;
  SELECT coalesce(jsonb_agg(@extschema@.task_event_json(e) ORDER BY e.id DESC), '[]'), count(*)
    INTO items, n
    FROM (SELECT * FROM @extschema@.task_events e
           WHERE e.task_id = task_history.id AND (last_id IS NULL OR e.id < last_id)
           ORDER BY e.id DESC LIMIT lim + 1) e;
  IF n > lim THEN
    items := items - lim;
    RETURN jsonb_build_object('items', items, 'next_cursor',
      @extschema@._cursor_make(jsonb_build_object('s', 'history', 'f', fhash,
                                                  'i', items -> (lim - 1) -> 'id')));
  END IF;
  RETURN jsonb_build_object('items', items, 'next_cursor', NULL);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.notifications(filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  k text;
  v jsonb;
  unread boolean := false;
  lim int := 50;
  before_id bigint;
  since_id bigint;
  items jsonb;
  n int;
  last_id bigint;
BEGIN
  IF filter IS NULL OR jsonb_typeof(filter) <> 'object' THEN
    PERFORM @extschema@._bad_parameter('filter', 'must be a JSON object');
  END IF;
  FOR k, v IN SELECT * FROM jsonb_each(filter) LOOP
    IF NOT k = ANY (@extschema@.filter_keys('notifications')) THEN
      PERFORM @extschema@._bad_parameter(k, format('is not a known parameter (%s)',
                                                    array_to_string(@extschema@.filter_keys('notifications'), ', ')));
    END IF;
    CASE k
      WHEN 'unread' THEN
        IF v IN ('true', '"true"') THEN unread := true;
        ELSIF v IN ('false', '"false"', 'null') THEN unread := false;
        ELSE PERFORM @extschema@._bad_parameter('unread', 'must be true or false');
        END IF;
      WHEN 'limit' THEN
        IF v #>> '{}' !~ '^[0-9]{1,3}$' OR (v #>> '{}')::int NOT BETWEEN 1 AND 200 THEN
          PERFORM @extschema@._bad_parameter('limit', 'must be an integer from 1 to 200');
        END IF;
        lim := (v #>> '{}')::int;
      WHEN 'cursor' THEN
        IF v <> 'null' THEN
          IF jsonb_typeof(v) <> 'string' OR v #>> '{}' !~ '^n[0-9]{1,18}$' THEN
            PERFORM @extschema@._bad_parameter('cursor', 'is not a valid cursor');
          END IF;
          before_id := substr(v #>> '{}', 2)::bigint;
        END IF;
      WHEN 'since' THEN
        IF v #>> '{}' !~ '^[0-9]{1,18}$' THEN
          PERFORM @extschema@._bad_parameter('since', 'must be a notification id (0 or more)');
        END IF;
        since_id := (v #>> '{}')::bigint;
    END CASE;
  END LOOP;
  IF since_id IS NOT NULL AND before_id IS NOT NULL THEN
    PERFORM @extschema@._bad_parameter('since', 'cannot be combined with cursor');
  END IF;

  IF since_id IS NOT NULL THEN
    SELECT coalesce(jsonb_agg(@extschema@.notification_json(x) ORDER BY x.id), '[]'), count(*), max(x.id)
      INTO items, n, last_id
    FROM (SELECT * FROM @extschema@.notifications nn
          WHERE nn.user_id = uid AND nn.id > since_id AND (NOT unread OR nn.read_at IS NULL)
          ORDER BY nn.id LIMIT lim) x;
    -- the next page of a catch-up is simply "since the last id"
    RETURN jsonb_build_object('items', items, 'next_cursor', NULL,
                              'last_id', last_id, 'more', n = lim);
  END IF;

  SELECT coalesce(jsonb_agg(@extschema@.notification_json(x) ORDER BY x.id DESC), '[]'), count(*), min(x.id)
    INTO items, n, last_id
  FROM (SELECT * FROM @extschema@.notifications nn
        WHERE nn.user_id = uid AND nn.id IS NOT NULL
          AND (before_id IS NULL OR nn.id < before_id)
          AND (NOT unread OR nn.read_at IS NULL)
        ORDER BY nn.id DESC LIMIT lim) x;
  RETURN jsonb_build_object('items', items,
    'next_cursor', CASE WHEN n = lim THEN 'n' || last_id END);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.report_summary(filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  f jsonb := coalesce(filter, '{}');
  k text;
  v jsonb;
  tz text;
  today date;
  team bigint;
  team_name text;
  d_from date;
  d_to date;
  t_from timestamptz;
  t_to timestamptz;
  result jsonb;
BEGIN
  IF jsonb_typeof(f) <> 'object' THEN
    PERFORM @extschema@._bad_parameter('filter', 'must be a JSON object');
  END IF;
  FOR k IN SELECT jsonb_object_keys(f) ORDER BY 1 LOOP
    IF NOT k = ANY (@extschema@.filter_keys('report_summary')) THEN
      PERFORM @extschema@._bad_parameter(k, 'is not a known parameter');
    END IF;
  END LOOP;

  v := f -> 'team';
  IF v IS NOT NULL AND v <> 'null' THEN
    IF jsonb_typeof(v) NOT IN ('string', 'number') OR (v #>> '{}') !~ '^[0-9]{1,18}$' THEN
      PERFORM @extschema@._bad_parameter('team', 'must be a team id');
    END IF;
    team := (v #>> '{}')::bigint;
    -- a team one may not see does not exist (teams' row-level security)
    SELECT t.name INTO team_name FROM @extschema@.teams t WHERE t.id = team;
    IF NOT FOUND THEN PERFORM @extschema@._not_found('team'); END IF;
  END IF;

  -- days are the caller's days: periods and "overdue" use their time zone
  SELECT u.timezone INTO tz FROM @extschema@.users u WHERE u.id = uid;
  tz := coalesce(tz, 'UTC');
  today := (now() AT TIME ZONE tz)::date;
  d_to := coalesce(@extschema@._report_date_param(f, 'to'), today);
  d_from := coalesce(@extschema@._report_date_param(f, 'from'), d_to - 27);
  IF d_from > d_to THEN
    PERFORM @extschema@._bad_parameter('from', 'must not be after to');
  END IF;
  IF d_to - d_from > 731 THEN
    PERFORM @extschema@._bad_parameter('from', 'the period may span at most 732 days');
  END IF;
  t_from := d_from::timestamp AT TIME ZONE tz;
  t_to := (d_to + 1)::timestamp AT TIME ZONE tz;

  WITH s AS MATERIALIZED (
    -- the visible tasks in scope: a team's tasks are those it owns or is assigned
    SELECT t.id, t.status, t.due_date, t.assignee_user_id, t.assignee_team_id,
           t.created_at, t.started_at, t.completed_at,
           t.status = 'done' AND t.completed_at >= t_from AND t.completed_at < t_to AS done_in_period,
           t.status IN ('todo', 'in_progress') AS open
      FROM @extschema@.tasks t
     WHERE team IS NULL OR t.team_id = team OR t.assignee_team_id = team
  ),
  done AS (
    SELECT extract(epoch FROM s.completed_at - s.created_at) / 3600 AS lead_h,
           extract(epoch FROM s.completed_at - s.started_at) / 3600 AS cycle_h,
           (s.completed_at AT TIME ZONE tz)::date AS day
      FROM s WHERE s.done_in_period
  ),
  weeks AS (
    SELECT w::date AS week_start
      FROM generate_series(date_trunc('week', d_from::timestamp), d_to::timestamp, interval '1 week') w
  ),
  by_assignee AS (
    SELECT CASE WHEN s.assignee_user_id IS NOT NULL THEN 'user'
                WHEN s.assignee_team_id IS NOT NULL THEN 'team' END AS kind,
           coalesce(s.assignee_user_id, s.assignee_team_id) AS aid,
           count(*) FILTER (WHERE s.done_in_period) AS completed,
           count(*) FILTER (WHERE s.open) AS open
      FROM s GROUP BY 1, 2
  ),
  named AS (
    SELECT a.*, CASE a.kind
             WHEN 'user' THEN (SELECT u.display_name FROM @extschema@.users u WHERE u.id = a.aid)
             WHEN 'team' THEN @extschema@._team_name(a.aid) END AS name
      FROM by_assignee a
     WHERE a.completed > 0 OR a.open > 0
  )
  SELECT jsonb_build_object(
    'team', CASE WHEN team IS NOT NULL THEN jsonb_build_object('id', team, 'name', team_name) END,
    'from', d_from, 'to', d_to, 'timezone', tz, 'as_of', today, 'generated_at', now(),
    'total', (SELECT count(*) FROM s),
    'counts_by_status', (
      SELECT jsonb_object_agg(st, (SELECT count(*) FROM s WHERE s.status::text = st) ORDER BY st)
        FROM unnest(enum_range(NULL::@extschema@.task_status)::text[]) st),
    'created_in_period', (SELECT count(*) FROM s WHERE s.created_at >= t_from AND s.created_at < t_to),
    'completed_in_period', (SELECT count(*) FROM done),
    -- of the tasks created in the period, the share that is done now
    'completion_rate', (
      SELECT round(count(*) FILTER (WHERE s.status = 'done')::numeric / nullif(count(*), 0), 4)
        FROM s WHERE s.created_at >= t_from AND s.created_at < t_to),
    'overdue', (
      SELECT jsonb_build_object('count', count(*),
                                'mean_age_days', round(avg(today - s.due_date), 1),
                                'max_age_days', max(today - s.due_date))
        FROM s WHERE s.open AND s.due_date < today),
    'lead_time_hours', (
      SELECT jsonb_build_object('count', count(*),
               'p50', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY done.lead_h)::numeric, 2),
               'p85', round(percentile_cont(0.85) WITHIN GROUP (ORDER BY done.lead_h)::numeric, 2))
        FROM done),
    'cycle_time_hours', (
      SELECT jsonb_build_object('count', count(done.cycle_h),
               'p50', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY done.cycle_h)::numeric, 2),
               'p85', round(percentile_cont(0.85) WITHIN GROUP (ORDER BY done.cycle_h)::numeric, 2))
        FROM done WHERE done.cycle_h IS NOT NULL),
    -- weeks start on Monday; the first and last may be cut by the period
    'weekly_throughput', (
      SELECT jsonb_agg(jsonb_build_object('week_start', w.week_start,
               'completed', (SELECT count(*) FROM done
                              WHERE done.day >= w.week_start AND done.day < w.week_start + 7))
               ORDER BY w.week_start)
        FROM weeks w),
    'assignees', coalesce((
      SELECT jsonb_agg(jsonb_build_object('type', n.kind, 'id', n.aid, 'name', n.name,
                                          'completed', n.completed, 'open', n.open)
                       ORDER BY n.completed DESC, n.open DESC, n.name NULLS LAST, n.aid)
        FROM named n), '[]'))
  INTO result;
  RETURN result;
END
$$;

-- ==== typo-tolerant search: pg_trgm required, plain words only (#19) ====
-- (the requirement itself is in taskmgmt.control; see doc/operations.md)
CREATE OR REPLACE FUNCTION @extschema@._search_fuzzy_sql(f jsonb, n integer) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  trgm text;
BEGIN
  IF websearch_to_tsquery('english', f ->> 'q')::text ~ '!|\||<(-|[0-9]+)>' THEN
    RETURN NULL;
  END IF;
  SELECT x.nspname INTO trgm FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace x ON x.oid = e.extnamespace
   WHERE e.extname = 'pg_trgm';
  IF trgm IS NULL THEN
    RETURN NULL;
  END IF;
  RETURN format(
      'SELECT x.t AS task, x.rank FROM ('
      '  SELECT t, round(%1$I.word_similarity(%2$L, t.title)::numeric, 6) AS rank'
      '  FROM @extschema@.tasks t WHERE %3$s) x'
      ' WHERE x.rank >= 0.4 ORDER BY x.rank DESC, (x.t).id LIMIT %4$s',
      trgm, f ->> 'q', @extschema@._filter_where(f - 'q'), n);
END
$$;

-- ==== readable rows for psql users (#19) ====
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
REVOKE ALL ON FUNCTION @extschema@._task_row(@extschema@.tasks) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._task_row(@extschema@.tasks) TO taskmgmt_client;
REVOKE ALL ON FUNCTION @extschema@.task_rows(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.task_rows(jsonb) TO taskmgmt_client;
REVOKE ALL ON FUNCTION @extschema@.task_history_rows(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.task_history_rows(bigint) TO taskmgmt_client;
REVOKE ALL ON FUNCTION @extschema@.comment_thread_rows(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.comment_thread_rows(bigint) TO taskmgmt_client;
