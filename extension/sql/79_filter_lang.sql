-- The filter language (#14): list_tasks('{"filter": "status:todo due<7d"}')
-- and GET /tasks?filter=... take the same text.  extension/filter_lang.c
-- compiles it into a condition on t whose every value is an element of the
-- bind parameter $1 (text[]); _filter_normalize() (73_list.sql) keeps the
-- condition and its values in the normalized filter, and the list, export
-- and search run it with EXECUTE ... USING _filter_params(f).

-- {"sql": condition, "params": [values]}; TM400 (field filter) with the
-- position and what was expected on a syntax error.
CREATE FUNCTION @extschema@._filter_compile(filter text) RETURNS jsonb
AS 'MODULE_PATHNAME', 'tm_filter_compile' LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- The bind values of a normalized filter ('{}' without a filter text).
-- PL/pgSQL: a SQL function with a sub-select is never inlined, and was
-- parsed and planned at every list call.
CREATE FUNCTION @extschema@._filter_params(f jsonb) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  IF NOT f ? 'filter_params' THEN
    RETURN '{}';
  END IF;
  RETURN coalesce(ARRAY(SELECT jsonb_array_elements_text(f -> 'filter_params')), '{}');
END
$$;

-- The start of a day in the signed-in user's time zone (created<, updated>).
CREATE FUNCTION @extschema@._day_start(d date) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT d::timestamp AT TIME ZONE coalesce(
    (SELECT u.timezone FROM @extschema@.users u WHERE u.id = @extschema@.current_user_id()), 'UTC')
$$;
