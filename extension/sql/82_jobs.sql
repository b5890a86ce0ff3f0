-- Scheduled jobs.  Each is a plain function, idempotent (running it twice
-- creates nothing twice) and callable directly; schedule_jobs() hands them
-- to pg_cron when it is installed.  pg_cron is deliberately not a required
-- extension: without it everything else works and a DBA may run the jobs
-- from any scheduler (e.g. psql -c 'SELECT taskmgmt.send_due_soon()').
--
-- The jobs run as the owner or a superuser (pg_cron runs them as the role
-- that called schedule_jobs()); a client role lacks the table privileges
-- and gets 42501.
--
-- A task is due at the end of its due date, UTC.  due_soon: that moment is
-- within the next 24 hours; overdue: it has passed (status todo/in_progress).

-- What has been sent, once per task, kind and due date.
CREATE TABLE @extschema@.task_reminders (
  task_id  bigint NOT NULL REFERENCES @extschema@.tasks ON DELETE CASCADE,
  kind     text NOT NULL CHECK (kind IN ('due_soon', 'overdue')),
  due_date date NOT NULL,
  sent_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (task_id, kind, due_date)
);
ALTER TABLE @extschema@.task_reminders ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.task_reminders FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.task_reminders FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.task_reminders', '');

CREATE INDEX tasks_open_due_date_idx ON @extschema@.tasks (due_date)
  WHERE due_date IS NOT NULL AND status IN ('todo', 'in_progress');

CREATE FUNCTION @extschema@._require_job_runner() RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF NOT has_table_privilege('@extschema@.task_reminders', 'INSERT') THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501',
      MESSAGE = 'scheduled jobs run as the database owner or a superuser';
  END IF;
END
$$;

CREATE FUNCTION @extschema@._due_at(d date) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ((d + 1)::timestamp AT TIME ZONE 'UTC')
$$;

-- One reminder kind for every task in the window that has not had it for
-- its current due date.  Returns the number of tasks reminded.
CREATE FUNCTION @extschema@._send_reminders(kind text, as_of timestamptz) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  t @extschema@.tasks;
  r bigint;
  msg text;
  n integer := 0;
BEGIN
  PERFORM @extschema@._require_job_runner();
  IF as_of IS NULL THEN
    PERFORM @extschema@._invalid('as_of', 'is required');
  END IF;
  FOR t IN
    SELECT * FROM @extschema@.tasks x
    WHERE x.due_date IS NOT NULL AND x.status IN ('todo', 'in_progress')
      AND CASE kind
            WHEN 'due_soon' THEN @extschema@._due_at(x.due_date) > as_of
                             AND @extschema@._due_at(x.due_date) <= as_of + interval '24 hours'
            ELSE @extschema@._due_at(x.due_date) <= as_of
          END
    ORDER BY x.id
  LOOP
    INSERT INTO @extschema@.task_reminders (task_id, kind, due_date)
    VALUES (t.id, kind, t.due_date) ON CONFLICT DO NOTHING;
    CONTINUE WHEN NOT FOUND;
    n := n + 1;
    msg := CASE kind
      WHEN 'due_soon' THEN format('%s is due on %s', @extschema@._short_title(t.title), t.due_date)
      ELSE format('%s is overdue (due %s)', @extschema@._short_title(t.title), t.due_date) END;
    FOR r IN SELECT DISTINCT x FROM unnest(ARRAY[t.creator_id]
               || @extschema@._assignees(t.assignee_user_id, t.assignee_team_id)) x ORDER BY 1 LOOP
      PERFORM @extschema@._deliver(r, kind, t, NULL, msg);
    END LOOP;
  END LOOP;
  RETURN n;
END
$$;

CREATE FUNCTION @extschema@.send_due_soon(as_of timestamptz DEFAULT now()) RETURNS integer
LANGUAGE sql VOLATILE AS $$
  SELECT @extschema@._send_reminders('due_soon', as_of)
$$;

CREATE FUNCTION @extschema@.send_overdue(as_of timestamptz DEFAULT now()) RETURNS integer
LANGUAGE sql VOLATILE AS $$
  SELECT @extschema@._send_reminders('overdue', as_of)
$$;

-- Expired sessions and refresh tokens, sessions revoked over a week ago,
-- stale sign-in failure counters, Idempotency-Keys older than 24 hours.
CREATE FUNCTION @extschema@.cleanup_sessions(as_of timestamptz DEFAULT now()) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n_tokens bigint;
  n_sessions bigint;
  n_failures bigint;
  n_keys bigint;
BEGIN
  PERFORM @extschema@._require_job_runner();
  DELETE FROM @extschema@.refresh_tokens WHERE expires_at < as_of;
  GET DIAGNOSTICS n_tokens = ROW_COUNT;
  DELETE FROM @extschema@.sessions WHERE expires_at < as_of OR revoked_at < as_of - interval '7 days';
  GET DIAGNOSTICS n_sessions = ROW_COUNT;
  DELETE FROM @extschema@.login_failures
   WHERE window_start < as_of - interval '1 day' AND (locked_until IS NULL OR locked_until < as_of);
  GET DIAGNOSTICS n_failures = ROW_COUNT;
  DELETE FROM @extschema@.idempotency_keys WHERE created_at < as_of - interval '24 hours';
  GET DIAGNOSTICS n_keys = ROW_COUNT;
  RETURN jsonb_build_object('refresh_tokens', n_tokens, 'sessions', n_sessions,
                            'login_failures', n_failures, 'idempotency_keys', n_keys);
END
$$;

-- Sent mail older than keep_sent, dead mail older than keep_dead (configure_mail()).
CREATE FUNCTION @extschema@.outbox_retention(as_of timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  s @extschema@.mail_settings := @extschema@._mail_settings();
  n integer;
BEGIN
  PERFORM @extschema@._require_job_runner();
  DELETE FROM @extschema@.email_outbox o
   WHERE (o.status = 'sent' AND o.sent_at < as_of - s.keep_sent)
      OR (o.status = 'dead' AND o.created_at < as_of - s.keep_dead);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;

-- The one call that installs the schedule (idempotent: pg_cron replaces a
-- job of the same name).  Needs pg_cron in shared_preload_libraries and
-- CREATE EXTENSION pg_cron in the database named by cron.database_name.
CREATE FUNCTION @extschema@.schedule_jobs() RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  jobs constant text[][] := ARRAY[
    ['taskmgmt-due-soon',         '*/15 * * * *', 'SELECT @extschema@.send_due_soon()'],
    ['taskmgmt-overdue',          '*/15 * * * *', 'SELECT @extschema@.send_overdue()'],
    ['taskmgmt-cleanup-sessions', '17 3 * * *',   'SELECT @extschema@.cleanup_sessions()'],
    ['taskmgmt-outbox-retention', '37 3 * * *',   'SELECT @extschema@.outbox_retention()'],
    ['taskmgmt-compact-tallies',  '* * * * *',    'SELECT @extschema@.compact_task_tallies()']];
  result jsonb := '{}';
  jid bigint;
BEGIN
  PERFORM @extschema@._require_job_runner();
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '0A000', MESSAGE = 'pg_cron is not installed in this database',
      HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, '
             'run CREATE EXTENSION pg_cron, then call taskmgmt.schedule_jobs() again; '
             'or run the job functions from another scheduler.';
  END IF;
  FOR i IN 1 .. array_length(jobs, 1) LOOP
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO jid USING jobs[i][1], jobs[i][2], jobs[i][3];
    result := result || jsonb_build_object(jobs[i][1], jid);
  END LOOP;
  RETURN result;
END
$$;

CREATE FUNCTION @extschema@.unschedule_jobs() RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n integer := 0;
  j text;
BEGIN
  PERFORM @extschema@._require_job_runner();
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
    RETURN 0;
  END IF;
  FOR j IN EXECUTE 'SELECT jobname FROM cron.job WHERE jobname LIKE ''taskmgmt-%'' AND username = current_user' LOOP
    EXECUTE 'SELECT cron.unschedule($1)' USING j;
    n := n + 1;
  END LOOP;
  RETURN n;
END
$$;
