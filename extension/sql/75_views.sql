-- Saved views: named filter + sort combinations per user, one of which may
-- be the default.  list_tasks('{"view": "NAME"}') applies one,
-- '{"view": "default"}' the default (or, without one, the default_view of
-- the user's preferences, or else no filter at all).

CREATE TABLE @extschema@.saved_views (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id    bigint NOT NULL DEFAULT @extschema@.current_user_id() REFERENCES @extschema@.users ON DELETE CASCADE,
  name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100 AND lower(name) <> 'default'),
  filter     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(filter) = 'object'),
  is_default boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX saved_views_user_name_key ON @extschema@.saved_views (user_id, lower(name));
CREATE UNIQUE INDEX saved_views_one_default_key ON @extschema@.saved_views (user_id) WHERE is_default;

ALTER TABLE @extschema@.saved_views ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.saved_views FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.saved_views FROM PUBLIC;
-- One's own views only.
CREATE POLICY saved_views_own ON @extschema@.saved_views FOR ALL
  USING (user_id = (SELECT @extschema@.current_user_id()))
  WITH CHECK (user_id = (SELECT @extschema@.current_user_id()));
GRANT SELECT, DELETE ON @extschema@.saved_views TO taskmgmt_client;
GRANT INSERT (name, filter, is_default), UPDATE (name, filter, is_default)
  ON @extschema@.saved_views TO taskmgmt_client;
-- updated_at is the server's (30_helpers.sql)
CREATE TRIGGER saved_views_touch_updated_at BEFORE UPDATE ON @extschema@.saved_views
  FOR EACH ROW EXECUTE FUNCTION @extschema@._touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('@extschema@.saved_views', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.saved_views_id_seq', '');

CREATE FUNCTION @extschema@.saved_view_json(v @extschema@.saved_views) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', v.id, 'name', v.name, 'filter', v.filter, 'is_default', v.is_default,
                            'created_at', v.created_at, 'updated_at', v.updated_at)
$$;

-- The stored filter of a view by name (case-insensitive); TM400 'view'
-- when there is no such view.
CREATE FUNCTION @extschema@._view_filter(name text) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  result jsonb;
BEGIN
  IF lower(btrim(name)) = 'default' THEN
    SELECT v.filter INTO result FROM @extschema@.saved_views v
     WHERE v.user_id = @extschema@.current_user_id() AND v.is_default;
    IF result IS NULL THEN
      -- preferences.default_view: {filter: {...}, sort: "..."} (preferences
      -- are private columns, read through me())
      SELECT coalesce(p -> 'filter', '{}') || jsonb_strip_nulls(jsonb_build_object('sort', p -> 'sort'))
        INTO result
        FROM (SELECT @extschema@.me() -> 'preferences' -> 'default_view' AS p) x
       WHERE jsonb_typeof(p) = 'object';
    END IF;
    RETURN coalesce(result, '{}');
  END IF;
  SELECT v.filter INTO result FROM @extschema@.saved_views v
   WHERE v.user_id = @extschema@.current_user_id() AND lower(v.name) = lower(btrim(_view_filter.name));
  IF result IS NULL THEN
    PERFORM @extschema@._bad_parameter('view', 'is not one of your saved views');
  END IF;
  RETURN result;
END
$$;

-- Saves (or replaces) a named view.  filter: list parameters including
-- sort (not cursor, view); is_default: make it the default view.
CREATE FUNCTION @extschema@.save_view(name text, filter jsonb, is_default boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  n text := btrim(name);
  v @extschema@.saved_views;
BEGIN
  IF n IS NULL OR n = '' THEN PERFORM @extschema@._invalid('name', 'must not be empty'); END IF;
  IF length(n) > 100 THEN PERFORM @extschema@._invalid('name', 'must be at most 100 characters'); END IF;
  IF lower(n) = 'default' THEN PERFORM @extschema@._invalid('name', 'default is reserved (it names the default view)'); END IF;
  IF filter IS NULL OR jsonb_typeof(filter) <> 'object' THEN
    PERFORM @extschema@._invalid('filter', 'must be a JSON object of list parameters');
  END IF;
  IF filter ? 'cursor' OR filter ? 'view' THEN
    PERFORM @extschema@._invalid('filter', 'must not contain cursor or view');
  END IF;
  -- the same validation (and TM400 naming the parameter) as list_tasks
  PERFORM @extschema@._filter_normalize(filter);
  IF is_default THEN
    UPDATE @extschema@.saved_views x SET is_default = false
     WHERE x.user_id = uid AND x.is_default AND lower(x.name) <> lower(n);
  END IF;
  UPDATE @extschema@.saved_views x
     SET name = n, filter = save_view.filter, is_default = coalesce(save_view.is_default, false)
   WHERE x.user_id = uid AND lower(x.name) = lower(n)
  RETURNING * INTO v;
  IF NOT FOUND THEN
    INSERT INTO @extschema@.saved_views (name, filter, is_default)
    VALUES (n, save_view.filter, coalesce(save_view.is_default, false))
    RETURNING * INTO v;
  END IF;
  RETURN @extschema@.saved_view_json(v);
END
$$;

-- POST /api/v1/views: {name, filter, default?} checked field by field.
CREATE FUNCTION @extschema@.save_view_json(view jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
  PERFORM @extschema@._check_keys(view, '{name,filter,default}', '{id,is_default,created_at,updated_at}');
  IF jsonb_typeof(view -> 'name') IS DISTINCT FROM 'string' THEN
    PERFORM @extschema@._invalid('name', 'is required');
  END IF;
  IF view ? 'default' AND jsonb_typeof(view -> 'default') <> 'boolean' THEN
    PERFORM @extschema@._invalid('default', 'must be true or false');
  END IF;
  RETURN @extschema@.save_view(view ->> 'name', coalesce(view -> 'filter', '{}'),
                               coalesce((view -> 'default')::boolean, false));
END
$$;

CREATE FUNCTION @extschema@.list_views() RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
BEGIN
  PERFORM @extschema@._require_user();
  RETURN coalesce((SELECT jsonb_agg(@extschema@.saved_view_json(v) ORDER BY lower(v.name), v.id)
                   FROM @extschema@.saved_views v), '[]');
END
$$;

CREATE FUNCTION @extschema@.delete_view(name text) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
  PERFORM @extschema@._require_user();
  DELETE FROM @extschema@.saved_views v WHERE lower(v.name) = lower(btrim(delete_view.name));
  IF NOT FOUND THEN PERFORM @extschema@._not_found('view'); END IF;
END
$$;

-- Makes a view the default; NULL: no saved default any more.
CREATE FUNCTION @extschema@.set_default_view(name text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  v @extschema@.saved_views;
BEGIN
  PERFORM @extschema@._require_user();
  IF set_default_view.name IS NOT NULL AND NOT EXISTS (
       SELECT FROM @extschema@.saved_views x WHERE lower(x.name) = lower(btrim(set_default_view.name))) THEN
    PERFORM @extschema@._not_found('view');
  END IF;
  UPDATE @extschema@.saved_views x SET is_default = false
   WHERE x.is_default AND (set_default_view.name IS NULL OR lower(x.name) <> lower(btrim(set_default_view.name)));
  IF set_default_view.name IS NULL THEN
    RETURN NULL;
  END IF;
  UPDATE @extschema@.saved_views x SET is_default = true
   WHERE lower(x.name) = lower(btrim(set_default_view.name)) RETURNING * INTO v;
  RETURN @extschema@.saved_view_json(v);
END
$$;
