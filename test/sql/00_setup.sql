-- Shared set-up for the regression suite: a non-superuser client role
-- (superusers bypass row-level security, clients never do) and helpers.
\set VERBOSITY terse
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_client') THEN
    CREATE ROLE regress_client LOGIN;
  END IF;
END $$;
SET client_min_messages = warning;  -- quiet when the role is a member already
GRANT taskmgmt_client TO regress_client;
RESET client_min_messages;
-- the installed version is the control file's (whatever number that is)
SELECT e.extname, e.extversion = a.default_version AS current
  FROM pg_extension e JOIN pg_available_extensions a ON a.name = e.extname
 WHERE e.extname IN ('pgcrypto', 'pg_trgm', 'taskmgmt') ORDER BY 1;

-- err(stmt) runs one statement and shows the error it raised as
--   SQLSTATE [COLUMN]: message (DETAIL: ...)
-- so the expected files pin down the SQLSTATE and the field, not only the text.
-- Like any failed statement, the failed one leaves nothing behind.
CREATE FUNCTION public.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  st text; msg text; col text; det text;
BEGIN
  EXECUTE stmt;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                          col = COLUMN_NAME, det = PG_EXCEPTION_DETAIL;
  RETURN st || coalesce(' [' || nullif(col, '') || ']', '') || ': ' || msg
            || coalesce(' (DETAIL: ' || nullif(det, '') || ')', '');
END
$$;

-- Test users all have the password '<email> password', so a file can say
--   SELECT new_user('a@example.com', 'A') AS a \gset
-- and later   SELECT as_user('a@example.com');   to sign this connection in as A.
CREATE FUNCTION public.new_user(email text, display_name text) RETURNS bigint
LANGUAGE sql AS $$
  SELECT (taskmgmt.register(email, email || ' password', display_name) ->> 'id')::bigint
$$;
CREATE FUNCTION public.as_user(email text) RETURNS text
LANGUAGE sql AS $$
  SELECT taskmgmt.me() ->> 'email' FROM taskmgmt.sign_in(email, email || ' password')
$$;

-- The helpers work for the client role.
SET ROLE regress_client;
SELECT err('SELECT 1/0');
SELECT err('SELECT 1');
SELECT new_user('setup@example.com', 'Setup') > 0 AS registered;
SELECT as_user('setup@example.com');
SELECT taskmgmt.sign_out();
