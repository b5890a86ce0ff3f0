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

-- Tallies of all tasks, for the one report that reads every task: an
-- admin's without a team (row-level security lets an admin see every task,
-- so counting all of them is counting what the admin sees).  A million
-- tasks are one pass of a second and more; the tallies make it a read of
-- one row per assignee and status, and one per open status and due date.
-- Every write appends a delta row (no row is updated, so concurrent writes
-- never wait for each other); compact_task_tallies() folds the deltas into
-- the summed rows, every minute under pg_cron (schedule_jobs()).  Readers
-- add up both kinds, so the figures are exact whether or not the deltas
-- have been folded, in the reader's snapshot like the tasks themselves.
CREATE TABLE @extschema@.task_tallies (
  -- 'delta': one task counted (+1) or uncounted (-1), every column set;
  -- 'assignee': the sum per assignee and status (due_date NULL);
  -- 'due': the sum per open status and due date (assignees NULL)
  kind             text NOT NULL CHECK (kind IN ('delta', 'assignee', 'due')),
  assignee_user_id bigint,
  assignee_team_id bigint,
  status           @extschema@.task_status NOT NULL,
  due_date         date,
  n                bigint NOT NULL
);
-- the summed rows, one per key; delta rows are not indexed
CREATE UNIQUE INDEX task_tallies_sum_key ON @extschema@.task_tallies
  (kind, assignee_user_id, assignee_team_id, status, due_date) NULLS NOT DISTINCT
  WHERE kind <> 'delta';
COMMENT ON TABLE @extschema@.task_tallies IS
  'Counts of all tasks per assignee and status, and per open status and due date, for an admin''s report.';
-- no key, but compaction deletes and updates rows: a publication of all
-- tables must be able to send that
ALTER TABLE @extschema@.task_tallies REPLICA IDENTITY FULL;
ALTER TABLE @extschema@.task_tallies ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.task_tallies FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.task_tallies FROM PUBLIC;
-- counts of every task: for those who see every task
CREATE POLICY task_tallies_select ON @extschema@.task_tallies FOR SELECT
  USING ((SELECT @extschema@.current_user_is_admin()));
GRANT SELECT ON @extschema@.task_tallies TO taskmgmt_client;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.task_tallies', '');

-- SECURITY DEFINER: clients cannot write tallies themselves.
CREATE FUNCTION @extschema@._tasks_tally() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO @extschema@.task_tallies (kind, assignee_user_id, assignee_team_id, status, due_date, n)
    VALUES ('delta', NEW.assignee_user_id, NEW.assignee_team_id, NEW.status, NEW.due_date, 1);
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO @extschema@.task_tallies (kind, assignee_user_id, assignee_team_id, status, due_date, n)
    VALUES ('delta', OLD.assignee_user_id, OLD.assignee_team_id, OLD.status, OLD.due_date, -1);
  ELSE
    INSERT INTO @extschema@.task_tallies (kind, assignee_user_id, assignee_team_id, status, due_date, n)
    VALUES ('delta', OLD.assignee_user_id, OLD.assignee_team_id, OLD.status, OLD.due_date, -1),
           ('delta', NEW.assignee_user_id, NEW.assignee_team_id, NEW.status, NEW.due_date, 1);
  END IF;
  RETURN NULL;
END
$$;

-- TRUNCATE, as the tasks were: it waits for a compaction that is running
-- (a DELETE would miss the sums such a compaction inserts, and in a
-- repeatable-read transaction every row committed after its snapshot), and
-- older snapshots see the tallies go with the tasks.
CREATE FUNCTION @extschema@._tasks_tally_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  TRUNCATE @extschema@.task_tallies;
  RETURN NULL;
END
$$;

-- Not while a dump is restored: the tallies come with it.  Like the other
-- triggers, not in replica mode (session_replication_role): logical
-- replication's apply workers copy the tallies as they copy the tasks;
-- after a DBA's writes in that mode, rebuild_task_tallies() counts again.
CREATE TRIGGER tasks_tally AFTER INSERT OR DELETE ON @extschema@.tasks
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_tally();
CREATE TRIGGER tasks_tally_update AFTER UPDATE OF status, assignee_user_id, assignee_team_id, due_date
  ON @extschema@.tasks
  FOR EACH ROW
  WHEN ((OLD.status, OLD.assignee_user_id, OLD.assignee_team_id, OLD.due_date)
          IS DISTINCT FROM (NEW.status, NEW.assignee_user_id, NEW.assignee_team_id, NEW.due_date)
        AND NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_tally();
CREATE TRIGGER tasks_tally_truncate AFTER TRUNCATE ON @extschema@.tasks
  FOR EACH STATEMENT
  EXECUTE FUNCTION @extschema@._tasks_tally_truncate();

-- Folds the delta rows into the summed rows: a scheduled job (82_jobs.sql).
-- Deltas appended meanwhile are not in this transaction's snapshot and stay
-- for the next run.  Returns how many delta rows it folded.
CREATE FUNCTION @extschema@.compact_task_tallies() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n_folded bigint;
BEGIN
  PERFORM @extschema@._require_job_runner();
  -- one run at a time: a second would wait for the first's deltas anyway
  IF NOT pg_catalog.pg_try_advisory_xact_lock('@extschema@.task_tallies'::regclass::oid::bigint) THEN
    RETURN 0;
  END IF;
  WITH d AS (
    DELETE FROM @extschema@.task_tallies y WHERE y.kind = 'delta' RETURNING y.*
  ),
  by_assignee AS (
    INSERT INTO @extschema@.task_tallies AS y (kind, assignee_user_id, assignee_team_id, status, n)
    SELECT 'assignee', d.assignee_user_id, d.assignee_team_id, d.status, sum(d.n)
      FROM d GROUP BY d.assignee_user_id, d.assignee_team_id, d.status
    ON CONFLICT (kind, assignee_user_id, assignee_team_id, status, due_date) WHERE kind <> 'delta'
    DO UPDATE SET n = y.n + excluded.n
  ),
  by_due AS (
    INSERT INTO @extschema@.task_tallies AS y (kind, status, due_date, n)
    SELECT 'due', d.status, d.due_date, sum(d.n)
      FROM d WHERE d.status IN ('todo', 'in_progress') AND d.due_date IS NOT NULL
     GROUP BY d.status, d.due_date
    ON CONFLICT (kind, assignee_user_id, assignee_team_id, status, due_date) WHERE kind <> 'delta'
    DO UPDATE SET n = y.n + excluded.n
  )
  SELECT count(*) INTO n_folded FROM d;
  DELETE FROM @extschema@.task_tallies y WHERE y.kind <> 'delta' AND y.n = 0;
  RETURN n_folded;
END
$$;
COMMENT ON FUNCTION @extschema@.compact_task_tallies() IS
  'Scheduled job: folds the task tallies'' delta rows into their sums (an admin''s report reads both).';

-- The tallies computed again from the tasks, for a DBA who changed tasks
-- with the triggers disabled or in replica mode.
CREATE FUNCTION @extschema@.rebuild_task_tallies() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n_rows bigint;
BEGIN
  PERFORM @extschema@._require_job_runner();
  LOCK TABLE @extschema@.tasks IN SHARE MODE;  -- no write in between
  PERFORM pg_catalog.pg_advisory_xact_lock('@extschema@.task_tallies'::regclass::oid::bigint);  -- no compaction
  DELETE FROM @extschema@.task_tallies;
  INSERT INTO @extschema@.task_tallies (kind, assignee_user_id, assignee_team_id, status, n)
  SELECT 'assignee', t.assignee_user_id, t.assignee_team_id, t.status, count(*)
    FROM @extschema@.tasks t GROUP BY t.assignee_user_id, t.assignee_team_id, t.status;
  INSERT INTO @extschema@.task_tallies (kind, status, due_date, n)
  SELECT 'due', t.status, t.due_date, count(*)
    FROM @extschema@.tasks t WHERE t.status IN ('todo', 'in_progress') AND t.due_date IS NOT NULL
   GROUP BY t.status, t.due_date;
  SELECT count(*) INTO n_rows FROM @extschema@.task_tallies;
  RETURN n_rows;
END
$$;
COMMENT ON FUNCTION @extschema@.rebuild_task_tallies() IS
  'Recomputes the task tallies from the tasks (after writes made with the triggers disabled or in replica mode).';

-- The groups of _report_figures over every task but the period's
-- completed (from its done): totals per assignee and status from the
-- tallies, created in the period per status by the index on created_at,
-- overdue per open status from the tallies by due date.  A function of its
-- own, so that the other reports do not plan these statements.
CREATE FUNCTION @extschema@._report_groups_counted(t_from timestamptz, t_to timestamptz, today date)
RETURNS TABLE (assignee_user_id bigint, assignee_team_id bigint, status @extschema@.task_status,
               total numeric, completed bigint, created bigint, late numeric, late_days numeric,
               late_max integer)
-- PARALLEL RESTRICTED: unsafe would keep every report's statement from a
-- parallel plan, even where the branch that calls it is never run
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SET plan_cache_mode = force_custom_plan AS $$
BEGIN
  RETURN QUERY
    SELECT y.assignee_user_id, y.assignee_team_id, y.status, sum(y.n), 0::bigint, 0::bigint, 0::numeric,
           NULL::numeric, NULL::integer
      FROM @extschema@.task_tallies y
     WHERE y.kind <> 'due'
     GROUP BY 1, 2, 3 HAVING sum(y.n) <> 0
    UNION ALL
    SELECT NULL, NULL, t.status, 0, 0, count(*), 0, NULL, NULL
      FROM @extschema@.tasks t
     WHERE t.created_at >= t_from AND t.created_at < t_to
     GROUP BY 3
    UNION ALL
    SELECT NULL, NULL, y.status, 0, 0, 0, sum(y.n), sum(y.n * (today - y.due_date)), max(today - y.due_date)
      FROM @extschema@.task_tallies y
     WHERE y.kind <> 'assignee' AND y.status IN ('todo', 'in_progress') AND y.due_date < today
     GROUP BY 3, y.due_date HAVING sum(y.n) <> 0;
END
$$;

-- The figures of report_summary for a checked scope and period, as one
-- row.  RETURN QUERY runs its statement to completion in one go, which is
-- what lets PostgreSQL scan the tasks with parallel workers (a SELECT ...
-- INTO, or a SQL function's statement, is run a row at a time, and such a
-- run is never parallel).  Planned for the values every time: a report of
-- one team reads that team's tasks by index, a user who sees few tasks
-- reads them by the visibility rule's indexes (me, my_teams: the rule
-- restated, as in _filter_where, NULL for an admin; row-level security is
-- applied on top), a report of everything reads the tallies.
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
  -- (done: lead and cycle times, weekly throughput) come from the index on
  -- completed_at.  A team's tasks are those it owns or is assigned.
  -- Everything (an admin's report without a team) makes the same groups
  -- without that pass: the period's completed from done, the rest from
  -- _report_groups_counted.  The values are constants in the plan, so the
  -- branches not taken are constant-false and never run.
  WITH done AS (
    SELECT t.assignee_user_id, t.assignee_team_id,
           extract(epoch FROM t.completed_at - t.created_at) / 3600 AS lead_h,
           extract(epoch FROM t.completed_at - t.started_at) / 3600 AS cycle_h,
           (t.completed_at AT TIME ZONE tz)::date AS day
      FROM @extschema@.tasks t
     WHERE t.status = 'done' AND t.completed_at >= t_from AND t.completed_at < t_to
       AND (team IS NULL OR t.team_id = team OR t.assignee_team_id = team)
       AND (me IS NULL OR t.creator_id = me OR t.assignee_user_id = me
            OR t.assignee_team_id = ANY (my_teams) OR t.team_id = ANY (my_teams))
  ),
  g AS (
    SELECT t.assignee_user_id, t.assignee_team_id, t.status,
           count(*) AS total,
           count(*) FILTER (WHERE t.completed_at >= t_from AND t.completed_at < t_to) AS completed,
           count(*) FILTER (WHERE t.created_at >= t_from AND t.created_at < t_to) AS created,
           count(*) FILTER (WHERE t.due_date < today) AS late,
           sum(today - t.due_date) FILTER (WHERE t.due_date < today) AS late_days,
           max(today - t.due_date) FILTER (WHERE t.due_date < today) AS late_max
      FROM @extschema@.tasks t
     WHERE (team IS NOT NULL OR me IS NOT NULL)
       AND (team IS NULL OR t.team_id = team OR t.assignee_team_id = team)
       AND (me IS NULL OR t.creator_id = me OR t.assignee_user_id = me
            OR t.assignee_team_id = ANY (my_teams) OR t.team_id = ANY (my_teams))
     GROUP BY 1, 2, 3
    UNION ALL
    SELECT d.assignee_user_id, d.assignee_team_id, 'done', 0, count(*), 0, 0, NULL, NULL
      FROM done d
     WHERE team IS NULL AND me IS NULL
     GROUP BY 1, 2
    UNION ALL
    SELECT * FROM @extschema@._report_groups_counted(t_from, t_to, today)
     WHERE team IS NULL AND me IS NULL
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
  weeks AS (
    SELECT w::date AS week_start
      FROM generate_series(date_trunc('week', d_from::timestamp), d_to::timestamp, interval '1 week') w
  ),
  -- each name once (the table reads a name twice, to show and to order
  -- by it): users in one join, teams in another where the caller sees the
  -- team (an admin sees all), otherwise by _team_name, which checks that
  -- the caller may know it (a call costs more than a join)
  named AS MATERIALIZED (
    SELECT a.kind, a.aid, a.completed, a.open, CASE a.kind
             WHEN 'user' THEN u.display_name
             WHEN 'team' THEN coalesce(tm.name, @extschema@._team_name(a.aid)) END AS name
      FROM a
      LEFT JOIN @extschema@.users u ON a.kind = 'user' AND u.id = a.aid
      LEFT JOIN @extschema@.teams tm ON a.kind = 'team' AND tm.id = a.aid
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
