-- The database 'taskmgmt' as make run (scripts/run.sh) and the suite 'ha'
-- make it: the extension at its newest version, pg_cron's jobs, and the
-- login role for people and the shim.  Idempotent; run as a superuser.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS taskmgmt CASCADE;
-- 0.2.0 requires pg_trgm: ALTER EXTENSION UPDATE does not create what an
-- update newly requires (a database made at 0.1.0 lacks it)
CREATE EXTENSION IF NOT EXISTS pg_trgm;
ALTER EXTENSION taskmgmt UPDATE;
-- scheduled jobs (due-soon/overdue reminders, cleanup, outbox retention)
CREATE EXTENSION IF NOT EXISTS pg_cron;
DO $$ BEGIN PERFORM taskmgmt.schedule_jobs(); END $$;
-- a login role for people and the shim: a member of taskmgmt_client
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'taskmgmt_client_login') THEN
    CREATE ROLE taskmgmt_client_login LOGIN;
  END IF;
END $$;
GRANT taskmgmt_client TO taskmgmt_client_login;
ALTER ROLE taskmgmt_client_login SET search_path = taskmgmt, public;
