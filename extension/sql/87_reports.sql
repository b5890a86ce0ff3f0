-- Reports: report_summary(filter) as JSON, and report_summary_pdf(filter),
-- the same report rendered as a PDF in C (report_pdf.c, libharu).
-- Only tasks the caller may see count: the queries run under the caller's
-- row-level security like any other.

-- A 'YYYY-MM-DD' report parameter, or NULL when absent (or JSON null);
-- the format rules and errors are the list filter's (_date_param).
CREATE FUNCTION @extschema@._report_date_param(filter jsonb, param text) RETURNS date
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN filter -> param IS NULL OR filter -> param = 'null' THEN NULL
              ELSE @extschema@._date_param(filter -> param, param) END
$$;

CREATE FUNCTION @extschema@.report_summary(filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  f jsonb := coalesce(filter, '{}');
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
  PERFORM @extschema@._check_filter_keys('report_summary', f);

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
    -- #14 (79_as_of.sql): stays in each status that ended in the period
    'time_in_status_hours', @extschema@._time_in_status(ARRAY(SELECT s.id FROM s), t_from, t_to),
    'assignees', coalesce((
      SELECT jsonb_agg(jsonb_build_object('type', n.kind, 'id', n.aid, 'name', n.name,
                                          'completed', n.completed, 'open', n.open)
                       ORDER BY n.completed DESC, n.open DESC, n.name NULLS LAST, n.aid)
        FROM named n), '[]'))
  INTO result;
  RETURN result;
END
$$;
COMMENT ON FUNCTION @extschema@.report_summary(jsonb) IS
  'Summary report over the visible tasks (keys team, from, to): counts, throughput, lead and cycle times.';

CREATE FUNCTION @extschema@.report_summary_pdf(filter jsonb DEFAULT '{}') RETURNS bytea
LANGUAGE C STABLE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'tm_report_summary_pdf';
COMMENT ON FUNCTION @extschema@.report_summary_pdf(jsonb) IS
  'report_summary(filter) as a PDF: figures, a weekly throughput chart, a per-assignee table.';
