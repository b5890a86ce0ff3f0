-- Idempotent writes: a client that did not hear the answer to a POST (its
-- connection broke) sends it again with the same Idempotency-Key and gets
-- the answer of the first one instead of a second task.  Keys are the
-- user's own, kept 24 hours, and written in the same transaction as the
-- write they protect: a request that failed wrote nothing and left no key,
-- so its retry simply runs.  The HTTP shim wraps the write in
--   idempotency_begin(key, request) -> NULL (go ahead) or the stored answer
--   <the write>
--   idempotency_finish(key, status, body)
-- within one statement; psql users may do the same in one transaction.

CREATE TABLE @extschema@.idempotency_keys (
  user_id      bigint NOT NULL REFERENCES @extschema@.users ON DELETE CASCADE,
  key          text NOT NULL,
  request_hash bytea NOT NULL,
  status       integer,
  response     jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_at_idx ON @extschema@.idempotency_keys (created_at);
COMMENT ON TABLE @extschema@.idempotency_keys IS
  'Idempotency-Key of a user''s write, the request it came with and its answer; kept 24 hours.';
-- Closed to clients (no policy, no grant): only the functions below use it.
ALTER TABLE @extschema@.idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.idempotency_keys FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.idempotency_keys FROM PUBLIC;

-- Claims key for the signed-in user's request (any text that identifies
-- it: the shim passes method, path and the body as jsonb text, so the same
-- JSON in other spacing or key order is the same request).  Answers NULL
-- when the write is to be done (the key is then held until the transaction
-- ends: a concurrent request with the same key waits for it), or
-- {"status", "body"} of the write already done with this key and request.
-- The same key with another request: TM422.  A NULL key: NULL.
CREATE FUNCTION @extschema@.idempotency_begin(key text, request text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  h bytea := sha256(convert_to(coalesce(request, ''), 'UTF8'));
  k @extschema@.idempotency_keys;
BEGIN
  IF key IS NULL THEN
    RETURN NULL;
  END IF;
  IF key !~ '^[!-~]{1,255}$' THEN
    PERFORM @extschema@._bad_parameter('Idempotency-Key', 'must be 1 to 255 visible ASCII characters');
  END IF;
  -- keys live 24 hours; the user's expired ones go now (the rest: cleanup_sessions())
  DELETE FROM @extschema@.idempotency_keys x
   WHERE x.user_id = uid AND x.created_at < now() - interval '24 hours';
  LOOP
    INSERT INTO @extschema@.idempotency_keys (user_id, key, request_hash)
    VALUES (uid, idempotency_begin.key, h)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
      RETURN NULL;
    END IF;
    -- taken: by a committed write (perhaps the concurrent one just waited
    -- for); unless it expired and went in the meantime
    SELECT * INTO k FROM @extschema@.idempotency_keys x WHERE x.user_id = uid AND x.key = idempotency_begin.key;
    EXIT WHEN FOUND;
  END LOOP;
  IF k.request_hash <> h THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM422', COLUMN = 'Idempotency-Key',
      MESSAGE = 'Idempotency-Key was already used with another request',
      HINT = 'Use a new key for a new request.';
  END IF;
  RETURN jsonb_build_object('status', k.status, 'body', k.response);
END
$$;

-- Stores the answer of the write done under key; returns the body.
CREATE FUNCTION @extschema@.idempotency_finish(key text, status integer, body jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF key IS NOT NULL THEN
    UPDATE @extschema@.idempotency_keys x SET status = idempotency_finish.status, response = body
     WHERE x.user_id = @extschema@._require_user() AND x.key = idempotency_finish.key;
  END IF;
  RETURN body;
END
$$;
