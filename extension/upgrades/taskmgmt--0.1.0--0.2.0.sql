-- taskmgmt 0.1.0 → 0.2.0.  Every change made to extension/sql/ since 0.1.0
-- goes here too, so that ALTER EXTENSION taskmgmt UPDATE gives exactly the
-- schema of a fresh CREATE EXTENSION (the suite deploy-upgrade compares them).
-- New columns go at the end of their table in extension/sql/ as well.
\echo Use "ALTER EXTENSION taskmgmt UPDATE TO '0.2.0'" to load this file. \quit

-- ==== Errors meant for clients carry SCHEMA taskmgmt (#10) ====
-- The shim shows the message of an error only when the extension marked it
-- for clients (SCHEMA = 'taskmgmt', no table or type), no longer by the C
-- file that raised it: every RAISE gets the mark.
CREATE OR REPLACE FUNCTION @extschema@._invalid(field text, message text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM422', MESSAGE = field || ' ' || message, COLUMN = field;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@._bad_parameter(param text, message text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM400', MESSAGE = param || ': ' || message, COLUMN = param;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@._not_found(what text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'P0002', MESSAGE = what || ' not found';
END
$$;

CREATE OR REPLACE FUNCTION @extschema@._require_user() RETURNS bigint
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  uid bigint := @extschema@.current_user_id();
BEGIN
  IF uid IS NULL THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '28000', MESSAGE = 'not signed in',
      HINT = 'Call taskmgmt.sign_in(email, password) or taskmgmt.authenticate(token) first.';
  END IF;
  RETURN uid;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@._check_keys(obj jsonb, allowed text[], read_only text[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql STABLE AS $$
DECLARE
  k text;
BEGIN
  IF obj IS NULL OR jsonb_typeof(obj) <> 'object' THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM422', MESSAGE = 'a JSON object is required';
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
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501',
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

CREATE OR REPLACE FUNCTION @extschema@.remove_team_member(team_id bigint, user_id bigint) RETURNS void
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

CREATE OR REPLACE FUNCTION @extschema@.admin_update_user(id bigint, patch jsonb) RETURNS jsonb
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

CREATE OR REPLACE FUNCTION @extschema@._tasks_before_write() RETURNS trigger
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
        RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501',
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

CREATE OR REPLACE FUNCTION @extschema@.update_task(id bigint, patch jsonb, expected_version integer DEFAULT NULL)
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
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM412', MESSAGE = 'task was changed by someone else',
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

CREATE OR REPLACE FUNCTION @extschema@.delete_task(id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
  PERFORM @extschema@._require_user();
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = delete_task.id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  DELETE FROM @extschema@.tasks t WHERE t.id = delete_task.id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501',
      MESSAGE = 'only the creator, a lead or owner of its team, or an admin can delete this task';
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@._comments_before_write() RETURNS trigger
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
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'a comment''s task, parent, author and time cannot change';
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

CREATE OR REPLACE FUNCTION @extschema@._comment_for_change(id bigint) RETURNS @extschema@.comments
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  c @extschema@.comments;
BEGIN
  PERFORM @extschema@._require_user();
  SELECT * INTO c FROM @extschema@.comments x WHERE x.id = _comment_for_change.id;
  IF NOT FOUND THEN PERFORM @extschema@._not_found('comment'); END IF;
  IF c.author_id IS DISTINCT FROM @extschema@.current_user_id() AND NOT @extschema@.current_user_is_admin() THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'only the author or an admin can change this comment';
  END IF;
  RETURN c;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.configure_mail(app_url text DEFAULT NULL, digest_idle interval DEFAULT NULL,
                                           digest_max interval DEFAULT NULL, keep_sent interval DEFAULT NULL,
                                           keep_dead interval DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  s @extschema@.mail_settings := @extschema@._mail_settings();
BEGIN
  IF NOT has_table_privilege('@extschema@.mail_settings', 'INSERT') THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'only the database owner or a superuser can configure email';
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

CREATE OR REPLACE FUNCTION @extschema@._require_job_runner() RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF NOT has_table_privilege('@extschema@.task_reminders', 'INSERT') THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501',
      MESSAGE = 'scheduled jobs run as the database owner or a superuser';
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.schedule_jobs() RETURNS jsonb
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
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '0A000', MESSAGE = 'pg_cron is not installed in this database',
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
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'only team owners and admins can delete a team';
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
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM409', MESSAGE = 'the team still has tasks',
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
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM422', COLUMN = 'Idempotency-Key',
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
