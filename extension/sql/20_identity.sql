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

CREATE FUNCTION @extschema@.password_grant(email text, password text) RETURNS jsonb
  AS 'MODULE_PATHNAME', 'tm_password_grant'
  LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.password_grant(text, text) IS
  'Like sign_in, but leaves this connection signed out (for pooled connections).';

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

-- A key exists from the start.
SELECT @extschema@.rotate_signing_key();
