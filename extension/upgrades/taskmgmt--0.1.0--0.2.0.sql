-- taskmgmt 0.1.0 → 0.2.0.  Every change made to extension/sql/ since 0.1.0
-- goes here too, so that ALTER EXTENSION taskmgmt UPDATE gives exactly the
-- schema of a fresh CREATE EXTENSION (the suite deploy-upgrade compares them).
-- New columns go at the end of their table in extension/sql/ as well.
\echo Use "ALTER EXTENSION taskmgmt UPDATE TO '0.2.0'" to load this file. \quit


-- ==== team deletion: owners and admins only, never while tasks refer to the team (#12.1) ====
ALTER POLICY teams_delete ON @extschema@.teams
  USING (id = ANY ((SELECT @extschema@.my_owned_team_ids())::bigint[]) OR (SELECT @extschema@.current_user_is_admin()));
CREATE FUNCTION @extschema@.delete_team(id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  mine @extschema@.team_role := @extschema@._my_role_in(delete_team.id);
BEGIN
  IF NOT @extschema@.current_user_is_admin() AND mine IS DISTINCT FROM 'owner' THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only team owners and admins can delete a team';
  END IF;
  DELETE FROM @extschema@.teams t WHERE t.id = delete_team.id;
END
$$;
CREATE FUNCTION @extschema@._teams_before_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  SELECT count(*) INTO n FROM @extschema@.tasks t WHERE t.team_id = OLD.id OR t.assignee_team_id = OLD.id;
  IF n > 0 THEN
    RAISE EXCEPTION USING ERRCODE = 'TM409', MESSAGE = 'the team still has tasks',
      DETAIL = format('%s task(s) belong or are assigned to it.', n),
      HINT = 'Move, reassign or delete them first.';
  END IF;
  RETURN OLD;
END
$$;
CREATE TRIGGER teams_before_delete BEFORE DELETE ON @extschema@.teams
  FOR EACH ROW EXECUTE FUNCTION @extschema@._teams_before_delete();
REVOKE ALL ON FUNCTION @extschema@.delete_team(bigint), @extschema@._teams_before_delete() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.delete_team(bigint), @extschema@._teams_before_delete() TO taskmgmt_client;

-- ==== users.role/disabled not readable by clients; a creator who left a team no longer sees it (#12.2) ====
REVOKE SELECT (role, disabled) ON @extschema@.users FROM taskmgmt_client;
CREATE FUNCTION @extschema@._team_has_members(team_id bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT FROM @extschema@.team_members m JOIN @extschema@.teams t ON t.id = m.team_id
                 WHERE m.team_id = _team_has_members.team_id
                   AND t.created_by = @extschema@.current_user_id())
$$;
CREATE FUNCTION @extschema@._user_is_active(user_id bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT FROM @extschema@.users u WHERE u.id = _user_is_active.user_id AND NOT u.disabled)
$$;
REVOKE ALL ON FUNCTION @extschema@._team_has_members(bigint), @extschema@._user_is_active(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._team_has_members(bigint), @extschema@._user_is_active(bigint) TO taskmgmt_client;
ALTER POLICY teams_select ON @extschema@.teams
  USING (id = ANY ((SELECT @extschema@.my_team_ids())::bigint[])
         OR (SELECT @extschema@.current_user_is_admin())
         OR (created_by = (SELECT @extschema@.current_user_id()) AND NOT @extschema@._team_has_members(id)));
-- list_users() becomes SECURITY DEFINER; add_team_member() and
-- _apply_task_fields() ask _user_is_active() instead of reading users.disabled
CREATE OR REPLACE FUNCTION @extschema@.list_users(q text DEFAULT NULL, lim integer DEFAULT 50) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@._require_user();
  IF lim IS NULL OR lim < 1 OR lim > 200 THEN
    PERFORM @extschema@._bad_parameter('limit', 'must be between 1 and 200');
  END IF;
  RETURN coalesce((
    SELECT jsonb_agg(jsonb_build_object('id', u.id, 'display_name', u.display_name, 'email', u.email)
                     ORDER BY lower(u.display_name), u.id)
    FROM (SELECT u.id, u.display_name, u.email FROM @extschema@.users u
          WHERE NOT u.disabled
            AND (q IS NULL OR q = ''
                 OR u.display_name ILIKE '%' || replace(replace(replace(q, '\', '\\'), '%', '\%'), '_', '\_') || '%'
                 OR u.email ILIKE '%' || replace(replace(replace(q, '\', '\\'), '%', '\%'), '_', '\_') || '%')
          ORDER BY lower(u.display_name), u.id
          LIMIT lim) u), '[]');
END
$$;
CREATE OR REPLACE FUNCTION @extschema@.add_team_member(team_id bigint, user_id bigint, role text DEFAULT 'member')
RETURNS jsonb LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  mine @extschema@.team_role := @extschema@._my_role_in(team_id);
  admin boolean := @extschema@.current_user_is_admin();
  new_role @extschema@.team_role;
  old_role @extschema@.team_role;
  t @extschema@.teams;
BEGIN
  IF NOT admin AND (mine IS NULL OR mine = 'member') THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = 'only team leads, owners and admins can manage members';
  END IF;
  IF role IS NULL OR role NOT IN ('member', 'lead', 'owner') THEN
    PERFORM @extschema@._invalid('role', 'must be one of member, lead, owner');
  END IF;
  new_role := role::@extschema@.team_role;
  IF user_id IS NULL OR NOT @extschema@._user_is_active(user_id) THEN
    PERFORM @extschema@._invalid('user_id', 'is not an active user');
  END IF;
  SELECT m.role INTO old_role FROM @extschema@.team_members m
   WHERE m.team_id = add_team_member.team_id AND m.user_id = add_team_member.user_id;
  IF NOT admin AND mine <> 'owner' AND (new_role = 'owner' OR old_role = 'owner') THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only owners and admins can manage owners';
  END IF;
  IF old_role = 'owner' AND new_role <> 'owner' AND @extschema@._owner_count(team_id) <= 1 THEN
    PERFORM @extschema@._invalid('role', 'would leave the team without an owner');
  END IF;
  INSERT INTO @extschema@.team_members AS m (team_id, user_id, role)
  VALUES (add_team_member.team_id, add_team_member.user_id, new_role)
  ON CONFLICT ON CONSTRAINT team_members_pkey DO UPDATE SET role = EXCLUDED.role;
  SELECT * INTO t FROM @extschema@.teams x WHERE x.id = add_team_member.team_id;
  RETURN @extschema@.team_json(t);
END
$$;
CREATE OR REPLACE FUNCTION @extschema@._apply_task_fields(p jsonb, r @extschema@.tasks) RETURNS @extschema@.tasks
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v text;
  a jsonb;
  tag text;
  tags text[] := '{}';
BEGIN
  IF p ? 'title' THEN
    v := btrim(@extschema@._text_field(p, 'title', 10000), E' \t\r\n');
    IF v IS NULL OR v = '' THEN PERFORM @extschema@._invalid('title', 'must not be empty'); END IF;
    IF length(v) > 200 THEN PERFORM @extschema@._invalid('title', 'must be at most 200 characters'); END IF;
    r.title := v;
  END IF;
  IF p ? 'description' THEN
    r.description := coalesce(@extschema@._text_field(p, 'description', 100000), '');
  END IF;
  IF p ? 'status' THEN
    r.status := @extschema@._enum_field(p, 'status', enum_range(NULL::@extschema@.task_status)::text[]);
  END IF;
  IF p ? 'priority' THEN
    r.priority := @extschema@._enum_field(p, 'priority', enum_range(NULL::@extschema@.task_priority)::text[]);
  END IF;
  IF p ? 'due_date' THEN
    v := @extschema@._text_field(p, 'due_date', 10);
    IF v IS NULL THEN
      r.due_date := NULL;
    ELSE
      IF v !~ '^\d{4}-\d{2}-\d{2}$' THEN
        PERFORM @extschema@._invalid('due_date', 'must be a date in the form YYYY-MM-DD');
      END IF;
      BEGIN
        r.due_date := v::date;
      EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
        PERFORM @extschema@._invalid('due_date', 'is not a valid date');
      END;
    END IF;
  END IF;
  IF p ? 'team_id' THEN
    r.team_id := @extschema@._id_field(p, 'team_id');
  END IF;
  IF p ? 'assignee' THEN
    a := p -> 'assignee';
    IF a = 'null' THEN
      r.assignee_user_id := NULL;
      r.assignee_team_id := NULL;
    ELSE
      IF jsonb_typeof(a) <> 'object' THEN
        PERFORM @extschema@._invalid('assignee', 'must be null or {"type": "user"|"team", "id": N}');
      END IF;
      -- errors name the nested field: assignee.type, assignee.id, assignee.<unknown>
      PERFORM @extschema@._check_keys(coalesce((SELECT jsonb_object_agg('assignee.' || e.key, e.value)
                                                FROM jsonb_each(a) e), '{}'),
                                      '{assignee.type,assignee.id,assignee.name}');
      IF NOT a ? 'id' OR a -> 'id' = 'null' THEN PERFORM @extschema@._invalid('assignee.id', 'is required'); END IF;
      CASE @extschema@._enum_field(jsonb_build_object('assignee.type', a -> 'type'), 'assignee.type', '{user,team}')
        WHEN 'user' THEN
          r.assignee_user_id := @extschema@._id_field(jsonb_build_object('assignee.id', a -> 'id'), 'assignee.id');
          r.assignee_team_id := NULL;
          IF NOT @extschema@._user_is_active(r.assignee_user_id) THEN
            PERFORM @extschema@._invalid('assignee', 'is not an active user');
          END IF;
        ELSE
          r.assignee_team_id := @extschema@._id_field(jsonb_build_object('assignee.id', a -> 'id'), 'assignee.id');
          r.assignee_user_id := NULL;
      END CASE;
    END IF;
  END IF;
  IF p ? 'tags' THEN
    IF p -> 'tags' = 'null' THEN
      r.tags := '{}';
    ELSE
      IF jsonb_typeof(p -> 'tags') <> 'array' THEN PERFORM @extschema@._invalid('tags', 'must be an array of strings'); END IF;
      IF jsonb_array_length(p -> 'tags') > 20 THEN PERFORM @extschema@._invalid('tags', 'may hold at most 20 tags'); END IF;
      FOR a IN SELECT jsonb_array_elements(p -> 'tags') LOOP
        IF jsonb_typeof(a) <> 'string' THEN PERFORM @extschema@._invalid('tags', 'must be an array of strings'); END IF;
        tag := lower(btrim(a #>> '{}'));
        IF tag = '' OR length(tag) > 50 THEN
          PERFORM @extschema@._invalid('tags', 'must be 1 to 50 characters each');
        END IF;
        IF NOT tag = ANY (tags) THEN tags := tags || tag; END IF;
      END LOOP;
      r.tags := tags;
    END IF;
  END IF;
  RETURN r;
END
$$;

-- ==== task_events.source from how the actor signed in, not from application_name (#12.3) ====
CREATE FUNCTION @extschema@._identity_kind() RETURNS text
  AS 'MODULE_PATHNAME', 'tm_identity_kind'
  LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@._identity_kind() IS
  'How the caller signed in: token (authenticate), session (sign_in), or NULL.';
REVOKE ALL ON FUNCTION @extschema@._identity_kind() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._identity_kind() TO taskmgmt_client;
CREATE OR REPLACE FUNCTION @extschema@._event_source() RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT CASE @extschema@._identity_kind() WHEN 'token' THEN 'http' WHEN 'session' THEN 'api' ELSE 'sql' END
$$;

-- ==== sign-in: soft lockout per (email, client address) and per email, counted before the bcrypt (#12.5, #12.6) ====
-- The old counters were per email only and meant a lockout: start afresh.
DELETE FROM @extschema@.login_failures;
ALTER TABLE @extschema@.login_failures ADD COLUMN client text NOT NULL DEFAULT '';
ALTER TABLE @extschema@.login_failures DROP CONSTRAINT login_failures_pkey;
ALTER TABLE @extschema@.login_failures ADD CONSTRAINT login_failures_pkey PRIMARY KEY (email_key, client);
DROP FUNCTION @extschema@.password_grant(text, text);
CREATE FUNCTION @extschema@.password_grant(email text, password text, client_address inet DEFAULT NULL)
  RETURNS jsonb AS 'MODULE_PATHNAME', 'tm_password_grant'
  LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.password_grant(text, text, inet) IS
  'Like sign_in, but leaves this connection signed out (for pooled connections); '
  'client_address: whom to count the attempt against (default: this connection''s client).';
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
CREATE FUNCTION @extschema@._login_success(email_key bytea, client text) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
  DELETE FROM @extschema@.login_failures f
   WHERE f.email_key = _login_success.email_key AND f.client = _login_success.client;
  UPDATE @extschema@.login_failures f SET failures = greatest(f.failures - 1, 0)
   WHERE f.email_key = _login_success.email_key AND f.client = '';
$$;
REVOKE ALL ON FUNCTION @extschema@.password_grant(text, text, inet),
  @extschema@._login_attempt(bytea, text, integer, integer, integer, integer, integer),
  @extschema@._login_success(bytea, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.password_grant(text, text, inet) TO taskmgmt_client;

-- ==== bounded work per comment: at most 20 mentions, indexed lookup, replies at most 100 deep (#12.7) ====
CREATE INDEX users_handle_idx ON @extschema@.users (lower(split_part(email, '@', 1))) WHERE NOT disabled;
CREATE OR REPLACE FUNCTION @extschema@._mentioned_user_ids(body text) RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  WITH tokens AS (
    SELECT DISTINCT lower(rtrim(m[1], '.-')) AS tok
    FROM regexp_matches(body, '(?:^|[^A-Za-z0-9_.@])@([A-Za-z0-9._%+-]+(?:@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)?)', 'g') AS m
  ), found AS (
    SELECT x.id FROM tokens JOIN @extschema@.users x ON lower(x.email) = tokens.tok
     WHERE tokens.tok LIKE '%@%' AND NOT x.disabled
    UNION
    SELECT min(x.id) FROM tokens JOIN @extschema@.users x ON lower(split_part(x.email, '@', 1)) = tokens.tok
     WHERE tokens.tok NOT LIKE '%@%' AND NOT x.disabled
     GROUP BY tokens.tok HAVING count(*) = 1
  )
  SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM found
$$;
CREATE OR REPLACE FUNCTION @extschema@._comments_sync_mentions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  mentioned bigint[] := @extschema@._mentioned_user_ids(NEW.body);
  wanted bigint[];
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.body IS NOT DISTINCT FROM OLD.body THEN
    RETURN NULL;
  END IF;
  -- bounded work (and notifications) per comment, whoever is mentioned
  IF cardinality(mentioned) > 20 THEN
    PERFORM @extschema@._invalid('body', 'mentions more than 20 people');
  END IF;
  SELECT coalesce(array_agg(u), '{}') INTO wanted
  FROM unnest(mentioned) u
  JOIN @extschema@.tasks t ON t.id = NEW.task_id
  WHERE t.creator_id = u OR t.assignee_user_id = u
     OR EXISTS (SELECT FROM @extschema@.team_members m
                WHERE m.user_id = u AND m.team_id IN (t.team_id, t.assignee_team_id))
     OR EXISTS (SELECT FROM @extschema@.users x WHERE x.id = u AND x.role = 'admin');
  DELETE FROM @extschema@.comment_mentions cm WHERE cm.comment_id = NEW.id AND NOT cm.user_id = ANY (wanted);
  INSERT INTO @extschema@.comment_mentions (comment_id, user_id)
  SELECT NEW.id, u FROM unnest(wanted) u
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$$;
CREATE FUNCTION @extschema@._comments_reply_depth() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  depth integer;
BEGIN
  WITH RECURSIVE up AS (
    SELECT c.parent_id, 1 AS d FROM @extschema@.comments c WHERE c.id = NEW.parent_id
    UNION ALL
    SELECT c.parent_id, up.d + 1 FROM up JOIN @extschema@.comments c ON c.id = up.parent_id
     WHERE up.d <= 100
  )
  SELECT max(d) INTO depth FROM up;
  IF depth > 100 THEN
    PERFORM @extschema@._invalid('parent_id', 'is too deep: replies nest at most 100 levels');
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER comments_reply_depth BEFORE INSERT ON @extschema@.comments
  FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL) EXECUTE FUNCTION @extschema@._comments_reply_depth();
REVOKE ALL ON FUNCTION @extschema@._comments_reply_depth() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._comments_reply_depth() TO taskmgmt_client;

-- ==== Idempotency-Key storage: per user, 24 hours, in the write's transaction (#12.10) ====
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
    RAISE EXCEPTION USING ERRCODE = 'TM422', COLUMN = 'Idempotency-Key',
      MESSAGE = 'Idempotency-Key was already used with another request',
      HINT = 'Use a new key for a new request.';
  END IF;
  RETURN jsonb_build_object('status', k.status, 'body', k.response);
END
$$;
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
REVOKE ALL ON FUNCTION @extschema@.idempotency_begin(text, text), @extschema@.idempotency_finish(text, integer, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.idempotency_begin(text, text), @extschema@.idempotency_finish(text, integer, jsonb) TO taskmgmt_client;
CREATE OR REPLACE FUNCTION @extschema@.cleanup_sessions(as_of timestamptz DEFAULT now()) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n_tokens bigint;
  n_sessions bigint;
  n_failures bigint;
  n_keys bigint;
BEGIN
  PERFORM @extschema@._require_job_runner();
  DELETE FROM @extschema@.refresh_tokens WHERE expires_at < as_of;
  GET DIAGNOSTICS n_tokens = ROW_COUNT;
  DELETE FROM @extschema@.sessions WHERE expires_at < as_of OR revoked_at < as_of - interval '7 days';
  GET DIAGNOSTICS n_sessions = ROW_COUNT;
  DELETE FROM @extschema@.login_failures
   WHERE window_start < as_of - interval '1 day' AND (locked_until IS NULL OR locked_until < as_of);
  GET DIAGNOSTICS n_failures = ROW_COUNT;
  DELETE FROM @extschema@.idempotency_keys WHERE created_at < as_of - interval '24 hours';
  GET DIAGNOSTICS n_keys = ROW_COUNT;
  RETURN jsonb_build_object('refresh_tokens', n_tokens, 'sessions', n_sessions,
                            'login_failures', n_failures, 'idempotency_keys', n_keys);
END
$$;
