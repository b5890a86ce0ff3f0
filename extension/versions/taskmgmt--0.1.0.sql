-- taskmgmt 0.1.0: generated from extension/sql/*.sql, do not edit
\echo Use "CREATE EXTENSION taskmgmt CASCADE" to load this file. \quit

-- ==== extension/sql/00_schema.sql ====
-- Roles, schema-wide defaults and types.

-- taskmgmt_client is how a DBA lets a login role use the system:
--   GRANT taskmgmt_client TO some_login_role;
-- Roles are cluster-wide, so another database may have created it already.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'taskmgmt_client') THEN
    CREATE ROLE taskmgmt_client NOLOGIN NOINHERIT NOBYPASSRLS;
  END IF;
END
$$;

REVOKE ALL ON SCHEMA @extschema@ FROM PUBLIC;
GRANT USAGE ON SCHEMA @extschema@ TO taskmgmt_client;

CREATE TYPE @extschema@.task_status AS ENUM ('todo', 'in_progress', 'done', 'canceled');
-- Declared in sort order: ORDER BY priority sorts none < low < ... < urgent.
CREATE TYPE @extschema@.task_priority AS ENUM ('none', 'low', 'medium', 'high', 'urgent');
CREATE TYPE @extschema@.team_role AS ENUM ('member', 'lead', 'owner');

-- ==== extension/sql/10_tables.sql ====
-- Tables.  Every table has RLS enabled and forced (see 40_rls.sql).
-- Data tables are registered with pg_extension_config_dump so pg_dump keeps
-- them; the signing key is deliberately not dumped (a restore makes a new one).

CREATE TABLE @extschema@.users (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email        text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
  display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
  role         text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  disabled     boolean NOT NULL DEFAULT false,
  timezone     text NOT NULL DEFAULT 'UTC',
  preferences  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(preferences) = 'object'),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_lower_key ON @extschema@.users (lower(email));
COMMENT ON TABLE @extschema@.users IS 'People who can sign in; email unique case-insensitively.';

-- Password hashes, apart from users so no client grant can ever reach them.
CREATE TABLE @extschema@.credentials (
  user_id       bigint PRIMARY KEY REFERENCES @extschema@.users ON DELETE CASCADE,
  password_hash text NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Failed sign-ins per sha256(lower(email)), known address or not.
CREATE TABLE @extschema@.login_failures (
  email_key    bytea PRIMARY KEY,
  failures     integer NOT NULL,
  window_start timestamptz NOT NULL,
  locked_until timestamptz
);

CREATE TABLE @extschema@.sessions (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id       bigint NOT NULL REFERENCES @extschema@.users ON DELETE CASCADE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  revoked_at    timestamptz,
  revoke_reason text
);
CREATE INDEX sessions_user_id_idx ON @extschema@.sessions (user_id);

-- Refresh tokens are stored only as sha256 of the token.
CREATE TABLE @extschema@.refresh_tokens (
  token_hash bytea PRIMARY KEY,
  session_id bigint NOT NULL REFERENCES @extschema@.sessions ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  rotated_at timestamptz
);
CREATE INDEX refresh_tokens_session_id_idx ON @extschema@.refresh_tokens (session_id);

-- The HS256 key: one row, readable by the extension owner and superusers only.
CREATE TABLE @extschema@.signing_keys (
  id         integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  secret     bytea NOT NULL CHECK (length(secret) >= 32),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE @extschema@.teams (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  created_by bigint REFERENCES @extschema@.users ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE @extschema@.team_members (
  team_id  bigint NOT NULL REFERENCES @extschema@.teams ON DELETE CASCADE,
  user_id  bigint NOT NULL REFERENCES @extschema@.users ON DELETE CASCADE,
  role     @extschema@.team_role NOT NULL DEFAULT 'member',
  added_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user_id_idx ON @extschema@.team_members (user_id, team_id);

CREATE TABLE @extschema@.tasks (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  title            text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  description      text NOT NULL DEFAULT '' CHECK (length(description) <= 100000),
  status           @extschema@.task_status NOT NULL DEFAULT 'todo',
  priority         @extschema@.task_priority NOT NULL DEFAULT 'none',
  due_date         date,
  team_id          bigint REFERENCES @extschema@.teams ON DELETE SET NULL,
  assignee_user_id bigint REFERENCES @extschema@.users ON DELETE SET NULL,
  assignee_team_id bigint REFERENCES @extschema@.teams ON DELETE SET NULL,
  tags             text[] NOT NULL DEFAULT '{}',
  creator_id       bigint NOT NULL REFERENCES @extschema@.users,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  completed_at     timestamptz,
  version          integer NOT NULL DEFAULT 1,
  CONSTRAINT tasks_one_assignee CHECK (assignee_user_id IS NULL OR assignee_team_id IS NULL)
);
CREATE INDEX tasks_creator_id_idx ON @extschema@.tasks (creator_id);
CREATE INDEX tasks_assignee_user_id_idx ON @extschema@.tasks (assignee_user_id) WHERE assignee_user_id IS NOT NULL;
CREATE INDEX tasks_assignee_team_id_idx ON @extschema@.tasks (assignee_team_id) WHERE assignee_team_id IS NOT NULL;
CREATE INDEX tasks_team_id_idx ON @extschema@.tasks (team_id) WHERE team_id IS NOT NULL;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.users', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.credentials', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sessions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.refresh_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.teams', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.team_members', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tasks', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.users_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sessions_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.teams_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tasks_id_seq', '');

-- ==== extension/sql/20_identity.sql ====
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

-- ==== extension/sql/30_helpers.sql ====
-- Internal helpers shared by the API functions and the policies.

-- Raises the validation error (SQLSTATE TM422) for one field.  The field
-- travels in the error's COLUMN field, so the shim can name it.
CREATE FUNCTION @extschema@._invalid(field text, message text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'TM422', MESSAGE = field || ' ' || message, COLUMN = field;
END
$$;

-- Raises 'bad request' (TM400) for a malformed parameter.
CREATE FUNCTION @extschema@._bad_parameter(param text, message text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'TM400', MESSAGE = param || ': ' || message, COLUMN = param;
END
$$;

CREATE FUNCTION @extschema@._not_found(what text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = what || ' not found';
END
$$;

-- The signed-in user, or SQLSTATE 28000.
CREATE FUNCTION @extschema@._require_user() RETURNS bigint
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  uid bigint := @extschema@.current_user_id();
BEGIN
  IF uid IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'not signed in',
      HINT = 'Call taskmgmt.sign_in(email, password) or taskmgmt.authenticate(token) first.';
  END IF;
  RETURN uid;
END
$$;

-- Team ids of the signed-in user (all roles / lead or owner).  SECURITY
-- DEFINER so that the team_members policy can use them without recursion.
CREATE FUNCTION @extschema@.my_team_ids() RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(array_agg(team_id), '{}') FROM @extschema@.team_members
  WHERE user_id = @extschema@.current_user_id()
$$;

CREATE FUNCTION @extschema@.my_led_team_ids() RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(array_agg(team_id), '{}') FROM @extschema@.team_members
  WHERE user_id = @extschema@.current_user_id() AND role IN ('lead', 'owner')
$$;

CREATE FUNCTION @extschema@.my_owned_team_ids() RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(array_agg(team_id), '{}') FROM @extschema@.team_members
  WHERE user_id = @extschema@.current_user_id() AND role = 'owner'
$$;

-- True for a team the signed-in user created and that has no member yet:
-- lets create_team() add its creator as the first owner.
CREATE FUNCTION @extschema@._team_is_new_and_mine(team_id bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT FROM @extschema@.teams t
                 WHERE t.id = team_id AND t.created_by = @extschema@.current_user_id())
     AND NOT EXISTS (SELECT FROM @extschema@.team_members m WHERE m.team_id = _team_is_new_and_mine.team_id)
$$;

-- Names for the assignee object; a team's name is shown on tasks the caller
-- can see even when the caller is not in that team.  Clients can call this
-- directly, so it answers only for a team the caller belongs to or one that
-- is the assignee of a task the caller sees (the tasks_select rule spelled
-- out, since RLS does not apply here); otherwise NULL, as for no team.
CREATE FUNCTION @extschema@._team_name(team_id bigint) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT tm.name FROM @extschema@.teams tm
   WHERE tm.id = _team_name.team_id
     AND (tm.id = ANY ((SELECT @extschema@.my_team_ids())::bigint[])
          OR (SELECT @extschema@.current_user_is_admin())
          -- OFFSET 0 keeps the scan on the team's own tasks: otherwise the
          -- planner may AND in a bitmap of every task the user created
          -- (tens of thousands for a busy user), ~10 ms per call
          OR EXISTS (SELECT FROM (SELECT t.creator_id, t.team_id FROM @extschema@.tasks t
                                   WHERE t.assignee_team_id = tm.id OFFSET 0) t
                      WHERE t.creator_id = (SELECT @extschema@.current_user_id())
                         OR t.team_id = ANY ((SELECT @extschema@.my_team_ids())::bigint[])))
$$;

-- May the signed-in user assign a task to this user or team?
-- Self, a team one belongs to, a member of a team one leads; admins: anyone.
CREATE FUNCTION @extschema@.can_assign(user_id bigint, team_id bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE
    WHEN user_id IS NULL AND team_id IS NULL THEN true
    WHEN @extschema@.current_user_is_admin() THEN true
    WHEN user_id IS NOT NULL THEN
         user_id = @extschema@.current_user_id()
      OR EXISTS (SELECT FROM @extschema@.team_members m
                 WHERE m.user_id = can_assign.user_id
                   AND m.team_id = ANY (@extschema@.my_led_team_ids()))
    ELSE team_id = ANY (@extschema@.my_team_ids())
  END
$$;

CREATE FUNCTION @extschema@.user_json(u @extschema@.users) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', u.id, 'email', u.email, 'display_name', u.display_name, 'role', u.role,
    'timezone', u.timezone, 'preferences', u.preferences, 'created_at', u.created_at)
$$;

-- Rejects keys outside the allowed set, naming the first offender.
CREATE FUNCTION @extschema@._check_keys(obj jsonb, allowed text[], read_only text[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql STABLE AS $$
DECLARE
  k text;
BEGIN
  IF obj IS NULL OR jsonb_typeof(obj) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = 'TM422', MESSAGE = 'a JSON object is required';
  END IF;
  FOR k IN SELECT jsonb_object_keys(obj) ORDER BY 1 LOOP
    IF k = ANY (read_only) THEN
      PERFORM @extschema@._invalid(k, 'is read-only');
    ELSIF NOT k = ANY (allowed) THEN
      PERFORM @extschema@._invalid(k, 'is not a known field');
    END IF;
  END LOOP;
END
$$;

-- Typed accessors that name the field when the JSON type is wrong.
CREATE FUNCTION @extschema@._text_field(obj jsonb, field text, max_len int) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v jsonb := obj -> field;
BEGIN
  IF v IS NULL OR v = 'null' THEN RETURN NULL; END IF;
  IF jsonb_typeof(v) <> 'string' THEN PERFORM @extschema@._invalid(field, 'must be a string'); END IF;
  IF length(v #>> '{}') > max_len THEN
    PERFORM @extschema@._invalid(field, format('must be at most %s characters', max_len));
  END IF;
  RETURN v #>> '{}';
END
$$;

CREATE FUNCTION @extschema@._id_field(obj jsonb, field text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v jsonb := obj -> field;
BEGIN
  IF v IS NULL OR v = 'null' THEN RETURN NULL; END IF;
  IF jsonb_typeof(v) <> 'number' OR (v #>> '{}') !~ '^[0-9]{1,18}$' THEN
    PERFORM @extschema@._invalid(field, 'must be a positive integer id');
  END IF;
  RETURN (v #>> '{}')::bigint;
END
$$;

-- ==== extension/sql/40_rls.sql ====
-- Row-level security: the single source of truth for who sees what.
-- Every table: RLS enabled and forced.  Tables without a policy here are
-- closed to every client role (credentials, sessions, tokens, keys, failures).
-- Calls to current_user_id() & co. are wrapped in (SELECT ...) so they are
-- evaluated once per statement, not once per row.

DO $$
DECLARE
  t text;
BEGIN
  FOR t IN SELECT c.relname FROM pg_catalog.pg_class c
           WHERE c.relnamespace = '@extschema@'::regnamespace AND c.relkind = 'r'
  LOOP
    EXECUTE format('ALTER TABLE @extschema@.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE @extschema@.%I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('REVOKE ALL ON @extschema@.%I FROM PUBLIC', t);
  END LOOP;
END
$$;

-- users: a directory every signed-in user may read; one edits oneself.
CREATE POLICY users_select ON @extschema@.users FOR SELECT
  USING ((SELECT @extschema@.current_user_id()) IS NOT NULL);
CREATE POLICY users_update ON @extschema@.users FOR UPDATE
  USING (id = (SELECT @extschema@.current_user_id()) OR (SELECT @extschema@.current_user_is_admin()));

-- teams: those one belongs to (or created); admins see all.
CREATE POLICY teams_select ON @extschema@.teams FOR SELECT
  USING (id = ANY ((SELECT @extschema@.my_team_ids())::bigint[])
         OR created_by = (SELECT @extschema@.current_user_id())
         OR (SELECT @extschema@.current_user_is_admin()));
CREATE POLICY teams_insert ON @extschema@.teams FOR INSERT
  WITH CHECK (created_by = (SELECT @extschema@.current_user_id()));
CREATE POLICY teams_update ON @extschema@.teams FOR UPDATE
  USING (id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[]) OR (SELECT @extschema@.current_user_is_admin()));
CREATE POLICY teams_delete ON @extschema@.teams FOR DELETE
  USING (id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[]) OR (SELECT @extschema@.current_user_is_admin()));

-- team_members: visible within one's teams; managed by leads/owners/admins,
-- as add_team_member()/remove_team_member() do it: only owners and admins
-- touch an owner's row or make someone an owner; anyone may leave.  The
-- creator of a team may add themselves as its first owner.  (That a team
-- keeps an owner is checked by trigger, see 50_users_teams.sql.)
CREATE POLICY team_members_select ON @extschema@.team_members FOR SELECT
  USING (team_id = ANY ((SELECT @extschema@.my_team_ids())::bigint[]) OR (SELECT @extschema@.current_user_is_admin()));
CREATE POLICY team_members_insert ON @extschema@.team_members FOR INSERT
  WITH CHECK ((team_id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[])
               AND (role <> 'owner' OR team_id = ANY ((SELECT @extschema@.my_owned_team_ids())::bigint[])))
              OR (SELECT @extschema@.current_user_is_admin())
              OR (user_id = (SELECT @extschema@.current_user_id()) AND role = 'owner'
                  AND @extschema@._team_is_new_and_mine(team_id)));
CREATE POLICY team_members_update ON @extschema@.team_members FOR UPDATE
  USING ((team_id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[])
          AND (role <> 'owner' OR team_id = ANY ((SELECT @extschema@.my_owned_team_ids())::bigint[])))
         OR (SELECT @extschema@.current_user_is_admin()))
  WITH CHECK ((team_id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[])
               AND (role <> 'owner' OR team_id = ANY ((SELECT @extschema@.my_owned_team_ids())::bigint[])))
              OR (SELECT @extschema@.current_user_is_admin()));
CREATE POLICY team_members_delete ON @extschema@.team_members FOR DELETE
  USING ((team_id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[])
          AND (role <> 'owner' OR team_id = ANY ((SELECT @extschema@.my_owned_team_ids())::bigint[])))
         OR (SELECT @extschema@.current_user_is_admin())
         OR user_id = (SELECT @extschema@.current_user_id()));

-- tasks: visible to the creator, the assignee, members of the assignee team
-- or the owning team, and admins.  Whoever sees a task may edit it (the
-- assignment rules are enforced by trigger, see 60_tasks.sql); deleting is
-- for the creator, leads/owners of its teams, and admins.
CREATE POLICY tasks_select ON @extschema@.tasks FOR SELECT
  USING (creator_id = (SELECT @extschema@.current_user_id())
         OR assignee_user_id = (SELECT @extschema@.current_user_id())
         OR assignee_team_id = ANY ((SELECT @extschema@.my_team_ids())::bigint[])
         OR team_id = ANY ((SELECT @extschema@.my_team_ids())::bigint[])
         OR (SELECT @extschema@.current_user_is_admin()));
CREATE POLICY tasks_insert ON @extschema@.tasks FOR INSERT
  WITH CHECK (creator_id = (SELECT @extschema@.current_user_id()));
CREATE POLICY tasks_update ON @extschema@.tasks FOR UPDATE
  USING (creator_id = (SELECT @extschema@.current_user_id())
         OR assignee_user_id = (SELECT @extschema@.current_user_id())
         OR assignee_team_id = ANY ((SELECT @extschema@.my_team_ids())::bigint[])
         OR team_id = ANY ((SELECT @extschema@.my_team_ids())::bigint[])
         OR (SELECT @extschema@.current_user_is_admin()));
CREATE POLICY tasks_delete ON @extschema@.tasks FOR DELETE
  USING (creator_id = (SELECT @extschema@.current_user_id())
         OR team_id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[])
         OR assignee_team_id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[])
         OR (SELECT @extschema@.current_user_is_admin()));

-- Client grants.  Column lists keep role/disabled/email out of reach of a
-- plain UPDATE; admin changes go through admin_update_user().
-- Others' preferences are private: they are read through me() only.
GRANT SELECT (id, email, display_name, role, disabled, timezone, created_at, updated_at)
  ON @extschema@.users TO taskmgmt_client;
GRANT UPDATE (display_name, timezone, preferences, updated_at) ON @extschema@.users TO taskmgmt_client;
-- INSERT is granted per column: a client choosing an id could probe for rows
-- it may not see through unique violations, and bookkeeping is not its to set.
GRANT SELECT, INSERT (name, created_by), UPDATE (name), DELETE ON @extschema@.teams TO taskmgmt_client;
GRANT SELECT, INSERT, UPDATE (role), DELETE ON @extschema@.team_members TO taskmgmt_client;
GRANT SELECT, DELETE ON @extschema@.tasks TO taskmgmt_client;
GRANT INSERT (title, description, status, priority, due_date, team_id, assignee_user_id,
              assignee_team_id, tags, creator_id)
  ON @extschema@.tasks TO taskmgmt_client;
GRANT UPDATE (title, description, status, priority, due_date, team_id, assignee_user_id,
              assignee_team_id, tags)
  ON @extschema@.tasks TO taskmgmt_client;

-- ==== extension/sql/50_users_teams.sql ====
-- Profile, directory, teams and memberships.

-- me() and update_me() run as the owner because preferences are not
-- readable by client roles (see 40_rls.sql); both touch only the caller's row.
CREATE FUNCTION @extschema@.me() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT @extschema@.user_json(u) FROM @extschema@.users u WHERE u.id = @extschema@._require_user()
$$;

CREATE FUNCTION @extschema@._validate_preferences(p jsonb) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
  events constant text[] := '{assigned,updated,commented,mentioned,due_soon,overdue}';
  ev text;
  ch text;
BEGIN
  IF jsonb_typeof(p) <> 'object' THEN
    PERFORM @extschema@._invalid('preferences', 'must be an object');
  END IF;
  FOR ev IN SELECT jsonb_object_keys(p) LOOP
    IF ev NOT IN ('notifications', 'default_view') THEN
      PERFORM @extschema@._invalid('preferences.' || ev, 'is not a known preference');
    END IF;
  END LOOP;
  IF p ? 'notifications' THEN
    IF jsonb_typeof(p -> 'notifications') <> 'object' THEN
      PERFORM @extschema@._invalid('preferences.notifications', 'must be an object');
    END IF;
    FOR ev IN SELECT jsonb_object_keys(p -> 'notifications') LOOP
      IF NOT ev = ANY (events) THEN
        PERFORM @extschema@._invalid('preferences.notifications.' || ev,
          'is not a known event (assigned, updated, commented, mentioned, due_soon, overdue)');
      END IF;
      IF jsonb_typeof(p -> 'notifications' -> ev) <> 'object' THEN
        PERFORM @extschema@._invalid('preferences.notifications.' || ev, 'must be an object');
      END IF;
      FOR ch IN SELECT jsonb_object_keys(p -> 'notifications' -> ev) LOOP
        IF ch NOT IN ('in_app', 'email') THEN
          PERFORM @extschema@._invalid(format('preferences.notifications.%s.%s', ev, ch),
            'is not a known channel (in_app, email)');
        END IF;
        IF jsonb_typeof(p -> 'notifications' -> ev -> ch) <> 'boolean' THEN
          PERFORM @extschema@._invalid(format('preferences.notifications.%s.%s', ev, ch), 'must be true or false');
        END IF;
      END LOOP;
    END LOOP;
  END IF;
  IF p ? 'default_view' AND p -> 'default_view' <> 'null' THEN
    IF jsonb_typeof(p -> 'default_view') <> 'object' THEN
      PERFORM @extschema@._invalid('preferences.default_view', 'must be an object');
    END IF;
    FOR ch IN SELECT jsonb_object_keys(p -> 'default_view') LOOP
      IF ch NOT IN ('filter', 'sort') THEN
        PERFORM @extschema@._invalid('preferences.default_view.' || ch, 'is not a known key (filter, sort)');
      END IF;
    END LOOP;
    IF p -> 'default_view' ? 'filter' AND jsonb_typeof(p -> 'default_view' -> 'filter') <> 'object' THEN
      PERFORM @extschema@._invalid('preferences.default_view.filter', 'must be an object');
    END IF;
    IF p -> 'default_view' ? 'sort' AND jsonb_typeof(p -> 'default_view' -> 'sort') <> 'string' THEN
      PERFORM @extschema@._invalid('preferences.default_view.sort', 'must be a string');
    END IF;
  END IF;
END
$$;

-- PATCH semantics: fields absent from the patch keep their value; in
-- preferences, each event's channels merge into what was there.
CREATE FUNCTION @extschema@.update_me(patch jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  u @extschema@.users;
  v text;
  ev text;
BEGIN
  PERFORM @extschema@._check_keys(patch, '{display_name,timezone,preferences}',
                                  '{id,email,role,created_at,disabled}');
  SELECT * INTO u FROM @extschema@.users WHERE id = uid;
  IF patch ? 'display_name' THEN
    v := btrim(@extschema@._text_field(patch, 'display_name', 1000));
    IF v IS NULL OR v = '' THEN PERFORM @extschema@._invalid('display_name', 'must not be empty'); END IF;
    IF length(v) > 100 THEN PERFORM @extschema@._invalid('display_name', 'must be at most 100 characters'); END IF;
    u.display_name := v;
  END IF;
  IF patch ? 'timezone' THEN
    v := @extschema@._text_field(patch, 'timezone', 100);
    IF v IS NULL OR NOT EXISTS (SELECT FROM pg_catalog.pg_timezone_names WHERE name = v) THEN
      PERFORM @extschema@._invalid('timezone', 'must be an IANA time zone name such as Europe/Paris');
    END IF;
    u.timezone := v;
  END IF;
  IF patch ? 'preferences' THEN
    PERFORM @extschema@._validate_preferences(patch -> 'preferences');
    IF patch -> 'preferences' ? 'notifications' THEN
      FOR ev IN SELECT jsonb_object_keys(patch -> 'preferences' -> 'notifications') LOOP
        u.preferences := jsonb_set(u.preferences, ARRAY['notifications'],
          coalesce(u.preferences -> 'notifications', '{}'), true);
        u.preferences := jsonb_set(u.preferences, ARRAY['notifications', ev],
          coalesce(u.preferences -> 'notifications' -> ev, '{}')
            || (patch -> 'preferences' -> 'notifications' -> ev), true);
      END LOOP;
    END IF;
    IF patch -> 'preferences' ? 'default_view' THEN
      u.preferences := jsonb_strip_nulls(u.preferences
        || jsonb_build_object('default_view', patch -> 'preferences' -> 'default_view'));
    END IF;
  END IF;
  UPDATE @extschema@.users
     SET display_name = u.display_name, timezone = u.timezone,
         preferences = u.preferences, updated_at = now()
   WHERE id = uid
  RETURNING * INTO u;
  RETURN @extschema@.user_json(u);
END
$$;

-- The directory: [{id, display_name, email}] of active users.
CREATE FUNCTION @extschema@.list_users(q text DEFAULT NULL, lim integer DEFAULT 50) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
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

CREATE FUNCTION @extschema@.team_json(t @extschema@.teams) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT jsonb_build_object(
    'id', t.id, 'name', t.name, 'created_at', t.created_at,
    'members', coalesce((
      SELECT jsonb_agg(jsonb_build_object('user_id', m.user_id, 'display_name', u.display_name,
                                          'email', u.email, 'role', m.role)
                       ORDER BY m.role DESC, lower(u.display_name), m.user_id)
      FROM @extschema@.team_members m JOIN @extschema@.users u ON u.id = m.user_id
      WHERE m.team_id = t.id), '[]'))
$$;

CREATE FUNCTION @extschema@.create_team(name text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  n text := btrim(name);
  t @extschema@.teams;
BEGIN
  IF n IS NULL OR n = '' THEN PERFORM @extschema@._invalid('name', 'must not be empty'); END IF;
  IF length(n) > 100 THEN PERFORM @extschema@._invalid('name', 'must be at most 100 characters'); END IF;
  INSERT INTO @extschema@.teams (name, created_by) VALUES (n, uid) RETURNING * INTO t;
  INSERT INTO @extschema@.team_members (team_id, user_id, role) VALUES (t.id, uid, 'owner');
  RETURN @extschema@.team_json(t);
END
$$;

CREATE FUNCTION @extschema@.list_teams() RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
BEGIN
  PERFORM @extschema@._require_user();
  RETURN coalesce((SELECT jsonb_agg(@extschema@.team_json(t) ORDER BY lower(t.name), t.id)
                   FROM @extschema@.teams t), '[]');
END
$$;

CREATE FUNCTION @extschema@.get_team(id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  result jsonb;
BEGIN
  PERFORM @extschema@._require_user();
  SELECT @extschema@.team_json(t) INTO result FROM @extschema@.teams t WHERE t.id = get_team.id;
  IF result IS NULL THEN PERFORM @extschema@._not_found('team'); END IF;
  RETURN result;
END
$$;

-- Role of the signed-in user in a visible team: NULL when not a member,
-- and 'not found' when the team is invisible.
CREATE FUNCTION @extschema@._my_role_in(team_id bigint) RETURNS @extschema@.team_role
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  r @extschema@.team_role;
BEGIN
  IF NOT EXISTS (SELECT FROM @extschema@.teams t WHERE t.id = team_id) THEN
    PERFORM @extschema@._not_found('team');
  END IF;
  SELECT m.role INTO r FROM @extschema@.team_members m
   WHERE m.team_id = _my_role_in.team_id AND m.user_id = @extschema@.current_user_id();
  RETURN r;
END
$$;

CREATE FUNCTION @extschema@._owner_count(team_id bigint) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT count(*) FROM @extschema@.team_members m WHERE m.team_id = _owner_count.team_id AND m.role = 'owner'
     -- callable by clients: say nothing about teams they are not in
     AND (m.team_id = ANY (@extschema@.my_team_ids()) OR @extschema@.current_user_is_admin())
$$;

-- Adds a member or changes a member's role.  Leads manage members and
-- leads; owners and admins manage owners too.  A team keeps an owner.
CREATE FUNCTION @extschema@.add_team_member(team_id bigint, user_id bigint, role text DEFAULT 'member')
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
  IF user_id IS NULL OR NOT EXISTS (SELECT FROM @extschema@.users u WHERE u.id = user_id AND NOT u.disabled) THEN
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

CREATE FUNCTION @extschema@.remove_team_member(team_id bigint, user_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  mine @extschema@.team_role := @extschema@._my_role_in(team_id);
  admin boolean := @extschema@.current_user_is_admin();
  theirs @extschema@.team_role;
BEGIN
  SELECT m.role INTO theirs FROM @extschema@.team_members m
   WHERE m.team_id = remove_team_member.team_id AND m.user_id = remove_team_member.user_id;
  IF theirs IS NULL THEN PERFORM @extschema@._not_found('team member'); END IF;
  IF NOT admin AND user_id <> uid AND (mine IS NULL OR mine = 'member'
                                       OR (theirs = 'owner' AND mine <> 'owner')) THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = 'only team leads, owners and admins can remove members (owners: owners and admins)';
  END IF;
  IF theirs = 'owner' AND @extschema@._owner_count(team_id) <= 1 THEN
    PERFORM @extschema@._invalid('user_id', 'is the last owner of the team');
  END IF;
  DELETE FROM @extschema@.team_members m
   WHERE m.team_id = remove_team_member.team_id AND m.user_id = remove_team_member.user_id;
END
$$;

-- Plain SQL keeps to the rules of update_me() and of the membership functions.
-- A DBA working without signing in (current_user_id() NULL) is trusted.
CREATE FUNCTION @extschema@._users_before_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF @extschema@.current_user_id() IS NULL THEN RETURN NEW; END IF;
  IF NEW.display_name IS DISTINCT FROM OLD.display_name AND btrim(NEW.display_name) = '' THEN
    PERFORM @extschema@._invalid('display_name', 'must not be empty');
  END IF;
  IF NEW.timezone IS DISTINCT FROM OLD.timezone
     AND NOT EXISTS (SELECT FROM pg_catalog.pg_timezone_names WHERE name = NEW.timezone) THEN
    PERFORM @extschema@._invalid('timezone', 'must be an IANA time zone name such as Europe/Paris');
  END IF;
  IF NEW.preferences IS DISTINCT FROM OLD.preferences THEN
    PERFORM @extschema@._validate_preferences(NEW.preferences);
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER users_before_update BEFORE UPDATE ON @extschema@.users
  FOR EACH ROW EXECUTE FUNCTION @extschema@._users_before_update();

-- A team keeps an owner, whatever the door.  SECURITY DEFINER: after leaving
-- a team the caller no longer sees it, yet the check must.  A team being
-- deleted (its rows cascade) and a DBA not signed in are not checked.
CREATE FUNCTION @extschema@._team_members_keep_owner() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF OLD.role = 'owner' AND (TG_OP = 'DELETE' OR NEW.role <> 'owner' OR NEW.team_id <> OLD.team_id)
     AND @extschema@.current_user_id() IS NOT NULL
     AND EXISTS (SELECT FROM @extschema@.teams t WHERE t.id = OLD.team_id)
     AND NOT EXISTS (SELECT FROM @extschema@.team_members m WHERE m.team_id = OLD.team_id AND m.role = 'owner') THEN
    PERFORM @extschema@._invalid('user_id', 'is the last owner of the team');
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER team_members_keep_owner AFTER UPDATE OR DELETE ON @extschema@.team_members
  FOR EACH ROW EXECUTE FUNCTION @extschema@._team_members_keep_owner();

-- Admins change a user's role or disable the account (which ends its sessions).
CREATE FUNCTION @extschema@.admin_update_user(id bigint, patch jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  u @extschema@.users;
BEGIN
  PERFORM @extschema@._require_user();
  IF NOT @extschema@.current_user_is_admin() THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only admins can change users';
  END IF;
  PERFORM @extschema@._check_keys(patch, '{role,disabled}', '{id,email,created_at}');
  SELECT * INTO u FROM @extschema@.users x WHERE x.id = admin_update_user.id FOR UPDATE;
  IF NOT FOUND THEN PERFORM @extschema@._not_found('user'); END IF;
  IF patch ? 'role' THEN
    IF jsonb_typeof(patch -> 'role') <> 'string' OR patch ->> 'role' NOT IN ('user', 'admin') THEN
      PERFORM @extschema@._invalid('role', 'must be user or admin');
    END IF;
    u.role := patch ->> 'role';
  END IF;
  IF patch ? 'disabled' THEN
    IF jsonb_typeof(patch -> 'disabled') <> 'boolean' THEN
      PERFORM @extschema@._invalid('disabled', 'must be true or false');
    END IF;
    u.disabled := (patch ->> 'disabled')::boolean;
  END IF;
  UPDATE @extschema@.users x SET role = u.role, disabled = u.disabled, updated_at = now()
   WHERE x.id = u.id RETURNING * INTO u;
  IF u.disabled THEN
    UPDATE @extschema@.sessions s SET revoked_at = now(), revoke_reason = 'account disabled'
     WHERE s.user_id = u.id AND s.revoked_at IS NULL;
  END IF;
  -- admins also see the flag they just set
  RETURN @extschema@.user_json(u) || jsonb_build_object('disabled', u.disabled);
END
$$;

-- For DBAs (not granted to clients): make the first administrator.
CREATE FUNCTION @extschema@.make_admin(email text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  u @extschema@.users;
BEGIN
  UPDATE @extschema@.users x SET role = 'admin', updated_at = now()
   WHERE lower(x.email) = lower(btrim(make_admin.email)) RETURNING * INTO u;
  IF NOT FOUND THEN PERFORM @extschema@._not_found('user'); END IF;
  RETURN @extschema@.user_json(u);
END
$$;

-- ==== extension/sql/60_tasks.sql ====
-- Tasks: JSON shape, validation, the four CRUD functions, and the trigger
-- that enforces the assignment rules for every door (SQL API or plain SQL).

CREATE FUNCTION @extschema@.task_json(t @extschema@.tasks) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT jsonb_build_object(
    'id', t.id, 'title', t.title, 'description', t.description,
    'status', t.status, 'priority', t.priority, 'due_date', t.due_date,
    'team_id', t.team_id,
    'assignee', CASE
      WHEN t.assignee_user_id IS NOT NULL THEN jsonb_build_object(
        'type', 'user', 'id', t.assignee_user_id,
        'name', (SELECT u.display_name FROM @extschema@.users u WHERE u.id = t.assignee_user_id))
      WHEN t.assignee_team_id IS NOT NULL THEN jsonb_build_object(
        'type', 'team', 'id', t.assignee_team_id,
        'name', @extschema@._team_name(t.assignee_team_id))
    END,
    'tags', to_jsonb(t.tags), 'creator_id', t.creator_id,
    'created_at', t.created_at, 'updated_at', t.updated_at,
    'started_at', t.started_at, 'completed_at', t.completed_at,
    'version', t.version)
$$;

CREATE FUNCTION @extschema@._enum_field(obj jsonb, field text, allowed text[]) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v jsonb := obj -> field;
BEGIN
  IF v IS NULL OR jsonb_typeof(v) <> 'string' OR NOT (v #>> '{}') = ANY (allowed) THEN
    PERFORM @extschema@._invalid(field, 'must be one of ' || array_to_string(allowed, ', '));
  END IF;
  RETURN v #>> '{}';
END
$$;

-- Applies the editable fields of a JSON object to a task row, validating
-- types and formats (authorisation is the trigger's job).
CREATE FUNCTION @extschema@._apply_task_fields(p jsonb, r @extschema@.tasks) RETURNS @extschema@.tasks
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
          IF NOT EXISTS (SELECT FROM @extschema@.users u WHERE u.id = r.assignee_user_id AND NOT u.disabled) THEN
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

-- Authorisation and bookkeeping for every insert and update, whatever the door.
-- A DBA working without signing in (current_user_id() NULL) is trusted.
CREATE FUNCTION @extschema@._tasks_before_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  uid bigint := @extschema@.current_user_id();
BEGIN
  IF uid IS NOT NULL THEN
    IF NEW.team_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.team_id IS DISTINCT FROM OLD.team_id)
       AND NOT NEW.team_id = ANY (@extschema@.my_team_ids())
       AND NOT (@extschema@.current_user_is_admin()
                AND EXISTS (SELECT FROM @extschema@.teams t WHERE t.id = NEW.team_id)) THEN
      -- the same answer for a team that exists and one that does not
      PERFORM @extschema@._invalid('team_id', 'is not a team you belong to');
    END IF;
    IF (TG_OP = 'INSERT' AND (NEW.assignee_user_id IS NOT NULL OR NEW.assignee_team_id IS NOT NULL))
       OR (TG_OP = 'UPDATE' AND (NEW.assignee_user_id IS DISTINCT FROM OLD.assignee_user_id
                                 OR NEW.assignee_team_id IS DISTINCT FROM OLD.assignee_team_id)) THEN
      IF NOT @extschema@.can_assign(NEW.assignee_user_id, NEW.assignee_team_id) THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
          MESSAGE = CASE WHEN NEW.assignee_user_id IS NOT NULL
            THEN 'you may assign tasks only to yourself or to members of a team you lead'
            ELSE 'you may assign tasks only to teams you belong to' END,
          COLUMN = 'assignee';
      END IF;
      -- only admins get here with a team that does not exist (they see every
      -- team, so saying so reveals nothing); a clear error, not a foreign key one
      IF NEW.assignee_team_id IS NOT NULL
         AND NOT EXISTS (SELECT FROM @extschema@.teams t WHERE t.id = NEW.assignee_team_id) THEN
        PERFORM @extschema@._invalid('assignee', 'is not an existing team');
      END IF;
    END IF;
  END IF;

  IF TG_OP = 'INSERT' THEN
    NEW.created_at := now();
    NEW.updated_at := NEW.created_at;
    NEW.version := 1;
    NEW.started_at := CASE WHEN NEW.status IN ('in_progress', 'done') THEN now() END;
    NEW.completed_at := CASE WHEN NEW.status = 'done' THEN now() END;
    RETURN NEW;
  END IF;

  -- the version moves exactly when something a user sees changes
  IF (NEW.title, NEW.description, NEW.status, NEW.priority, NEW.due_date, NEW.team_id,
      NEW.assignee_user_id, NEW.assignee_team_id, NEW.tags)
     IS NOT DISTINCT FROM
     (OLD.title, OLD.description, OLD.status, OLD.priority, OLD.due_date, OLD.team_id,
      OLD.assignee_user_id, OLD.assignee_team_id, OLD.tags) THEN
    NEW.version := OLD.version;
    NEW.updated_at := OLD.updated_at;
    RETURN NEW;
  END IF;
  NEW.version := OLD.version + 1;
  NEW.updated_at := now();
  IF NEW.status IS DISTINCT FROM OLD.status THEN
    IF NEW.status IN ('in_progress', 'done') AND NEW.started_at IS NULL THEN
      NEW.started_at := now();
    END IF;
    NEW.completed_at := CASE WHEN NEW.status = 'done' THEN now() END;
  ELSE
    NEW.started_at := OLD.started_at;
    NEW.completed_at := OLD.completed_at;
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER tasks_before_write BEFORE INSERT OR UPDATE ON @extschema@.tasks
  FOR EACH ROW EXECUTE FUNCTION @extschema@._tasks_before_write();

CREATE FUNCTION @extschema@.create_task(task jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  r @extschema@.tasks;
BEGIN
  PERFORM @extschema@._check_keys(task,
    '{title,description,status,priority,due_date,team_id,assignee,tags}',
    '{id,creator_id,version,created_at,updated_at,started_at,completed_at}');
  IF NOT task ? 'title' THEN PERFORM @extschema@._invalid('title', 'is required'); END IF;
  r.description := '';
  r.status := 'todo';
  r.priority := 'none';
  r.tags := '{}';
  r := @extschema@._apply_task_fields(task, r);
  INSERT INTO @extschema@.tasks (title, description, status, priority, due_date, team_id,
                                 assignee_user_id, assignee_team_id, tags, creator_id)
  VALUES (r.title, r.description, r.status, r.priority, r.due_date, r.team_id,
          r.assignee_user_id, r.assignee_team_id, r.tags, uid)
  RETURNING * INTO r;
  RETURN @extschema@.task_json(r);
END
$$;

CREATE FUNCTION @extschema@.get_task(id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  result jsonb;
BEGIN
  PERFORM @extschema@._require_user();
  SELECT @extschema@.task_json(t) INTO result FROM @extschema@.tasks t WHERE t.id = get_task.id;
  IF result IS NULL THEN PERFORM @extschema@._not_found('task'); END IF;
  RETURN result;
END
$$;

-- expected_version: the version the caller last saw (HTTP If-Match); a
-- different current version raises TM412 and changes nothing.
CREATE FUNCTION @extschema@.update_task(id bigint, patch jsonb, expected_version integer DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  r @extschema@.tasks;
BEGIN
  PERFORM @extschema@._require_user();
  PERFORM @extschema@._check_keys(patch,
    '{title,description,status,priority,due_date,team_id,assignee,tags}',
    '{id,creator_id,version,created_at,updated_at,started_at,completed_at}');
  SELECT * INTO r FROM @extschema@.tasks t WHERE t.id = update_task.id FOR UPDATE;
  IF NOT FOUND THEN PERFORM @extschema@._not_found('task'); END IF;
  IF expected_version IS NOT NULL AND r.version <> expected_version THEN
    RAISE EXCEPTION USING ERRCODE = 'TM412', MESSAGE = 'task was changed by someone else',
      DETAIL = format('Expected version %s, current version is %s.', expected_version, r.version),
      HINT = 'Fetch the task again and reapply the change.';
  END IF;
  r := @extschema@._apply_task_fields(patch, r);
  UPDATE @extschema@.tasks t
     SET title = r.title, description = r.description, status = r.status, priority = r.priority,
         due_date = r.due_date, team_id = r.team_id, assignee_user_id = r.assignee_user_id,
         assignee_team_id = r.assignee_team_id, tags = r.tags
   WHERE t.id = r.id
  RETURNING * INTO r;
  RETURN @extschema@.task_json(r);
END
$$;

CREATE FUNCTION @extschema@.delete_task(id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
  PERFORM @extschema@._require_user();
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = delete_task.id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  DELETE FROM @extschema@.tasks t WHERE t.id = delete_task.id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = 'only the creator, a lead or owner of its team, or an admin can delete this task';
  END IF;
END
$$;

-- ==== extension/sql/70_cursor.sql ====
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

-- The MAC of a message, keyed by the signing key (owner-only table, hence
-- SECURITY DEFINER).  NMAC: sha256(k2 || sha256(k1 || m)) with independent
-- derived keys; the outer hash defeats length extension.  Truncated to 128
-- bits.  Callable by clients (every function is, see 90_grants.sql), which
-- is harmless: it binds the message to the caller's own user id, and a
-- cursor only selects a position in a list that RLS already restricts.
CREATE FUNCTION @extschema@._cursor_mac(message text) RETURNS bytea
LANGUAGE sql STABLE STRICT SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT substr(sha256(sha256('taskmgmt cursor outer key:'::bytea || k.secret)
                       || sha256(sha256('taskmgmt cursor inner key:'::bytea || k.secret)
                                 || convert_to(coalesce(@extschema@.current_user_id()::text, '-')
                                               || ':' || message, 'UTF8'))), 1, 16)
  FROM @extschema@.signing_keys k WHERE k.id = 1
$$;

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

-- ==== extension/sql/71_history.sql ====
-- Task history: every change to a task, whatever the door (SQL API, HTTP,
-- a DBA's plain UPDATE in psql), recorded by trigger in the same
-- transaction; plus free-text progress updates in the same stream.
-- started_at / completed_at are maintained by _tasks_before_write
-- (60_tasks.sql); their changes are recorded here like any other.

CREATE TABLE @extschema@.task_events (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- no foreign key: the history of a deleted task is kept (admins see it)
  task_id     bigint NOT NULL,
  at          timestamptz NOT NULL DEFAULT now(),
  -- the signed-in user, or NULL when nobody was signed in (then actor_role
  -- tells which database role did it)
  actor_id    bigint DEFAULT @extschema@.current_user_id() REFERENCES @extschema@.users ON DELETE SET NULL,
  actor_role  text NOT NULL DEFAULT current_user,
  source      text NOT NULL DEFAULT 'sql' CHECK (length(source) BETWEEN 1 AND 50),
  kind        text NOT NULL CHECK (kind IN ('created', 'updated', 'progress', 'deleted')),
  changes     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(changes) = 'object'),
  description text NOT NULL CHECK (length(description) BETWEEN 1 AND 10000)
);
CREATE INDEX task_events_task_id_idx ON @extschema@.task_events (task_id, id DESC);
COMMENT ON TABLE @extschema@.task_events IS
  'History of every task: changes as {field: [old, new]} with a readable description, and progress updates.';

ALTER TABLE @extschema@.task_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.task_events FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.task_events FROM PUBLIC;
-- Visible exactly when the task is (the subquery runs under the tasks
-- policy); the history of a deleted task only to admins.
CREATE POLICY task_events_select ON @extschema@.task_events FOR SELECT
  USING (EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = task_events.task_id)
         OR (SELECT @extschema@.current_user_is_admin()));
-- Clients may only add progress updates, as themselves, to tasks they see;
-- the trigger below writes everything else.
CREATE POLICY task_events_insert ON @extschema@.task_events FOR INSERT
  WITH CHECK (kind = 'progress' AND changes = '{}'
              AND actor_id = (SELECT @extschema@.current_user_id())
              AND EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = task_events.task_id));
GRANT SELECT ON @extschema@.task_events TO taskmgmt_client;
GRANT INSERT (task_id, kind, description) ON @extschema@.task_events TO taskmgmt_client;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.task_events', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.task_events_id_seq', '');

-- Which door: 'http' for the HTTP shim's connections (application_name
-- taskmgmt-shim), otherwise 'api' for a signed-in session and 'sql' without
-- one.  A label, not authority: actor_id / actor_role say who.
CREATE FUNCTION @extschema@._event_source() RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT CASE WHEN current_setting('application_name') = 'taskmgmt-shim' THEN 'http'
              WHEN @extschema@.current_user_id() IS NULL THEN 'sql'
              ELSE 'api' END
$$;
ALTER TABLE @extschema@.task_events ALTER COLUMN source SET DEFAULT @extschema@._event_source();

CREATE FUNCTION @extschema@._status_label(s @extschema@.task_status) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE s WHEN 'todo' THEN 'To Do' WHEN 'in_progress' THEN 'In Progress'
                WHEN 'done' THEN 'Done' WHEN 'canceled' THEN 'Canceled' END
$$;

-- 'Bob', 'Design team', 'nobody'.  Runs with the caller's rights except
-- inside the (SECURITY DEFINER) history trigger.
CREATE FUNCTION @extschema@._assignee_label(user_id bigint, team_id bigint) RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT CASE
    WHEN user_id IS NOT NULL THEN coalesce((SELECT u.display_name FROM @extschema@.users u WHERE u.id = user_id),
                                           'user #' || user_id)
    -- a team's name only where the actor may see it (see _team_name)
    WHEN team_id IS NOT NULL THEN coalesce(@extschema@._team_name(team_id) || ' team', 'team #' || team_id)
    ELSE 'nobody' END
$$;

CREATE FUNCTION @extschema@._assignee_value(user_id bigint, team_id bigint) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN user_id IS NOT NULL THEN jsonb_build_object('type', 'user', 'id', user_id)
              WHEN team_id IS NOT NULL THEN jsonb_build_object('type', 'team', 'id', team_id) END
$$;

CREATE FUNCTION @extschema@._tags_label(tags text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN cardinality(tags) = 0 THEN 'none' ELSE array_to_string(tags, ', ') END
$$;

-- The history trigger.  SECURITY DEFINER: clients cannot write history
-- rows themselves (only progress updates).  Inside it current_user is the
-- owner, so the acting role is taken from SET ROLE or the session user.
CREATE FUNCTION @extschema@._tasks_record_history() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  ch jsonb := '{}';
  lines text[] := '{}';
  r @extschema@.tasks;
  role_name text := CASE WHEN current_setting('role') <> 'none' THEN current_setting('role')
                         ELSE session_user::text END;
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO @extschema@.task_events (task_id, actor_id, actor_role, source, kind, changes, description)
    VALUES (OLD.id, @extschema@.current_user_id(), role_name, @extschema@._event_source(), 'deleted',
            '{}', left(format('deleted "%s"', OLD.title), 10000));
    RETURN OLD;
  END IF;
  IF TG_OP = 'INSERT' THEN
    r := NEW;
    ch := jsonb_strip_nulls(jsonb_build_object(
      'title', jsonb_build_array(NULL, r.title),
      'status', jsonb_build_array(NULL, r.status),
      'priority', jsonb_build_array(NULL, r.priority),
      'description', CASE WHEN r.description <> '' THEN jsonb_build_array(NULL, r.description) END,
      'due_date', CASE WHEN r.due_date IS NOT NULL THEN jsonb_build_array(NULL, r.due_date) END,
      'team_id', CASE WHEN r.team_id IS NOT NULL THEN jsonb_build_array(NULL, r.team_id) END,
      'assignee', CASE WHEN r.assignee_user_id IS NOT NULL OR r.assignee_team_id IS NOT NULL
                       THEN jsonb_build_array(NULL, @extschema@._assignee_value(r.assignee_user_id, r.assignee_team_id)) END,
      'tags', CASE WHEN cardinality(r.tags) > 0 THEN jsonb_build_array(NULL, to_jsonb(r.tags)) END,
      'started_at', CASE WHEN r.started_at IS NOT NULL THEN jsonb_build_array(NULL, r.started_at) END,
      'completed_at', CASE WHEN r.completed_at IS NOT NULL THEN jsonb_build_array(NULL, r.completed_at) END));
    INSERT INTO @extschema@.task_events (task_id, actor_id, actor_role, source, kind, changes, description)
    VALUES (r.id, @extschema@.current_user_id(), role_name, @extschema@._event_source(), 'created', ch,
            left(format('created "%s"', r.title), 10000));
    RETURN NULL;
  END IF;

  -- UPDATE: nothing a user sees changed (see _tasks_before_write) -> no event
  IF NEW.version = OLD.version AND NEW.started_at IS NOT DISTINCT FROM OLD.started_at
     AND NEW.completed_at IS NOT DISTINCT FROM OLD.completed_at THEN
    RETURN NULL;
  END IF;
  IF NEW.title IS DISTINCT FROM OLD.title THEN
    ch := ch || jsonb_build_object('title', jsonb_build_array(OLD.title, NEW.title));
    lines := lines || format('title: "%s" → "%s"', OLD.title, NEW.title);
  END IF;
  IF NEW.description IS DISTINCT FROM OLD.description THEN
    ch := ch || jsonb_build_object('description', jsonb_build_array(OLD.description, NEW.description));
    lines := lines || 'description edited'::text;
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status THEN
    ch := ch || jsonb_build_object('status', jsonb_build_array(OLD.status, NEW.status));
    lines := lines || format('status: %s → %s', @extschema@._status_label(OLD.status),
                             @extschema@._status_label(NEW.status));
  END IF;
  IF NEW.priority IS DISTINCT FROM OLD.priority THEN
    ch := ch || jsonb_build_object('priority', jsonb_build_array(OLD.priority, NEW.priority));
    lines := lines || format('priority: %s → %s', initcap(OLD.priority::text), initcap(NEW.priority::text));
  END IF;
  IF NEW.due_date IS DISTINCT FROM OLD.due_date THEN
    ch := ch || jsonb_build_object('due_date', jsonb_build_array(OLD.due_date, NEW.due_date));
    lines := lines || format('due date: %s → %s', coalesce(to_char(OLD.due_date, 'YYYY-MM-DD'), 'none'),
                             coalesce(to_char(NEW.due_date, 'YYYY-MM-DD'), 'none'));
  END IF;
  IF NEW.team_id IS DISTINCT FROM OLD.team_id THEN
    ch := ch || jsonb_build_object('team_id', jsonb_build_array(OLD.team_id, NEW.team_id));
    lines := lines || format('team: %s → %s',
      CASE WHEN OLD.team_id IS NULL THEN 'none' ELSE coalesce(@extschema@._team_name(OLD.team_id), 'team #' || OLD.team_id) END,
      CASE WHEN NEW.team_id IS NULL THEN 'none' ELSE coalesce(@extschema@._team_name(NEW.team_id), 'team #' || NEW.team_id) END);
  END IF;
  IF (NEW.assignee_user_id, NEW.assignee_team_id) IS DISTINCT FROM (OLD.assignee_user_id, OLD.assignee_team_id) THEN
    ch := ch || jsonb_build_object('assignee', jsonb_build_array(
      @extschema@._assignee_value(OLD.assignee_user_id, OLD.assignee_team_id),
      @extschema@._assignee_value(NEW.assignee_user_id, NEW.assignee_team_id)));
    lines := lines || format('assignee: %s → %s',
      @extschema@._assignee_label(OLD.assignee_user_id, OLD.assignee_team_id),
      @extschema@._assignee_label(NEW.assignee_user_id, NEW.assignee_team_id));
  END IF;
  IF NEW.tags IS DISTINCT FROM OLD.tags THEN
    ch := ch || jsonb_build_object('tags', jsonb_build_array(to_jsonb(OLD.tags), to_jsonb(NEW.tags)));
    lines := lines || format('tags: %s → %s', @extschema@._tags_label(OLD.tags), @extschema@._tags_label(NEW.tags));
  END IF;
  -- kept in the changes (so reopening a task keeps when it was completed),
  -- not repeated in the description: the status line says it
  IF NEW.started_at IS DISTINCT FROM OLD.started_at THEN
    ch := ch || jsonb_build_object('started_at', jsonb_build_array(OLD.started_at, NEW.started_at));
  END IF;
  IF NEW.completed_at IS DISTINCT FROM OLD.completed_at THEN
    ch := ch || jsonb_build_object('completed_at', jsonb_build_array(OLD.completed_at, NEW.completed_at));
  END IF;
  IF cardinality(lines) = 0 THEN
    lines := lines || 'updated'::text;
  END IF;
  INSERT INTO @extschema@.task_events (task_id, actor_id, actor_role, source, kind, changes, description)
  VALUES (NEW.id, @extschema@.current_user_id(), role_name, @extschema@._event_source(), 'updated', ch,
          left(array_to_string(lines, '; '), 10000));
  RETURN NULL;
END
$$;

CREATE TRIGGER tasks_record_history AFTER INSERT OR UPDATE OR DELETE ON @extschema@.tasks
  FOR EACH ROW EXECUTE FUNCTION @extschema@._tasks_record_history();

CREATE FUNCTION @extschema@.task_event_json(e @extschema@.task_events) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT jsonb_build_object(
    'id', e.id, 'task_id', e.task_id, 'at', e.at, 'actor_id', e.actor_id,
    'actor_name', (SELECT u.display_name FROM @extschema@.users u WHERE u.id = e.actor_id),
    'actor_role', CASE WHEN e.actor_id IS NULL THEN e.actor_role END,
    'source', e.source, 'kind', e.kind, 'changes', e.changes, 'description', e.description)
$$;

-- A free-text progress update in the task's history.
CREATE FUNCTION @extschema@.add_update(task_id bigint, description text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  d text := btrim(description, E' \t\r\n');
  e @extschema@.task_events;
BEGIN
  PERFORM @extschema@._require_user();
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = add_update.task_id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  IF d IS NULL OR d = '' THEN PERFORM @extschema@._invalid('description', 'must not be empty'); END IF;
  IF length(d) > 10000 THEN PERFORM @extschema@._invalid('description', 'must be at most 10000 characters'); END IF;
  INSERT INTO @extschema@.task_events (task_id, kind, description)
  VALUES (add_update.task_id, 'progress', d)
  RETURNING * INTO e;
  RETURN @extschema@.task_event_json(e);
END
$$;

-- History of a visible task, newest first: {items, next_cursor}.
-- filter: {limit (1..200, default 50), cursor}.
CREATE FUNCTION @extschema@.task_history(id bigint, filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  k text;
  lim integer;
  cur jsonb;
  last_id bigint;
  items jsonb;
  n integer;
  fhash text := md5('history:' || id);
BEGIN
  PERFORM @extschema@._require_user();
  IF filter IS NULL OR jsonb_typeof(filter) <> 'object' THEN
    PERFORM @extschema@._bad_parameter('filter', 'must be a JSON object');
  END IF;
  FOR k IN SELECT jsonb_object_keys(filter) ORDER BY 1 LOOP
    IF k NOT IN ('limit', 'cursor') THEN
      PERFORM @extschema@._bad_parameter(k, 'is not a known parameter (limit, cursor)');
    END IF;
  END LOOP;
  lim := @extschema@._limit_param(filter -> 'limit');
  cur := @extschema@._cursor_read(filter -> 'cursor', 'history', fhash);
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = task_history.id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  IF cur IS NOT NULL THEN
    IF jsonb_typeof(cur -> 'i') IS DISTINCT FROM 'number' OR (cur ->> 'i') !~ '^[0-9]{1,18}$' THEN
      PERFORM @extschema@._bad_parameter('cursor', 'is not a valid cursor');
    END IF;
    last_id := (cur ->> 'i')::bigint;
  END IF;
  SELECT coalesce(jsonb_agg(@extschema@.task_event_json(e) ORDER BY e.id DESC), '[]'), count(*)
    INTO items, n
    FROM (SELECT * FROM @extschema@.task_events e
           WHERE e.task_id = task_history.id AND (last_id IS NULL OR e.id < last_id)
           ORDER BY e.id DESC LIMIT lim + 1) e;
  IF n > lim THEN
    items := items - lim;
    RETURN jsonb_build_object('items', items, 'next_cursor',
      @extschema@._cursor_make(jsonb_build_object('s', 'history', 'f', fhash,
                                                  'i', items -> (lim - 1) -> 'id')));
  END IF;
  RETURN jsonb_build_object('items', items, 'next_cursor', NULL);
END
$$;

-- ==== extension/sql/72_comments.sql ====
-- Threaded comments: a tree per task through parent_id, edits keep
-- edited_at, deletes leave a tombstone (replies survive), @mentions parsed
-- and stored in comment_mentions (the notifications hang off both tables).

CREATE TABLE @extschema@.comments (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  task_id    bigint NOT NULL REFERENCES @extschema@.tasks ON DELETE CASCADE,
  parent_id  bigint,
  author_id  bigint DEFAULT @extschema@.current_user_id() REFERENCES @extschema@.users ON DELETE SET NULL,
  body       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  edited_at  timestamptz,
  deleted_at timestamptz,
  CONSTRAINT comments_task_id_id_key UNIQUE (task_id, id),
  -- a reply belongs to the same task as its parent, for every door
  CONSTRAINT comments_parent_fkey FOREIGN KEY (task_id, parent_id)
    REFERENCES @extschema@.comments (task_id, id) ON DELETE CASCADE,
  CONSTRAINT comments_body_check CHECK (
    (deleted_at IS NULL AND length(btrim(body)) BETWEEN 1 AND 10000) OR (deleted_at IS NOT NULL AND body = ''))
);
CREATE INDEX comments_thread_idx ON @extschema@.comments (task_id, parent_id, created_at, id);
CREATE INDEX comments_author_id_idx ON @extschema@.comments (author_id);
COMMENT ON TABLE @extschema@.comments IS 'Comments on tasks, threaded through parent_id; deleted ones stay as tombstones.';

CREATE TABLE @extschema@.comment_mentions (
  comment_id bigint NOT NULL REFERENCES @extschema@.comments ON DELETE CASCADE,
  user_id    bigint NOT NULL REFERENCES @extschema@.users ON DELETE CASCADE,
  PRIMARY KEY (comment_id, user_id)
);
CREATE INDEX comment_mentions_user_id_idx ON @extschema@.comment_mentions (user_id);
COMMENT ON TABLE @extschema@.comment_mentions IS
  'Users @mentioned in a comment (only users who can see the task), kept in step with edits.';

ALTER TABLE @extschema@.comments ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.comments FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.comment_mentions ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.comment_mentions FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.comments, @extschema@.comment_mentions FROM PUBLIC;

-- Visible exactly when the task is (the subquery runs under the tasks policy).
CREATE POLICY comments_select ON @extschema@.comments FOR SELECT
  USING (EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = comments.task_id));
CREATE POLICY comments_insert ON @extschema@.comments FOR INSERT
  WITH CHECK (author_id = (SELECT @extschema@.current_user_id())
              AND EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = comments.task_id));
-- Editing and deleting (a tombstone is an UPDATE): the author or an admin.
CREATE POLICY comments_update ON @extschema@.comments FOR UPDATE
  USING ((author_id = (SELECT @extschema@.current_user_id()) OR (SELECT @extschema@.current_user_is_admin()))
         AND EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = comments.task_id));
CREATE POLICY comment_mentions_select ON @extschema@.comment_mentions FOR SELECT
  USING (EXISTS (SELECT FROM @extschema@.comments c WHERE c.id = comment_mentions.comment_id));
GRANT SELECT ON @extschema@.comments, @extschema@.comment_mentions TO taskmgmt_client;
GRANT INSERT (task_id, parent_id, body), UPDATE (body, deleted_at) ON @extschema@.comments TO taskmgmt_client;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.comments', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.comments_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.comment_mentions', '');

-- Bookkeeping for every door: the author is whoever is signed in (a DBA
-- without sign-in may name one), times are the server's, a tombstone loses
-- its body and stays a tombstone, the parent must be visible to the writer.
CREATE FUNCTION @extschema@._comments_before_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  uid bigint := @extschema@.current_user_id();
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF uid IS NOT NULL THEN
      NEW.author_id := uid;
      -- the parent must be a comment the writer can see (RLS applies here)
      IF NEW.parent_id IS NOT NULL AND NOT EXISTS (
           SELECT FROM @extschema@.comments c WHERE c.id = NEW.parent_id AND c.task_id = NEW.task_id) THEN
        PERFORM @extschema@._invalid('parent_id', 'is not a comment on this task');
      END IF;
    END IF;
    NEW.created_at := now();
    NEW.edited_at := NULL;
    NEW.deleted_at := NULL;
    NEW.body := btrim(NEW.body, E' \t\r\n');
    RETURN NEW;
  END IF;
  -- a DBA without sign-in is trusted (as for tasks)
  IF uid IS NOT NULL AND (NEW.task_id, NEW.parent_id, NEW.author_id, NEW.created_at)
     IS DISTINCT FROM (OLD.task_id, OLD.parent_id, OLD.author_id, OLD.created_at) THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a comment''s task, parent, author and time cannot change';
  END IF;
  IF OLD.deleted_at IS NOT NULL THEN
    IF NEW.deleted_at IS NULL OR NEW.body <> '' THEN
      PERFORM @extschema@._invalid('body', 'cannot be changed on a deleted comment');
    END IF;
    NEW := OLD;
    RETURN NEW;
  END IF;
  IF NEW.deleted_at IS NOT NULL THEN
    NEW.deleted_at := now();
    NEW.body := '';
    NEW.edited_at := OLD.edited_at;
    RETURN NEW;
  END IF;
  NEW.body := btrim(NEW.body, E' \t\r\n');
  IF NEW.body IS DISTINCT FROM OLD.body THEN
    NEW.edited_at := now();
  ELSE
    NEW.edited_at := OLD.edited_at;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER comments_before_write BEFORE INSERT OR UPDATE ON @extschema@.comments
  FOR EACH ROW EXECUTE FUNCTION @extschema@._comments_before_write();

-- @mentions in a text: '@ada@example.com' (an email, case-insensitive) or
-- '@ada' (the part of an email before '@', when exactly one active user has
-- it).  Returns the user ids, each once.
CREATE FUNCTION @extschema@._mentioned_user_ids(body text) RETURNS bigint[]
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  WITH tokens AS (
    SELECT DISTINCT lower(rtrim(m[1], '.-')) AS tok
    FROM regexp_matches(body, '(?:^|[^A-Za-z0-9_.@])@([A-Za-z0-9._%+-]+(?:@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)?)', 'g') AS m
  )
  SELECT coalesce(array_agg(DISTINCT u.id ORDER BY u.id), '{}')
  FROM tokens
  JOIN LATERAL (
    SELECT x.id FROM @extschema@.users x
    WHERE NOT x.disabled
      AND CASE WHEN tokens.tok LIKE '%@%' THEN lower(x.email) = tokens.tok
               ELSE lower(split_part(x.email, '@', 1)) = tokens.tok END
  ) u ON (tokens.tok LIKE '%@%'
          OR (SELECT count(*) FROM @extschema@.users y
              WHERE NOT y.disabled AND lower(split_part(y.email, '@', 1)) = tokens.tok) = 1)
$$;

-- Keeps comment_mentions in step with the body.  Only users who can see
-- the task are recorded (a mention must not announce a task to an outsider);
-- this mirrors the tasks_select policy for another user, which RLS itself
-- cannot evaluate.  SECURITY DEFINER: clients never write mentions directly.
CREATE FUNCTION @extschema@._comments_sync_mentions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  wanted bigint[];
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.body IS NOT DISTINCT FROM OLD.body THEN
    RETURN NULL;
  END IF;
  SELECT coalesce(array_agg(u), '{}') INTO wanted
  FROM unnest(@extschema@._mentioned_user_ids(NEW.body)) u
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
CREATE TRIGGER comments_sync_mentions AFTER INSERT OR UPDATE OF body ON @extschema@.comments
  FOR EACH ROW EXECUTE FUNCTION @extschema@._comments_sync_mentions();

CREATE FUNCTION @extschema@.comment_json(c @extschema@.comments, depth integer DEFAULT NULL) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object('depth', depth)) || jsonb_build_object(
    'id', c.id, 'task_id', c.task_id, 'parent_id', c.parent_id, 'author_id', c.author_id,
    'author_name', (SELECT u.display_name FROM @extschema@.users u WHERE u.id = c.author_id),
    'body', CASE WHEN c.deleted_at IS NULL THEN c.body END,
    'created_at', c.created_at, 'edited_at', c.edited_at,
    'deleted', c.deleted_at IS NOT NULL,
    'mentions', coalesce((SELECT jsonb_agg(m.user_id ORDER BY m.user_id)
                          FROM @extschema@.comment_mentions m WHERE m.comment_id = c.id), '[]'))
$$;

CREATE FUNCTION @extschema@._comment_body(body text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  b text := btrim(body, E' \t\r\n');
BEGIN
  IF b IS NULL OR b = '' THEN PERFORM @extschema@._invalid('body', 'must not be empty'); END IF;
  IF length(b) > 10000 THEN PERFORM @extschema@._invalid('body', 'must be at most 10000 characters'); END IF;
  RETURN b;
END
$$;

CREATE FUNCTION @extschema@.add_comment(task_id bigint, body text, parent_id bigint DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  c @extschema@.comments;
BEGIN
  PERFORM @extschema@._require_user();
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = add_comment.task_id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  INSERT INTO @extschema@.comments (task_id, parent_id, body)
  VALUES (add_comment.task_id, add_comment.parent_id, @extschema@._comment_body(body))
  RETURNING * INTO c;
  RETURN @extschema@.comment_json(c);
END
$$;

-- Author or admin; others who see the comment get 42501, others 404.
CREATE FUNCTION @extschema@._comment_for_change(id bigint) RETURNS @extschema@.comments
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  c @extschema@.comments;
BEGIN
  PERFORM @extschema@._require_user();
  SELECT * INTO c FROM @extschema@.comments x WHERE x.id = _comment_for_change.id;
  IF NOT FOUND THEN PERFORM @extschema@._not_found('comment'); END IF;
  IF c.author_id IS DISTINCT FROM @extschema@.current_user_id() AND NOT @extschema@.current_user_is_admin() THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only the author or an admin can change this comment';
  END IF;
  RETURN c;
END
$$;

CREATE FUNCTION @extschema@.update_comment(id bigint, body text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  c @extschema@.comments := @extschema@._comment_for_change(id);
BEGIN
  IF c.deleted_at IS NOT NULL THEN
    PERFORM @extschema@._invalid('body', 'cannot be changed on a deleted comment');
  END IF;
  UPDATE @extschema@.comments x SET body = @extschema@._comment_body(update_comment.body)
   WHERE x.id = c.id RETURNING * INTO c;
  RETURN @extschema@.comment_json(c);
END
$$;

-- Leaves a tombstone (deleted, no body) so that replies stay in place.
-- Deleting a deleted comment changes nothing.
CREATE FUNCTION @extschema@.delete_comment(id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  c @extschema@.comments := @extschema@._comment_for_change(id);
BEGIN
  IF c.deleted_at IS NULL THEN
    UPDATE @extschema@.comments x SET deleted_at = now(), body = '' WHERE x.id = c.id;
  END IF;
END
$$;

-- The thread in display order: each reply right under its parent, siblings
-- by time, with depth (0 for top-level comments).  One pass over the task's
-- comments (index comments_thread_idx), sorted by a path of sibling ranks.
CREATE FUNCTION @extschema@.comment_thread(task_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  result jsonb;
BEGIN
  PERFORM @extschema@._require_user();
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = comment_thread.task_id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  WITH RECURSIVE ranked AS (
    SELECT c.*, row_number() OVER (PARTITION BY c.parent_id ORDER BY c.created_at, c.id)::int AS rn
    FROM @extschema@.comments c WHERE c.task_id = comment_thread.task_id
  ), tree AS (
    SELECT r.id, ARRAY[r.rn] AS path, 0 AS depth FROM ranked r WHERE r.parent_id IS NULL
    UNION ALL
    SELECT r.id, tree.path || r.rn, tree.depth + 1
    FROM tree JOIN ranked r ON r.parent_id = tree.id
  )
  SELECT coalesce(jsonb_agg(@extschema@.comment_json(c, tree.depth) ORDER BY tree.path), '[]')
    INTO result
    FROM tree JOIN @extschema@.comments c ON c.id = tree.id;
  RETURN result;
END
$$;

-- ==== extension/sql/73_list.sql ====
-- Listing tasks: filter, sort, keyset pagination.
--
-- _filter_normalize() validates a filter (HTTP query parameters arrive as
-- JSON strings; psql users may also pass arrays, numbers and booleans) into
-- a canonical jsonb; _filter_where() / _order_sql() turn it into SQL whose
-- every value is a quoted literal; the query runs as the caller, so
-- row-level security decides what is visible.
--
-- Sort keys are index-friendly expressions without NULLs (a missing due
-- date sorts as +infinity ascending and -infinity descending: NULLS LAST
-- both ways), so the keyset condition is a plain row comparison that a
-- btree can start from: page 100 costs what page 1 costs.  The final
-- tiebreak is id, in the direction of the last sort key.

-- The due date as a sort key: a missing date sorts last both ways.  Written
-- as CASE (inlined; no function call, so the planner counts it as
-- leakproof) so that a keyset condition on it may be an index condition
-- under row-level security; coalesce() counts as leaky to the planner.
CREATE FUNCTION @extschema@._due_asc(d date) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN d IS NULL THEN 'infinity'::date ELSE d END
$$;
CREATE FUNCTION @extschema@._due_desc(d date) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN d IS NULL THEN '-infinity'::date ELSE d END
$$;

CREATE INDEX tasks_assignee_due_idx ON @extschema@.tasks
  (assignee_user_id, @extschema@._due_asc(due_date), id) WHERE assignee_user_id IS NOT NULL;
CREATE INDEX tasks_assignee_team_due_idx ON @extschema@.tasks
  (assignee_team_id, @extschema@._due_asc(due_date), id) WHERE assignee_team_id IS NOT NULL;
CREATE INDEX tasks_created_at_idx ON @extschema@.tasks (created_at, id);

-- Words (status, priority, tag, sort) as a comma-separated string or a
-- JSON array of strings; trimmed, without empties or duplicates.
CREATE FUNCTION @extschema@._list_param(v jsonb, param text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  items text[];
  result text[] := '{}';
  s text;
BEGIN
  IF jsonb_typeof(v) = 'string' THEN
    items := string_to_array(v #>> '{}', ',');
  ELSIF jsonb_typeof(v) = 'array' AND NOT EXISTS (
          SELECT FROM jsonb_array_elements(v) e WHERE jsonb_typeof(e) <> 'string') THEN
    SELECT coalesce(array_agg(e ORDER BY n), '{}') INTO items FROM jsonb_array_elements_text(v) WITH ORDINALITY AS x(e, n);
  ELSE
    PERFORM @extschema@._bad_parameter(param, 'must be a comma-separated list');
  END IF;
  FOREACH s IN ARRAY coalesce(items, '{}') LOOP
    s := btrim(s);
    IF s = '' THEN PERFORM @extschema@._bad_parameter(param, 'must not contain empty items'); END IF;
    IF NOT s = ANY (result) THEN result := result || s; END IF;
  END LOOP;
  IF cardinality(result) = 0 THEN PERFORM @extschema@._bad_parameter(param, 'must not be empty'); END IF;
  RETURN result;
END
$$;

CREATE FUNCTION @extschema@._id_param(v jsonb, param text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  IF jsonb_typeof(v) NOT IN ('number', 'string') OR (v #>> '{}') !~ '^[0-9]{1,18}$' THEN
    PERFORM @extschema@._bad_parameter(param, 'must be a positive integer id');
  END IF;
  RETURN (v #>> '{}')::bigint;
END
$$;

CREATE FUNCTION @extschema@._date_param(v jsonb, param text) RETURNS date
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  IF jsonb_typeof(v) <> 'string' OR (v #>> '{}') !~ '^\d{4}-\d{2}-\d{2}$' THEN
    PERFORM @extschema@._bad_parameter(param, 'must be a date in the form YYYY-MM-DD');
  END IF;
  BEGIN
    RETURN (v #>> '{}')::date;
  EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
    PERFORM @extschema@._bad_parameter(param, 'is not a valid date');
  END;
  RETURN NULL;
END
$$;

CREATE FUNCTION @extschema@._bool_param(v jsonb, param text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  IF jsonb_typeof(v) = 'boolean' THEN RETURN v::text::boolean; END IF;
  IF jsonb_typeof(v) = 'string' AND lower(v #>> '{}') IN ('true', 'false') THEN
    RETURN lower(v #>> '{}')::boolean;
  END IF;
  PERFORM @extschema@._bad_parameter(param, 'must be true or false');
  RETURN NULL;
END
$$;

-- The sortable fields and their SQL (ascending, descending) and type.
CREATE FUNCTION @extschema@._sort_field(field text, descending boolean, OUT expr text, OUT typ text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE field
           WHEN 'due_date' THEN CASE WHEN descending THEN '@extschema@._due_desc(t.due_date)'
                                     ELSE '@extschema@._due_asc(t.due_date)' END
           ELSE 't.' || field END,
         CASE field
           WHEN 'priority' THEN '@extschema@.task_priority' WHEN 'status' THEN '@extschema@.task_status'
           WHEN 'due_date' THEN 'date' WHEN 'title' THEN 'text' ELSE 'timestamptz' END
$$;

-- Validates a list filter into canonical form:
--   {status: [..], assignee: "me"|"none"|"user:N"|"team:N", team: N,
--    priority: [..], tag: [..], tag_mode: "any"|"all", due_before, due_after,
--    overdue: bool, q: text, sort: [[field, "asc"|"desc"], ..], limit: N,
--    cursor: text}
-- {"view": NAME} (or "default") starts from a saved view; keys given next
-- to it override the view's.  Errors: TM400 with COLUMN = the parameter.
CREATE FUNCTION @extschema@._filter_normalize(filter jsonb, extra_keys text[] DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  known constant text[] := '{status,assignee,team,priority,tag,tag_mode,due_before,due_after,overdue,q,sort,limit,cursor,view}';
  f jsonb := '{}';
  k text;
  v jsonb;
  items text[];
  s text;
  m text[];
  sorts jsonb := '[]';
  seen text[] := '{}';
BEGIN
  IF filter IS NULL OR filter = 'null' THEN filter := '{}'; END IF;
  IF jsonb_typeof(filter) <> 'object' THEN
    PERFORM @extschema@._bad_parameter('filter', 'must be a JSON object');
  END IF;
  IF filter ? 'view' AND filter -> 'view' <> 'null' THEN
    IF jsonb_typeof(filter -> 'view') <> 'string' THEN
      PERFORM @extschema@._bad_parameter('view', 'must be the name of a saved view');
    END IF;
    filter := @extschema@._view_filter(filter ->> 'view') || (filter - 'view');
  END IF;
  filter := filter - 'view';
  FOR k, v IN SELECT * FROM jsonb_each(filter) ORDER BY 1 LOOP
    IF NOT (k = ANY (known) OR k = ANY (extra_keys)) THEN
      PERFORM @extschema@._bad_parameter(k, 'is not a known parameter');
    END IF;
    CONTINUE WHEN v = 'null' OR (jsonb_typeof(v) = 'string' AND btrim(v #>> '{}') = '');
    CASE k
      WHEN 'status' THEN
        items := @extschema@._list_param(v, k);
        IF NOT items <@ enum_range(NULL::@extschema@.task_status)::text[] THEN
          PERFORM @extschema@._bad_parameter(k, 'must be a list of todo, in_progress, done, canceled');
        END IF;
        f := f || jsonb_build_object(k, (SELECT jsonb_agg(x ORDER BY x) FROM unnest(items) x));
      WHEN 'priority' THEN
        items := @extschema@._list_param(v, k);
        IF NOT items <@ enum_range(NULL::@extschema@.task_priority)::text[] THEN
          PERFORM @extschema@._bad_parameter(k, 'must be a list of none, low, medium, high, urgent');
        END IF;
        f := f || jsonb_build_object(k, (SELECT jsonb_agg(x ORDER BY x) FROM unnest(items) x));
      WHEN 'tag' THEN
        items := @extschema@._list_param(v, k);
        IF EXISTS (SELECT FROM unnest(items) x WHERE length(x) > 50) OR cardinality(items) > 20 THEN
          PERFORM @extschema@._bad_parameter(k, 'must be at most 20 tags of at most 50 characters');
        END IF;
        f := f || jsonb_build_object(k, (SELECT jsonb_agg(DISTINCT lower(x)) FROM unnest(items) x));
      WHEN 'tag_mode' THEN
        IF jsonb_typeof(v) <> 'string' OR lower(v #>> '{}') NOT IN ('any', 'all') THEN
          PERFORM @extschema@._bad_parameter(k, 'must be any or all');
        END IF;
        f := f || jsonb_build_object(k, lower(v #>> '{}'));
      WHEN 'assignee' THEN
        s := lower(btrim(v #>> '{}'));
        m := regexp_match(s, '^(user|team):([0-9]{1,18})$');
        IF jsonb_typeof(v) <> 'string' OR NOT (s IN ('me', 'none') OR m IS NOT NULL) THEN
          PERFORM @extschema@._bad_parameter(k, 'must be me, none, user:ID or team:ID');
        END IF;
        f := f || jsonb_build_object(k, CASE WHEN m IS NULL THEN s ELSE m[1] || ':' || m[2]::bigint END);
      WHEN 'team' THEN
        f := f || jsonb_build_object(k, @extschema@._id_param(v, k));
      WHEN 'due_before', 'due_after' THEN
        f := f || jsonb_build_object(k, @extschema@._date_param(v, k));
      WHEN 'overdue' THEN
        f := f || jsonb_build_object(k, @extschema@._bool_param(v, k));
      WHEN 'q' THEN
        IF jsonb_typeof(v) <> 'string' OR btrim(v #>> '{}') = '' THEN
          PERFORM @extschema@._bad_parameter(k, 'must be a non-empty search text');
        END IF;
        IF length(v #>> '{}') > 500 THEN
          PERFORM @extschema@._bad_parameter(k, 'must be at most 500 characters');
        END IF;
        f := f || jsonb_build_object(k, btrim(v #>> '{}'));
      WHEN 'sort' THEN
        FOREACH s IN ARRAY @extschema@._list_param(v, k) LOOP
          m := regexp_match(s, '^([-+]?)(priority|due_date|created_at|updated_at|title|status)$');
          IF m IS NULL THEN
            PERFORM @extschema@._bad_parameter(k,
              'must be a list of priority, due_date, created_at, updated_at, title, status, each optionally prefixed with - for descending');
          END IF;
          IF m[2] = ANY (seen) THEN
            PERFORM @extschema@._bad_parameter(k, 'names ' || m[2] || ' twice');
          END IF;
          seen := seen || m[2];
          sorts := sorts || jsonb_build_array(jsonb_build_array(m[2], CASE WHEN m[1] = '-' THEN 'desc' ELSE 'asc' END));
        END LOOP;
        f := f || jsonb_build_object(k, sorts);
      WHEN 'limit' THEN
        f := f || jsonb_build_object(k, @extschema@._limit_param(v));
      WHEN 'cursor' THEN
        IF jsonb_typeof(v) <> 'string' THEN
          PERFORM @extschema@._bad_parameter(k, 'must be a cursor string from next_cursor');
        END IF;
        f := f || jsonb_build_object(k, v);
      ELSE
        f := f || jsonb_build_object(k, v);  -- extra keys: validated by the caller
    END CASE;
  END LOOP;
  IF f ? 'tag_mode' AND NOT f ? 'tag' THEN
    f := f - 'tag_mode';
  END IF;
  RETURN f;
END
$$;

-- Identifies the meaning of a filter (not its page): what a cursor is bound to.
CREATE FUNCTION @extschema@._filter_hash(f jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT md5((f - 'limit' - 'cursor')::text)
$$;

-- The WHERE clause of a normalized filter (values as quoted literals).
CREATE FUNCTION @extschema@._filter_where(f jsonb) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  conds text[] := '{true}';
  uid bigint := @extschema@.current_user_id();
  a text := f ->> 'assignee';
  teams bigint[];
BEGIN
  IF f ? 'status' THEN
    conds := conds || format('t.status = ANY (%L::@extschema@.task_status[])',
                             ARRAY(SELECT jsonb_array_elements_text(f -> 'status')));
  END IF;
  IF f ? 'priority' THEN
    conds := conds || format('t.priority = ANY (%L::@extschema@.task_priority[])',
                             ARRAY(SELECT jsonb_array_elements_text(f -> 'priority')));
  END IF;
  IF a = 'me' THEN
    conds := conds || format('t.assignee_user_id = %s', coalesce(uid, 0));
  ELSIF a = 'none' THEN
    conds := conds || 't.assignee_user_id IS NULL AND t.assignee_team_id IS NULL'::text;
  ELSIF a LIKE 'user:%' THEN
    conds := conds || format('t.assignee_user_id = %s', split_part(a, ':', 2)::bigint);
  ELSIF a LIKE 'team:%' THEN
    conds := conds || format('t.assignee_team_id = %s', split_part(a, ':', 2)::bigint);
  END IF;
  IF f ? 'team' THEN
    conds := conds || format('t.team_id = %s', (f ->> 'team')::bigint);
  END IF;
  IF f ? 'tag' THEN
    conds := conds || format(CASE WHEN f ->> 'tag_mode' = 'all' THEN 't.tags @> %L::text[]' ELSE 't.tags && %L::text[]' END,
                             ARRAY(SELECT jsonb_array_elements_text(f -> 'tag')));
  END IF;
  IF f ? 'due_before' THEN
    conds := conds || format('t.due_date < %L::date', f ->> 'due_before');
  END IF;
  IF f ? 'due_after' THEN
    conds := conds || format('t.due_date > %L::date', f ->> 'due_after');
  END IF;
  IF f ? 'overdue' THEN
    conds := conds || format(CASE WHEN (f ->> 'overdue')::boolean THEN '%s' ELSE 'NOT coalesce(%s, false)' END,
      '(t.due_date < current_date AND t.status NOT IN (''done'', ''canceled''))');
  END IF;
  IF f ? 'q' THEN
    conds := conds || format('t.search_vector OPERATOR(@extschema@.@@) websearch_to_tsquery(''english'', %L)', f ->> 'q');
  END IF;
  -- Index paths for the visibility rule.  RLS stays the authority (its
  -- policy is applied on top); this restates the policy's own arms so the
  -- planner can combine the per-arm indexes instead of scanning every task
  -- and filtering by the policy.  Not for admins (who see everything), and
  -- not when an assignee (user or team) or team filter already narrows the
  -- scan through its own index.
  IF uid IS NOT NULL AND coalesce(a, 'none') = 'none' AND NOT f ? 'team' AND NOT @extschema@.current_user_is_admin() THEN
    teams := @extschema@.my_team_ids();
    conds := conds || format(CASE WHEN cardinality(teams) = 0 THEN '(t.creator_id = %1$s OR t.assignee_user_id = %1$s)'
                                  ELSE '(t.creator_id = %1$s OR t.assignee_user_id = %1$s '
                                       'OR t.assignee_team_id = ANY (%2$L::bigint[]) OR t.team_id = ANY (%2$L::bigint[]))' END,
                             uid, teams);
  END IF;
  RETURN array_to_string(conds, ' AND ');
END
$$;

-- The sort of a normalized filter: [[field, dir], ...]; default newest first.
CREATE FUNCTION @extschema@._filter_sort(f jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(f -> 'sort', '[["created_at", "desc"]]')
$$;

-- ORDER BY, the keys of a row (for its cursor), and the keyset condition
-- "after this cursor" for a sort.
CREATE FUNCTION @extschema@._order_sql(sorts jsonb, OUT order_by text, OUT key_list text, OUT last_desc boolean)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  s jsonb;
  e text;
  parts text[] := '{}';
  keys text[] := '{}';
BEGIN
  FOR s IN SELECT * FROM jsonb_array_elements(sorts) LOOP
    e := (@extschema@._sort_field(s ->> 0, s ->> 1 = 'desc')).expr;
    parts := parts || (e || CASE WHEN s ->> 1 = 'desc' THEN ' DESC' ELSE '' END);
    keys := keys || e;
    last_desc := s ->> 1 = 'desc';
  END LOOP;
  order_by := array_to_string(parts || ('t.id' || CASE WHEN last_desc THEN ' DESC' ELSE '' END), ', ');
  key_list := array_to_string(keys, ', ');
END
$$;

CREATE FUNCTION @extschema@._keyset_sql(sorts jsonb, cur jsonb) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  n integer := jsonb_array_length(sorts);
  exprs text[] := '{}';
  vals text[] := '{}';
  ops text[] := '{}';
  f record;
  i integer;
  j integer;
  ors text[] := '{}';
  ands text[];
  last_desc boolean;
BEGIN
  IF cur IS NULL THEN RETURN 'true'; END IF;
  IF jsonb_typeof(cur -> 'k') IS DISTINCT FROM 'array' OR jsonb_array_length(cur -> 'k') <> n THEN
    PERFORM @extschema@._bad_parameter('cursor', 'is not a valid cursor');
  END IF;
  IF jsonb_typeof(cur -> 'i') IS DISTINCT FROM 'number' OR (cur ->> 'i') !~ '^[0-9]{1,18}$' THEN
    PERFORM @extschema@._bad_parameter('cursor', 'is not a valid cursor');
  END IF;
  FOR i IN 0 .. n - 1 LOOP
    f := @extschema@._sort_field(sorts -> i ->> 0, sorts -> i ->> 1 = 'desc');
    -- a cursor is signed, but make sure each value has its key's type
    BEGIN
      CASE f.typ
        WHEN 'date' THEN PERFORM (cur -> 'k' ->> i)::date;
        WHEN 'timestamptz' THEN PERFORM (cur -> 'k' ->> i)::timestamptz;
        WHEN 'text' THEN NULL;
        WHEN '@extschema@.task_priority' THEN PERFORM (cur -> 'k' ->> i)::@extschema@.task_priority;
        ELSE PERFORM (cur -> 'k' ->> i)::@extschema@.task_status;
      END CASE;
      IF cur -> 'k' ->> i IS NULL THEN RAISE invalid_text_representation; END IF;
    EXCEPTION WHEN data_exception THEN
      PERFORM @extschema@._bad_parameter('cursor', 'is not a valid cursor');
    END;
    exprs := exprs || f.expr;
    vals := vals || format('%L::%s', cur -> 'k' ->> i, f.typ);
    ops := ops || CASE WHEN sorts -> i ->> 1 = 'desc' THEN '<' ELSE '>' END;
    last_desc := sorts -> i ->> 1 = 'desc';
  END LOOP;
  exprs := exprs || 't.id'::text;
  vals := vals || format('%s', (cur ->> 'i')::bigint);
  ops := ops || CASE WHEN last_desc THEN '<' ELSE '>' END;
  IF (SELECT count(DISTINCT o) FROM unnest(ops) o) = 1 THEN
    -- one direction: a row comparison, which a btree index can start from
    RETURN format('(%s) %s (%s)', array_to_string(exprs, ', '), ops[1], array_to_string(vals, ', '));
  END IF;
  FOR i IN 1 .. n + 1 LOOP
    ands := '{}';
    FOR j IN 1 .. i - 1 LOOP
      ands := ands || format('%s = %s', exprs[j], vals[j]);
    END LOOP;
    ands := ands || format('%s %s %s', exprs[i], ops[i], vals[i]);
    ors := ors || ('(' || array_to_string(ands, ' AND ') || ')');
  END LOOP;
  RETURN '(' || array_to_string(ors, ' OR ') || ')';
END
$$;

-- Reads and checks the cursor of a normalized filter (NULL: first page).
CREATE FUNCTION @extschema@._filter_cursor(f jsonb, scope text) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT @extschema@._cursor_read(f -> 'cursor', scope, @extschema@._filter_hash(f))
$$;

-- Every visible task matching a list filter, in its sort order, without
-- pagination (limit and cursor are validated, then ignored).  Used by
-- list_tasks and by the export and reports.
CREATE FUNCTION @extschema@.filter_tasks(filter jsonb DEFAULT '{}') RETURNS SETOF @extschema@.tasks
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  f jsonb;
BEGIN
  PERFORM @extschema@._require_user();
  f := @extschema@._filter_normalize(filter);
  PERFORM @extschema@._filter_cursor(f, 'list');
  RETURN QUERY EXECUTE format('SELECT t.* FROM @extschema@.tasks t WHERE %s ORDER BY %s',
                              @extschema@._filter_where(f),
                              (@extschema@._order_sql(@extschema@._filter_sort(f))).order_by);
END
$$;

-- The statement list_tasks runs for a normalized filter, a verified
-- cursor (or NULL) and a row count: rows (task, keys) in order.  Separate so
-- that tests can EXPLAIN exactly what runs.
CREATE FUNCTION @extschema@._list_sql(f jsonb, cur jsonb, n integer) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  sorts jsonb := @extschema@._filter_sort(f);
  o record := @extschema@._order_sql(sorts);
BEGIN
  RETURN format('SELECT t AS task, jsonb_build_array(%s) AS keys FROM @extschema@.tasks t WHERE %s AND %s ORDER BY %s LIMIT %s',
                o.key_list, @extschema@._filter_where(f), @extschema@._keyset_sql(sorts, cur), o.order_by, n);
END
$$;

-- GET /tasks: {items: [task...], next_cursor}.
CREATE FUNCTION @extschema@.list_tasks(filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  f jsonb;
  cur jsonb;
  lim integer;
  rec record;
  items jsonb[] := '{}';
  last_keys jsonb;
  last_id bigint;
  more boolean := false;
BEGIN
  PERFORM @extschema@._require_user();
  f := @extschema@._filter_normalize(filter);
  lim := coalesce((f ->> 'limit')::integer, 50);
  cur := @extschema@._filter_cursor(f, 'list');
  FOR rec IN EXECUTE @extschema@._list_sql(f, cur, lim + 1) LOOP
    IF cardinality(items) = lim THEN
      more := true;
      EXIT;
    END IF;
    items := items || @extschema@.task_json(rec.task);
    last_keys := rec.keys;
    last_id := (rec.task).id;
  END LOOP;
  RETURN jsonb_build_object(
    'items', to_jsonb(items),
    'next_cursor', CASE WHEN more THEN @extschema@._cursor_make(jsonb_build_object(
      's', 'list', 'f', @extschema@._filter_hash(f), 'k', last_keys, 'i', last_id)) END);
END
$$;

-- ==== extension/sql/74_search.sql ====
-- Full-text search: a weighted tsvector (title A, tags B, description C)
-- kept by a generated column, a GIN index, websearch_to_tsquery syntax,
-- ranked results with highlighted snippets.
--
-- Row-level security and indexes: the planner only uses a condition as an
-- index condition ahead of the RLS policy when its operator is LEAKPROOF,
-- and the built-in tsvector @@ tsquery is not marked so.  Searching would
-- then read every task and filter.  The extension therefore defines its own
-- @@ over the same C function, marked LEAKPROOF (it returns a boolean and
-- raises no error that depends on the data), and a GIN operator class with
-- the built-in support functions, so searches start from the GIN index and
-- RLS still filters every candidate before anything else sees it (ranking
-- and snippets run on visible rows only).

CREATE FUNCTION @extschema@._task_document(title text, tags text[], description text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
      || setweight(to_tsvector('english'::regconfig, coalesce(array_to_string(tags, ' '), '')), 'B')
      || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')
$$;

ALTER TABLE @extschema@.tasks ADD COLUMN search_vector tsvector
  GENERATED ALWAYS AS (@extschema@._task_document(title, tags, description)) STORED;

CREATE FUNCTION @extschema@._ts_match(tsvector, tsquery) RETURNS boolean
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'ts_match_vq';

CREATE OPERATOR @extschema@.@@ (
  LEFTARG = tsvector, RIGHTARG = tsquery, FUNCTION = @extschema@._ts_match,
  RESTRICT = tsmatchsel, JOIN = tsmatchjoinsel);

CREATE OPERATOR CLASS @extschema@.tsvector_rls_ops FOR TYPE tsvector USING gin AS
  OPERATOR 1 @extschema@.@@ (tsvector, tsquery),
  FUNCTION 1 gin_cmp_tslexeme(text, text),
  FUNCTION 2 gin_extract_tsvector(tsvector, internal, internal),
  FUNCTION 3 gin_extract_tsquery(tsvector, internal, smallint, internal, internal, internal, internal),
  FUNCTION 4 gin_tsquery_consistent(internal, smallint, tsvector, integer, internal, internal, internal, internal),
  FUNCTION 5 gin_cmp_prefix(text, text, smallint, internal),
  FUNCTION 6 gin_tsquery_triconsistent(internal, smallint, tsvector, integer, internal, internal, internal),
  STORAGE text;

CREATE INDEX tasks_search_idx ON @extschema@.tasks USING gin (search_vector @extschema@.tsvector_rls_ops);

-- A snippet safe to put into HTML: the text is escaped and the matches are
-- wrapped in <mark>...</mark>.
CREATE FUNCTION @extschema@._snippet(t @extschema@.tasks, query tsquery) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT replace(replace(replace(replace(replace(
           ts_headline('english', t.title || E'\n' || t.description, query,
                       'StartSel=' || chr(2) || ', StopSel=' || chr(3)
                       || ', MaxWords=30, MinWords=10, MaxFragments=2, FragmentDelimiter=" … "'),
           '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), chr(2), '<mark>'), chr(3), '</mark>')
$$;

-- The statement search_tasks runs: rows (task, rank), best first, after
-- the cursor position (or from the start).  Ranks are rounded to 6 digits
-- so that a cursor compares them exactly.
CREATE FUNCTION @extschema@._search_sql(f jsonb, cur jsonb, n integer) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  after text := 'true';
BEGIN
  IF cur IS NOT NULL THEN
    IF jsonb_typeof(cur -> 'r') IS DISTINCT FROM 'number' OR jsonb_typeof(cur -> 'i') IS DISTINCT FROM 'number'
       OR (cur ->> 'i') !~ '^[0-9]{1,18}$' THEN
      PERFORM @extschema@._bad_parameter('cursor', 'is not a valid cursor');
    END IF;
    after := format('(y.rank < %1$s OR (y.rank = %1$s AND y.id > %2$s))', (cur ->> 'r')::numeric, (cur ->> 'i')::bigint);
  END IF;
  -- ranks are computed from the search vector alone; whole rows are read
  -- for the page only
  RETURN format(
      'SELECT t AS task, x.rank FROM ('
      '  SELECT y.id, y.rank FROM ('
      '    SELECT t.id, round(ts_rank(t.search_vector, websearch_to_tsquery(''english'', %1$L))::numeric, 6) AS rank'
      '    FROM @extschema@.tasks t WHERE %2$s) y'
      '  WHERE %3$s ORDER BY y.rank DESC, y.id LIMIT %4$s) x'
      ' JOIN @extschema@.tasks t ON t.id = x.id ORDER BY x.rank DESC, x.id',
      f ->> 'q', @extschema@._filter_where(f), after, n);
END
$$;

-- Typo-tolerant fallback: when full text finds nothing (first page only)
-- and pg_trgm is installed in the database (CREATE EXTENSION pg_trgm; not a
-- hard requirement), titles similar to q by pg_trgm's word_similarity
-- (>= 0.4) among the visible tasks, best first, one page.  Returns NULL
-- without pg_trgm.
CREATE FUNCTION @extschema@._search_fuzzy_sql(f jsonb, n integer) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  trgm text;
BEGIN
  SELECT x.nspname INTO trgm FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace x ON x.oid = e.extnamespace
   WHERE e.extname = 'pg_trgm';
  IF trgm IS NULL THEN
    RETURN NULL;
  END IF;
  RETURN format(
      'SELECT x.t AS task, x.rank FROM ('
      '  SELECT t, round(%1$I.word_similarity(%2$L, t.title)::numeric, 6) AS rank'
      '  FROM @extschema@.tasks t WHERE %3$s) x'
      ' WHERE x.rank >= 0.4 ORDER BY x.rank DESC, (x.t).id LIMIT %4$s',
      trgm, f ->> 'q', @extschema@._filter_where(f - 'q'), n);
END
$$;

-- GET /search: {items: [{task, rank, snippet}], next_cursor}, best first.
-- q uses web-search syntax ("quoted phrase", -word, or).  filter takes the
-- list parameters (tag, tag_mode, status, assignee, ..., limit, cursor)
-- except sort and q.  Ranking and snippets only ever see visible rows: the
-- RLS policy filters the candidates first (ts_rank is not leakproof).
-- When nothing matches and pg_trgm is installed, titles close to q are
-- returned instead, marked "fuzzy": true (one page, no cursor).
CREATE FUNCTION @extschema@.search_tasks(q text, filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  f jsonb;
  query tsquery;
  cur jsonb;
  lim integer;
  rec record;
  items jsonb[] := '{}';
  last_rank numeric;
  last_id bigint;
  more boolean := false;
BEGIN
  PERFORM @extschema@._require_user();
  IF filter IS NULL OR filter = 'null' THEN filter := '{}'; END IF;
  IF jsonb_typeof(filter) = 'object' THEN
    IF filter ? 'sort' THEN
      PERFORM @extschema@._bad_parameter('sort', 'is not supported by search (results are ranked)');
    END IF;
    IF filter ? 'q' THEN
      PERFORM @extschema@._bad_parameter('q', 'is given as the first argument');
    END IF;
  END IF;
  IF q IS NULL OR btrim(q) = '' THEN
    PERFORM @extschema@._bad_parameter('q', 'must be a non-empty search text');
  END IF;
  f := @extschema@._filter_normalize(filter || jsonb_build_object('q', q));
  lim := coalesce((f ->> 'limit')::integer, 50);
  cur := @extschema@._filter_cursor(f, 'search');
  query := websearch_to_tsquery('english', f ->> 'q');
  IF numnode(query) > 0 THEN
    FOR rec IN EXECUTE @extschema@._search_sql(f, cur, lim + 1) LOOP
      IF cardinality(items) = lim THEN
        more := true;
        EXIT;
      END IF;
      items := items || jsonb_build_object('task', @extschema@.task_json(rec.task), 'rank', rec.rank,
                                           'snippet', @extschema@._snippet(rec.task, query));
      last_rank := rec.rank;
      last_id := (rec.task).id;
    END LOOP;
  END IF;
  IF cardinality(items) = 0 AND cur IS NULL AND @extschema@._search_fuzzy_sql(f, lim) IS NOT NULL THEN
    FOR rec IN EXECUTE @extschema@._search_fuzzy_sql(f, lim) LOOP
      items := items || jsonb_build_object('task', @extschema@.task_json(rec.task), 'rank', rec.rank,
        'snippet', replace(replace(replace((rec.task).title, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'));
    END LOOP;
    IF cardinality(items) > 0 THEN
      RETURN jsonb_build_object('items', to_jsonb(items), 'next_cursor', NULL, 'fuzzy', true);
    END IF;
  END IF;
  RETURN jsonb_build_object(
    'items', to_jsonb(items),
    'next_cursor', CASE WHEN more THEN @extschema@._cursor_make(jsonb_build_object(
      's', 'search', 'f', @extschema@._filter_hash(f), 'r', last_rank, 'i', last_id)) END);
END
$$;

-- ==== extension/sql/75_views.sql ====
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
GRANT INSERT (name, filter, is_default), UPDATE (name, filter, is_default, updated_at)
  ON @extschema@.saved_views TO taskmgmt_client;
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
    UPDATE @extschema@.saved_views x SET is_default = false, updated_at = now()
     WHERE x.user_id = uid AND x.is_default AND lower(x.name) <> lower(n);
  END IF;
  UPDATE @extschema@.saved_views x
     SET name = n, filter = save_view.filter, is_default = coalesce(save_view.is_default, false), updated_at = now()
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
  UPDATE @extschema@.saved_views x SET is_default = false, updated_at = now()
   WHERE x.is_default AND (set_default_view.name IS NULL OR lower(x.name) <> lower(btrim(set_default_view.name)));
  IF set_default_view.name IS NULL THEN
    RETURN NULL;
  END IF;
  UPDATE @extschema@.saved_views x SET is_default = true, updated_at = now()
   WHERE lower(x.name) = lower(btrim(set_default_view.name)) RETURNING * INTO v;
  RETURN @extschema@.saved_view_json(v);
END
$$;

-- ==== extension/sql/80_notifications.sql ====
-- In-app notifications: the table, who gets what, preferences, the commit-time
-- id assignment that makes "catch up since id N" safe, and the client API.
--
-- Security model: only trigger functions run as the owner (SECURITY DEFINER);
-- a trigger function cannot be called directly, so no client can make the
-- system notify or email anyone.  The helpers they use are SECURITY INVOKER and
-- fail with "permission denied" when a client calls them directly.

CREATE TABLE @extschema@.notifications (
  -- Drawn from notifications_id_seq at commit by _notifications_publish(),
  -- NULL before (see there).  One sequence: unique across users.
  id         bigint,
  user_id    bigint NOT NULL REFERENCES @extschema@.users ON DELETE CASCADE,
  event      text NOT NULL CHECK (event IN ('assigned', 'updated', 'commented', 'mentioned', 'due_soon', 'overdue')),
  task_id    bigint NOT NULL REFERENCES @extschema@.tasks ON DELETE CASCADE,
  actor_id   bigint REFERENCES @extschema@.users ON DELETE SET NULL,
  comment_id bigint,
  message    text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  read_at    timestamptz
);
CREATE SEQUENCE @extschema@.notifications_id_seq OWNED BY @extschema@.notifications.id;
CREATE UNIQUE INDEX notifications_user_id_idx ON @extschema@.notifications (user_id, id);
CREATE INDEX notifications_unread_idx ON @extschema@.notifications (user_id, id) WHERE read_at IS NULL;
CREATE INDEX notifications_pending_idx ON @extschema@.notifications (user_id) WHERE id IS NULL;
CREATE INDEX notifications_task_id_idx ON @extschema@.notifications (task_id);
COMMENT ON TABLE @extschema@.notifications IS
  'In-app notifications; id is assigned at commit, in commit order per user.';

ALTER TABLE @extschema@.notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.notifications FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.notifications FROM PUBLIC;
REVOKE ALL ON SEQUENCE @extschema@.notifications_id_seq FROM PUBLIC;
-- One's own notifications, and only about tasks one can still see: the
-- EXISTS runs under the caller's own tasks policy.
CREATE POLICY notifications_select ON @extschema@.notifications FOR SELECT
  USING (user_id = (SELECT @extschema@.current_user_id())
         AND EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = notifications.task_id));
CREATE POLICY notifications_update ON @extschema@.notifications FOR UPDATE
  USING (user_id = (SELECT @extschema@.current_user_id())
         AND EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = notifications.task_id))
  WITH CHECK (user_id = (SELECT @extschema@.current_user_id()));
GRANT SELECT (id, user_id, event, task_id, actor_id, comment_id, message, created_at, read_at),
      UPDATE (read_at)
  ON @extschema@.notifications TO taskmgmt_client;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.notifications', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.notifications_id_seq', '');

-- Preferences: per event, in_app and email.  What a user has not set
-- falls back to these defaults (documented in README).
CREATE FUNCTION @extschema@.notification_defaults() RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '{"assigned":  {"in_app": true, "email": true},
           "updated":   {"in_app": true, "email": false},
           "commented": {"in_app": true, "email": false},
           "mentioned": {"in_app": true, "email": true},
           "due_soon":  {"in_app": true, "email": true},
           "overdue":   {"in_app": true, "email": false}}'::jsonb
$$;

CREATE FUNCTION @extschema@._wants(prefs jsonb, event text, channel text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce((prefs -> 'notifications' -> event ->> channel)::boolean,
                  (@extschema@.notification_defaults() -> event ->> channel)::boolean,
                  false)
$$;

-- The signed-in user's effective notification preferences (defaults applied).
CREATE FUNCTION @extschema@.notification_preferences() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT jsonb_object_agg(e, jsonb_build_object(
           'in_app', @extschema@._wants(u.preferences, e, 'in_app'),
           'email', @extschema@._wants(u.preferences, e, 'email')))
  FROM @extschema@.users u,
       jsonb_object_keys(@extschema@.notification_defaults()) e
  WHERE u.id = @extschema@._require_user()
$$;

-- Could this user see this task?  The same rule as the tasks_select policy
-- (40_rls.sql), evaluated for someone other than the caller; the pgTAP suite
-- checks the two agree.
CREATE FUNCTION @extschema@._user_can_see_task(uid bigint, is_admin boolean, t @extschema@.tasks)
RETURNS boolean LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT is_admin OR t.creator_id = uid OR t.assignee_user_id IS NOT DISTINCT FROM uid
      OR EXISTS (SELECT FROM @extschema@.team_members m
                 WHERE m.user_id = uid AND m.team_id IN (t.assignee_team_id, t.team_id))
$$;

CREATE FUNCTION @extschema@._actor_name(actor bigint) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  name text;
BEGIN
  SELECT u.display_name INTO name FROM @extschema@.users u WHERE u.id = actor;
  RETURN coalesce(name, 'Someone');
END
$$;

CREATE FUNCTION @extschema@._short_title(title text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '"' || CASE WHEN length(title) > 80 THEN left(title, 79) || '…' ELSE title END || '"'
$$;

-- Delivers one event to one user, honouring the rules every event shares:
-- never to the actor, never to a disabled user, never about a task the
-- recipient cannot see; in-app and email as the recipient's preferences say.
CREATE FUNCTION @extschema@._deliver(recipient bigint, ev text, t @extschema@.tasks, actor bigint,
                                     msg text, comment bigint DEFAULT NULL)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  u @extschema@.users;
BEGIN
  IF recipient IS NULL OR recipient IS NOT DISTINCT FROM actor THEN
    RETURN;
  END IF;
  SELECT * INTO u FROM @extschema@.users WHERE id = recipient;
  IF NOT FOUND OR u.disabled OR NOT @extschema@._user_can_see_task(u.id, u.role = 'admin', t) THEN
    RETURN;
  END IF;
  IF @extschema@._wants(u.preferences, ev, 'in_app') THEN
    INSERT INTO @extschema@.notifications (user_id, event, task_id, actor_id, comment_id, message)
    VALUES (u.id, ev, t.id, actor, comment, msg);
  END IF;
  IF @extschema@._wants(u.preferences, ev, 'email') THEN
    PERFORM @extschema@._outbox_enqueue(u.id, u.email, ev, t.id, actor, msg, comment);
  END IF;
END
$$;

-- "status todo → in_progress, title" for the fields an update changed.
-- The helpers the triggers call on every change are PL/pgSQL so their
-- plans are cached for the session (an SQL function is planned per call).
CREATE FUNCTION @extschema@._task_change_summary(o @extschema@.tasks, n @extschema@.tasks)
RETURNS text LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  c text[] := '{}';
BEGIN
  IF n.status IS DISTINCT FROM o.status THEN c := c || format('status %s → %s', o.status, n.status); END IF;
  IF n.priority IS DISTINCT FROM o.priority THEN c := c || format('priority %s → %s', o.priority, n.priority); END IF;
  IF n.due_date IS DISTINCT FROM o.due_date THEN
    c := c || format('due date %s → %s', coalesce(o.due_date::text, 'none'), coalesce(n.due_date::text, 'none'));
  END IF;
  IF n.title IS DISTINCT FROM o.title THEN c := c || 'title'::text; END IF;
  IF n.description IS DISTINCT FROM o.description THEN c := c || 'description'::text; END IF;
  IF n.assignee_user_id IS DISTINCT FROM o.assignee_user_id OR n.assignee_team_id IS DISTINCT FROM o.assignee_team_id THEN
    c := c || 'assignee'::text;
  END IF;
  IF n.team_id IS DISTINCT FROM o.team_id THEN c := c || 'team'::text; END IF;
  IF n.tags IS DISTINCT FROM o.tags THEN c := c || 'tags'::text; END IF;
  RETURN array_to_string(c, ', ');
END
$$;

-- Members of an assignee team, or the assignee user, as an array.
CREATE FUNCTION @extschema@._assignees(user_id bigint, team_id bigint) RETURNS bigint[]
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  ids bigint[];
BEGIN
  IF user_id IS NOT NULL THEN
    RETURN ARRAY[user_id];
  ELSIF team_id IS NULL THEN
    RETURN '{}';
  END IF;
  SELECT coalesce(array_agg(m.user_id ORDER BY m.user_id), '{}') INTO ids
  FROM @extschema@.team_members m WHERE m.team_id = _assignees.team_id;
  RETURN ids;
END
$$;

-- assigned: to the new assignee user, or every member of the new assignee team.
-- updated:  to the creator and the assignees before and after the change,
--           except those who were just assigned (they get 'assigned').
CREATE FUNCTION @extschema@._tasks_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  actor bigint := @extschema@.current_user_id();
  who text := @extschema@._actor_name(actor);
  assigned bigint[] := '{}';
  others bigint[];
  r bigint;
  msg text;
  reassigned boolean;
BEGIN
  IF TG_OP = 'INSERT' THEN
    reassigned := NEW.assignee_user_id IS NOT NULL OR NEW.assignee_team_id IS NOT NULL;
  ELSE
    reassigned := (NEW.assignee_user_id, NEW.assignee_team_id)
                  IS DISTINCT FROM (OLD.assignee_user_id, OLD.assignee_team_id);
  END IF;

  IF reassigned THEN
    assigned := @extschema@._assignees(NEW.assignee_user_id, NEW.assignee_team_id);
    msg := CASE WHEN NEW.assignee_user_id IS NOT NULL
      THEN format('%s assigned you %s', who, @extschema@._short_title(NEW.title))
      -- read as the owner: the recipients are that team's members
      ELSE format('%s assigned %s to your team %s', who, @extschema@._short_title(NEW.title),
                  (SELECT tm.name FROM @extschema@.teams tm WHERE tm.id = NEW.assignee_team_id)) END;
    FOREACH r IN ARRAY assigned LOOP
      PERFORM @extschema@._deliver(r, 'assigned', NEW, actor, msg);
    END LOOP;
  END IF;

  IF TG_OP = 'UPDATE' AND NEW.version <> OLD.version THEN
    msg := format('%s updated %s: %s', who, @extschema@._short_title(NEW.title),
                  @extschema@._task_change_summary(OLD, NEW));
    SELECT coalesce(array_agg(DISTINCT x ORDER BY x), '{}') INTO others
    FROM unnest(ARRAY[NEW.creator_id]
                || @extschema@._assignees(NEW.assignee_user_id, NEW.assignee_team_id)
                || @extschema@._assignees(OLD.assignee_user_id, OLD.assignee_team_id)) x
    WHERE NOT x = ANY (assigned);
    FOREACH r IN ARRAY others LOOP
      PERFORM @extschema@._deliver(r, 'updated', NEW, actor, msg);
    END LOOP;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER tasks_notify AFTER INSERT OR UPDATE ON @extschema@.tasks
  FOR EACH ROW EXECUTE FUNCTION @extschema@._tasks_notify();

-- Commit-time publication.
--
-- A client catching up "since id N" must never miss a row that commits
-- later with a smaller id.  With ids from a plain sequence at insert time it
-- could: A takes id 10, B takes 11 and commits, the client reads 11, then A
-- commits 10.  So ids are not taken at insert time.  This deferred trigger
-- runs at commit; it takes a transaction-level advisory lock per recipient
-- (in user order, so two committers cannot deadlock) and only then draws the
-- ids from the sequence.  The lock is released after the commit is visible,
-- so for any one user a later-drawn (larger) id always commits after every
-- smaller one: whoever sees id N already sees every smaller id of theirs.
-- The NOTIFY carries the final id and, like every NOTIFY, is only delivered
-- if the transaction commits.
CREATE FUNCTION @extschema@._notifications_publish() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  uid bigint;
  n bigint;
BEGIN
  -- Rows with a NULL id visible here are this transaction's own (everything
  -- committed has an id), so the first firing publishes them all and the
  -- later firings find nothing to do.
  PERFORM FROM @extschema@.notifications WHERE id IS NULL LIMIT 1;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  FOR uid IN SELECT DISTINCT user_id FROM @extschema@.notifications WHERE id IS NULL ORDER BY 1 LOOP
    PERFORM pg_advisory_xact_lock(1953328689, (uid % 2147483647)::int);
  END LOOP;
  WITH published AS (
    UPDATE @extschema@.notifications SET id = nextval('@extschema@.notifications_id_seq')
    WHERE id IS NULL
    RETURNING id, user_id
  )
  SELECT count(pg_notify('taskmgmt_notifications',
                         format('{"user_id": %s, "id": %s}', user_id, id)))
  INTO n FROM (SELECT * FROM published ORDER BY id) p;
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER notifications_publish AFTER INSERT ON @extschema@.notifications
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION @extschema@._notifications_publish();

CREATE FUNCTION @extschema@.notification_json(n @extschema@.notifications) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT jsonb_build_object('id', n.id, 'event', n.event, 'task_id', n.task_id,
    'actor_id', n.actor_id, 'message', n.message, 'created_at', n.created_at,
    'read_at', n.read_at)
$$;

-- notifications(filter): the caller's notifications.
--   unread: true        only unread ones
--   limit:  1..200      page size (default 50)
--   cursor: "…"         the next_cursor of the previous page (newest first)
--   since:  N           catch-up: those with id > N, oldest first (what a
--                       reconnecting client asks for; see _notifications_publish)
-- Answer: {items: [...], next_cursor: string|null}.
CREATE FUNCTION @extschema@.notifications(filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  k text;
  v jsonb;
  unread boolean := false;
  lim int := 50;
  before_id bigint;
  since_id bigint;
  items jsonb;
  n int;
  last_id bigint;
BEGIN
  IF filter IS NULL OR jsonb_typeof(filter) <> 'object' THEN
    PERFORM @extschema@._bad_parameter('filter', 'must be a JSON object');
  END IF;
  FOR k, v IN SELECT * FROM jsonb_each(filter) LOOP
    CASE k
      WHEN 'unread' THEN
        IF v IN ('true', '"true"') THEN unread := true;
        ELSIF v IN ('false', '"false"', 'null') THEN unread := false;
        ELSE PERFORM @extschema@._bad_parameter('unread', 'must be true or false');
        END IF;
      WHEN 'limit' THEN
        IF v #>> '{}' !~ '^[0-9]{1,3}$' OR (v #>> '{}')::int NOT BETWEEN 1 AND 200 THEN
          PERFORM @extschema@._bad_parameter('limit', 'must be an integer from 1 to 200');
        END IF;
        lim := (v #>> '{}')::int;
      WHEN 'cursor' THEN
        IF v <> 'null' THEN
          IF jsonb_typeof(v) <> 'string' OR v #>> '{}' !~ '^n[0-9]{1,18}$' THEN
            PERFORM @extschema@._bad_parameter('cursor', 'is not a valid cursor');
          END IF;
          before_id := substr(v #>> '{}', 2)::bigint;
        END IF;
      WHEN 'since' THEN
        IF v #>> '{}' !~ '^[0-9]{1,18}$' THEN
          PERFORM @extschema@._bad_parameter('since', 'must be a notification id (0 or more)');
        END IF;
        since_id := (v #>> '{}')::bigint;
      ELSE
        PERFORM @extschema@._bad_parameter(k, 'is not a known parameter (unread, cursor, limit, since)');
    END CASE;
  END LOOP;
  IF since_id IS NOT NULL AND before_id IS NOT NULL THEN
    PERFORM @extschema@._bad_parameter('since', 'cannot be combined with cursor');
  END IF;

  IF since_id IS NOT NULL THEN
    SELECT coalesce(jsonb_agg(@extschema@.notification_json(x) ORDER BY x.id), '[]'), count(*), max(x.id)
      INTO items, n, last_id
    FROM (SELECT * FROM @extschema@.notifications nn
          WHERE nn.user_id = uid AND nn.id > since_id AND (NOT unread OR nn.read_at IS NULL)
          ORDER BY nn.id LIMIT lim) x;
    -- the next page of a catch-up is simply "since the last id"
    RETURN jsonb_build_object('items', items, 'next_cursor', NULL,
                              'last_id', last_id, 'more', n = lim);
  END IF;

  SELECT coalesce(jsonb_agg(@extschema@.notification_json(x) ORDER BY x.id DESC), '[]'), count(*), min(x.id)
    INTO items, n, last_id
  FROM (SELECT * FROM @extschema@.notifications nn
        WHERE nn.user_id = uid AND nn.id IS NOT NULL
          AND (before_id IS NULL OR nn.id < before_id)
          AND (NOT unread OR nn.read_at IS NULL)
        ORDER BY nn.id DESC LIMIT lim) x;
  RETURN jsonb_build_object('items', items,
    'next_cursor', CASE WHEN n = lim THEN 'n' || last_id END);
END
$$;

-- Marks the caller's notifications with these ids read; ids that are not
-- the caller's (or not visible) are ignored.  Returns how many changed.
CREATE FUNCTION @extschema@.mark_read(ids bigint[]) RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  n integer;
BEGIN
  IF ids IS NULL THEN
    PERFORM @extschema@._invalid('ids', 'is required');
  END IF;
  IF cardinality(ids) > 1000 THEN
    PERFORM @extschema@._invalid('ids', 'may hold at most 1000 ids');
  END IF;
  UPDATE @extschema@.notifications SET read_at = now()
  WHERE user_id = uid AND id = ANY (ids) AND read_at IS NULL;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;

-- POST /notifications/read {"all": true}
CREATE FUNCTION @extschema@.mark_all_read() RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  n integer;
BEGIN
  UPDATE @extschema@.notifications SET read_at = now()
  WHERE user_id = uid AND read_at IS NULL AND id IS NOT NULL;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;

-- ==== extension/sql/81_outbox.sql ====
-- Email outbox: rows written in the same transaction as the change (so a
-- rolled-back change never mails anyone), drained by taskmgmt-mailer.
--
-- Batching: assigned, mentioned, due_soon and overdue go out at once (one
-- message each); updated and commented for one recipient are coalesced into
-- one digest that is sent after digest_idle without a new event, and at the
-- latest digest_max after its first event (configure_mail()).
--
-- The mailer connects as a member of taskmgmt_mailer, the only client role
-- that can read the outbox.  Its functions run as the caller, so for a
-- taskmgmt_client they fail on the table privileges (42501).

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'taskmgmt_mailer') THEN
    CREATE ROLE taskmgmt_mailer NOLOGIN NOBYPASSRLS;
  END IF;
END
$$;
GRANT USAGE ON SCHEMA @extschema@ TO taskmgmt_mailer;

-- Settings: at most one row, written by configure_mail().  No row is
-- stored at CREATE EXTENSION (the defaults live in _mail_settings()), so
-- a pg_dump of a configured database restores without colliding with one.
CREATE TABLE @extschema@.mail_settings (
  id          integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  app_url     text NOT NULL CHECK (app_url ~ '^https?://[^\s]+$'),
  digest_idle interval NOT NULL CHECK (digest_idle >= '0'),
  digest_max  interval NOT NULL CHECK (digest_max >= '0'),
  keep_sent   interval NOT NULL CHECK (keep_sent >= '0'),
  keep_dead   interval NOT NULL CHECK (keep_dead >= '0')
);
COMMENT ON TABLE @extschema@.mail_settings IS
  'Email settings (see configure_mail()): web address for links, digest windows, outbox retention.';

-- The settings in force: the stored row, or the defaults.
CREATE FUNCTION @extschema@._mail_settings() RETURNS @extschema@.mail_settings
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  s @extschema@.mail_settings;
BEGIN
  SELECT * INTO s FROM @extschema@.mail_settings;
  IF NOT FOUND THEN
    s := ROW(1, 'http://localhost:8080', interval '3 minutes', interval '10 minutes',
             interval '30 days', interval '90 days');
  END IF;
  RETURN s;
END
$$;

-- The DBA's way to change them; arguments left NULL keep their value.
--   SELECT taskmgmt.configure_mail(app_url => 'https://tasks.example.com');
CREATE FUNCTION @extschema@.configure_mail(app_url text DEFAULT NULL, digest_idle interval DEFAULT NULL,
                                           digest_max interval DEFAULT NULL, keep_sent interval DEFAULT NULL,
                                           keep_dead interval DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  s @extschema@.mail_settings := @extschema@._mail_settings();
BEGIN
  IF NOT has_table_privilege('@extschema@.mail_settings', 'INSERT') THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only the database owner or a superuser can configure email';
  END IF;
  IF app_url IS NOT NULL AND app_url !~ '^https?://[^\s]+$' THEN
    PERFORM @extschema@._invalid('app_url', 'must be an http:// or https:// address');
  END IF;
  IF least(digest_idle, digest_max, keep_sent, keep_dead) < interval '0' THEN
    PERFORM @extschema@._invalid(CASE WHEN digest_idle < interval '0' THEN 'digest_idle'
                                      WHEN digest_max < interval '0' THEN 'digest_max'
                                      WHEN keep_sent < interval '0' THEN 'keep_sent'
                                      ELSE 'keep_dead' END, 'must not be negative');
  END IF;
  s.app_url := coalesce(app_url, s.app_url);
  s.digest_idle := coalesce(digest_idle, s.digest_idle);
  s.digest_max := coalesce(digest_max, s.digest_max);
  s.keep_sent := coalesce(keep_sent, s.keep_sent);
  s.keep_dead := coalesce(keep_dead, s.keep_dead);
  INSERT INTO @extschema@.mail_settings AS m VALUES (s.*)
  ON CONFLICT (id) DO UPDATE
    SET app_url = EXCLUDED.app_url, digest_idle = EXCLUDED.digest_idle, digest_max = EXCLUDED.digest_max,
        keep_sent = EXCLUDED.keep_sent, keep_dead = EXCLUDED.keep_dead;
  RETURN to_jsonb(s) - 'id';
END
$$;

CREATE TABLE @extschema@.email_outbox (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id       bigint REFERENCES @extschema@.users ON DELETE CASCADE,
  recipient     text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('single', 'digest')),
  -- [{event, task_id, actor_id, comment_id, message, at}]; the subject and
  -- body are rendered from these, so a re-send carries the same text.
  items         jsonb NOT NULL CHECK (jsonb_typeof(items) = 'array'),
  message_id    text NOT NULL UNIQUE,
  status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_event_at timestamptz NOT NULL DEFAULT now(),
  send_after    timestamptz NOT NULL DEFAULT now(),
  attempts      integer NOT NULL DEFAULT 0,
  claim_token   uuid,
  claimed_until timestamptz,
  last_error    text,
  sent_at       timestamptz
);
CREATE INDEX email_outbox_due_idx ON @extschema@.email_outbox (send_after, id) WHERE status = 'pending';
CREATE INDEX email_outbox_open_digest_idx ON @extschema@.email_outbox (user_id)
  WHERE status = 'pending' AND kind = 'digest' AND claim_token IS NULL;
CREATE INDEX email_outbox_done_idx ON @extschema@.email_outbox (status, sent_at) WHERE status <> 'pending';
COMMENT ON TABLE @extschema@.email_outbox IS
  'Email to send: pending, sent or dead (gave up after too many attempts or a permanent SMTP error).';

ALTER TABLE @extschema@.mail_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.mail_settings FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.email_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.email_outbox FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.mail_settings, @extschema@.email_outbox FROM PUBLIC;
CREATE POLICY mail_settings_mailer ON @extschema@.mail_settings FOR SELECT TO taskmgmt_mailer USING (true);
CREATE POLICY email_outbox_mailer ON @extschema@.email_outbox FOR ALL TO taskmgmt_mailer USING (true);
GRANT SELECT ON @extschema@.mail_settings TO taskmgmt_mailer;
GRANT SELECT, UPDATE (status, attempts, claim_token, claimed_until, last_error, sent_at, send_after)
  ON @extschema@.email_outbox TO taskmgmt_mailer;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.mail_settings', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.email_outbox', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.email_outbox_id_seq', '');

-- Queues one event for one recipient's email (called by _deliver, as the
-- owner, inside the transaction making the change).
CREATE FUNCTION @extschema@._outbox_enqueue(uid bigint, address text, ev text, task_id bigint,
                                            actor bigint, msg text, comment bigint)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  s @extschema@.mail_settings;
  item jsonb := jsonb_build_object('event', ev, 'task_id', task_id, 'actor_id', actor,
                                   'comment_id', comment, 'message', msg, 'at', now());
  open_id bigint;
BEGIN
  IF ev IN ('updated', 'commented') THEN
    s := @extschema@._mail_settings();
    -- The open digest of this recipient, if any; one being claimed by a
    -- mailer right now is locked and skipped (a new digest starts instead),
    -- so a user's change never waits for an SMTP server.
    SELECT o.id INTO open_id FROM @extschema@.email_outbox o
    WHERE o.user_id = uid AND o.status = 'pending' AND o.kind = 'digest' AND o.claim_token IS NULL
      AND o.created_at + s.digest_max > now()
    ORDER BY o.id DESC LIMIT 1
    FOR UPDATE SKIP LOCKED;
    IF open_id IS NOT NULL THEN
      UPDATE @extschema@.email_outbox o
         SET items = o.items || item, recipient = address, last_event_at = now(),
             send_after = least(now() + s.digest_idle, o.created_at + s.digest_max)
       WHERE o.id = open_id;
    ELSE
      INSERT INTO @extschema@.email_outbox (user_id, recipient, kind, items, message_id, send_after)
      VALUES (uid, address, 'digest', jsonb_build_array(item), @extschema@._new_message_id(),
              now() + least(s.digest_idle, s.digest_max));
    END IF;
  ELSE
    INSERT INTO @extschema@.email_outbox (user_id, recipient, kind, items, message_id)
    VALUES (uid, address, 'single', jsonb_build_array(item), @extschema@._new_message_id());
  END IF;
END
$$;

-- A globally unique Message-ID, fixed when the row is written, so a re-send
-- after a crash carries the same one and receivers can de-duplicate.
CREATE FUNCTION @extschema@._new_message_id() RETURNS text
LANGUAGE sql VOLATILE AS $$
  SELECT '<' || replace(gen_random_uuid()::text, '-', '') || '@taskmgmt.invalid>'
$$;

-- Wakes the mailers (LISTEN taskmgmt_outbox) at commit.
CREATE FUNCTION @extschema@._outbox_wake() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM pg_notify('taskmgmt_outbox', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER email_outbox_wake AFTER INSERT ON @extschema@.email_outbox
  FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._outbox_wake();

CREATE FUNCTION @extschema@._outbox_subject(kind text, items jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '[taskmgmt] ' || CASE
    WHEN kind = 'single' OR jsonb_array_length(items) = 1 THEN
      CASE WHEN length(items -> 0 ->> 'message') > 150
           THEN left(items -> 0 ->> 'message', 149) || '…' ELSE items -> 0 ->> 'message' END
    ELSE format('%s updates on your tasks', jsonb_array_length(items))
  END
$$;

CREATE FUNCTION @extschema@._outbox_body(items jsonb, app_url text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT string_agg(format(E'%s\nOpen the task: %s/?task=%s\n',
                           i ->> 'message', rtrim(app_url, '/'), i ->> 'task_id'),
                    E'\n' ORDER BY ord)
         || E'\n-- \nYou get this email because of your taskmgmt notification preferences;\n'
         || E'change them with update_me() or PATCH /api/v1/me.\n'
  FROM jsonb_array_elements(items) WITH ORDINALITY AS x(i, ord)
$$;

-- The mailer's side.  outbox_claim() leases up to batch_size due rows
-- (FOR UPDATE SKIP LOCKED: concurrent mailers get disjoint rows) and counts
-- the attempt; the mailer sends each and reports with outbox_mark_sent() or
-- outbox_mark_failed(), which only count while the claim token matches.  A
-- mailer that dies leaves its rows to be claimed again when the lease ends:
-- at-least-once, with the same Message-ID.
CREATE FUNCTION @extschema@.outbox_claim(batch_size integer DEFAULT 10, lease interval DEFAULT '5 minutes')
RETURNS TABLE (id bigint, recipient text, subject text, body text, message_id text,
               attempts integer, claim_token uuid)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  url text;
BEGIN
  IF batch_size IS NULL OR batch_size NOT BETWEEN 1 AND 1000 THEN
    PERFORM @extschema@._invalid('batch_size', 'must be from 1 to 1000');
  END IF;
  IF lease IS NULL OR lease < '1 second' THEN
    PERFORM @extschema@._invalid('lease', 'must be at least 1 second');
  END IF;
  url := (@extschema@._mail_settings()).app_url;
  RETURN QUERY
  WITH due AS (
    SELECT o.id FROM @extschema@.email_outbox o
    WHERE o.status = 'pending' AND o.send_after <= now()
      AND (o.claimed_until IS NULL OR o.claimed_until < now())
    ORDER BY o.send_after, o.id
    LIMIT batch_size
    FOR UPDATE SKIP LOCKED
  )
  UPDATE @extschema@.email_outbox o
     SET attempts = o.attempts + 1, claim_token = gen_random_uuid(), claimed_until = now() + lease
    FROM due WHERE o.id = due.id
  RETURNING o.id, o.recipient, @extschema@._outbox_subject(o.kind, o.items),
            @extschema@._outbox_body(o.items, url),
            o.message_id, o.attempts, o.claim_token;
END
$$;

CREATE FUNCTION @extschema@.outbox_mark_sent(id bigint, claim_token uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
  UPDATE @extschema@.email_outbox o
     SET status = 'sent', sent_at = now(), claimed_until = NULL, last_error = NULL
   WHERE o.id = outbox_mark_sent.id AND o.claim_token = outbox_mark_sent.claim_token
     AND o.status = 'pending';
  RETURN FOUND;
END
$$;

-- A failed attempt: retried after backoff * 2^(attempts-1) (at most 6 hours),
-- or dead after max_attempts attempts or on a permanent error.
CREATE FUNCTION @extschema@.outbox_mark_failed(id bigint, claim_token uuid, error text,
                                               permanent boolean DEFAULT false,
                                               max_attempts integer DEFAULT 8,
                                               backoff interval DEFAULT '30 seconds')
RETURNS text LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  result text;
BEGIN
  UPDATE @extschema@.email_outbox o
     SET status = CASE WHEN permanent OR o.attempts >= max_attempts THEN 'dead' ELSE 'pending' END,
         send_after = now() + least(backoff * power(2, least(greatest(o.attempts - 1, 0), 20)),
                                    interval '6 hours'),
         claimed_until = NULL,
         last_error = left(coalesce(error, 'unknown error'), 500)
   WHERE o.id = outbox_mark_failed.id AND o.claim_token = outbox_mark_failed.claim_token
     AND o.status = 'pending'
  RETURNING o.status INTO result;
  RETURN result;
END
$$;

-- Hands a claimed row back unsent (a mailer shutting down): due again at
-- once, and the attempt it was claimed for does not count.
CREATE FUNCTION @extschema@.outbox_release(id bigint, claim_token uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
  UPDATE @extschema@.email_outbox o
     SET claimed_until = NULL, attempts = greatest(o.attempts - 1, 0)
   WHERE o.id = outbox_release.id AND o.claim_token = outbox_release.claim_token
     AND o.status = 'pending' AND o.claimed_until IS NOT NULL;
  RETURN FOUND;
END
$$;

-- When the next pending row becomes due (NULL: none), so an idle mailer can
-- sleep exactly that long.
CREATE FUNCTION @extschema@.outbox_next_due() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT min(greatest(o.send_after, coalesce(o.claimed_until, o.send_after)))
  FROM @extschema@.email_outbox o WHERE o.status = 'pending'
$$;

-- A DBA's tool: put a dead row back in the queue.
CREATE FUNCTION @extschema@.outbox_retry(id bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
  UPDATE @extschema@.email_outbox o
     SET status = 'pending', attempts = 0, send_after = now(), claimed_until = NULL, claim_token = NULL
   WHERE o.id = outbox_retry.id AND o.status = 'dead';
  RETURN FOUND;
END
$$;

GRANT EXECUTE ON FUNCTION @extschema@.outbox_claim(integer, interval),
  @extschema@.outbox_mark_sent(bigint, uuid),
  @extschema@.outbox_release(bigint, uuid),
  @extschema@.outbox_mark_failed(bigint, uuid, text, boolean, integer, interval),
  @extschema@.outbox_next_due(),
  @extschema@._outbox_subject(text, jsonb), @extschema@._outbox_body(jsonb, text),
  @extschema@._mail_settings()
  TO taskmgmt_mailer;

-- ==== extension/sql/82_jobs.sql ====
-- Scheduled jobs.  Each is a plain function, idempotent (running it twice
-- creates nothing twice) and callable directly; schedule_jobs() hands them
-- to pg_cron when it is installed.  pg_cron is deliberately not a required
-- extension: without it everything else works and a DBA may run the jobs
-- from any scheduler (e.g. psql -c 'SELECT taskmgmt.send_due_soon()').
--
-- The jobs run as the owner or a superuser (pg_cron runs them as the role
-- that called schedule_jobs()); a client role lacks the table privileges
-- and gets 42501.
--
-- A task is due at the end of its due date, UTC.  due_soon: that moment is
-- within the next 24 hours; overdue: it has passed (status todo/in_progress).

-- What has been sent, once per task, kind and due date.
CREATE TABLE @extschema@.task_reminders (
  task_id  bigint NOT NULL REFERENCES @extschema@.tasks ON DELETE CASCADE,
  kind     text NOT NULL CHECK (kind IN ('due_soon', 'overdue')),
  due_date date NOT NULL,
  sent_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (task_id, kind, due_date)
);
ALTER TABLE @extschema@.task_reminders ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.task_reminders FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.task_reminders FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.task_reminders', '');

CREATE INDEX tasks_open_due_date_idx ON @extschema@.tasks (due_date)
  WHERE due_date IS NOT NULL AND status IN ('todo', 'in_progress');

CREATE FUNCTION @extschema@._require_job_runner() RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF NOT has_table_privilege('@extschema@.task_reminders', 'INSERT') THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = 'scheduled jobs run as the database owner or a superuser';
  END IF;
END
$$;

CREATE FUNCTION @extschema@._due_at(d date) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ((d + 1)::timestamp AT TIME ZONE 'UTC')
$$;

-- One reminder kind for every task in the window that has not had it for
-- its current due date.  Returns the number of tasks reminded.
CREATE FUNCTION @extschema@._send_reminders(kind text, as_of timestamptz) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  t @extschema@.tasks;
  r bigint;
  msg text;
  n integer := 0;
BEGIN
  PERFORM @extschema@._require_job_runner();
  IF as_of IS NULL THEN
    PERFORM @extschema@._invalid('as_of', 'is required');
  END IF;
  FOR t IN
    SELECT * FROM @extschema@.tasks x
    WHERE x.due_date IS NOT NULL AND x.status IN ('todo', 'in_progress')
      AND CASE kind
            WHEN 'due_soon' THEN @extschema@._due_at(x.due_date) > as_of
                             AND @extschema@._due_at(x.due_date) <= as_of + interval '24 hours'
            ELSE @extschema@._due_at(x.due_date) <= as_of
          END
    ORDER BY x.id
  LOOP
    INSERT INTO @extschema@.task_reminders (task_id, kind, due_date)
    VALUES (t.id, kind, t.due_date) ON CONFLICT DO NOTHING;
    CONTINUE WHEN NOT FOUND;
    n := n + 1;
    msg := CASE kind
      WHEN 'due_soon' THEN format('%s is due on %s', @extschema@._short_title(t.title), t.due_date)
      ELSE format('%s is overdue (due %s)', @extschema@._short_title(t.title), t.due_date) END;
    FOR r IN SELECT DISTINCT x FROM unnest(ARRAY[t.creator_id]
               || @extschema@._assignees(t.assignee_user_id, t.assignee_team_id)) x ORDER BY 1 LOOP
      PERFORM @extschema@._deliver(r, kind, t, NULL, msg);
    END LOOP;
  END LOOP;
  RETURN n;
END
$$;

CREATE FUNCTION @extschema@.send_due_soon(as_of timestamptz DEFAULT now()) RETURNS integer
LANGUAGE sql VOLATILE AS $$
  SELECT @extschema@._send_reminders('due_soon', as_of)
$$;

CREATE FUNCTION @extschema@.send_overdue(as_of timestamptz DEFAULT now()) RETURNS integer
LANGUAGE sql VOLATILE AS $$
  SELECT @extschema@._send_reminders('overdue', as_of)
$$;

-- Expired sessions and refresh tokens, sessions revoked over a week ago,
-- stale sign-in failure counters.
CREATE FUNCTION @extschema@.cleanup_sessions(as_of timestamptz DEFAULT now()) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n_tokens bigint;
  n_sessions bigint;
  n_failures bigint;
BEGIN
  PERFORM @extschema@._require_job_runner();
  DELETE FROM @extschema@.refresh_tokens WHERE expires_at < as_of;
  GET DIAGNOSTICS n_tokens = ROW_COUNT;
  DELETE FROM @extschema@.sessions WHERE expires_at < as_of OR revoked_at < as_of - interval '7 days';
  GET DIAGNOSTICS n_sessions = ROW_COUNT;
  DELETE FROM @extschema@.login_failures
   WHERE window_start < as_of - interval '1 day' AND (locked_until IS NULL OR locked_until < as_of);
  GET DIAGNOSTICS n_failures = ROW_COUNT;
  RETURN jsonb_build_object('refresh_tokens', n_tokens, 'sessions', n_sessions,
                            'login_failures', n_failures);
END
$$;

-- Sent mail older than keep_sent, dead mail older than keep_dead (configure_mail()).
CREATE FUNCTION @extschema@.outbox_retention(as_of timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  s @extschema@.mail_settings := @extschema@._mail_settings();
  n integer;
BEGIN
  PERFORM @extschema@._require_job_runner();
  DELETE FROM @extschema@.email_outbox o
   WHERE (o.status = 'sent' AND o.sent_at < as_of - s.keep_sent)
      OR (o.status = 'dead' AND o.created_at < as_of - s.keep_dead);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;

-- The one call that installs the schedule (idempotent: pg_cron replaces a
-- job of the same name).  Needs pg_cron in shared_preload_libraries and
-- CREATE EXTENSION pg_cron in the database named by cron.database_name.
CREATE FUNCTION @extschema@.schedule_jobs() RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  jobs constant text[][] := ARRAY[
    ['taskmgmt-due-soon',         '*/15 * * * *', 'SELECT @extschema@.send_due_soon()'],
    ['taskmgmt-overdue',          '*/15 * * * *', 'SELECT @extschema@.send_overdue()'],
    ['taskmgmt-cleanup-sessions', '17 3 * * *',   'SELECT @extschema@.cleanup_sessions()'],
    ['taskmgmt-outbox-retention', '37 3 * * *',   'SELECT @extschema@.outbox_retention()']];
  result jsonb := '{}';
  jid bigint;
BEGIN
  PERFORM @extschema@._require_job_runner();
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
    RAISE EXCEPTION USING ERRCODE = '0A000', MESSAGE = 'pg_cron is not installed in this database',
      HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, '
             'run CREATE EXTENSION pg_cron, then call taskmgmt.schedule_jobs() again; '
             'or run the job functions from another scheduler.';
  END IF;
  FOR i IN 1 .. array_length(jobs, 1) LOOP
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO jid USING jobs[i][1], jobs[i][2], jobs[i][3];
    result := result || jsonb_build_object(jobs[i][1], jid);
  END LOOP;
  RETURN result;
END
$$;

CREATE FUNCTION @extschema@.unschedule_jobs() RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n integer := 0;
  j text;
BEGIN
  PERFORM @extschema@._require_job_runner();
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
    RETURN 0;
  END IF;
  FOR j IN EXECUTE 'SELECT jobname FROM cron.job WHERE jobname LIKE ''taskmgmt-%'' AND username = current_user' LOOP
    EXECUTE 'SELECT cron.unschedule($1)' USING j;
    n := n + 1;
  END LOOP;
  RETURN n;
END
$$;

-- ==== extension/sql/83_comment_notifications.sql ====
-- commented and mentioned (comments and comment_mentions: 72_comments.sql).
--
-- mentioned: to each user recorded in comment_mentions, when the mention is
--   recorded (a new comment, or an edit that adds a mention).  72 records
--   only users who can see the task; _deliver checks again anyway.
-- commented: to the task's creator, its assignees and everyone who wrote
--   an earlier comment on it, except those this comment mentions (they get
--   'mentioned' instead) and its author.

CREATE FUNCTION @extschema@._comment_excerpt(body text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN length(b) > 80 THEN left(b, 79) || '…' ELSE b END
  FROM (SELECT regexp_replace(btrim(body), '\s+', ' ', 'g') AS b) x
$$;

CREATE FUNCTION @extschema@._comment_mentions_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  c @extschema@.comments;
  t @extschema@.tasks;
  actor bigint;
BEGIN
  SELECT * INTO c FROM @extschema@.comments WHERE id = NEW.comment_id;
  IF NOT FOUND OR c.deleted_at IS NOT NULL THEN
    RETURN NULL;
  END IF;
  SELECT * INTO t FROM @extschema@.tasks WHERE id = c.task_id;
  actor := coalesce(@extschema@.current_user_id(), c.author_id);
  PERFORM @extschema@._deliver(NEW.user_id, 'mentioned', t, actor,
    format('%s mentioned you on %s: %s', @extschema@._actor_name(actor),
           @extschema@._short_title(t.title), @extschema@._comment_excerpt(c.body)),
    c.id);
  RETURN NULL;
END
$$;

CREATE TRIGGER comment_mentions_notify AFTER INSERT ON @extschema@.comment_mentions
  FOR EACH ROW EXECUTE FUNCTION @extschema@._comment_mentions_notify();

CREATE FUNCTION @extschema@._comments_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t @extschema@.tasks;
  actor bigint := coalesce(@extschema@.current_user_id(), NEW.author_id);
  msg text;
  r bigint;
BEGIN
  IF NEW.deleted_at IS NOT NULL THEN
    RETURN NULL;
  END IF;
  SELECT * INTO t FROM @extschema@.tasks WHERE id = NEW.task_id;
  msg := format('%s commented on %s: %s', @extschema@._actor_name(actor),
                @extschema@._short_title(t.title), @extschema@._comment_excerpt(NEW.body));
  FOR r IN
    SELECT DISTINCT x FROM unnest(ARRAY[t.creator_id]
                                  || @extschema@._assignees(t.assignee_user_id, t.assignee_team_id)
                                  || ARRAY(SELECT c.author_id FROM @extschema@.comments c
                                           WHERE c.task_id = NEW.task_id AND c.id < NEW.id
                                             AND c.author_id IS NOT NULL)) x
    WHERE NOT EXISTS (SELECT FROM @extschema@.comment_mentions m
                      WHERE m.comment_id = NEW.id AND m.user_id = x)
    ORDER BY 1
  LOOP
    PERFORM @extschema@._deliver(r, 'commented', t, actor, msg, NEW.id);
  END LOOP;
  RETURN NULL;
END
$$;

-- AFTER triggers of one event fire in name order: this one must run after
-- comments_sync_mentions (72), so that this comment's mentions are known.
CREATE TRIGGER comments_then_notify AFTER INSERT ON @extschema@.comments
  FOR EACH ROW EXECUTE FUNCTION @extschema@._comments_notify();

-- ==== extension/sql/86_export.sql ====
-- Export: the tasks a user may see as CSV.
--   export_tasks_csv_lines(filter)  header then one line per task (CRLF each),
--                                   streamed: GET /tasks/export.csv sends rows
--                                   as they come
--   export_tasks_csv(filter)        the same as one text value
--   VIEW tasks_export               the same cells for COPY ... WITH CSV HEADER
-- The filter takes the list's keys (taskmgmt.filter_tasks) plus
-- include_comments.  Visibility is the tasks' row-level security, nothing else.

CREATE FUNCTION @extschema@.csv_safe(cell text) RETURNS text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'tm_csv_safe';
COMMENT ON FUNCTION @extschema@.csv_safe(text) IS
  'The cell with a leading single quote when it starts with =, +, -, @, tab or CR (OWASP CSV injection).';

CREATE FUNCTION @extschema@.csv_line(cells text[]) RETURNS text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'tm_csv_line';
COMMENT ON FUNCTION @extschema@.csv_line(text[]) IS
  'One RFC 4180 record ending in CRLF; cells quoted when they hold a comma, quote, CR or LF.';

-- RFC 3339 in UTC, whatever the session's TimeZone, so files compare equal.
CREATE FUNCTION @extschema@._csv_time(ts timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- _team_name(), remembered per team for the rest of the statement (C).
CREATE FUNCTION @extschema@._export_team_name(team_id bigint) RETURNS text
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tm_export_team_name';

-- The cells of one task, neutralised.  A set-returning SQL function so that
-- the planner inlines it into the calling query (one row, no call overhead).
CREATE FUNCTION @extschema@._export_fields(t @extschema@.tasks)
RETURNS TABLE (id text, title text, status text, priority text, due_date text,
               assignee_type text, assignee_name text, team text, tags text,
               creator text, created_at text, updated_at text, completed_at text)
LANGUAGE sql STABLE ROWS 1 AS $$
  SELECT t.id::text,
         @extschema@.csv_safe(t.title),
         t.status::text,
         t.priority::text,
         to_char(t.due_date, 'YYYY-MM-DD'),
         CASE WHEN t.assignee_user_id IS NOT NULL THEN 'user'
              WHEN t.assignee_team_id IS NOT NULL THEN 'team' END,
         @extschema@.csv_safe(CASE
           WHEN t.assignee_user_id IS NOT NULL THEN
             (SELECT u.display_name FROM @extschema@.users u WHERE u.id = t.assignee_user_id)
           WHEN t.assignee_team_id IS NOT NULL THEN @extschema@._export_team_name(t.assignee_team_id) END),
         @extschema@.csv_safe(@extschema@._export_team_name(t.team_id)),
         @extschema@.csv_safe(array_to_string(t.tags, ', ')),
         @extschema@.csv_safe((SELECT u.display_name FROM @extschema@.users u WHERE u.id = t.creator_id)),
         @extschema@._csv_time(t.created_at),
         @extschema@._csv_time(t.updated_at),
         @extschema@._csv_time(t.completed_at)
$$;

CREATE FUNCTION @extschema@._export_header(include_comments boolean) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '{id,title,status,priority,due_date,assignee_type,assignee_name,team,tags,creator,created_at,updated_at,completed_at}'::text[]
         || CASE WHEN include_comments THEN '{comments}'::text[] ELSE '{}' END
$$;

-- Checks the export options (the list keys are filter_tasks' business) and
-- returns include_comments.  Raises 28000 when not signed in.
CREATE FUNCTION @extschema@._export_include_comments(filter jsonb) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v jsonb := filter -> 'include_comments';
BEGIN
  PERFORM @extschema@._require_user();
  IF filter IS NULL THEN RETURN false; END IF;
  IF jsonb_typeof(filter) <> 'object' THEN
    PERFORM @extschema@._bad_parameter('filter', 'must be a JSON object');
  END IF;
  IF v IS NULL OR v = 'null' THEN RETURN false; END IF;
  IF v IN ('true', '"true"') THEN RETURN true; END IF;
  IF v IN ('false', '"false"') THEN RETURN false; END IF;
  PERFORM @extschema@._bad_parameter('include_comments', 'must be true or false');
  RETURN NULL;
END
$$;

-- The list part of the filter.
CREATE FUNCTION @extschema@._export_list_filter(filter jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
  PERFORM @extschema@._export_include_comments(filter);
  RETURN coalesce(filter, '{}') - 'include_comments';
END
$$;

-- The comment thread of a task in one cell: "author (time): body" per
-- comment, oldest first, deleted ones left out.  Only called for tasks the
-- caller may see; comments obey their own row-level security as well.
CREATE FUNCTION @extschema@._export_comments(task_id bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  cell text;
BEGIN
  SELECT string_agg(format('%s (%s): %s',
                           coalesce((SELECT u.display_name FROM @extschema@.users u WHERE u.id = c.author_id), '?'),
                           @extschema@._csv_time(c.created_at), c.body),
                    E'\n' ORDER BY c.created_at, c.id)
    INTO cell
    FROM @extschema@.comments c
   WHERE c.task_id = _export_comments.task_id AND c.deleted_at IS NULL;
  RETURN @extschema@.csv_safe(cell);
END
$$;

-- A plain SQL set-returning function (STABLE, not STRICT, no SET clause) is
-- inlined by the planner, so rows flow to the client one at a time instead
-- of being collected first; the header comes first and carries the checks.
CREATE FUNCTION @extschema@.export_tasks_csv_lines(filter jsonb DEFAULT '{}') RETURNS SETOF text
LANGUAGE sql STABLE AS $$
  SELECT @extschema@.csv_line(@extschema@._export_header(@extschema@._export_include_comments(filter)))
  UNION ALL
  SELECT @extschema@.csv_line(
           ARRAY[e.id, e.title, e.status, e.priority, e.due_date, e.assignee_type, e.assignee_name,
                 e.team, e.tags, e.creator, e.created_at, e.updated_at, e.completed_at]
           || CASE WHEN (SELECT @extschema@._export_include_comments(filter))
                   THEN ARRAY[@extschema@._export_comments(t.id)] ELSE '{}'::text[] END)
    FROM @extschema@.filter_tasks(@extschema@._export_list_filter(filter)) t
    CROSS JOIN LATERAL @extschema@._export_fields(t) e
$$;
COMMENT ON FUNCTION @extschema@.export_tasks_csv_lines(jsonb) IS
  'CSV export, streamed: the header line, then one line per visible task matching the list filter.';

CREATE FUNCTION @extschema@.export_tasks_csv(filter jsonb DEFAULT '{}') RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT string_agg(l.line, '' ORDER BY l.n)
    FROM @extschema@.export_tasks_csv_lines(filter) WITH ORDINALITY AS l (line, n)
$$;
COMMENT ON FUNCTION @extschema@.export_tasks_csv(jsonb) IS
  'CSV export (RFC 4180, UTF-8, header row) of every visible task matching the list filter.';

-- For psql: COPY (SELECT * FROM taskmgmt.tasks_export) TO STDOUT WITH CSV HEADER
-- gives the same cells as export_tasks_csv('{}') (COPY ends lines with LF).
-- security_invoker: the caller's row-level security applies, not the owner's.
CREATE VIEW @extschema@.tasks_export WITH (security_invoker = true) AS
  SELECT e.*
    FROM @extschema@.tasks t
    CROSS JOIN LATERAL @extschema@._export_fields(t) e
   ORDER BY t.id;
COMMENT ON VIEW @extschema@.tasks_export IS
  'Visible tasks as CSV-ready text cells: COPY (SELECT * FROM taskmgmt.tasks_export) TO STDOUT WITH CSV HEADER';
REVOKE ALL ON @extschema@.tasks_export FROM PUBLIC;
GRANT SELECT ON @extschema@.tasks_export TO taskmgmt_client;

-- ==== extension/sql/87_reports.sql ====
-- Reports: report_summary(filter) as JSON, and report_summary_pdf(filter),
-- the same report rendered as a PDF in C (export_pdf.c, libharu).
-- Only tasks the caller may see count: the queries run under the caller's
-- row-level security like any other.

-- A 'YYYY-MM-DD' report parameter, or NULL when absent (or JSON null);
-- the format rules and errors are the list filter's (_date_param).
CREATE FUNCTION @extschema@._report_date_param(filter jsonb, param text) RETURNS date
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN filter -> param IS NULL OR filter -> param = 'null' THEN NULL
              ELSE @extschema@._date_param(filter -> param, param) END
$$;

CREATE FUNCTION @extschema@.report_summary(filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  f jsonb := coalesce(filter, '{}');
  k text;
  v jsonb;
  tz text;
  today date;
  team bigint;
  team_name text;
  d_from date;
  d_to date;
  t_from timestamptz;
  t_to timestamptz;
  result jsonb;
BEGIN
  IF jsonb_typeof(f) <> 'object' THEN
    PERFORM @extschema@._bad_parameter('filter', 'must be a JSON object');
  END IF;
  FOR k IN SELECT jsonb_object_keys(f) ORDER BY 1 LOOP
    IF NOT k = ANY ('{team,from,to}') THEN
      PERFORM @extschema@._bad_parameter(k, 'is not a known parameter');
    END IF;
  END LOOP;

  v := f -> 'team';
  IF v IS NOT NULL AND v <> 'null' THEN
    IF jsonb_typeof(v) NOT IN ('string', 'number') OR (v #>> '{}') !~ '^[0-9]{1,18}$' THEN
      PERFORM @extschema@._bad_parameter('team', 'must be a team id');
    END IF;
    team := (v #>> '{}')::bigint;
    -- a team one may not see does not exist (teams' row-level security)
    SELECT t.name INTO team_name FROM @extschema@.teams t WHERE t.id = team;
    IF NOT FOUND THEN PERFORM @extschema@._not_found('team'); END IF;
  END IF;

  -- days are the caller's days: periods and "overdue" use their time zone
  SELECT u.timezone INTO tz FROM @extschema@.users u WHERE u.id = uid;
  tz := coalesce(tz, 'UTC');
  today := (now() AT TIME ZONE tz)::date;
  d_to := coalesce(@extschema@._report_date_param(f, 'to'), today);
  d_from := coalesce(@extschema@._report_date_param(f, 'from'), d_to - 27);
  IF d_from > d_to THEN
    PERFORM @extschema@._bad_parameter('from', 'must not be after to');
  END IF;
  IF d_to - d_from > 731 THEN
    PERFORM @extschema@._bad_parameter('from', 'the period may span at most 732 days');
  END IF;
  t_from := d_from::timestamp AT TIME ZONE tz;
  t_to := (d_to + 1)::timestamp AT TIME ZONE tz;

  WITH s AS MATERIALIZED (
    -- the visible tasks in scope: a team's tasks are those it owns or is assigned
    SELECT t.id, t.status, t.due_date, t.assignee_user_id, t.assignee_team_id,
           t.created_at, t.started_at, t.completed_at,
           t.status = 'done' AND t.completed_at >= t_from AND t.completed_at < t_to AS done_in_period,
           t.status IN ('todo', 'in_progress') AS open
      FROM @extschema@.tasks t
     WHERE team IS NULL OR t.team_id = team OR t.assignee_team_id = team
  ),
  done AS (
    SELECT extract(epoch FROM s.completed_at - s.created_at) / 3600 AS lead_h,
           extract(epoch FROM s.completed_at - s.started_at) / 3600 AS cycle_h,
           (s.completed_at AT TIME ZONE tz)::date AS day
      FROM s WHERE s.done_in_period
  ),
  weeks AS (
    SELECT w::date AS week_start
      FROM generate_series(date_trunc('week', d_from::timestamp), d_to::timestamp, interval '1 week') w
  ),
  by_assignee AS (
    SELECT CASE WHEN s.assignee_user_id IS NOT NULL THEN 'user'
                WHEN s.assignee_team_id IS NOT NULL THEN 'team' END AS kind,
           coalesce(s.assignee_user_id, s.assignee_team_id) AS aid,
           count(*) FILTER (WHERE s.done_in_period) AS completed,
           count(*) FILTER (WHERE s.open) AS open
      FROM s GROUP BY 1, 2
  ),
  named AS (
    SELECT a.*, CASE a.kind
             WHEN 'user' THEN (SELECT u.display_name FROM @extschema@.users u WHERE u.id = a.aid)
             WHEN 'team' THEN @extschema@._team_name(a.aid) END AS name
      FROM by_assignee a
     WHERE a.completed > 0 OR a.open > 0
  )
  SELECT jsonb_build_object(
    'team', CASE WHEN team IS NOT NULL THEN jsonb_build_object('id', team, 'name', team_name) END,
    'from', d_from, 'to', d_to, 'timezone', tz, 'as_of', today, 'generated_at', now(),
    'total', (SELECT count(*) FROM s),
    'counts_by_status', (
      SELECT jsonb_object_agg(st, (SELECT count(*) FROM s WHERE s.status::text = st) ORDER BY st)
        FROM unnest(enum_range(NULL::@extschema@.task_status)::text[]) st),
    'created_in_period', (SELECT count(*) FROM s WHERE s.created_at >= t_from AND s.created_at < t_to),
    'completed_in_period', (SELECT count(*) FROM done),
    -- of the tasks created in the period, the share that is done now
    'completion_rate', (
      SELECT round(count(*) FILTER (WHERE s.status = 'done')::numeric / nullif(count(*), 0), 4)
        FROM s WHERE s.created_at >= t_from AND s.created_at < t_to),
    'overdue', (
      SELECT jsonb_build_object('count', count(*),
                                'mean_age_days', round(avg(today - s.due_date), 1),
                                'max_age_days', max(today - s.due_date))
        FROM s WHERE s.open AND s.due_date < today),
    'lead_time_hours', (
      SELECT jsonb_build_object('count', count(*),
               'p50', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY done.lead_h)::numeric, 2),
               'p85', round(percentile_cont(0.85) WITHIN GROUP (ORDER BY done.lead_h)::numeric, 2))
        FROM done),
    'cycle_time_hours', (
      SELECT jsonb_build_object('count', count(done.cycle_h),
               'p50', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY done.cycle_h)::numeric, 2),
               'p85', round(percentile_cont(0.85) WITHIN GROUP (ORDER BY done.cycle_h)::numeric, 2))
        FROM done WHERE done.cycle_h IS NOT NULL),
    -- weeks start on Monday; the first and last may be cut by the period
    'weekly_throughput', (
      SELECT jsonb_agg(jsonb_build_object('week_start', w.week_start,
               'completed', (SELECT count(*) FROM done
                              WHERE done.day >= w.week_start AND done.day < w.week_start + 7))
               ORDER BY w.week_start)
        FROM weeks w),
    'assignees', coalesce((
      SELECT jsonb_agg(jsonb_build_object('type', n.kind, 'id', n.aid, 'name', n.name,
                                          'completed', n.completed, 'open', n.open)
                       ORDER BY n.completed DESC, n.open DESC, n.name NULLS LAST, n.aid)
        FROM named n), '[]'))
  INTO result;
  RETURN result;
END
$$;
COMMENT ON FUNCTION @extschema@.report_summary(jsonb) IS
  'Summary report over the visible tasks (keys team, from, to): counts, throughput, lead and cycle times.';

CREATE FUNCTION @extschema@.report_summary_pdf(filter jsonb DEFAULT '{}') RETURNS bytea
LANGUAGE C STABLE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'tm_report_summary_pdf';
COMMENT ON FUNCTION @extschema@.report_summary_pdf(jsonb) IS
  'report_summary(filter) as a PDF: figures, a weekly throughput chart, a per-assignee table.';

-- ==== extension/sql/90_grants.sql ====
-- Function privileges: nothing is executable by PUBLIC; taskmgmt_client gets
-- the API.  Internal helpers used inside policies and API functions must be
-- executable by the client role too (they run as the caller), but reveal
-- nothing beyond what the caller may see.
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
           WHERE p.pronamespace = '@extschema@'::regnamespace
  LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
  END LOOP;
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
           WHERE p.pronamespace = '@extschema@'::regnamespace
             AND p.proname NOT IN ('rotate_signing_key', 'make_admin')
  LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO taskmgmt_client', f);
  END LOOP;
END
$$;
