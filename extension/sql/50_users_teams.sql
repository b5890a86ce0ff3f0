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
  events constant text[] := '{assigned,updated,commented,mentioned,due_soon,overdue,unblocked}';
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
          'is not a known event (assigned, updated, commented, mentioned, due_soon, overdue, unblocked)');
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

-- The directory: [{id, display_name, email}] of active users.  SECURITY
-- DEFINER: clients cannot read users.disabled (see 40_rls.sql).
CREATE FUNCTION @extschema@.list_users(q text DEFAULT NULL, lim integer DEFAULT 50) RETURNS jsonb
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
  INSERT INTO @extschema@.teams (name) VALUES (n) RETURNING * INTO t;
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
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501',
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
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'only owners and admins can manage owners';
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
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501',
      MESSAGE = 'only team leads, owners and admins can remove members (owners: owners and admins)';
  END IF;
  IF theirs = 'owner' AND @extschema@._owner_count(team_id) <= 1 THEN
    PERFORM @extschema@._invalid('user_id', 'is the last owner of the team');
  END IF;
  DELETE FROM @extschema@.team_members m
   WHERE m.team_id = remove_team_member.team_id AND m.user_id = remove_team_member.user_id;
END
$$;

-- Deletes a team: its owners and admins (42501 for its other members,
-- not found for others), and only while no task belongs or is assigned to
-- it (TM409): deleting would otherwise change silently who sees those tasks.
-- Its memberships go with it.
CREATE FUNCTION @extschema@.delete_team(id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  mine @extschema@.team_role := @extschema@._my_role_in(delete_team.id);
BEGIN
  IF NOT @extschema@.current_user_is_admin() AND mine IS DISTINCT FROM 'owner' THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'only team owners and admins can delete a team';
  END IF;
  DELETE FROM @extschema@.teams t WHERE t.id = delete_team.id;
END
$$;

-- Whatever the door (a DBA's plain DELETE too): a team that tasks refer
-- to stays.  SECURITY DEFINER: every such task counts, seen or not (its
-- owners and admins, the only ones who get here, see them all anyway).
CREATE FUNCTION @extschema@._teams_before_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  SELECT count(*) INTO n FROM @extschema@.tasks t WHERE t.team_id = OLD.id OR t.assignee_team_id = OLD.id;
  IF n > 0 THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM409', MESSAGE = 'the team still has tasks',
      DETAIL = format('%s task(s) belong or are assigned to it.', n),
      HINT = 'Move, reassign or delete them first.';
  END IF;
  RETURN OLD;
END
$$;
CREATE TRIGGER teams_before_delete BEFORE DELETE ON @extschema@.teams
  FOR EACH ROW EXECUTE FUNCTION @extschema@._teams_before_delete();

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
-- after the one above (triggers fire in name order): it sees the final row
CREATE TRIGGER users_touch_updated_at BEFORE UPDATE ON @extschema@.users
  FOR EACH ROW EXECUTE FUNCTION @extschema@._touch_updated_at();

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
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'only admins can change users';
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
