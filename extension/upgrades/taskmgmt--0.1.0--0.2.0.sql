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
