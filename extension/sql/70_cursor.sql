-- Opaque, tamper-evident pagination cursors shared by list_tasks,
-- search_tasks and task_history.
--
-- A cursor is base64url(payload) "." base64url(mac), where payload is a small
-- JSON object (scope, filter hash, last sort values, last id) and mac is a
-- keyed SHA-256 in the nested (NMAC) construction with two keys derived from
-- the token signing key, over the signed-in user id and the payload.  A
-- cursor therefore only works for the user it was made for and for the same
-- filter; anything else is refused with TM400 naming the parameter.
-- Rotating the signing key invalidates outstanding cursors (clients start
-- again from the first page).  A cursor carries no authority: every page is
-- read under row-level security.

CREATE FUNCTION @extschema@._b64url_encode(data bytea) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT translate(encode(data, 'base64'), E'+/=\n', '-_')
$$;

-- NULL for anything that is not valid base64url.
CREATE FUNCTION @extschema@._b64url_decode(data text) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
  IF data !~ '^[A-Za-z0-9_-]*$' OR length(data) % 4 = 1 THEN
    RETURN NULL;
  END IF;
  RETURN decode(translate(data, '-_', '+/') || repeat('=', (4 - length(data) % 4) % 4), 'base64');
EXCEPTION WHEN OTHERS THEN
  RETURN NULL;
END
$$;

-- The MAC of a message, keyed by the signing key (an owner-only table; C,
-- extension/cursor.c, reads it as the extension owner).  NMAC:
-- sha256(k2 || sha256(k1 || m)) with independent derived keys; the outer
-- hash defeats length extension.  Truncated to 128 bits.  Callable by
-- clients (every function is, see 90_grants.sql), which is harmless: it
-- binds the message to the caller's own user id, and a cursor only selects
-- a position in a list that RLS already restricts.
CREATE FUNCTION @extschema@._cursor_mac(message text) RETURNS bytea
  AS 'MODULE_PATHNAME', 'tm_cursor_mac'
  LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@._cursor_make(payload jsonb) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL RESTRICTED AS $$
  SELECT @extschema@._b64url_encode(convert_to(payload::text, 'UTF8')) || '.'
         || @extschema@._b64url_encode(@extschema@._cursor_mac(payload::text))
$$;

-- Verifies a cursor and returns its payload; scope and filter hash must be
-- those of the current request.  Every failure is the same TM400 error
-- naming the parameter, so nothing is learnt from probing.
CREATE FUNCTION @extschema@._cursor_read(cursor_value jsonb, scope text, filter_hash text,
                                         param text DEFAULT 'cursor')
RETURNS jsonb LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  c text;
  parts text[];
  body bytea;
  mac bytea;
  payload jsonb;
BEGIN
  IF cursor_value IS NULL OR cursor_value = 'null' THEN
    RETURN NULL;
  END IF;
  IF jsonb_typeof(cursor_value) <> 'string' THEN
    PERFORM @extschema@._bad_parameter(param, 'must be a cursor string from next_cursor');
  END IF;
  c := cursor_value #>> '{}';
  IF c = '' THEN
    RETURN NULL;
  END IF;
  parts := string_to_array(c, '.');
  IF length(c) > 2000 OR cardinality(parts) <> 2 THEN
    PERFORM @extschema@._bad_parameter(param, 'is not a valid cursor');
  END IF;
  body := @extschema@._b64url_decode(parts[1]);
  mac := @extschema@._b64url_decode(parts[2]);
  IF body IS NULL OR mac IS NULL THEN
    PERFORM @extschema@._bad_parameter(param, 'is not a valid cursor');
  END IF;
  BEGIN
    payload := convert_from(body, 'UTF8')::jsonb;
  EXCEPTION WHEN OTHERS THEN
    PERFORM @extschema@._bad_parameter(param, 'is not a valid cursor');
  END;
  IF mac IS DISTINCT FROM @extschema@._cursor_mac(payload::text)
     OR convert_from(body, 'UTF8') IS DISTINCT FROM payload::text THEN
    PERFORM @extschema@._bad_parameter(param, 'is not a valid cursor');
  END IF;
  IF payload ->> 's' IS DISTINCT FROM scope OR payload ->> 'f' IS DISTINCT FROM filter_hash THEN
    PERFORM @extschema@._bad_parameter(param,
      'does not belong to this request (the filter or sort changed); start again without a cursor');
  END IF;
  RETURN payload;
END
$$;

-- limit: a JSON number or a numeric string, 1..200.
CREATE FUNCTION @extschema@._limit_param(v jsonb, dflt integer DEFAULT 50) RETURNS integer
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  s text;
BEGIN
  IF v IS NULL OR v = 'null' THEN RETURN dflt; END IF;
  s := v #>> '{}';
  IF jsonb_typeof(v) NOT IN ('number', 'string') OR s !~ '^\s*[0-9]{1,4}\s*$'
     OR s::integer NOT BETWEEN 1 AND 200 THEN
    PERFORM @extschema@._bad_parameter('limit', 'must be an integer between 1 and 200');
  END IF;
  RETURN s::integer;
END
$$;
