-- Shared set-up for the regression suite: a non-superuser client role
-- (superusers bypass row-level security, clients never do).
\set VERBOSITY terse
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_client') THEN
    CREATE ROLE regress_client LOGIN;
  END IF;
END $$;
GRANT taskmgmt_client TO regress_client;
SELECT extname, extversion FROM pg_extension WHERE extname IN ('pgcrypto', 'taskmgmt') ORDER BY 1;
