-- Reports: report_summary(filter) as JSON, and report_summary_pdf(filter),
-- the same report rendered as a PDF in C (report_pdf.c, libharu).
-- Only tasks the caller may see count: the queries run under the caller's
-- row-level security like any other.

-- The completed tasks of a period, for the reports: with the columns the
-- report and the tasks_select rule read, so that an index-only scan serves
-- them; only done tasks are in it, so creating and editing open tasks never
-- touches it.
CREATE INDEX tasks_completed_at_idx ON @extschema@.tasks (completed_at)
  INCLUDE (created_at, started_at, creator_id, assignee_user_id, assignee_team_id, team_id)
  WHERE status = 'done';

-- A 'YYYY-MM-DD' report parameter, or NULL when absent (or JSON null);
-- the format rules and errors are the list filter's (_date_param).
CREATE FUNCTION @extschema@._report_date_param(filter jsonb, param text) RETURNS date
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN filter -> param IS NULL OR filter -> param = 'null' THEN NULL
              ELSE @extschema@._date_param(filter -> param, param) END
$$;

-- The figures of report_summary for a checked scope and period, as one
-- row.  RETURN QUERY runs its statement to completion in one go, which is
-- what lets PostgreSQL scan the tasks with parallel workers (a SELECT ...
-- INTO, or a SQL function's statement, is run a row at a time, and such a
-- run is never parallel).  Planned for the values every time: a report of
-- one team reads that team's tasks by index, a user who sees few tasks
-- reads them by the visibility rule's indexes (me, my_teams: the rule
-- restated, as in _filter_where, NULL for an admin; row-level security is
-- applied on top), a report of everything reads everything.
CREATE FUNCTION @extschema@._report_figures(team bigint, team_name text, tz text, today date,
                                             d_from date, d_to date, t_from timestamptz,
                                             t_to timestamptz, me bigint, my_teams bigint[])
RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan AS $$
BEGIN
  RETURN QUERY
  -- One pass over the tasks in scope, grouped by assignee and status: every
  -- figure that is a count, a sum or a maximum adds up over the groups, and
  -- they make the per-assignee table.  The completed tasks of the period
  -- (lead and cycle times, weekly throughput) come from the index on
  -- completed_at.  A team's tasks are those it owns or is assigned.
  WITH g AS (
    SELECT t.assignee_user_id, t.assignee_team_id, t.status,
           count(*) AS total,
           count(*) FILTER (WHERE t.completed_at >= t_from AND t.completed_at < t_to) AS completed,
           count(*) FILTER (WHERE t.created_at >= t_from AND t.created_at < t_to) AS created,
           count(*) FILTER (WHERE t.due_date < today) AS late,
           sum(today - t.due_date) FILTER (WHERE t.due_date < today) AS late_days,
           max(today - t.due_date) FILTER (WHERE t.due_date < today) AS late_max
      FROM @extschema@.tasks t
     WHERE (team IS NULL OR t.team_id = team OR t.assignee_team_id = team)
       AND (me IS NULL OR t.creator_id = me OR t.assignee_user_id = me
            OR t.assignee_team_id = ANY (my_teams) OR t.team_id = ANY (my_teams))
     GROUP BY 1, 2, 3
  ),
  x AS (
    SELECT coalesce(sum(g.total), 0) AS total,
           coalesce(sum(g.total) FILTER (WHERE g.status = 'todo'), 0) AS todo,
           coalesce(sum(g.total) FILTER (WHERE g.status = 'in_progress'), 0) AS in_progress,
           coalesce(sum(g.total) FILTER (WHERE g.status = 'done'), 0) AS done,
           coalesce(sum(g.total) FILTER (WHERE g.status = 'canceled'), 0) AS canceled,
           coalesce(sum(g.created), 0) AS created,
           coalesce(sum(g.created) FILTER (WHERE g.status = 'done'), 0) AS created_done,
           coalesce(sum(g.late) FILTER (WHERE g.status IN ('todo', 'in_progress')), 0) AS overdue,
           sum(g.late_days) FILTER (WHERE g.status IN ('todo', 'in_progress')) AS overdue_days,
           max(g.late_max) FILTER (WHERE g.status IN ('todo', 'in_progress')) AS overdue_max
      FROM g
  ),
  a AS (
    SELECT CASE WHEN g.assignee_user_id IS NOT NULL THEN 'user'
                WHEN g.assignee_team_id IS NOT NULL THEN 'team' END AS kind,
           coalesce(g.assignee_user_id, g.assignee_team_id) AS aid,
           coalesce(sum(g.completed) FILTER (WHERE g.status = 'done'), 0) AS completed,
           coalesce(sum(g.total) FILTER (WHERE g.status IN ('todo', 'in_progress')), 0) AS open
      FROM g GROUP BY 1, 2
  ),
  done AS (
    SELECT extract(epoch FROM t.completed_at - t.created_at) / 3600 AS lead_h,
           extract(epoch FROM t.completed_at - t.started_at) / 3600 AS cycle_h,
           (t.completed_at AT TIME ZONE tz)::date AS day
      FROM @extschema@.tasks t
     WHERE t.status = 'done' AND t.completed_at >= t_from AND t.completed_at < t_to
       AND (team IS NULL OR t.team_id = team OR t.assignee_team_id = team)
       AND (me IS NULL OR t.creator_id = me OR t.assignee_user_id = me
            OR t.assignee_team_id = ANY (my_teams) OR t.team_id = ANY (my_teams))
  ),
  weeks AS (
    SELECT w::date AS week_start
      FROM generate_series(date_trunc('week', d_from::timestamp), d_to::timestamp, interval '1 week') w
  ),
  -- each name once (the table reads a name twice, to show and to order
  -- by it): users in one join, a team's by _team_name, which checks that
  -- the caller may know it
  named AS MATERIALIZED (
    SELECT a.kind, a.aid, a.completed, a.open, CASE a.kind
             WHEN 'user' THEN u.display_name
             WHEN 'team' THEN @extschema@._team_name(a.aid) END AS name
      FROM a
      LEFT JOIN @extschema@.users u ON a.kind = 'user' AND u.id = a.aid
     WHERE a.completed > 0 OR a.open > 0
  )
  SELECT jsonb_build_object(
    'team', CASE WHEN team IS NOT NULL THEN jsonb_build_object('id', team, 'name', team_name) END,
    'from', d_from, 'to', d_to, 'timezone', tz, 'as_of', today, 'generated_at', now(),
    'total', x.total,
    'counts_by_status', jsonb_build_object('canceled', x.canceled, 'done', x.done,
                                           'in_progress', x.in_progress, 'todo', x.todo),
    'created_in_period', x.created,
    'completed_in_period', (SELECT count(*) FROM done),
    -- of the tasks created in the period, the share that is done now
    'completion_rate', round(x.created_done::numeric / nullif(x.created, 0), 4),
    'overdue', jsonb_build_object('count', x.overdue,
                                  'mean_age_days', round(x.overdue_days::numeric / nullif(x.overdue, 0), 1),
                                  'max_age_days', x.overdue_max),
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
      SELECT jsonb_agg(jsonb_build_object('week_start', w.week_start, 'completed', coalesce(c.n, 0))
                       ORDER BY w.week_start)
        FROM weeks w
        LEFT JOIN (SELECT date_trunc('week', done.day::timestamp)::date AS week_start, count(*) AS n
                     FROM done GROUP BY 1) c ON c.week_start = w.week_start),
    -- #14 (79_as_of.sql): stays in each status that ended in the period
    'time_in_status_hours', @extschema@._time_in_status(team, me, my_teams, t_from, t_to),
    'assignees', coalesce((
      SELECT jsonb_agg(jsonb_build_object('type', n.kind, 'id', n.aid, 'name', n.name,
                                          'completed', n.completed, 'open', n.open)
                       ORDER BY n.completed DESC, n.open DESC, n.name NULLS LAST, n.aid)
        FROM named n), '[]'))
    FROM x;
END
$$;

-- jit off: the planner's estimate for a million tasks is far past JIT's
-- thresholds, and compiling the expressions took longer than running them.
CREATE FUNCTION @extschema@.report_summary(filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE SET jit = off AS $$
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

  RETURN (SELECT r FROM @extschema@._report_figures(team, team_name, tz, today, d_from, d_to, t_from, t_to,
            CASE WHEN NOT @extschema@.current_user_is_admin() THEN uid END, @extschema@.my_team_ids()) r);
END
$$;
COMMENT ON FUNCTION @extschema@.report_summary(jsonb) IS
  'Summary report over the visible tasks (keys team, from, to): counts, throughput, lead and cycle times.';

CREATE FUNCTION @extschema@.report_summary_pdf(filter jsonb DEFAULT '{}') RETURNS bytea
LANGUAGE C STABLE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'tm_report_summary_pdf';
COMMENT ON FUNCTION @extschema@.report_summary_pdf(jsonb) IS
  'report_summary(filter) as a PDF: figures, a weekly throughput chart, a per-assignee table.';
