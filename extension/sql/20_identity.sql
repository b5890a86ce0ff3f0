-- Identity: implemented in C (extension/identity.c, extension/auth.c).
-- current_user_id() is PARALLEL RESTRICTED because the identity lives in
-- this backend's memory, which parallel workers do not share.

CREATE FUNCTION @extschema@.current_user_id() RETURNS bigint
  AS 'MODULE_PATHNAME', 'tm_current_user_id'
  LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.current_user_id() IS 'The signed-in user, or NULL.';

CREATE FUNCTION @extschema@.current_user_is_admin() RETURNS boolean
  AS 'MODULE_PATHNAME', 'tm_current_user_is_admin'
  LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@._identity_kind() RETURNS text
  AS 'MODULE_PATHNAME', 'tm_identity_kind'
  LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@._identity_kind() IS
  'How the caller signed in: token (authenticate), session (sign_in), or NULL.';

CREATE FUNCTION @extschema@.authenticate(access_token text) RETURNS bigint
  AS 'MODULE_PATHNAME', 'tm_authenticate'
  LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.authenticate(text) IS
  'Verifies an access token and signs in until the end of the current transaction.';

CREATE FUNCTION @extschema@.register(email text, password text, display_name text DEFAULT NULL)
  RETURNS jsonb AS 'MODULE_PATHNAME', 'tm_register'
  LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.sign_in(email text, password text) RETURNS jsonb
  AS 'MODULE_PATHNAME', 'tm_sign_in'
  LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.sign_in(text, text) IS
  'Checks the password, opens a session, returns tokens, and signs this connection in.';

CREATE FUNCTION @extschema@.password_grant(email text, password text, client_address inet DEFAULT NULL)
  RETURNS jsonb AS 'MODULE_PATHNAME', 'tm_password_grant'
  LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.password_grant(text, text, inet) IS
  'Like sign_in, but leaves this connection signed out (for pooled connections); '
  'client_address: whom to count the attempt against (default: this connection''s client).';

CREATE FUNCTION @extschema@.refresh(refresh_token text) RETURNS jsonb
  AS 'MODULE_PATHNAME', 'tm_refresh'
  LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.sign_out() RETURNS void
  AS 'MODULE_PATHNAME', 'tm_sign_out'
  LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.change_password(current_password text, new_password text) RETURNS void
  AS 'MODULE_PATHNAME', 'tm_change_password'
  LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.rotate_signing_key() RETURNS void
  AS 'MODULE_PATHNAME', 'tm_rotate_signing_key'
  LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.rotate_signing_key() IS
  'Replaces the token signing key with 32 new random bytes; every access token stops working.';

-- Sign-in throttling: nothing locks an account.  Every password attempt is
-- counted before its bcrypt (by a background worker, in a transaction of
-- its own: autonomous.c) against the email with the client address it came
-- from, and against the email as a whole (client '').  Past
-- taskmgmt.login_max_failures within taskmgmt.login_failure_window, that
-- address must wait taskmgmt.login_lockout, doubling with each further
-- failure (at most the window); other addresses are not affected.  Past
-- taskmgmt.login_account_max_failures from all addresses together (many
-- addresses guessing), attempts on the email are spaced
-- taskmgmt.login_account_delay apart, whoever makes them.  Answers 0 when
-- the attempt may go ahead (it is then counted), else the seconds to wait
-- (it is not).  Only the extension's owner runs these two.
CREATE FUNCTION @extschema@._login_attempt(email_key bytea, client text, max_failures integer,
  failure_window integer, delay integer, account_max_failures integer, account_delay integer)
RETURNS integer LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  w constant interval := make_interval(secs => failure_window);
  wait interval;
BEGIN
  INSERT INTO @extschema@.login_failures (email_key, client, failures, window_start)
  VALUES (_login_attempt.email_key, '', 0, now()), (_login_attempt.email_key, _login_attempt.client, 0, now())
  ON CONFLICT DO NOTHING;
  -- both rows locked, the email's own ('') first, as every attempt does
  PERFORM FROM @extschema@.login_failures f
    WHERE f.email_key = _login_attempt.email_key AND f.client IN ('', _login_attempt.client)
    ORDER BY f.client FOR UPDATE;
  -- a window that is over starts again, unless a wait still runs
  UPDATE @extschema@.login_failures f SET failures = 0, window_start = now(), locked_until = NULL
   WHERE f.email_key = _login_attempt.email_key AND f.client IN ('', _login_attempt.client)
     AND f.window_start < now() - w AND (f.locked_until IS NULL OR f.locked_until <= now());
  SELECT max(f.locked_until) - now() INTO wait FROM @extschema@.login_failures f
   WHERE f.email_key = _login_attempt.email_key AND f.client IN ('', _login_attempt.client)
     AND f.locked_until > now();
  IF wait IS NOT NULL THEN
    RETURN greatest(ceil(extract(epoch FROM wait)), 1)::integer;
  END IF;
  UPDATE @extschema@.login_failures f SET failures = f.failures + 1,
         locked_until = CASE
           WHEN f.client = '' THEN
             CASE WHEN f.failures + 1 >= account_max_failures THEN now() + make_interval(secs => account_delay) END
           WHEN f.failures + 1 >= max_failures THEN
             now() + least(make_interval(secs => delay) * power(2, least(f.failures + 1 - max_failures, 20)), w)
           END
   WHERE f.email_key = _login_attempt.email_key AND f.client IN ('', _login_attempt.client);
  RETURN 0;
END
$$;

-- A right password: the address starts afresh, the email's own count loses
-- the attempt counted for it.
CREATE FUNCTION @extschema@._login_success(email_key bytea, client text) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
  DELETE FROM @extschema@.login_failures f
   WHERE f.email_key = _login_success.email_key AND f.client = _login_success.client;
  UPDATE @extschema@.login_failures f SET failures = greatest(f.failures - 1, 0)
   WHERE f.email_key = _login_success.email_key AND f.client = '';
$$;

-- A key exists from the start.
SELECT @extschema@.rotate_signing_key();
