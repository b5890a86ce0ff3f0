-- Personal access tokens (#13): long-lived bearer secrets for scripts, CI
-- jobs and calendar apps.  authenticate() takes one wherever it takes an
-- access token (tokens.c); only its SHA-256 is stored.  Scopes: read, and
-- write (which includes read).  A read-only token is refused on any write
-- with SQLSTATE TM403.  Revoking deletes the row; changing the password or
-- disabling the account revokes all of a user's tokens.
--
-- This file comes after 90_grants.sql, so it grants its own functions.

CREATE TABLE @extschema@.personal_tokens (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id      bigint NOT NULL REFERENCES @extschema@.users ON DELETE CASCADE,
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  scopes       text[] NOT NULL CHECK (cardinality(scopes) BETWEEN 1 AND 2 AND scopes <@ '{read,write}'),
  token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  last_used_at timestamptz
);
CREATE INDEX personal_tokens_user_id_idx ON @extschema@.personal_tokens (user_id, id);
COMMENT ON TABLE @extschema@.personal_tokens IS
  'Personal access tokens, stored as sha256 of the secret; a revoked token is deleted.';

ALTER TABLE @extschema@.personal_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.personal_tokens FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.personal_tokens FROM PUBLIC;
-- One's own tokens only.  No INSERT: create_token() makes the secret, and a
-- client choosing its own would bypass its rules.
CREATE POLICY personal_tokens_own ON @extschema@.personal_tokens FOR SELECT
  USING (user_id = (SELECT @extschema@.current_user_id()));
CREATE POLICY personal_tokens_delete ON @extschema@.personal_tokens FOR DELETE
  USING (user_id = (SELECT @extschema@.current_user_id()));
GRANT SELECT (id, user_id, name, scopes, created_at, expires_at, last_used_at), DELETE
  ON @extschema@.personal_tokens TO taskmgmt_client;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.personal_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.personal_tokens_id_seq', '');

CREATE FUNCTION @extschema@._random_token(prefix text) RETURNS text
  AS 'MODULE_PATHNAME', 'tm_random_token'
  LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@._current_token_id() RETURNS bigint
  AS 'MODULE_PATHNAME', 'tm_current_token_id'
  LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@._current_token_id() IS
  'The personal access token this transaction signed in with, or NULL.';

-- When an access token stops working, Unix seconds, for the websocket
-- (which closes then): a JWT's exp, a personal token's expires_at; NULL
-- for a token that never expires or is malformed (authenticate() refuses
-- those).  Never raises.
CREATE FUNCTION @extschema@._token_expiry(token text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p text := split_part(token, '.', 2);
BEGIN
  IF token LIKE 'tmpat\_%' THEN
    RETURN (SELECT floor(extract(epoch FROM t.expires_at))::bigint FROM @extschema@.personal_tokens t
             WHERE t.token_hash = sha256(convert_to(token, 'UTF8')));
  END IF;
  RETURN (convert_from(decode(rpad(translate(p, '-_', '+/'), ((length(p) + 3) / 4) * 4, '='), 'base64'),
                       'UTF8')::jsonb ->> 'exp')::bigint;
EXCEPTION WHEN OTHERS THEN
  RETURN NULL;
END
$$;

CREATE FUNCTION @extschema@.token_json(t @extschema@.personal_tokens) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', t.id, 'name', t.name, 'scopes', to_jsonb(t.scopes),
                            'created_at', t.created_at, 'expires_at', t.expires_at,
                            'last_used_at', t.last_used_at)
$$;

-- create_token({name, scopes: ["read"|"write"], expires_in_days?}) ->
-- {id, name, scopes, created_at, expires_at, last_used_at, token}.  The
-- token is in this answer only.  Tokens make no tokens: a token's holder
-- could otherwise outlive its revocation.
CREATE FUNCTION @extschema@.create_token(spec jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  n text;
  s jsonb;
  sc text[] := '{}';
  days integer;
  secret text;
  t @extschema@.personal_tokens;
BEGIN
  IF @extschema@._current_token_id() IS NOT NULL THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501',
      MESSAGE = 'a personal access token cannot create tokens',
      HINT = 'Sign in with your password to create one.';
  END IF;
  PERFORM @extschema@._check_keys(spec, '{name,scopes,expires_in_days}',
                                  '{id,token,created_at,expires_at,last_used_at}');
  n := btrim(@extschema@._text_field(spec, 'name', 1000));
  IF n IS NULL OR n = '' THEN PERFORM @extschema@._invalid('name', 'is required'); END IF;
  IF length(n) > 100 THEN PERFORM @extschema@._invalid('name', 'must be at most 100 characters'); END IF;
  IF jsonb_typeof(spec -> 'scopes') IS DISTINCT FROM 'array' OR jsonb_array_length(spec -> 'scopes') = 0 THEN
    PERFORM @extschema@._invalid('scopes', 'must be a non-empty array of "read" and "write"');
  END IF;
  FOR s IN SELECT jsonb_array_elements(spec -> 'scopes') LOOP
    IF jsonb_typeof(s) <> 'string' OR NOT (s #>> '{}') = ANY ('{read,write}') THEN
      PERFORM @extschema@._invalid('scopes', 'must be a non-empty array of "read" and "write"');
    END IF;
    IF NOT (s #>> '{}') = ANY (sc) THEN sc := sc || (s #>> '{}'); END IF;
  END LOOP;
  SELECT array_agg(x ORDER BY x) INTO sc FROM unnest(sc) x;
  IF spec ? 'expires_in_days' AND spec -> 'expires_in_days' <> 'null' THEN
    IF jsonb_typeof(spec -> 'expires_in_days') <> 'number'
       OR (spec ->> 'expires_in_days') !~ '^[0-9]{1,4}$'
       OR (spec ->> 'expires_in_days')::integer NOT BETWEEN 1 AND 3650 THEN
      PERFORM @extschema@._invalid('expires_in_days', 'must be a whole number of days from 1 to 3650');
    END IF;
    days := (spec ->> 'expires_in_days')::integer;
  END IF;
  IF (SELECT count(*) FROM @extschema@.personal_tokens x WHERE x.user_id = uid) >= 100 THEN
    PERFORM @extschema@._invalid('name', 'cannot be added: you have 100 tokens; revoke one first');
  END IF;
  secret := @extschema@._random_token('tmpat_');
  INSERT INTO @extschema@.personal_tokens (user_id, name, scopes, token_hash, expires_at)
  VALUES (uid, n, sc, sha256(convert_to(secret, 'UTF8')), now() + make_interval(days => days))
  RETURNING * INTO t;
  RETURN @extschema@.token_json(t) || jsonb_build_object('token', secret);
END
$$;

CREATE FUNCTION @extschema@.list_tokens() RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
BEGIN
  PERFORM @extschema@._require_user();
  -- the columns one by one: the client may not read the whole row (the hash)
  RETURN coalesce((SELECT jsonb_agg(jsonb_build_object('id', t.id, 'name', t.name, 'scopes', to_jsonb(t.scopes),
                                                       'created_at', t.created_at, 'expires_at', t.expires_at,
                                                       'last_used_at', t.last_used_at) ORDER BY t.id DESC)
                   FROM @extschema@.personal_tokens t), '[]');
END
$$;

-- Revokes one of one's tokens at once (the token in use may revoke itself).
CREATE FUNCTION @extschema@.revoke_token(id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
  PERFORM @extschema@._require_user();
  DELETE FROM @extschema@.personal_tokens t WHERE t.id = revoke_token.id;
  IF NOT FOUND THEN PERFORM @extschema@._not_found('token'); END IF;
END
$$;

-- Every credential but the password: tokens (and, see 93_caldav.sql, the
-- calendar feed).  For change_password() (auth.c) and the trigger below.
CREATE FUNCTION @extschema@._revoke_user_tokens(uid bigint) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  DELETE FROM @extschema@.personal_tokens t WHERE t.user_id = uid;
END
$$;

CREATE FUNCTION @extschema@._users_revoke_tokens() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@._revoke_user_tokens(NEW.id);
  RETURN NULL;
END
$$;
CREATE TRIGGER users_revoke_tokens AFTER UPDATE OF disabled ON @extschema@.users
  FOR EACH ROW WHEN (NEW.disabled AND NOT OLD.disabled)
  EXECUTE FUNCTION @extschema@._users_revoke_tokens();

-- what this file made is not PUBLIC's (functions are executable by PUBLIC when made)
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @extschema@ FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._current_token_id(), @extschema@._token_expiry(text),
  @extschema@.token_json(@extschema@.personal_tokens), @extschema@.create_token(jsonb),
  @extschema@.list_tokens(), @extschema@.revoke_token(bigint) TO taskmgmt_client;
