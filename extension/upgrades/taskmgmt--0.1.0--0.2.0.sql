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

-- ==== filter keys: the accepted query parameters in one place (#19) ====
-- filter_keys(fn) lists what each API function's filter accepts; the
-- functions check against it and the HTTP suite compares it with openapi.json.
CREATE FUNCTION @extschema@.filter_keys(api_function text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE api_function
           WHEN 'list_tasks' THEN l
           WHEN 'filter_tasks' THEN l
           WHEN 'save_view' THEN array_remove(array_remove(l, 'cursor'), 'view')
           WHEN 'task_rows' THEN array_remove(array_remove(l, 'limit'), 'cursor')
           WHEN 'search_tasks' THEN array_remove(array_remove(l, 'sort'), 'q')
           WHEN 'export_tasks_csv' THEN l || '{include_comments}'::text[]
           WHEN 'export_tasks_csv_lines' THEN l || '{include_comments}'::text[]
           WHEN 'task_history' THEN '{limit,cursor}'
           WHEN 'notifications' THEN '{unread,cursor,limit,since}'
           WHEN 'report_summary' THEN '{team,from,to}'
           WHEN 'report_summary_pdf' THEN '{team,from,to}'
           WHEN 'mail_unsubscribe' THEN '{token}'
         END
    FROM (SELECT '{status,assignee,team,priority,tag,tag_mode,due_before,due_after,overdue,q,sort,limit,cursor,view}'::text[] AS l) k
$$;

COMMENT ON FUNCTION @extschema@.filter_keys(text) IS
  'The keys the filter argument of an API function accepts, e.g. filter_keys(''list_tasks'').';
REVOKE ALL ON FUNCTION @extschema@.filter_keys(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.filter_keys(text) TO taskmgmt_client;

CREATE FUNCTION @extschema@._check_filter_keys(api_function text, filter jsonb) RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  k text;
BEGIN
  IF filter IS NULL OR jsonb_typeof(filter) <> 'object' THEN
    PERFORM @extschema@._bad_parameter('filter', 'must be a JSON object');
  END IF;
  FOR k IN SELECT jsonb_object_keys(filter) ORDER BY 1 LOOP
    IF NOT k = ANY (@extschema@.filter_keys(api_function)) THEN
      PERFORM @extschema@._bad_parameter(k, format('is not a known parameter (%s)',
                                                    array_to_string(@extschema@.filter_keys(api_function), ', ')));
    END IF;
  END LOOP;
END
$$;

REVOKE ALL ON FUNCTION @extschema@._check_filter_keys(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._check_filter_keys(text, jsonb) TO taskmgmt_client;

CREATE OR REPLACE FUNCTION @extschema@._filter_normalize(filter jsonb, extra_keys text[] DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  known constant text[] := @extschema@.filter_keys('list_tasks');
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

CREATE OR REPLACE FUNCTION @extschema@.task_history(id bigint, filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  lim integer;
  cur jsonb;
  last_id bigint;
  items jsonb;
  n integer;
  fhash text := md5('history:' || id);
BEGIN
  PERFORM @extschema@._require_user();
  PERFORM @extschema@._check_filter_keys('task_history', filter);
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

CREATE OR REPLACE FUNCTION @extschema@.notifications(filter jsonb DEFAULT '{}') RETURNS jsonb
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
  PERFORM @extschema@._check_filter_keys('notifications', filter);
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

CREATE OR REPLACE FUNCTION @extschema@.report_summary(filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  f jsonb := coalesce(filter, '{}');
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
  PERFORM @extschema@._check_filter_keys('report_summary', f);

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

-- ==== typo-tolerant search: pg_trgm required, plain words only (#19) ====
-- (the requirement itself is in taskmgmt.control; see doc/operations.md)
CREATE OR REPLACE FUNCTION @extschema@._search_fuzzy_sql(f jsonb, n integer) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  trgm text;
BEGIN
  IF websearch_to_tsquery('english', f ->> 'q')::text ~ '!|\||<(-|[0-9]+)>' THEN
    RETURN NULL;
  END IF;
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

-- ==== readable rows for psql users (#19) ====
-- Readable doors for psql users: the API functions answer one jsonb value
-- (right for programs, one wide line in psql); these give the same things
-- as rows and columns.
--   my_tasks                    VIEW: every task you can see, newest first
--   task_rows(filter)           the list filter's tasks (filter_tasks), in
--                               its sort order, every match (no paging)
--   task_history_rows(task_id)  task_history's events, newest first
--   comment_thread_rows(task_id) comment_thread in display order, indented
-- They are built on the tables and the public functions, run as the caller
-- (security_invoker view, SECURITY INVOKER functions), so row-level
-- security decides what they show exactly as it does for the API.

-- One readable row of a task: names instead of ids.  A set-returning SQL
-- function so that the planner inlines it (as _export_fields).
CREATE FUNCTION @extschema@._task_row(t @extschema@.tasks)
RETURNS TABLE (id bigint, title text, status @extschema@.task_status, priority @extschema@.task_priority,
               due_date date, assignee text, team text, tags text[], updated_at timestamptz, version integer)
LANGUAGE sql STABLE ROWS 1 AS $$
  SELECT t.id, t.title, t.status, t.priority, t.due_date,
         CASE WHEN t.assignee_user_id IS NOT NULL THEN
                (SELECT u.display_name FROM @extschema@.users u WHERE u.id = t.assignee_user_id)
              WHEN t.assignee_team_id IS NOT NULL THEN
                coalesce(@extschema@._team_name(t.assignee_team_id) || ' (team)', 'team #' || t.assignee_team_id) END,
         @extschema@._team_name(t.team_id), t.tags, t.updated_at, t.version
$$;

CREATE VIEW @extschema@.my_tasks WITH (security_invoker = true) AS
  SELECT r.*
    FROM @extschema@.tasks t
    CROSS JOIN LATERAL @extschema@._task_row(t) r
   ORDER BY t.created_at DESC, t.id DESC;
COMMENT ON VIEW @extschema@.my_tasks IS
  'Every task you can see, one readable row each, newest first: SELECT * FROM taskmgmt.my_tasks';
REVOKE ALL ON @extschema@.my_tasks FROM PUBLIC;
GRANT SELECT ON @extschema@.my_tasks TO taskmgmt_client;

-- The list filter without paging: limit and cursor are refused (SQL's LIMIT
-- does that job here); every other key is filter_tasks' business.
CREATE FUNCTION @extschema@.task_rows(filter jsonb DEFAULT '{}')
RETURNS TABLE (id bigint, title text, status @extschema@.task_status, priority @extschema@.task_priority,
               due_date date, assignee text, team text, tags text[], updated_at timestamptz, version integer)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  k text;
BEGIN
  FOREACH k IN ARRAY ARRAY['cursor', 'limit'] LOOP
    IF jsonb_typeof(filter) = 'object' AND filter ? k THEN
      PERFORM @extschema@._bad_parameter(k, 'is not a parameter of task_rows, which returns every matching task (use LIMIT)');
    END IF;
  END LOOP;
  RETURN QUERY SELECT r.* FROM @extschema@.filter_tasks(filter) t CROSS JOIN LATERAL @extschema@._task_row(t) r;
END
$$;
COMMENT ON FUNCTION @extschema@.task_rows(jsonb) IS
  'The tasks of a list filter as readable rows, in its sort order: SELECT * FROM taskmgmt.task_rows(''{"assignee": "me"}'')';

CREATE FUNCTION @extschema@.task_history_rows(task_id bigint)
RETURNS TABLE (id bigint, at timestamptz, actor text, kind text, description text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
  PERFORM @extschema@._require_user();
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = task_history_rows.task_id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  RETURN QUERY
  SELECT (j ->> 'id')::bigint, (j ->> 'at')::timestamptz, coalesce(j ->> 'actor_name', j ->> 'actor_role'),
         j ->> 'kind', j ->> 'description'
    FROM @extschema@.task_events e
    CROSS JOIN LATERAL @extschema@.task_event_json(e) j
   WHERE e.task_id = task_history_rows.task_id
   ORDER BY e.id DESC;
END
$$;
COMMENT ON FUNCTION @extschema@.task_history_rows(bigint) IS
  'The history of a task as rows, newest first (task_history without paging).';

CREATE FUNCTION @extschema@.comment_thread_rows(task_id bigint)
RETURNS TABLE (id bigint, parent_id bigint, depth integer, author text, comment text,
               created_at timestamptz, edited_at timestamptz)
LANGUAGE sql STABLE AS $$
  SELECT (c ->> 'id')::bigint, (c ->> 'parent_id')::bigint, (c ->> 'depth')::integer, c ->> 'author_name',
         repeat('  ', (c ->> 'depth')::integer)
           || CASE WHEN (c ->> 'deleted')::boolean THEN '(deleted)' ELSE c ->> 'body' END,
         (c ->> 'created_at')::timestamptz, (c ->> 'edited_at')::timestamptz
    FROM jsonb_array_elements(@extschema@.comment_thread(comment_thread_rows.task_id)) WITH ORDINALITY AS x (c, n)
   ORDER BY x.n
$$;
COMMENT ON FUNCTION @extschema@.comment_thread_rows(bigint) IS
  'The comments of a task as rows in thread order, replies indented (comment_thread as a table).';
REVOKE ALL ON FUNCTION @extschema@._task_row(@extschema@.tasks) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._task_row(@extschema@.tasks) TO taskmgmt_client;
REVOKE ALL ON FUNCTION @extschema@.task_rows(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.task_rows(jsonb) TO taskmgmt_client;
REVOKE ALL ON FUNCTION @extschema@.task_history_rows(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.task_history_rows(bigint) TO taskmgmt_client;
REVOKE ALL ON FUNCTION @extschema@.comment_thread_rows(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.comment_thread_rows(bigint) TO taskmgmt_client;

-- ==== mail: HTML alternative, one-click unsubscribe, subjects without the comment (#19) ====
ALTER TABLE @extschema@.email_outbox ADD COLUMN unsubscribe_token text;

CREATE FUNCTION @extschema@._outbox_link(app_url text, what text, arg text DEFAULT NULL) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT rtrim(app_url, '/') || CASE what
    WHEN 'task' THEN '/?task=' || arg
    WHEN 'preferences' THEN '/?preferences'
    WHEN 'unsubscribe' THEN '/api/v1/mail/unsubscribe?token=' || arg
  END
$$;

CREATE FUNCTION @extschema@._html_escape(s text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT replace(replace(replace(replace(replace(s, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                         '"', '&quot;'), '''', '&#39;')
$$;

CREATE FUNCTION @extschema@._outbox_html(items jsonb, app_url text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT E'<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
         || E'<body style="font-family: sans-serif; line-height: 1.4">\n'
         || string_agg(format(E'<div style="margin-bottom: 1.5em">\n<p>%s</p>\n%s<p><a href="%s">Open the task</a></p>\n</div>\n',
                              @extschema@._html_escape(coalesce(i ->> 'headline', i ->> 'message')),
                              CASE WHEN i ? 'comment' THEN
                                format(E'<blockquote style="margin: 0 0 0 0.5em; padding-left: 0.8em; border-left: 3px solid #ccc">%s</blockquote>\n',
                                       replace(@extschema@._html_escape(i ->> 'comment'), E'\n', E'<br>\n'))
                                ELSE '' END,
                              @extschema@._html_escape(@extschema@._outbox_link(app_url, 'task', i ->> 'task_id'))),
                       '' ORDER BY ord)
         || E'<hr>\n<p style="color: #666; font-size: small">You get this email because of your taskmgmt '
         || format(E'notification preferences. <a href="%s">Change them</a>.</p>\n</body></html>\n',
                   @extschema@._html_escape(@extschema@._outbox_link(app_url, 'preferences')))
  FROM jsonb_array_elements(items) WITH ORDINALITY AS x(i, ord)
$$;

CREATE FUNCTION @extschema@._unsubscribe_mac(uid bigint) RETURNS bytea
LANGUAGE sql STABLE STRICT PARALLEL RESTRICTED AS $$
  SELECT substr(sha256(sha256('taskmgmt unsubscribe outer key:'::bytea || k.secret)
                       || sha256(sha256('taskmgmt unsubscribe inner key:'::bytea || k.secret)
                                 || convert_to('unsubscribe:' || uid, 'UTF8'))), 1, 16)
  FROM @extschema@.signing_keys k WHERE k.id = 1
$$;

CREATE FUNCTION @extschema@._unsubscribe_token(uid bigint) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL RESTRICTED AS $$
  SELECT uid || '.' || @extschema@._b64url_encode(@extschema@._unsubscribe_mac(uid))
$$;

CREATE FUNCTION @extschema@.mail_unsubscribe(link jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  m text[];
  uid bigint;
  mac bytea;
BEGIN
  PERFORM @extschema@._check_filter_keys('mail_unsubscribe', link);
  m := regexp_match(CASE WHEN jsonb_typeof(link -> 'token') = 'string' THEN link ->> 'token' END,
                    '^([0-9]{1,18})\.([A-Za-z0-9_-]{22})$');
  uid := m[1]::bigint;
  mac := @extschema@._b64url_decode(m[2]);
  -- compared as digests: the time taken says nothing about the right MAC
  IF m IS NULL OR mac IS NULL
     OR sha256(mac) IS DISTINCT FROM sha256(@extschema@._unsubscribe_mac(uid)) THEN
    PERFORM @extschema@._bad_parameter('token',
      'is not a valid unsubscribe link (it may be older than a key rotation); change your email preferences in the web UI');
  END IF;
  UPDATE @extschema@.users u
     SET preferences = jsonb_set(coalesce(u.preferences, '{}'), '{notifications}',
           coalesce(u.preferences -> 'notifications', '{}')
           || (SELECT jsonb_object_agg(e, coalesce(u.preferences -> 'notifications' -> e, '{}')
                                          || '{"email": false}')
                 FROM jsonb_object_keys(@extschema@.notification_defaults()) e)),
         updated_at = now()
   WHERE u.id = uid;
  RETURN jsonb_build_object('unsubscribed', true);
END
$$;

CREATE FUNCTION @extschema@._comment_headline(ev text, actor bigint, title text) RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT format(CASE ev WHEN 'mentioned' THEN '%s mentioned you on %s' ELSE '%s commented on %s' END,
                @extschema@._actor_name(actor), @extschema@._short_title(title))
$$;

COMMENT ON FUNCTION @extschema@.mail_unsubscribe(jsonb) IS
  'One-click unsubscribe (RFC 8058): {"token": ...} from a List-Unsubscribe link turns off every email notification of its user.';
REVOKE ALL ON FUNCTION @extschema@._outbox_link(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._outbox_link(text, text, text) TO taskmgmt_client;
REVOKE ALL ON FUNCTION @extschema@._html_escape(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._html_escape(text) TO taskmgmt_client;
REVOKE ALL ON FUNCTION @extschema@._outbox_html(jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._outbox_html(jsonb, text) TO taskmgmt_client;
REVOKE ALL ON FUNCTION @extschema@._unsubscribe_mac(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._unsubscribe_mac(bigint) TO taskmgmt_client;
REVOKE ALL ON FUNCTION @extschema@._unsubscribe_token(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._unsubscribe_token(bigint) TO taskmgmt_client;
REVOKE ALL ON FUNCTION @extschema@.mail_unsubscribe(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.mail_unsubscribe(jsonb) TO taskmgmt_client;
REVOKE ALL ON FUNCTION @extschema@._comment_headline(text, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._comment_headline(text, bigint, text) TO taskmgmt_client;

CREATE OR REPLACE FUNCTION @extschema@._outbox_enqueue(uid bigint, address text, ev text, task_id bigint,
                                            actor bigint, msg text, comment bigint)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  s @extschema@.mail_settings;
  title text := (SELECT t.title FROM @extschema@.tasks t WHERE t.id = _outbox_enqueue.task_id);
  item jsonb := jsonb_build_object('event', ev, 'task_id', task_id, 'actor_id', actor,
                                   'comment_id', comment, 'message', msg, 'at', now(), 'title', title);
  open_id bigint;
BEGIN
  -- a comment goes into the body whole; the subject names the task only
  IF comment IS NOT NULL AND ev IN ('mentioned', 'commented') THEN
    item := item || jsonb_build_object(
      'headline', @extschema@._comment_headline(ev, actor, title),
      'comment', (SELECT c.body FROM @extschema@.comments c WHERE c.id = comment));
  END IF;
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
      INSERT INTO @extschema@.email_outbox (user_id, recipient, kind, items, message_id, send_after, unsubscribe_token)
      VALUES (uid, address, 'digest', jsonb_build_array(item), @extschema@._new_message_id(),
              now() + least(s.digest_idle, s.digest_max), @extschema@._unsubscribe_token(uid));
    END IF;
  ELSE
    INSERT INTO @extschema@.email_outbox (user_id, recipient, kind, items, message_id, unsubscribe_token)
    VALUES (uid, address, 'single', jsonb_build_array(item), @extschema@._new_message_id(),
            @extschema@._unsubscribe_token(uid));
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@._outbox_subject(kind text, items jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '[taskmgmt] ' || CASE
    WHEN kind = 'single' OR jsonb_array_length(items) = 1 THEN
      CASE WHEN length(h) > 150 THEN left(h, 149) || '…' ELSE h END
    WHEN (SELECT count(DISTINCT i ->> 'task_id') = 1 AND bool_and(i ? 'title') FROM jsonb_array_elements(items) i) THEN
      format('%s updates on %s', jsonb_array_length(items), @extschema@._short_title(items -> -1 ->> 'title'))
    ELSE format('%s updates on your tasks', jsonb_array_length(items))
  END
  FROM (SELECT coalesce(items -> 0 ->> 'headline', items -> 0 ->> 'message') AS h) x
$$;

CREATE OR REPLACE FUNCTION @extschema@._outbox_body(items jsonb, app_url text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT string_agg(CASE WHEN i ? 'comment' THEN
                      format(E'%s:\n\n%s\n\nOpen the task: %s\n', i ->> 'headline',
                             regexp_replace(i ->> 'comment', '^', '> ', 'gn'),
                             @extschema@._outbox_link(app_url, 'task', i ->> 'task_id'))
                    ELSE format(E'%s\nOpen the task: %s\n', i ->> 'message',
                                @extschema@._outbox_link(app_url, 'task', i ->> 'task_id')) END,
                    E'\n' ORDER BY ord)
         || E'\n-- \nYou get this email because of your taskmgmt notification preferences.\n'
         || 'Change them: ' || @extschema@._outbox_link(app_url, 'preferences') || E'\n'
  FROM jsonb_array_elements(items) WITH ORDINALITY AS x(i, ord)
$$;

CREATE OR REPLACE FUNCTION @extschema@._comment_mentions_notify() RETURNS trigger
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
    @extschema@._comment_headline('mentioned', actor, t.title) || ': ' || @extschema@._comment_excerpt(c.body),
    c.id);
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@._comments_notify() RETURNS trigger
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
  msg := @extschema@._comment_headline('commented', actor, t.title) || ': ' || @extschema@._comment_excerpt(NEW.body);
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

-- outbox_claim returns two more columns (body_html, list_unsubscribe)
DROP FUNCTION @extschema@.outbox_claim(integer, interval);
CREATE FUNCTION @extschema@.outbox_claim(batch_size integer DEFAULT 10, lease interval DEFAULT '5 minutes')
RETURNS TABLE (id bigint, recipient text, subject text, body text, message_id text,
               attempts integer, claim_token uuid, body_html text, list_unsubscribe text)
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
            o.message_id, o.attempts, o.claim_token,
            @extschema@._outbox_html(o.items, url),
            @extschema@._outbox_link(url, 'unsubscribe', o.unsubscribe_token);
END
$$;

REVOKE ALL ON FUNCTION @extschema@.outbox_claim(integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.outbox_claim(integer, interval) TO taskmgmt_client;
GRANT EXECUTE ON FUNCTION @extschema@.outbox_claim(integer, interval),
  @extschema@._outbox_html(jsonb, text), @extschema@._outbox_link(text, text, text),
  @extschema@._html_escape(text), @extschema@._short_title(text)
  TO taskmgmt_mailer;

-- ==== subtasks and relations (#14) ====
-- from extension/sql/76_subtasks.sql
-- Subtasks (#14): tasks.parent_id, at most 10 levels deep, never a cycle,
-- and the parent must be a task the caller can see.  The check is a
-- trigger, so plain SQL (psql) obeys it as the API does.

-- Added here, after search_vector (74_search.sql), so that a fresh install
-- and an upgraded 0.1.0 have the same column order.  A detached subtask
-- outlives its parent.
ALTER TABLE @extschema@.tasks ADD COLUMN parent_id bigint REFERENCES @extschema@.tasks ON DELETE SET NULL;

CREATE INDEX tasks_parent_id_idx ON @extschema@.tasks (parent_id) WHERE parent_id IS NOT NULL;

GRANT INSERT (parent_id), UPDATE (parent_id) ON @extschema@.tasks TO taskmgmt_client;

-- SECURITY DEFINER: the chains above and below are checked whole, whatever
-- part of them the caller can see (a trigger function cannot be called
-- directly, so it reveals nothing beyond "refused").  The advisory lock
-- serialises changes of the hierarchy, so two concurrent moves cannot make
-- a cycle that neither sees alone.
CREATE FUNCTION @extschema@._tasks_check_parent() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  uid bigint := @extschema@.current_user_id();
  p @extschema@.tasks;
  above integer;
  below integer;
  cycle boolean;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.parent_id IS NOT DISTINCT FROM OLD.parent_id THEN
    RETURN NEW;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('taskmgmt.tasks.parent_id'));
  SELECT * INTO p FROM @extschema@.tasks t WHERE t.id = NEW.parent_id;
  -- the same answer for a task that does not exist and one the caller cannot see
  IF NOT FOUND OR (uid IS NOT NULL
                   AND NOT @extschema@._user_can_see_task(uid, @extschema@.current_user_is_admin(), p)) THEN
    PERFORM @extschema@._invalid('parent_id', 'is not a task you can see');
  END IF;
  WITH RECURSIVE up(id, n) AS (
    SELECT NEW.parent_id, 1
    UNION ALL
    SELECT t.parent_id, up.n + 1 FROM up JOIN @extschema@.tasks t ON t.id = up.id
     WHERE t.parent_id IS NOT NULL AND up.n <= 10 AND up.id <> NEW.id
  )
  SELECT max(n), bool_or(id = NEW.id) INTO above, cycle FROM up;
  IF cycle THEN
    PERFORM @extschema@._invalid('parent_id', 'would make the task a subtask of itself');
  END IF;
  below := 1;
  IF TG_OP = 'UPDATE' THEN
    WITH RECURSIVE down(id, n) AS (
      SELECT NEW.id, 1
      UNION ALL
      SELECT t.id, down.n + 1 FROM down JOIN @extschema@.tasks t ON t.parent_id = down.id
       WHERE down.n <= 10
    )
    SELECT max(n) INTO below FROM down;
  END IF;
  IF above + below > 10 THEN
    PERFORM @extschema@._invalid('parent_id', 'would nest subtasks more than 10 levels deep');
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER tasks_check_parent BEFORE INSERT OR UPDATE OF parent_id ON @extschema@.tasks
  FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL)
  EXECUTE FUNCTION @extschema@._tasks_check_parent();

-- The task and every subtask below it that the caller can see (the walk
-- runs under the caller's policies: it stops at a subtask it cannot see).
CREATE FUNCTION @extschema@._visible_subtree(id bigint) RETURNS bigint[]
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  WITH RECURSIVE down(id, n) AS (
    SELECT t.id, 1 FROM @extschema@.tasks t WHERE t.id = _visible_subtree.id
    UNION ALL
    SELECT t.id, down.n + 1 FROM down JOIN @extschema@.tasks t ON t.parent_id = down.id
     WHERE down.n <= 10
  )
  SELECT coalesce(array_agg(id ORDER BY n DESC, id), '{}') FROM down
$$;

-- GET /tasks/{id}/subtasks: {items: [task...]}, the direct subtasks the
-- caller can see, oldest first.
CREATE FUNCTION @extschema@.task_subtasks(id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
BEGIN
  PERFORM @extschema@._require_user();
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = task_subtasks.id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  RETURN jsonb_build_object('items', coalesce(
    (SELECT jsonb_agg(@extschema@.task_json(c) ORDER BY c.id)
       FROM @extschema@.tasks c WHERE c.parent_id = task_subtasks.id), '[]'));
END
$$;

-- The query parameters of DELETE /tasks/{id}: only cascade=true|false.
CREATE FUNCTION @extschema@._delete_cascade_param(params jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  k text;
BEGIN
  FOR k IN SELECT jsonb_object_keys(coalesce(params, '{}')) ORDER BY 1 LOOP
    IF k <> 'cascade' THEN PERFORM @extschema@._bad_parameter(k, 'is not a known parameter'); END IF;
  END LOOP;
  IF params ? 'cascade' THEN
    RETURN @extschema@._bool_param(params -> 'cascade', 'cascade');
  END IF;
  RETURN false;
END
$$;

-- from extension/sql/77_relations.sql
-- Relations between tasks (#14): blocks (read from the other side as
-- blocked_by), relates, duplicates (read as duplicated_by).  One relation
-- per pair of tasks.  A relation is visible only when both of its tasks
-- are: a relation to a task the caller cannot see does not exist for them.

CREATE TABLE @extschema@.task_relations (
  task_id    bigint NOT NULL REFERENCES @extschema@.tasks ON DELETE CASCADE,
  other_id   bigint NOT NULL REFERENCES @extschema@.tasks ON DELETE CASCADE,
  type       text NOT NULL CHECK (type IN ('blocks', 'relates', 'duplicates')),
  created_by bigint REFERENCES @extschema@.users ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (task_id, other_id),
  CHECK (task_id <> other_id)
);
CREATE UNIQUE INDEX task_relations_pair_key ON @extschema@.task_relations
  (least(task_id, other_id), greatest(task_id, other_id));
-- "what blocks this task" (blocked_by_open, ready)
CREATE INDEX task_relations_other_id_idx ON @extschema@.task_relations (other_id, type);
COMMENT ON TABLE @extschema@.task_relations IS
  'Relations between tasks: task_id blocks / relates to / duplicates other_id.';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.task_relations', '');

ALTER TABLE @extschema@.task_relations ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.task_relations FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.task_relations FROM PUBLIC;
-- Both tasks visible (the EXISTS run under the caller's tasks policy).
CREATE POLICY task_relations_select ON @extschema@.task_relations FOR SELECT
  USING (EXISTS (SELECT FROM @extschema@.tasks a WHERE a.id = task_relations.task_id)
         AND EXISTS (SELECT FROM @extschema@.tasks b WHERE b.id = task_relations.other_id));
CREATE POLICY task_relations_insert ON @extschema@.task_relations FOR INSERT
  WITH CHECK (created_by = (SELECT @extschema@.current_user_id())
              AND EXISTS (SELECT FROM @extschema@.tasks a WHERE a.id = task_relations.task_id)
              AND EXISTS (SELECT FROM @extschema@.tasks b WHERE b.id = task_relations.other_id));
CREATE POLICY task_relations_delete ON @extschema@.task_relations FOR DELETE
  USING (EXISTS (SELECT FROM @extschema@.tasks a WHERE a.id = task_relations.task_id)
         AND EXISTS (SELECT FROM @extschema@.tasks b WHERE b.id = task_relations.other_id));
GRANT SELECT, INSERT (task_id, other_id, type, created_by), DELETE
  ON @extschema@.task_relations TO taskmgmt_client;

-- A cycle of blocks is refused, whatever the door.  SECURITY DEFINER: the
-- walk follows every blocks edge, seen or not (a trigger function cannot be
-- called directly).  The advisory lock serialises new blocks edges, so two
-- concurrent inserts cannot close a cycle together.
CREATE FUNCTION @extschema@._task_relations_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  NEW.created_at := now();
  IF NEW.type = 'blocks' THEN
    PERFORM pg_advisory_xact_lock(hashtext('taskmgmt.task_relations.blocks'));
    IF EXISTS (WITH RECURSIVE reach(id) AS (
                 SELECT NEW.other_id
                 UNION
                 SELECT r.other_id FROM reach JOIN @extschema@.task_relations r
                     ON r.task_id = reach.id AND r.type = 'blocks')
               SELECT FROM reach WHERE reach.id = NEW.task_id) THEN
      PERFORM @extschema@._invalid('task_id', 'would make a cycle of blocking tasks');
    END IF;
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER task_relations_check BEFORE INSERT ON @extschema@.task_relations
  FOR EACH ROW EXECUTE FUNCTION @extschema@._task_relations_check();

-- One relation as seen from task `me`: {type, task_id, title, status}.
CREATE FUNCTION @extschema@._relation_json(r @extschema@.task_relations, me bigint) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT jsonb_build_object(
    'type', CASE WHEN r.task_id = me THEN r.type
                 WHEN r.type = 'blocks' THEN 'blocked_by'
                 WHEN r.type = 'duplicates' THEN 'duplicated_by'
                 ELSE r.type END,
    'task_id', o.id, 'title', o.title, 'status', o.status, 'created_at', r.created_at)
  FROM @extschema@.tasks o
  WHERE o.id = CASE WHEN r.task_id = me THEN r.other_id ELSE r.task_id END
$$;

-- GET /tasks/{id}/relations: {items: [relation...]}.
CREATE FUNCTION @extschema@.list_relations(id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
BEGIN
  PERFORM @extschema@._require_user();
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = list_relations.id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  RETURN jsonb_build_object('items', coalesce(
    (SELECT jsonb_agg(@extschema@._relation_json(r, list_relations.id)
                      ORDER BY CASE WHEN r.task_id = list_relations.id THEN r.other_id ELSE r.task_id END)
       FROM @extschema@.task_relations r
      WHERE r.task_id = list_relations.id OR r.other_id = list_relations.id), '[]'));
END
$$;

-- POST /tasks/{id}/relations {type, task_id}: the new relation as seen
-- from task id.  TM422 for a bad body, an invisible other task or a cycle;
-- 23505 (409) when the two tasks are already related.
CREATE FUNCTION @extschema@.add_relation(id bigint, relation jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  typ text;
  other bigint;
  r @extschema@.task_relations;
BEGIN
  PERFORM @extschema@._check_keys(relation, '{type,task_id}');
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = add_relation.id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  typ := @extschema@._enum_field(relation, 'type', '{blocks,blocked_by,relates,duplicates}');
  IF NOT relation ? 'task_id' OR relation -> 'task_id' = 'null' THEN
    PERFORM @extschema@._invalid('task_id', 'is required');
  END IF;
  other := @extschema@._id_field(relation, 'task_id');
  IF other = add_relation.id THEN
    PERFORM @extschema@._invalid('task_id', 'must be another task');
  END IF;
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = other) THEN
    PERFORM @extschema@._invalid('task_id', 'is not a task you can see');
  END IF;
  IF EXISTS (SELECT FROM @extschema@.task_relations x
              WHERE (x.task_id, x.other_id) IN ((add_relation.id, other), (other, add_relation.id))) THEN
    RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'these tasks are already related',
      HINT = 'Delete the existing relation first.';
  END IF;
  INSERT INTO @extschema@.task_relations (task_id, other_id, type, created_by)
  VALUES (CASE WHEN typ = 'blocked_by' THEN other ELSE add_relation.id END,
          CASE WHEN typ = 'blocked_by' THEN add_relation.id ELSE other END,
          CASE WHEN typ = 'blocked_by' THEN 'blocks' ELSE typ END, uid)
  RETURNING * INTO r;
  RETURN @extschema@._relation_json(r, add_relation.id);
END
$$;

-- DELETE /tasks/{id}/relations/{other_id}: whichever way the relation runs.
CREATE FUNCTION @extschema@.remove_relation(id bigint, other_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
  PERFORM @extschema@._require_user();
  DELETE FROM @extschema@.task_relations x
   WHERE (x.task_id, x.other_id) IN ((remove_relation.id, remove_relation.other_id),
                                     (remove_relation.other_id, remove_relation.id));
  IF NOT FOUND THEN PERFORM @extschema@._not_found('relation'); END IF;
END
$$;

-- The list filter ready=true: open tasks none of whose visible blockers is
-- still open (a done or canceled blocker no longer blocks).
CREATE FUNCTION @extschema@._ready_sql(ready boolean) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT format('%s(t.status IN (''todo'', ''in_progress'') AND NOT EXISTS ('
                'SELECT FROM @extschema@.task_relations r JOIN @extschema@.tasks b ON b.id = r.task_id '
                'WHERE r.other_id = t.id AND r.type = ''blocks'' AND b.status NOT IN (''done'', ''canceled'')))',
                CASE WHEN ready THEN '' ELSE 'NOT ' END)
$$;

-- unblocked: when a task's last open blocker is done (or canceled), the
-- blocked task's assignees hear of it.  Every blocker counts here, seen by
-- the recipient or not, and the message names only the blocked task (which
-- _deliver checks the recipient can see).
CREATE FUNCTION @extschema@._tasks_notify_unblocked() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  actor bigint := @extschema@.current_user_id();
  b @extschema@.tasks;
  rcpt bigint;
BEGIN
  FOR b IN SELECT t.* FROM @extschema@.task_relations r JOIN @extschema@.tasks t ON t.id = r.other_id
            WHERE r.task_id = NEW.id AND r.type = 'blocks' AND t.status IN ('todo', 'in_progress')
              AND NOT EXISTS (SELECT FROM @extschema@.task_relations r2
                                JOIN @extschema@.tasks o ON o.id = r2.task_id
                               WHERE r2.other_id = t.id AND r2.type = 'blocks'
                                 AND o.status NOT IN ('done', 'canceled'))
            ORDER BY t.id LOOP
    FOREACH rcpt IN ARRAY @extschema@._assignees(b.assignee_user_id, b.assignee_team_id) LOOP
      PERFORM @extschema@._deliver(rcpt, 'unblocked', b, actor,
        format('%s is no longer blocked', @extschema@._short_title(b.title)));
    END LOOP;
  END LOOP;
  RETURN NULL;
END
$$;

CREATE TRIGGER tasks_notify_unblocked AFTER UPDATE OF status ON @extschema@.tasks
  FOR EACH ROW WHEN (NEW.status IN ('done', 'canceled') AND OLD.status NOT IN ('done', 'canceled'))
  EXECUTE FUNCTION @extschema@._tasks_notify_unblocked();

-- The planning counts of a task's JSON (task_json, 60_tasks.sql):
-- subtasks {total, done} and blocked_by_open.  The counts run
-- under the caller's policies, so they count visible tasks only.
-- PL/pgSQL so that the two queries are planned once per session.
CREATE FUNCTION @extschema@._task_planning_json(t @extschema@.tasks) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  total bigint;
  done bigint;
  blockers bigint;
BEGIN
  SELECT count(*), count(*) FILTER (WHERE c.status = 'done') INTO total, done
    FROM @extschema@.tasks c WHERE c.parent_id = t.id;
  SELECT count(*) INTO blockers
    FROM @extschema@.task_relations r JOIN @extschema@.tasks b ON b.id = r.task_id
   WHERE r.other_id = t.id AND r.type = 'blocks' AND b.status NOT IN ('done', 'canceled');
  RETURN jsonb_build_object('subtasks', jsonb_build_object('total', total, 'done', done), 'blocked_by_open', blockers);
END
$$;

-- The same counts for a page of tasks (_task_json_core objects, in order)
-- in two queries: per task they doubled the CPU time of a list page.
CREATE FUNCTION @extschema@._with_planning(items jsonb[]) RETURNS jsonb[]
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  ids bigint[] := ARRAY(SELECT (i ->> 'id')::bigint FROM unnest(items) WITH ORDINALITY x(i, n) ORDER BY n);
  subs jsonb;
  blocked jsonb;
BEGIN
  IF cardinality(items) = 0 THEN
    RETURN items;
  END IF;
  SELECT coalesce(jsonb_object_agg(c.parent_id, jsonb_build_object('total', c.total, 'done', c.done)), '{}') INTO subs
    FROM (SELECT c.parent_id, count(*) AS total, count(*) FILTER (WHERE c.status = 'done') AS done
            FROM @extschema@.tasks c WHERE c.parent_id = ANY (ids) GROUP BY c.parent_id) c;
  SELECT coalesce(jsonb_object_agg(x.other_id, x.n), '{}') INTO blocked
    FROM (SELECT r.other_id, count(*) AS n
            FROM @extschema@.task_relations r JOIN @extschema@.tasks b ON b.id = r.task_id
           WHERE r.other_id = ANY (ids) AND r.type = 'blocks' AND b.status NOT IN ('done', 'canceled')
           GROUP BY r.other_id) x;
  RETURN ARRAY(
    SELECT i || jsonb_build_object(
             'subtasks', coalesce(subs -> (i ->> 'id'), '{"total": 0, "done": 0}'),
             'blocked_by_open', coalesce(blocked -> (i ->> 'id'), '0'))
      FROM unnest(items) WITH ORDINALITY x(i, n)
     ORDER BY x.n);
END
$$;

-- from extension/sql/78_recurrence.sql
-- Recurring tasks (#14): tasks.recurrence is an RFC 5545 RRULE (FREQ
-- DAILY/WEEKLY/MONTHLY/YEARLY with INTERVAL, BYDAY, BYMONTHDAY, COUNT,
-- UNTIL, ...), expanded by libical (extension/recurrence.c).  Completing an
-- occurrence creates the next one, due on the rule's next date after the
-- completed one's due date; the two histories name each other.  COUNT and
-- UNTIL end the series.  A series runs from recurrence_start, the due date
-- (or, without one, today in the creator's time zone) at which its rule was
-- set: editing the rule restarts the series at the current occurrence, so
-- the new rule applies from the next occurrence on.
--
-- Columns added after parent_id (76_subtasks.sql): the upgrade appends them
-- in the same order.  recurrence_of (the occurrence this one continues) and
-- recurrence_start are written by the triggers only (no client grant).
ALTER TABLE @extschema@.tasks
  ADD COLUMN recurrence       text CHECK (length(recurrence) <= 500),
  ADD COLUMN recurrence_start date,
  ADD COLUMN recurrence_of    bigint REFERENCES @extschema@.tasks ON DELETE SET NULL;

GRANT INSERT (recurrence), UPDATE (recurrence) ON @extschema@.tasks TO taskmgmt_client;

-- NULL when the rule is valid, else why not.
CREATE FUNCTION @extschema@._rrule_check(rule text) RETURNS text
AS 'MODULE_PATHNAME', 'tm_rrule_check' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
-- The first occurrence after `after` of the series starting at dtstart
-- (dtstart is the first occurrence); NULL when the series has ended.
CREATE FUNCTION @extschema@._rrule_next(rule text, dtstart date, after date) RETURNS date
AS 'MODULE_PATHNAME', 'tm_rrule_next' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Today in the time zone of a user (UTC for none).
CREATE FUNCTION @extschema@._user_today(uid bigint) RETURNS date
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT (now() AT TIME ZONE coalesce((SELECT u.timezone FROM @extschema@.users u WHERE u.id = uid), 'UTC'))::date
$$;

-- Validates the rule (TM422, field recurrence) and starts the series.
CREATE FUNCTION @extschema@._tasks_check_recurrence() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  reason text;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.recurrence IS NOT DISTINCT FROM OLD.recurrence THEN
    NEW.recurrence_start := OLD.recurrence_start;
    RETURN NEW;
  END IF;
  IF NEW.recurrence IS NULL THEN
    NEW.recurrence_start := NULL;
    RETURN NEW;
  END IF;
  reason := @extschema@._rrule_check(NEW.recurrence);
  IF reason IS NOT NULL THEN
    PERFORM @extschema@._invalid('recurrence', reason);
  END IF;
  -- a next occurrence (recurrence_of set, which only the owner can do)
  -- continues its series; otherwise the series starts here
  IF NOT (TG_OP = 'INSERT' AND NEW.recurrence_of IS NOT NULL AND NEW.recurrence_start IS NOT NULL) THEN
    NEW.recurrence_start := coalesce(NEW.due_date, @extschema@._user_today(NEW.creator_id));
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER tasks_check_recurrence BEFORE INSERT OR UPDATE ON @extschema@.tasks
  FOR EACH ROW WHEN (NEW.recurrence IS NOT NULL OR NEW.recurrence_start IS NOT NULL)
  EXECUTE FUNCTION @extschema@._tasks_check_recurrence();

-- The next occurrence, when an occurrence is done.  SECURITY DEFINER: the
-- new task belongs to the series (same creator, team, assignee, tags, ...),
-- whoever completed this one; _tasks_before_write lets an insert with
-- recurrence_of through its assignment checks for that reason.
CREATE FUNCTION @extschema@._tasks_recur() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  due date;
  nxt @extschema@.tasks;
  role_name text := CASE WHEN current_setting('role') <> 'none' THEN current_setting('role')
                         ELSE session_user::text END;
BEGIN
  -- a task re-done after being reopened has its next occurrence already
  IF EXISTS (SELECT FROM @extschema@.tasks t WHERE t.recurrence_of = NEW.id) THEN
    RETURN NULL;
  END IF;
  due := @extschema@._rrule_next(NEW.recurrence, NEW.recurrence_start,
                                 coalesce(NEW.due_date, @extschema@._user_today(NEW.creator_id)));
  IF due IS NULL THEN
    RETURN NULL;  -- COUNT or UNTIL ended the series
  END IF;
  INSERT INTO @extschema@.tasks (title, description, status, priority, due_date, team_id,
                                 assignee_user_id, assignee_team_id, tags, creator_id, parent_id,
                                 recurrence, recurrence_start, recurrence_of)
  VALUES (NEW.title, NEW.description, 'todo', NEW.priority, due, NEW.team_id,
          NEW.assignee_user_id, NEW.assignee_team_id, NEW.tags, NEW.creator_id, NEW.parent_id,
          NEW.recurrence, NEW.recurrence_start, NEW.id)
  RETURNING * INTO nxt;
  INSERT INTO @extschema@.task_events (task_id, actor_id, actor_role, source, kind, changes, description)
  VALUES (NEW.id, @extschema@.current_user_id(), role_name, @extschema@._event_source(), 'updated',
          jsonb_build_object('next_occurrence', jsonb_build_array(NULL, nxt.id)),
          format('next occurrence: #%s, due %s', nxt.id, to_char(due, 'YYYY-MM-DD'))),
         (nxt.id, @extschema@.current_user_id(), role_name, @extschema@._event_source(), 'updated',
          jsonb_build_object('previous_occurrence', jsonb_build_array(NULL, NEW.id)),
          format('recurs from #%s', NEW.id));
  RETURN NULL;
END
$$;

CREATE TRIGGER tasks_recur AFTER UPDATE OF status ON @extschema@.tasks
  FOR EACH ROW WHEN (NEW.status = 'done' AND OLD.status <> 'done' AND NEW.recurrence IS NOT NULL)
  EXECUTE FUNCTION @extschema@._tasks_recur();

CREATE INDEX tasks_recurrence_of_idx ON @extschema@.tasks (recurrence_of) WHERE recurrence_of IS NOT NULL;

-- from extension/sql/79_filter_lang.sql
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
CREATE FUNCTION @extschema@._filter_params(f jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(ARRAY(SELECT jsonb_array_elements_text(f -> 'filter_params')), '{}')
$$;

-- The start of a day in the signed-in user's time zone (created<, updated>).
CREATE FUNCTION @extschema@._day_start(d date) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT d::timestamp AT TIME ZONE coalesce(
    (SELECT u.timezone FROM @extschema@.users u WHERE u.id = @extschema@.current_user_id()), 'UTC')
$$;

ALTER TABLE @extschema@.notifications DROP CONSTRAINT notifications_event_check;
ALTER TABLE @extschema@.notifications ADD CONSTRAINT notifications_event_check
  CHECK (event IN ('assigned', 'updated', 'commented', 'mentioned', 'due_soon', 'overdue', 'unblocked'));

CREATE OR REPLACE FUNCTION @extschema@.task_json(t @extschema@.tasks) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT @extschema@._task_json_core(t) || @extschema@._task_planning_json(t)
$$;


CREATE OR REPLACE FUNCTION @extschema@._task_json_core(t @extschema@.tasks) RETURNS jsonb
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
    'version', t.version,
    -- planning (#14): the row's own planning fields; the counts are
    -- _task_planning_json / _with_planning (77_relations.sql)
    'parent_id', t.parent_id, 'recurrence', t.recurrence)
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
          IF NOT EXISTS (SELECT FROM @extschema@.users u WHERE u.id = r.assignee_user_id AND NOT u.disabled) THEN
            PERFORM @extschema@._invalid('assignee', 'is not an active user');
          END IF;
        ELSE
          r.assignee_team_id := @extschema@._id_field(jsonb_build_object('assignee.id', a -> 'id'), 'assignee.id');
          r.assignee_user_id := NULL;
      END CASE;
    END IF;
  END IF;
  IF p ? 'parent_id' THEN  -- checked by the tasks_check_parent trigger (76_subtasks.sql)
    r.parent_id := @extschema@._id_field(p, 'parent_id');
  END IF;
  IF p ? 'recurrence' THEN  -- checked by the tasks_check_recurrence trigger (78_recurrence.sql)
    r.recurrence := nullif(btrim(@extschema@._text_field(p, 'recurrence', 500)), '');
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


CREATE OR REPLACE FUNCTION @extschema@._tasks_before_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  uid bigint := @extschema@.current_user_id();
BEGIN
  -- the next occurrence of a recurring task (recurrence_of, which clients
  -- cannot insert) continues its series as it was assigned (78_recurrence.sql)
  IF uid IS NOT NULL AND NOT (TG_OP = 'INSERT' AND NEW.recurrence_of IS NOT NULL) THEN
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
      NEW.assignee_user_id, NEW.assignee_team_id, NEW.tags, NEW.parent_id, NEW.recurrence)
     IS NOT DISTINCT FROM
     (OLD.title, OLD.description, OLD.status, OLD.priority, OLD.due_date, OLD.team_id,
      OLD.assignee_user_id, OLD.assignee_team_id, OLD.tags, OLD.parent_id, OLD.recurrence) THEN
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


CREATE OR REPLACE FUNCTION @extschema@.create_task(task jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  r @extschema@.tasks;
BEGIN
  PERFORM @extschema@._check_keys(task,
    '{title,description,status,priority,due_date,team_id,assignee,tags,parent_id,recurrence}',
    '{id,creator_id,version,created_at,updated_at,started_at,completed_at}');
  IF NOT task ? 'title' THEN PERFORM @extschema@._invalid('title', 'is required'); END IF;
  r.description := '';
  r.status := 'todo';
  r.priority := 'none';
  r.tags := '{}';
  r := @extschema@._apply_task_fields(task, r);
  INSERT INTO @extschema@.tasks (title, description, status, priority, due_date, team_id,
                                 assignee_user_id, assignee_team_id, tags, creator_id, parent_id, recurrence)
  VALUES (r.title, r.description, r.status, r.priority, r.due_date, r.team_id,
          r.assignee_user_id, r.assignee_team_id, r.tags, uid, r.parent_id, r.recurrence)
  RETURNING * INTO r;
  RETURN @extschema@.task_json(r);
END
$$;


CREATE OR REPLACE FUNCTION @extschema@.update_task(id bigint, patch jsonb, expected_version integer DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  r @extschema@.tasks;
BEGIN
  PERFORM @extschema@._require_user();
  PERFORM @extschema@._check_keys(patch,
    '{title,description,status,priority,due_date,team_id,assignee,tags,parent_id,recurrence}',
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
         assignee_team_id = r.assignee_team_id, tags = r.tags, parent_id = r.parent_id,
         recurrence = r.recurrence
   WHERE t.id = r.id
  RETURNING * INTO r;
  RETURN @extschema@.task_json(r);
END
$$;


CREATE OR REPLACE FUNCTION @extschema@._tasks_record_history() RETURNS trigger
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
      'parent_id', CASE WHEN r.parent_id IS NOT NULL THEN jsonb_build_array(NULL, r.parent_id) END,
      'recurrence', CASE WHEN r.recurrence IS NOT NULL THEN jsonb_build_array(NULL, r.recurrence) END,
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
  IF NEW.parent_id IS DISTINCT FROM OLD.parent_id THEN
    ch := ch || jsonb_build_object('parent_id', jsonb_build_array(OLD.parent_id, NEW.parent_id));
    lines := lines || format('parent: %s → %s', coalesce('#' || OLD.parent_id, 'none'),
                             coalesce('#' || NEW.parent_id, 'none'));
  END IF;
  IF NEW.recurrence IS DISTINCT FROM OLD.recurrence THEN
    ch := ch || jsonb_build_object('recurrence', jsonb_build_array(OLD.recurrence, NEW.recurrence));
    lines := lines || format('recurrence: %s → %s', coalesce(OLD.recurrence, 'none'), coalesce(NEW.recurrence, 'none'));
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


CREATE OR REPLACE FUNCTION @extschema@._validate_preferences(p jsonb) RETURNS void
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


CREATE OR REPLACE FUNCTION @extschema@._filter_normalize(filter jsonb, extra_keys text[] DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  known constant text[] := '{status,assignee,team,priority,tag,tag_mode,due_before,due_after,overdue,q,sort,limit,cursor,view,ready,filter}';
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
      WHEN 'ready' THEN  -- planning (#14, 77_relations.sql)
        f := f || jsonb_build_object(k, @extschema@._bool_param(v, k));
      WHEN 'filter' THEN  -- the filter language (#14, 79_filter_lang.sql)
        IF jsonb_typeof(v) <> 'string' THEN
          PERFORM @extschema@._bad_parameter(k, 'must be a filter text such as status:todo due<7d');
        END IF;
        f := f || jsonb_build_object(k, v #>> '{}')
               || (SELECT jsonb_build_object('filter_sql', c -> 'sql', 'filter_params', c -> 'params',
                                             'filter_narrows', c -> 'narrows')
                     FROM @extschema@._filter_compile(v #>> '{}') c);
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


CREATE OR REPLACE FUNCTION @extschema@._filter_where(f jsonb) RETURNS text
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
  IF f ? 'ready' THEN  -- planning (#14, 77_relations.sql)
    conds := conds || @extschema@._ready_sql((f ->> 'ready')::boolean);
  END IF;
  IF f ? 'filter_sql' THEN  -- the filter language (#14): values in $1, see _filter_params
    conds := conds || (f ->> 'filter_sql');
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
  IF uid IS NOT NULL AND coalesce(a, 'none') = 'none' AND NOT f ? 'team'
     AND NOT coalesce((f ->> 'filter_narrows')::boolean, false)  -- the filter language (#14)
     AND NOT @extschema@.current_user_is_admin() THEN
    teams := @extschema@.my_team_ids();
    conds := conds || format(CASE WHEN cardinality(teams) = 0 THEN '(t.creator_id = %1$s OR t.assignee_user_id = %1$s)'
                                  ELSE '(t.creator_id = %1$s OR t.assignee_user_id = %1$s '
                                       'OR t.assignee_team_id = ANY (%2$L::bigint[]) OR t.team_id = ANY (%2$L::bigint[]))' END,
                             uid, teams);
  END IF;
  RETURN array_to_string(conds, ' AND ');
END
$$;


CREATE OR REPLACE FUNCTION @extschema@.filter_tasks(filter jsonb DEFAULT '{}') RETURNS SETOF @extschema@.tasks
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  f jsonb;
BEGIN
  PERFORM @extschema@._require_user();
  f := @extschema@._filter_normalize(filter);
  PERFORM @extschema@._filter_cursor(f, 'list');
  RETURN QUERY EXECUTE format('SELECT t.* FROM @extschema@.tasks t WHERE %s ORDER BY %s',
                              @extschema@._filter_where(f),
                              (@extschema@._order_sql(@extschema@._filter_sort(f))).order_by)
               USING @extschema@._filter_params(f);
END
$$;


CREATE OR REPLACE FUNCTION @extschema@.list_tasks(filter jsonb DEFAULT '{}') RETURNS jsonb
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
  FOR rec IN EXECUTE @extschema@._list_sql(f, cur, lim + 1) USING @extschema@._filter_params(f) LOOP
    IF cardinality(items) = lim THEN
      more := true;
      EXIT;
    END IF;
    items := items || @extschema@._task_json_core(rec.task);  -- + planning keys below (#14)
    last_keys := rec.keys;
    last_id := (rec.task).id;
  END LOOP;
  items := @extschema@._with_planning(items);  -- #14: the page's planning keys in two queries
  RETURN jsonb_build_object(
    'items', to_jsonb(items),
    'next_cursor', CASE WHEN more THEN @extschema@._cursor_make(jsonb_build_object(
      's', 'list', 'f', @extschema@._filter_hash(f), 'k', last_keys, 'i', last_id)) END);
END
$$;


CREATE OR REPLACE FUNCTION @extschema@.search_tasks(q text, filter jsonb DEFAULT '{}') RETURNS jsonb
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
    FOR rec IN EXECUTE @extschema@._search_sql(f, cur, lim + 1) USING @extschema@._filter_params(f) LOOP
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
    FOR rec IN EXECUTE @extschema@._search_fuzzy_sql(f, lim) USING @extschema@._filter_params(f) LOOP
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


CREATE OR REPLACE FUNCTION @extschema@.notification_defaults() RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '{"assigned":  {"in_app": true, "email": true},
           "updated":   {"in_app": true, "email": false},
           "commented": {"in_app": true, "email": false},
           "mentioned": {"in_app": true, "email": true},
           "due_soon":  {"in_app": true, "email": true},
           "overdue":   {"in_app": true, "email": false},
           "unblocked": {"in_app": true, "email": false}}'::jsonb
$$;


CREATE OR REPLACE FUNCTION @extschema@.report_summary(filter jsonb DEFAULT '{}') RETURNS jsonb
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
    -- #14 (79_as_of.sql): stays in each status that ended in the period
    'time_in_status_hours', @extschema@._time_in_status(ARRAY(SELECT s.id FROM s), t_from, t_to),
    'assignees', coalesce((
      SELECT jsonb_agg(jsonb_build_object('type', n.kind, 'id', n.aid, 'name', n.name,
                                          'completed', n.completed, 'open', n.open)
                       ORDER BY n.completed DESC, n.open DESC, n.name NULLS LAST, n.aid)
        FROM named n), '[]'))
  INTO result;
  RETURN result;
END
$$;


DROP FUNCTION @extschema@.delete_task(bigint);
-- cascade: also delete the subtasks (every level) the caller can see;
-- without it a task with visible subtasks is refused (TM422, field cascade).
-- Subtasks the caller cannot see are detached (parent_id set to NULL).
CREATE FUNCTION @extschema@.delete_task(id bigint, cascade boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  ids bigint[];
BEGIN
  PERFORM @extschema@._require_user();
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = delete_task.id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  ids := @extschema@._visible_subtree(delete_task.id);
  IF cardinality(ids) > 1 AND NOT coalesce(cascade, false) THEN
    PERFORM @extschema@._invalid('cascade',
      format('must be true to delete a task with subtasks (this one has %s)', cardinality(ids) - 1));
  END IF;
  DELETE FROM @extschema@.tasks t WHERE t.id = ANY (ids);
  IF NOT FOUND OR (SELECT count(*) FROM @extschema@.tasks t WHERE t.id = ANY (ids)) > 0 THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = 'only the creator, a lead or owner of its team, or an admin can delete this task';
  END IF;
END
$$;

-- from extension/sql/79_as_of.sql
-- History read back (#14): a task as it was at a moment, rebuilt from its
-- history (task_events, 71_history.sql), and the time tasks spend in each
-- status, for report_summary (87_reports.sql).  Both read the history under
-- the caller's policies: only tasks the caller can see now.

-- The fields the history records, with their values before a creation
-- event sets them (a created event names only the fields given a value).
CREATE FUNCTION @extschema@._as_of_defaults() RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '{"title": null, "description": "", "status": "todo", "priority": "none", "due_date": null,
           "team_id": null, "assignee": null, "tags": [], "parent_id": null, "recurrence": null,
           "started_at": null, "completed_at": null}'::jsonb
$$;

-- task_as_of(id, at): {id, as_of, title, ..., completed_at}, the task as its
-- history says it was at `at`.  P0002 for a task the caller cannot see (or
-- that no longer exists), and for a moment before the task was created.
CREATE FUNCTION @extschema@.task_as_of(id bigint, at timestamptz) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  e record;
  r jsonb;
  k text;
  v jsonb;
  fields constant jsonb := @extschema@._as_of_defaults();
BEGIN
  PERFORM @extschema@._require_user();
  IF task_as_of.at IS NULL THEN
    PERFORM @extschema@._bad_parameter('at', 'is required');
  END IF;
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = task_as_of.id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  FOR e IN SELECT ev.kind, ev.changes FROM @extschema@.task_events ev
            WHERE ev.task_id = task_as_of.id AND ev.at <= task_as_of.at AND ev.kind IN ('created', 'updated')
            ORDER BY ev.id LOOP
    IF e.kind = 'created' THEN
      r := fields;
    END IF;
    CONTINUE WHEN r IS NULL;
    FOR k, v IN SELECT * FROM jsonb_each(e.changes) LOOP
      IF fields ? k AND jsonb_typeof(v) = 'array' THEN
        r := jsonb_set(r, ARRAY[k], v -> 1);
      END IF;
    END LOOP;
  END LOOP;
  IF r IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'task did not exist at that time';
  END IF;
  RETURN jsonb_build_object('id', task_as_of.id, 'as_of', task_as_of.at) || r;
END
$$;

-- The query parameters of GET /tasks/{id}/as-of: at (an ISO 8601 timestamp).
CREATE FUNCTION @extschema@._as_of_param(params jsonb) RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  k text;
  v text := params ->> 'at';
BEGIN
  FOR k IN SELECT jsonb_object_keys(coalesce(params, '{}')) ORDER BY 1 LOOP
    IF k <> 'at' THEN PERFORM @extschema@._bad_parameter(k, 'is not a known parameter'); END IF;
  END LOOP;
  IF v IS NULL OR v !~ '^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$' THEN
    PERFORM @extschema@._bad_parameter('at', 'must be a timestamp such as 2030-01-31T12:00:00Z');
  END IF;
  BEGIN
    RETURN v::timestamptz;
  EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
    PERFORM @extschema@._bad_parameter('at', 'is not a valid timestamp');
  END;
  RETURN NULL;
END
$$;

-- report_summary's time_in_status_hours: per status, the stays that ended
-- (the task moved to another status) within [t_from, t_to), of the given
-- tasks: {status: {count, mean, p85}} in hours.  A stay still going on
-- does not count: its length is not known yet.
CREATE FUNCTION @extschema@._time_in_status(ids bigint[], t_from timestamptz, t_to timestamptz) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  WITH ch AS (
    SELECT e.task_id, e.id, e.at, e.changes -> 'status' ->> 1 AS status
      FROM @extschema@.task_events e
     WHERE e.task_id = ANY (ids) AND e.kind IN ('created', 'updated') AND e.changes ? 'status'
  ),
  stays AS (
    SELECT ch.status, lead(ch.at) OVER w AS left_at,
           extract(epoch FROM lead(ch.at) OVER w - ch.at) / 3600 AS h
      FROM ch WINDOW w AS (PARTITION BY ch.task_id ORDER BY ch.id)
  )
  SELECT jsonb_object_agg(st, (
           SELECT jsonb_build_object('count', count(*), 'mean', round(avg(s.h)::numeric, 2),
                    'p85', round((percentile_cont(0.85) WITHIN GROUP (ORDER BY s.h))::numeric, 2))
             FROM stays s WHERE s.status = st AND s.left_at >= t_from AND s.left_at < t_to)
         ORDER BY st)
    FROM unnest(enum_range(NULL::@extschema@.task_status)::text[]) st
$$;

-- the new functions: not executable by PUBLIC, callable by clients (as 90_grants.sql)
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
           WHERE p.pronamespace = '@extschema@'::regnamespace
             AND p.proname IN ('_as_of_defaults', '_as_of_param', '_day_start', '_delete_cascade_param', '_filter_compile', '_filter_params', '_ready_sql', '_relation_json', '_rrule_check', '_rrule_next', '_task_json_core', '_task_planning_json', '_task_relations_check', '_tasks_check_parent', '_tasks_check_recurrence', '_tasks_notify_unblocked', '_tasks_recur', '_time_in_status', '_user_today', '_visible_subtree', '_with_planning', 'add_relation', 'delete_task', 'list_relations', 'remove_relation', 'task_as_of', 'task_subtasks')
  LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO taskmgmt_client', f);
  END LOOP;
END
$$;

-- ==== restore without re-deriving rows (#15) ====
-- True in a session that loads rows as they are: pg_restore, and a plain
-- pg_dump script run with psql, always begin with SET row_security = off.
-- The deriving triggers skip such sessions (see 30_helpers.sql).
-- current_setting('row_security') = 'off', in C (extension/taskmgmt.c): a
-- SQL function in a trigger's WHEN clause is parsed again at every statement.
CREATE FUNCTION @extschema@._restoring() RETURNS boolean
  AS 'MODULE_PATHNAME', 'tm_restoring'
  LANGUAGE C STABLE PARALLEL SAFE;
REVOKE ALL ON FUNCTION @extschema@._restoring() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._restoring() TO taskmgmt_client;

CREATE OR REPLACE TRIGGER tasks_before_write BEFORE INSERT OR UPDATE ON @extschema@.tasks
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_before_write();
CREATE OR REPLACE TRIGGER tasks_record_history AFTER INSERT OR UPDATE OR DELETE ON @extschema@.tasks
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_record_history();
CREATE OR REPLACE TRIGGER comments_before_write BEFORE INSERT OR UPDATE ON @extschema@.comments
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._comments_before_write();
CREATE OR REPLACE TRIGGER comments_sync_mentions AFTER INSERT OR UPDATE OF body ON @extschema@.comments
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._comments_sync_mentions();
CREATE OR REPLACE TRIGGER tasks_notify AFTER INSERT OR UPDATE ON @extschema@.tasks
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_notify();
-- a constraint trigger cannot be replaced in place
DROP TRIGGER notifications_publish ON @extschema@.notifications;
CREATE CONSTRAINT TRIGGER notifications_publish AFTER INSERT ON @extschema@.notifications
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._notifications_publish();
CREATE OR REPLACE TRIGGER comment_mentions_notify AFTER INSERT ON @extschema@.comment_mentions
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._comment_mentions_notify();
CREATE OR REPLACE TRIGGER comments_then_notify AFTER INSERT ON @extschema@.comments
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._comments_notify();
CREATE OR REPLACE TRIGGER email_outbox_wake AFTER INSERT ON @extschema@.email_outbox
  FOR EACH STATEMENT
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._outbox_wake();
-- the planning triggers of #14 (subtasks, relations, recurrence) likewise
CREATE OR REPLACE TRIGGER tasks_check_parent BEFORE INSERT OR UPDATE OF parent_id ON @extschema@.tasks
  FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL AND NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_check_parent();
CREATE OR REPLACE TRIGGER task_relations_check BEFORE INSERT ON @extschema@.task_relations
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._task_relations_check();
CREATE OR REPLACE TRIGGER tasks_notify_unblocked AFTER UPDATE OF status ON @extschema@.tasks
  FOR EACH ROW WHEN (NEW.status IN ('done', 'canceled') AND OLD.status NOT IN ('done', 'canceled')
                     AND NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_notify_unblocked();
CREATE OR REPLACE TRIGGER tasks_check_recurrence BEFORE INSERT OR UPDATE ON @extschema@.tasks
  FOR EACH ROW WHEN ((NEW.recurrence IS NOT NULL OR NEW.recurrence_start IS NOT NULL)
                     AND NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_check_recurrence();
CREATE OR REPLACE TRIGGER tasks_recur AFTER UPDATE OF status ON @extschema@.tasks
  FOR EACH ROW WHEN (NEW.status = 'done' AND OLD.status <> 'done' AND NEW.recurrence IS NOT NULL
                     AND NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_recur();

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

-- ==== Personal access tokens, webhooks, CalDAV (#13) ====
-- Mail and webhook deliveries share the outbox: outbox_claim() leaves
-- webhook rows to webhook_claim().
CREATE OR REPLACE FUNCTION @extschema@.outbox_claim(batch_size integer DEFAULT 10, lease interval DEFAULT '5 minutes')
RETURNS TABLE (id bigint, recipient text, subject text, body text, message_id text,
               attempts integer, claim_token uuid, body_html text, list_unsubscribe text)
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
    WHERE o.kind <> 'webhook' AND o.status = 'pending' AND o.send_after <= now()
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
            o.message_id, o.attempts, o.claim_token,
            @extschema@._outbox_html(o.items, url),
            @extschema@._outbox_link(url, 'unsubscribe', o.unsubscribe_token);
END
$$;

-- POST /api/v1/views takes the JSON body whole.
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
GRANT EXECUTE ON FUNCTION @extschema@.save_view_json(jsonb) TO taskmgmt_client;

-- ---- extension/sql/91_tokens.sql ----
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

-- ---- extension/sql/92_webhooks.sql ----
-- Webhooks (#13): a user's own tasks, or a team's (created by its leads
-- and owners), reported to an HTTP receiver as task.created, task.updated,
-- task.deleted and comment.created.
--
-- Deliveries are rows of the one outbox (kind 'webhook', 81_outbox.sql),
-- written by trigger in the transaction of the change (a rolled-back change
-- reports nothing) and drained by taskmgmt-mailer with the same leases,
-- backoff and dead letter as mail.  Each is signed as the Standard Webhooks
-- specification says: webhook-id (fixed per delivery, so a receiver can
-- de-duplicate at-least-once deliveries), webhook-timestamp and
-- webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>", keyed
-- with the webhook's secret ("whsec_<base64>", shown once at creation; it
-- stays in the database: the signature is computed when a delivery is
-- claimed).
--
-- A receiver gets only events about tasks its owner can see at the time of
-- the event (_user_can_see_task, the rule of the tasks policy).  Targets in
-- private, loopback, link-local and other special ranges are refused unless
-- the superuser setting taskmgmt.webhook_allow_private_targets is on: URLs
-- naming such an address are refused at creation, and the dispatcher asks
-- _webhook_address_allowed() for every address it connects to, so a name
-- that resolves there is refused too.
--
-- This file comes after 90_grants.sql, so it grants its own functions.

CREATE TABLE @extschema@.webhooks (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES @extschema@.users ON DELETE CASCADE,
  team_id    bigint REFERENCES @extschema@.teams ON DELETE CASCADE,
  url        text NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
  events     text[] NOT NULL CHECK (cardinality(events) >= 1
                                    AND events <@ '{task.created,task.updated,task.deleted,comment.created}'),
  secret     bytea NOT NULL CHECK (length(secret) = 32),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_user_id_idx ON @extschema@.webhooks (user_id);
CREATE INDEX webhooks_team_id_idx ON @extschema@.webhooks (team_id) WHERE team_id IS NOT NULL;
COMMENT ON TABLE @extschema@.webhooks IS
  'HTTP receivers of task and comment events: a user''s own tasks (team_id NULL) or a team''s.';

ALTER TABLE @extschema@.webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.webhooks FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.webhooks FROM PUBLIC;
-- One's own webhooks, the webhooks of teams one leads or owns, and for
-- admins all.  No INSERT: create_webhook() makes the secret.
CREATE POLICY webhooks_select ON @extschema@.webhooks FOR SELECT
  USING (user_id = (SELECT @extschema@.current_user_id())
         OR team_id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[])
         OR (SELECT @extschema@.current_user_is_admin()));
CREATE POLICY webhooks_delete ON @extschema@.webhooks FOR DELETE
  USING (user_id = (SELECT @extschema@.current_user_id())
         OR team_id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[])
         OR (SELECT @extschema@.current_user_is_admin()));
-- The dispatcher reads the secrets to sign (in webhook_claim()).
CREATE POLICY webhooks_mailer ON @extschema@.webhooks FOR SELECT TO taskmgmt_mailer USING (true);
GRANT SELECT (id, user_id, team_id, url, events, created_at), DELETE ON @extschema@.webhooks TO taskmgmt_client;
GRANT SELECT (id, secret) ON @extschema@.webhooks TO taskmgmt_mailer;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.webhooks', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.webhooks_id_seq', '');

-- Webhook deliveries in the outbox: the receiver and the exact body.
ALTER TABLE @extschema@.email_outbox DROP CONSTRAINT email_outbox_kind_check;
ALTER TABLE @extschema@.email_outbox ADD CONSTRAINT email_outbox_kind_check
  CHECK (kind IN ('single', 'digest', 'webhook'));
ALTER TABLE @extschema@.email_outbox
  ADD COLUMN webhook_id bigint REFERENCES @extschema@.webhooks ON DELETE CASCADE,
  ADD COLUMN payload jsonb;
ALTER TABLE @extschema@.email_outbox ADD CONSTRAINT email_outbox_webhook_check
  CHECK ((kind = 'webhook') = (webhook_id IS NOT NULL AND payload IS NOT NULL));
CREATE INDEX email_outbox_webhook_idx ON @extschema@.email_outbox (webhook_id, id) WHERE webhook_id IS NOT NULL;

-- Every attempt, for GET /webhooks/{id}/deliveries.
CREATE TABLE @extschema@.webhook_attempts (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  outbox_id   bigint NOT NULL REFERENCES @extschema@.email_outbox ON DELETE CASCADE,
  attempt     integer NOT NULL,
  at          timestamptz NOT NULL DEFAULT now(),
  status_code integer,
  duration_ms integer,
  error       text CHECK (length(error) <= 500)
);
CREATE INDEX webhook_attempts_outbox_id_idx ON @extschema@.webhook_attempts (outbox_id, id);
ALTER TABLE @extschema@.webhook_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.webhook_attempts FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.webhook_attempts FROM PUBLIC;
CREATE POLICY webhook_attempts_mailer ON @extschema@.webhook_attempts FOR ALL TO taskmgmt_mailer USING (true);
GRANT SELECT, INSERT (outbox_id, attempt, status_code, duration_ms, error)
  ON @extschema@.webhook_attempts TO taskmgmt_mailer;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.webhook_attempts', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.webhook_attempts_id_seq', '');

CREATE FUNCTION @extschema@._random_bytes(n integer) RETURNS bytea
  AS 'MODULE_PATHNAME', 'tm_random_bytes_sql'
  LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

-- "v1,<base64 HMAC-SHA256(secret, msg_id || '.' || ts || '.' || body)>"
CREATE FUNCTION @extschema@._webhook_signature(secret bytea, msg_id text, ts bigint, body text) RETURNS text
  AS 'MODULE_PATHNAME', 'tm_webhook_signature'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- May the dispatcher connect to this address?  Special-purpose ranges are
-- refused unless taskmgmt.webhook_allow_private_targets is on.
CREATE FUNCTION @extschema@._webhook_address_allowed(addr inet) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(current_setting('taskmgmt.webhook_allow_private_targets', true), 'off') IN ('on', 'true', '1')
      OR NOT EXISTS (
           SELECT FROM unnest('{0.0.0.0/8,10.0.0.0/8,100.64.0.0/10,127.0.0.0/8,169.254.0.0/16,172.16.0.0/12,
                                192.0.0.0/24,192.0.2.0/24,192.168.0.0/16,198.18.0.0/15,198.51.100.0/24,
                                203.0.113.0/24,224.0.0.0/4,240.0.0.0/4,::/127,::ffff:0:0/96,64:ff9b::/96,
                                100::/64,2001:db8::/32,fc00::/7,fe80::/10,ff00::/8}'::cidr[]) r
           WHERE family(r) = family(addr) AND addr <<= r)
$$;

-- The URL of a webhook: http(s), no credentials, no fragment, and not an
-- address the dispatcher would refuse.  TM422 naming url otherwise.
CREATE FUNCTION @extschema@._webhook_url(url text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  m text[];
  host text;
  addr inet;
BEGIN
  IF url IS NULL OR btrim(url) = '' THEN PERFORM @extschema@._invalid('url', 'is required'); END IF;
  url := btrim(url);
  IF length(url) > 2000 THEN PERFORM @extschema@._invalid('url', 'must be at most 2000 characters'); END IF;
  m := regexp_match(url, '^(https?)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(:[0-9]{1,5})?([/?][^\s#]*)?$');
  IF m IS NULL THEN
    PERFORM @extschema@._invalid('url', 'must be an http:// or https:// address without credentials or fragment');
  END IF;
  IF m[3] IS NOT NULL AND substr(m[3], 2)::integer NOT BETWEEN 1 AND 65535 THEN
    PERFORM @extschema@._invalid('url', 'has an invalid port');
  END IF;
  host := lower(btrim(m[2], '[]'));
  BEGIN
    addr := host::inet;
  EXCEPTION WHEN invalid_text_representation THEN
    addr := NULL;
  END;
  IF (addr IS NOT NULL AND NOT @extschema@._webhook_address_allowed(addr))
     OR (addr IS NULL AND (host = 'localhost' OR host LIKE '%.localhost' OR host ~ '^[0-9.]+$')
         AND NOT @extschema@._webhook_address_allowed('127.0.0.1')) THEN
    PERFORM @extschema@._invalid('url', 'points to a private, loopback or link-local address');
  END IF;
  RETURN url;
END
$$;

CREATE FUNCTION @extschema@.webhook_json(w @extschema@.webhooks) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', w.id, 'url', w.url, 'events', to_jsonb(w.events),
                            'team_id', w.team_id, 'user_id', w.user_id, 'created_at', w.created_at)
$$;

-- create_webhook({url, events?, team_id?}) -> the webhook and its secret
-- (in this answer only).  events default to all four.
CREATE FUNCTION @extschema@.create_webhook(spec jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  all_events constant text[] := '{task.created,task.updated,task.deleted,comment.created}';
  ev text[] := '{}';
  e jsonb;
  team bigint;
  key bytea := @extschema@._random_bytes(32);
  w @extschema@.webhooks;
BEGIN
  PERFORM @extschema@._check_keys(spec, '{url,events,team_id}', '{id,secret,created_at,user_id}');
  IF NOT spec ? 'url' OR jsonb_typeof(spec -> 'url') <> 'string' THEN
    PERFORM @extschema@._invalid('url', 'is required');
  END IF;
  IF spec ? 'events' AND spec -> 'events' <> 'null' THEN
    IF jsonb_typeof(spec -> 'events') <> 'array' OR jsonb_array_length(spec -> 'events') = 0 THEN
      PERFORM @extschema@._invalid('events', 'must be a non-empty array of ' || array_to_string(all_events, ', '));
    END IF;
    FOR e IN SELECT jsonb_array_elements(spec -> 'events') LOOP
      IF jsonb_typeof(e) <> 'string' OR NOT (e #>> '{}') = ANY (all_events) THEN
        PERFORM @extschema@._invalid('events', 'must be a non-empty array of ' || array_to_string(all_events, ', '));
      END IF;
      IF NOT (e #>> '{}') = ANY (ev) THEN ev := ev || (e #>> '{}'); END IF;
    END LOOP;
  ELSE
    ev := all_events;
  END IF;
  team := @extschema@._id_field(spec, 'team_id');
  IF team IS NOT NULL AND NOT (team = ANY (@extschema@.my_led_team_ids()) OR @extschema@.current_user_is_admin()) THEN
    IF team = ANY (@extschema@.my_team_ids()) THEN
      RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'only team leads, owners and admins can add team webhooks',
        COLUMN = 'team_id';
    END IF;
    -- the same answer for a team that exists and one that does not
    PERFORM @extschema@._invalid('team_id', 'is not a team you belong to');
  END IF;
  IF team IS NOT NULL AND NOT EXISTS (SELECT FROM @extschema@.teams t WHERE t.id = team) THEN
    PERFORM @extschema@._invalid('team_id', 'is not a team you belong to');
  END IF;
  IF (SELECT count(*) FROM @extschema@.webhooks x WHERE x.user_id = uid) >= 20 THEN
    PERFORM @extschema@._invalid('url', 'cannot be added: you have 20 webhooks; delete one first');
  END IF;
  INSERT INTO @extschema@.webhooks (user_id, team_id, url, events, secret)
  VALUES (uid, team, @extschema@._webhook_url(spec ->> 'url'),
          (SELECT array_agg(x ORDER BY array_position(all_events, x)) FROM unnest(ev) x), key)
  RETURNING * INTO w;
  RETURN @extschema@.webhook_json(w)
         || jsonb_build_object('secret', 'whsec_' || replace(encode(key, 'base64'), E'\n', ''));
END
$$;

CREATE FUNCTION @extschema@.list_webhooks() RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
BEGIN
  PERFORM @extschema@._require_user();
  -- the columns one by one: the client may not read the whole row (the secret)
  RETURN coalesce((SELECT jsonb_agg(jsonb_build_object('id', w.id, 'url', w.url, 'events', to_jsonb(w.events),
                                                       'team_id', w.team_id, 'user_id', w.user_id,
                                                       'created_at', w.created_at) ORDER BY w.id)
                   FROM @extschema@.webhooks w), '[]');
END
$$;

CREATE FUNCTION @extschema@.delete_webhook(id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
  PERFORM @extschema@._require_user();
  DELETE FROM @extschema@.webhooks w WHERE w.id = delete_webhook.id;
  IF NOT FOUND THEN PERFORM @extschema@._not_found('webhook'); END IF;
END
$$;

-- The newest deliveries of a visible webhook with their attempts:
-- [{id, event, webhook_id, status, attempts, created_at, next_attempt_at,
--   sent_at, last_error, history: [{attempt, at, status_code, duration_ms, error}]}]
CREATE FUNCTION @extschema@.webhook_deliveries(id bigint, lim integer DEFAULT 50) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@._require_user();
  IF lim IS NULL OR lim NOT BETWEEN 1 AND 200 THEN
    PERFORM @extschema@._bad_parameter('limit', 'must be between 1 and 200');
  END IF;
  -- visibility under the caller's rights (the function runs as the owner)
  IF NOT EXISTS (SELECT FROM @extschema@.webhooks w WHERE w.id = webhook_deliveries.id
                   AND (w.user_id = @extschema@.current_user_id()
                        OR w.team_id = ANY (@extschema@.my_led_team_ids())
                        OR @extschema@.current_user_is_admin())) THEN
    PERFORM @extschema@._not_found('webhook');
  END IF;
  RETURN coalesce((
    SELECT jsonb_agg(jsonb_build_object(
             'id', o.id, 'webhook_id', o.webhook_id, 'event', o.payload ->> 'type',
             'message_id', o.message_id, 'status', o.status, 'attempts', o.attempts,
             'created_at', o.created_at, 'sent_at', o.sent_at,
             'next_attempt_at', CASE WHEN o.status = 'pending' THEN greatest(o.send_after, o.claimed_until) END,
             'last_error', o.last_error,
             'history', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                           'attempt', a.attempt, 'at', a.at, 'status_code', a.status_code,
                                           'duration_ms', a.duration_ms, 'error', a.error) ORDER BY a.id)
                                  FROM @extschema@.webhook_attempts a WHERE a.outbox_id = o.id), '[]'))
             ORDER BY o.id DESC)
    FROM (SELECT * FROM @extschema@.email_outbox x
           WHERE x.webhook_id = webhook_deliveries.id ORDER BY x.id DESC LIMIT lim) o), '[]');
END
$$;

-- Queues one event for every webhook that wants it and whose owner sees
-- the task now.  payload: {type, timestamp, data}.  Called by the triggers
-- below, as the owner.
CREATE FUNCTION @extschema@._webhooks_enqueue(ev text, t @extschema@.tasks, old_team_ids bigint[], data jsonb)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  payload jsonb;
BEGIN
  payload := jsonb_build_object('type', ev, 'timestamp', now(), 'data', data);
  INSERT INTO @extschema@.email_outbox (user_id, recipient, kind, items, message_id, webhook_id, payload)
  SELECT w.user_id, w.url, 'webhook', '[]', 'msg_' || replace(gen_random_uuid()::text, '-', ''), w.id, payload
    FROM @extschema@.webhooks w JOIN @extschema@.users u ON u.id = w.user_id
   WHERE ev = ANY (w.events) AND NOT u.disabled
     AND CASE WHEN w.team_id IS NULL THEN w.user_id IN (t.creator_id, t.assignee_user_id)
              ELSE w.team_id IN (t.team_id, t.assignee_team_id) OR w.team_id = ANY (old_team_ids) END
     AND @extschema@._user_can_see_task(w.user_id, u.role = 'admin', t)
   ORDER BY w.id;
END
$$;

CREATE FUNCTION @extschema@._tasks_webhooks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- the common case costs one index probe
  IF NOT EXISTS (SELECT FROM @extschema@.webhooks) THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    PERFORM @extschema@._webhooks_enqueue('task.created', NEW, '{}',
                                          jsonb_build_object('task', @extschema@.task_json(NEW)));
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM @extschema@._webhooks_enqueue('task.deleted', OLD, '{}',
                                          jsonb_build_object('task', @extschema@.task_json(OLD)));
  ELSIF NEW.version <> OLD.version THEN
    -- a team's webhook also hears of a task leaving the team
    PERFORM @extschema@._webhooks_enqueue('task.updated', NEW, ARRAY[OLD.team_id, OLD.assignee_team_id],
                                          jsonb_build_object('task', @extschema@.task_json(NEW),
                                                             'previous_version', OLD.version));
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER tasks_webhooks AFTER INSERT OR UPDATE OR DELETE ON @extschema@.tasks
  FOR EACH ROW EXECUTE FUNCTION @extschema@._tasks_webhooks();

CREATE FUNCTION @extschema@._comments_webhooks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t @extschema@.tasks;
BEGIN
  IF NOT EXISTS (SELECT FROM @extschema@.webhooks) THEN
    RETURN NULL;
  END IF;
  SELECT * INTO t FROM @extschema@.tasks x WHERE x.id = NEW.task_id;
  IF FOUND THEN
    PERFORM @extschema@._webhooks_enqueue('comment.created', t, '{}',
                                          jsonb_build_object('comment', @extschema@.comment_json(NEW),
                                                             'task', @extschema@.task_json(t)));
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER comments_webhooks AFTER INSERT ON @extschema@.comments
  FOR EACH ROW EXECUTE FUNCTION @extschema@._comments_webhooks();

-- The dispatcher's side (taskmgmt-mailer), next to outbox_claim(): leases
-- due webhook rows and signs each with the timestamp of the claim; the
-- outcome is reported with webhook_log_attempt() and then the shared
-- outbox_mark_sent() / outbox_mark_failed() / outbox_release().
CREATE FUNCTION @extschema@.webhook_claim(batch_size integer DEFAULT 10, lease interval DEFAULT '5 minutes')
RETURNS TABLE (id bigint, url text, body text, message_id text, ts bigint, signature text,
               attempts integer, claim_token uuid)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  stamp bigint := floor(extract(epoch FROM now()))::bigint;
BEGIN
  IF batch_size IS NULL OR batch_size NOT BETWEEN 1 AND 1000 THEN
    PERFORM @extschema@._invalid('batch_size', 'must be from 1 to 1000');
  END IF;
  IF lease IS NULL OR lease < '1 second' THEN
    PERFORM @extschema@._invalid('lease', 'must be at least 1 second');
  END IF;
  RETURN QUERY
  WITH due AS (
    SELECT o.id FROM @extschema@.email_outbox o
    WHERE o.kind = 'webhook' AND o.status = 'pending' AND o.send_after <= now()
      AND (o.claimed_until IS NULL OR o.claimed_until < now())
    ORDER BY o.send_after, o.id
    LIMIT batch_size
    FOR UPDATE SKIP LOCKED
  )
  UPDATE @extschema@.email_outbox o
     SET attempts = o.attempts + 1, claim_token = gen_random_uuid(), claimed_until = now() + lease
    FROM due, @extschema@.webhooks w
   WHERE o.id = due.id AND w.id = o.webhook_id
  RETURNING o.id, o.recipient, o.payload::text, o.message_id, stamp,
            @extschema@._webhook_signature(w.secret, o.message_id, stamp, o.payload::text),
            o.attempts, o.claim_token;
END
$$;

-- Records one attempt of a claimed delivery (while the claim holds).
CREATE FUNCTION @extschema@.webhook_log_attempt(id bigint, claim_token uuid, status_code integer,
                                                duration_ms integer, error text)
RETURNS boolean LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
  INSERT INTO @extschema@.webhook_attempts (outbox_id, attempt, status_code, duration_ms, error)
  SELECT o.id, o.attempts, status_code, duration_ms, left(error, 500)
    FROM @extschema@.email_outbox o
   WHERE o.id = webhook_log_attempt.id AND o.claim_token = webhook_log_attempt.claim_token
     AND o.kind = 'webhook' AND o.status = 'pending';
  RETURN FOUND;
END
$$;

-- what this file made is not PUBLIC's (functions are executable by PUBLIC when made)
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @extschema@ FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.webhook_json(@extschema@.webhooks), @extschema@.create_webhook(jsonb),
  @extschema@.list_webhooks(), @extschema@.delete_webhook(bigint),
  @extschema@.webhook_deliveries(bigint, integer)
  TO taskmgmt_client;
GRANT EXECUTE ON FUNCTION @extschema@.webhook_claim(integer, interval),
  @extschema@.webhook_log_attempt(bigint, uuid, integer, integer, text),
  @extschema@._webhook_signature(bytea, text, bigint, text), @extschema@._webhook_address_allowed(inet)
  TO taskmgmt_mailer;

-- ---- extension/sql/93_caldav.sql ----
-- CalDAV and iCalendar (#13): every user's visible tasks as one VTODO
-- calendar collection, and a read-only subscription feed of due dates.
--
-- Layout (the shim routes /.well-known/caldav and /dav/... here, with the
-- raw request body; it learns nothing of XML or iCalendar):
--   /dav/                          root: current-user-principal
--   /dav/users/<id>/               the principal, also its calendar home
--   /dav/users/<id>/tasks/         the calendar: every task the user sees
--   /dav/users/<id>/tasks/<name>   one task: <task id>.ics, or the name a
--                                  client chose when it created the task
-- Another user's paths do not exist (404).  The DAV XML is read with
-- PostgreSQL's xml type (XPath) and written as text; iCalendar is parsed
-- and rendered with libical (ical.c); RELATED-TO is the parent task (by UID,
-- among the tasks the caller sees), RRULE the recurrence.  A PUT goes
-- through create_task() and
-- update_task(), so validation, history, notifications and webhooks are
-- those of every other door, and RLS decides as always.
--
-- ETag = the task version (as on the JSON API).  Sync tokens
-- (sync-collection) are transaction snapshots: dav_changes keeps the last
-- change of every task, with the transaction that made it and everyone who
-- could see it, so a deletion, or a task moving out of sight, is reported
-- only to those who saw it.  A change of team membership alone is not a
-- change of any task: a client sees its effect on its next full listing.
--
-- This file comes after 90_grants.sql, so it grants its own functions.

-- Names (and UIDs) chosen by clients for the tasks they created.  Other
-- tasks are <id>.ics with UID taskmgmt-task-<id>.
CREATE TABLE @extschema@.dav_resources (
  task_id    bigint PRIMARY KEY REFERENCES @extschema@.tasks ON DELETE CASCADE,
  name       text NOT NULL CHECK (name ~ '^[A-Za-z0-9._~@+=-]{1,250}\.ics$' AND name !~ '^[0-9]+\.ics$'),
  uid        text NOT NULL CHECK (length(uid) BETWEEN 1 AND 500),
  created_by bigint REFERENCES @extschema@.users ON DELETE SET NULL
);
-- unique per creator, so that a name taken says nothing about others' tasks
CREATE UNIQUE INDEX dav_resources_name_key ON @extschema@.dav_resources (created_by, name);
CREATE INDEX dav_resources_uid_idx ON @extschema@.dav_resources (uid);
ALTER TABLE @extschema@.dav_resources ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.dav_resources FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.dav_resources FROM PUBLIC;
-- visible with its task; named by the task's creator only (a PUT that made
-- it), so nobody renames a shared task in others' calendars
CREATE POLICY dav_resources_select ON @extschema@.dav_resources FOR SELECT
  USING (EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = dav_resources.task_id));
CREATE POLICY dav_resources_insert ON @extschema@.dav_resources FOR INSERT
  WITH CHECK (created_by = (SELECT @extschema@.current_user_id())
              AND EXISTS (SELECT FROM @extschema@.tasks t
                          WHERE t.id = dav_resources.task_id AND t.creator_id = created_by));
GRANT SELECT, INSERT (task_id, name, uid, created_by) ON @extschema@.dav_resources TO taskmgmt_client;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.dav_resources', '');

-- The last change of every task (deleted ones too), for sync-collection.
CREATE TABLE @extschema@.dav_changes (
  task_id     bigint PRIMARY KEY,
  changed_xid xid8 NOT NULL,
  deleted     boolean NOT NULL DEFAULT false,
  name        text NOT NULL,
  seen_users  bigint[] NOT NULL DEFAULT '{}',
  seen_teams  bigint[] NOT NULL DEFAULT '{}'
);
CREATE INDEX dav_changes_xid_idx ON @extschema@.dav_changes (changed_xid);
ALTER TABLE @extschema@.dav_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.dav_changes FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.dav_changes FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.dav_changes', '');

-- One subscription feed per user, stored as sha256 of its token.
CREATE TABLE @extschema@.calendar_feeds (
  user_id    bigint PRIMARY KEY REFERENCES @extschema@.users ON DELETE CASCADE,
  token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE @extschema@.calendar_feeds ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.calendar_feeds FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.calendar_feeds FROM PUBLIC;
CREATE POLICY calendar_feeds_own ON @extschema@.calendar_feeds FOR SELECT
  USING (user_id = (SELECT @extschema@.current_user_id()));
GRANT SELECT (user_id, created_at) ON @extschema@.calendar_feeds TO taskmgmt_client;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.calendar_feeds', '');

-- ---------------------------------------------------------------- iCalendar (ical.c)

CREATE FUNCTION @extschema@._ical_vtodo(uid text, summary text, description text, status text, priority text,
                                        due date, tags text[], created timestamptz, modified timestamptz,
                                        completed timestamptz, version integer, parent_uid text,
                                        recurrence text) RETURNS text
  AS 'MODULE_PATHNAME', 'tm_ical_vtodo'
  LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION @extschema@._ical_feed(name text, uids text[], summaries text[], dues date[],
                                       descriptions text[], stamps timestamptz[]) RETURNS text
  AS 'MODULE_PATHNAME', 'tm_ical_feed'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@._ical_parse_vtodo(ics text) RETURNS jsonb
  AS 'MODULE_PATHNAME', 'tm_ical_parse_vtodo'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@._feed_authenticate(token text) RETURNS bigint
  AS 'MODULE_PATHNAME', 'tm_feed_authenticate'
  LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

-- A task as iCalendar (the name and UID come from dav_resources, if any).
-- Its parent goes in RELATED-TO only when the caller sees it (the lookup
-- runs under the caller's policies).
CREATE FUNCTION @extschema@.task_ical(t @extschema@.tasks, uid text DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT @extschema@._ical_vtodo(coalesce(uid, 'taskmgmt-task-' || t.id), t.title, t.description,
                                 t.status::text, t.priority::text, t.due_date, t.tags, t.created_at,
                                 t.updated_at, t.completed_at, t.version,
                                 (SELECT coalesce(r.uid, 'taskmgmt-task-' || p.id)
                                    FROM @extschema@.tasks p LEFT JOIN @extschema@.dav_resources r ON r.task_id = p.id
                                   WHERE p.id = t.parent_id),
                                 t.recurrence)
$$;

-- The visible task a UID names (RELATED-TO), or NULL.
CREATE FUNCTION @extschema@._dav_uid_task(uid text) RETURNS bigint
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT coalesce(
    (SELECT r.task_id FROM @extschema@.dav_resources r JOIN @extschema@.tasks x ON x.id = r.task_id
      WHERE r.uid = _dav_uid_task.uid ORDER BY x.id LIMIT 1),
    (SELECT x.id FROM @extschema@.tasks x
      WHERE x.id = CASE WHEN _dav_uid_task.uid ~ '^taskmgmt-task-[1-9][0-9]{0,17}$'
                        THEN substr(_dav_uid_task.uid, 15)::bigint END
        AND NOT EXISTS (SELECT FROM @extschema@.dav_resources r WHERE r.task_id = x.id)))
$$;

-- ---------------------------------------------------------------- the feed

-- create_calendar_feed() -> {url, token, created_at}: a new secret URL for
-- GET /api/v1/calendar/{token}.ics (the previous one stops working).
CREATE FUNCTION @extschema@.create_calendar_feed() RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  secret text := @extschema@._random_token('tmfeed_');
  f @extschema@.calendar_feeds;
BEGIN
  INSERT INTO @extschema@.calendar_feeds AS x (user_id, token_hash)
  VALUES (uid, sha256(convert_to(secret, 'UTF8')))
  ON CONFLICT (user_id) DO UPDATE SET token_hash = EXCLUDED.token_hash, created_at = now()
  RETURNING * INTO f;
  RETURN jsonb_build_object('url', '/api/v1/calendar/' || secret || '.ics', 'token', secret,
                            'created_at', f.created_at);
END
$$;

CREATE FUNCTION @extschema@.revoke_calendar_feed() RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  DELETE FROM @extschema@.calendar_feeds f WHERE f.user_id = @extschema@._require_user();
  IF NOT FOUND THEN PERFORM @extschema@._not_found('calendar feed'); END IF;
END
$$;

-- calendar_feed(token) -> text/calendar: the open tasks with a due date
-- that the feed's owner sees, as all-day events.  Needs no sign-in: the
-- token signs in, read-only, for this transaction.
CREATE FUNCTION @extschema@.calendar_feed(token text) RETURNS text
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
  IF token IS NULL OR token !~ '^tmfeed_[A-Za-z0-9_-]{43}$' THEN
    PERFORM @extschema@._not_found('calendar feed');
  END IF;
  PERFORM @extschema@._feed_authenticate(token);
  RETURN (SELECT @extschema@._ical_feed('taskmgmt: due dates',
            coalesce(array_agg(coalesce(r.uid, 'taskmgmt-task-' || t.id) || '-due' ORDER BY t.due_date, t.id), '{}'),
            coalesce(array_agg(t.title ORDER BY t.due_date, t.id), '{}'),
            coalesce(array_agg(t.due_date ORDER BY t.due_date, t.id), '{}'),
            coalesce(array_agg(nullif(t.description, '') ORDER BY t.due_date, t.id), '{}'),
            coalesce(array_agg(t.updated_at ORDER BY t.due_date, t.id), '{}'))
          FROM @extschema@.tasks t LEFT JOIN @extschema@.dav_resources r ON r.task_id = t.id
          WHERE t.due_date IS NOT NULL AND t.status IN ('todo', 'in_progress'));
END
$$;

-- ---------------------------------------------------------------- change log

CREATE FUNCTION @extschema@._tasks_dav_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r @extschema@.tasks;
  users bigint[];
  teams bigint[];
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.version = OLD.version THEN
    RETURN NULL;
  END IF;
  r := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  -- everyone who could see it, before and after
  users := ARRAY[r.creator_id, r.assignee_user_id];
  teams := ARRAY[r.team_id, r.assignee_team_id];
  IF TG_OP = 'UPDATE' THEN
    users := users || ARRAY[OLD.creator_id, OLD.assignee_user_id];
    teams := teams || ARRAY[OLD.team_id, OLD.assignee_team_id];
  END IF;
  INSERT INTO @extschema@.dav_changes AS c (task_id, changed_xid, deleted, name, seen_users, seen_teams)
  VALUES (r.id, pg_current_xact_id(), TG_OP = 'DELETE',
          coalesce((SELECT x.name FROM @extschema@.dav_resources x WHERE x.task_id = r.id), r.id || '.ics'),
          array(SELECT DISTINCT u FROM unnest(users) u WHERE u IS NOT NULL ORDER BY 1),
          array(SELECT DISTINCT m FROM unnest(teams) m WHERE m IS NOT NULL ORDER BY 1))
  ON CONFLICT (task_id) DO UPDATE
    SET changed_xid = EXCLUDED.changed_xid, deleted = EXCLUDED.deleted,
        name = CASE WHEN EXCLUDED.deleted THEN c.name ELSE EXCLUDED.name END,
        seen_users = array(SELECT DISTINCT u FROM unnest(c.seen_users || EXCLUDED.seen_users) u ORDER BY 1),
        seen_teams = array(SELECT DISTINCT m FROM unnest(c.seen_teams || EXCLUDED.seen_teams) m ORDER BY 1);
  RETURN NULL;
END
$$;
CREATE TRIGGER tasks_dav_changes AFTER INSERT OR UPDATE OR DELETE ON @extschema@.tasks
  FOR EACH ROW EXECUTE FUNCTION @extschema@._tasks_dav_changes();

-- A client's name for a task it created replaces <id>.ics in the change log.
CREATE FUNCTION @extschema@._dav_resources_name() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  UPDATE @extschema@.dav_changes c SET name = NEW.name WHERE c.task_id = NEW.task_id;
  RETURN NULL;
END
$$;
CREATE TRIGGER dav_resources_name AFTER INSERT ON @extschema@.dav_resources
  FOR EACH ROW EXECUTE FUNCTION @extschema@._dav_resources_name();

-- Tasks changed since a snapshot (xid), for the signed-in user: those they
-- see now, and those they no longer see but could have (removed).
CREATE FUNCTION @extschema@._dav_changes_since(since xid8)
RETURNS TABLE (task_id bigint, name text, removed boolean)
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT c.task_id, c.name, NOT coalesce(@extschema@._user_can_see_task(me.uid, me.admin, t), false)
    FROM @extschema@.dav_changes c
    LEFT JOIN @extschema@.tasks t ON t.id = c.task_id AND NOT c.deleted
    CROSS JOIN (SELECT @extschema@.current_user_id() AS uid, @extschema@.current_user_is_admin() AS admin,
                       @extschema@.my_team_ids() AS teams) me
   WHERE c.changed_xid >= since AND me.uid IS NOT NULL
     AND (coalesce(@extschema@._user_can_see_task(me.uid, me.admin, t), false)
          OR me.admin OR me.uid = ANY (c.seen_users) OR c.seen_teams && me.teams)
$$;

-- ---------------------------------------------------------------- DAV helpers

CREATE FUNCTION @extschema@._xml_text(s text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  -- characters XML 1.0 cannot carry at all are dropped
  SELECT replace(replace(replace(replace(regexp_replace(s, '[\x01-\x08\x0B\x0C\x0E-\x1F]', '', 'g'),
                 '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;')
$$;

-- Percent-decoding of a path segment (UTF-8); NULL when malformed.
CREATE FUNCTION @extschema@._url_decode(s text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  b bytea := '';
  i integer := 1;
  n integer := length(s);
  c text;
BEGIN
  WHILE i <= n LOOP
    c := substr(s, i, 1);
    IF c = '%' THEN
      IF substr(s, i + 1, 2) !~ '^[0-9A-Fa-f]{2}$' THEN RETURN NULL; END IF;
      b := b || decode(substr(s, i + 1, 2), 'hex');
      i := i + 3;
    ELSE
      b := b || convert_to(c, 'UTF8');
      i := i + 1;
    END IF;
  END LOOP;
  RETURN convert_from(b, 'UTF8');
EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
  RETURN NULL;
END
$$;

-- 'ns|name' keys of the child elements of the node the XPath names.
CREATE FUNCTION @extschema@._dav_children(doc xml, path text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  ns constant text[] := ARRAY[ARRAY['D', 'DAV:'], ARRAY['C', 'urn:ietf:params:xml:ns:caldav']];
  n integer := (xpath('count(' || path || '/*)', doc, ns))[1]::text::numeric;
  result text[] := '{}';
BEGIN
  FOR i IN 1 .. n LOOP
    result := result || ((xpath(format('namespace-uri(%s/*[%s])', path, i), doc, ns))[1]::text
                         || '|' || (xpath(format('local-name(%s/*[%s])', path, i), doc, ns))[1]::text);
  END LOOP;
  RETURN result;
END
$$;

-- The text of the nodes an XPath names.
CREATE FUNCTION @extschema@._dav_texts(doc xml, path text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(x::text), '{}')
    FROM unnest(xpath(path, doc, ARRAY[ARRAY['D', 'DAV:'], ARRAY['C', 'urn:ietf:params:xml:ns:caldav']])) x
$$;

-- The request body as an XML document whose root is ns|name; TM400 otherwise.
CREATE FUNCTION @extschema@._dav_document(body text, VARIADIC roots text[]) RETURNS xml
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  doc xml;
  root text;
BEGIN
  IF body IS NULL OR NOT xml_is_well_formed_document(body) THEN
    PERFORM @extschema@._bad_parameter('body', 'is not a well-formed XML document');
  END IF;
  doc := xmlparse(document body);
  root := (xpath('namespace-uri(/*)', doc))[1]::text || '|' || (xpath('local-name(/*)', doc))[1]::text;
  IF NOT root = ANY (roots) THEN
    PERFORM @extschema@._bad_parameter('body', format('is a %s element; expected %s', root,
                                                      array_to_string(roots, ' or ')));
  END IF;
  RETURN doc;
END
$$;

-- An element of the multistatus: the key's prefix (D, C, CS, A) or a
-- namespace declared on it.  (PL/pgSQL for its cached plan, see below.)
CREATE FUNCTION @extschema@._dav_element(key text, inner_xml text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  ns text := split_part(key, '|', 1);
  n text := @extschema@._xml_text(split_part(key, '|', 2));
  p text := CASE ns WHEN 'DAV:' THEN 'D' WHEN 'urn:ietf:params:xml:ns:caldav' THEN 'C'
                    WHEN 'http://calendarserver.org/ns/' THEN 'CS' WHEN 'http://apple.com/ns/ical/' THEN 'A' END;
  open_tag text := CASE WHEN p IS NOT NULL THEN p || ':' || n
                        ELSE 'X:' || n || ' xmlns:X="' || @extschema@._xml_text(ns) || '"' END;
BEGIN
  IF inner_xml IS NULL OR inner_xml = '' THEN
    RETURN '<' || open_tag || '/>';
  END IF;
  RETURN '<' || open_tag || '>' || inner_xml || '</' || coalesce(p, 'X') || ':' || n || '>';
END
$$;

CREATE FUNCTION @extschema@._dav_multistatus(responses text, sync_token text DEFAULT NULL) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '<?xml version="1.0" encoding="utf-8"?>' || E'\n'
      || '<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" '
      || 'xmlns:CS="http://calendarserver.org/ns/" xmlns:A="http://apple.com/ns/ical/">'
      || coalesce(responses, '')
      || coalesce('<D:sync-token>' || @extschema@._xml_text(sync_token) || '</D:sync-token>', '')
      || '</D:multistatus>'
$$;

-- One <D:response> with a 200 propstat for the known properties and a 404
-- one for the rest; props: [key, value-or-NULL] pairs.  PL/pgSQL: called
-- once per resource of a listing, its plan is cached for the session (an
-- SQL function that cannot be inlined is planned at every call).
CREATE FUNCTION @extschema@._dav_response(href text, keys text[], vals text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  found text := '';
  missing text := '';
BEGIN
  FOR i IN 1 .. coalesce(cardinality(keys), 0) LOOP
    IF vals[i] IS NOT NULL THEN
      found := found || @extschema@._dav_element(keys[i], vals[i]);
    ELSE
      missing := missing || @extschema@._dav_element(keys[i], NULL);
    END IF;
  END LOOP;
  RETURN '<D:response><D:href>' || @extschema@._xml_text(href) || '</D:href>'
      || CASE WHEN found <> '' THEN '<D:propstat><D:prop>' || found
                                    || '</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>' ELSE '' END
      || CASE WHEN missing <> '' THEN '<D:propstat><D:prop>' || missing
                                      || '</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>' ELSE '' END
      || '</D:response>';
END
$$;

CREATE FUNCTION @extschema@._dav_status_response(href text, status text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '<D:response><D:href>' || @extschema@._xml_text(href) || '</D:href><D:status>HTTP/1.1 '
         || status || '</D:status></D:response>'
$$;

-- The value of one property of a resource: inner XML ('' for an empty
-- element), or NULL when the resource has no such property.
--   kind: root, home (the principal), calendar, object
CREATE FUNCTION @extschema@._dav_prop(kind text, key text, me_id bigint, me_email text, me_name text,
                                      t @extschema@.tasks, res_uid text, ctag text, sync_token text) RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT CASE key
    WHEN 'DAV:|resourcetype' THEN CASE kind WHEN 'root' THEN '<D:collection/>'
                                            WHEN 'home' THEN '<D:collection/><D:principal/>'
                                            WHEN 'calendar' THEN '<D:collection/><C:calendar/>'
                                            ELSE '' END
    WHEN 'DAV:|displayname' THEN @extschema@._xml_text(CASE kind WHEN 'root' THEN 'taskmgmt'
                                                                 WHEN 'home' THEN me_name
                                                                 WHEN 'calendar' THEN 'Tasks'
                                                                 ELSE t.title END)
    WHEN 'DAV:|current-user-principal' THEN '<D:href>/dav/users/' || me_id || '/</D:href>'
    WHEN 'DAV:|principal-URL' THEN CASE WHEN kind = 'home' THEN '<D:href>/dav/users/' || me_id || '/</D:href>' END
    WHEN 'DAV:|owner' THEN CASE WHEN kind IN ('calendar', 'home') THEN '<D:href>/dav/users/' || me_id || '/</D:href>' END
    WHEN 'urn:ietf:params:xml:ns:caldav|calendar-home-set' THEN
      CASE WHEN kind IN ('home', 'root') THEN '<D:href>/dav/users/' || me_id || '/</D:href>' END
    WHEN 'urn:ietf:params:xml:ns:caldav|calendar-user-address-set' THEN
      CASE WHEN kind = 'home' THEN '<D:href>mailto:' || @extschema@._xml_text(me_email) || '</D:href>' END
    WHEN 'urn:ietf:params:xml:ns:caldav|supported-calendar-component-set' THEN
      CASE WHEN kind = 'calendar' THEN '<C:comp name="VTODO"/>' END
    WHEN 'urn:ietf:params:xml:ns:caldav|supported-calendar-data' THEN
      CASE WHEN kind = 'calendar' THEN '<C:calendar-data content-type="text/calendar" version="2.0"/>' END
    WHEN 'urn:ietf:params:xml:ns:caldav|calendar-description' THEN
      CASE WHEN kind = 'calendar' THEN 'Every task you can see in taskmgmt' END
    WHEN 'DAV:|supported-report-set' THEN
      CASE WHEN kind = 'calendar' THEN
        '<D:supported-report><D:report><C:calendar-query/></D:report></D:supported-report>'
        || '<D:supported-report><D:report><C:calendar-multiget/></D:report></D:supported-report>'
        || '<D:supported-report><D:report><D:sync-collection/></D:report></D:supported-report>' END
    WHEN 'DAV:|current-user-privilege-set' THEN
      CASE WHEN kind IN ('calendar', 'object') THEN
        '<D:privilege><D:read/></D:privilege><D:privilege><D:read-current-user-privilege-set/></D:privilege>'
        || CASE WHEN @extschema@._current_token_read_only() THEN ''
                ELSE '<D:privilege><D:write/></D:privilege><D:privilege><D:write-content/></D:privilege>'
                     || '<D:privilege><D:bind/></D:privilege><D:privilege><D:unbind/></D:privilege>' END
        ELSE '<D:privilege><D:read/></D:privilege>' END
    WHEN 'DAV:|sync-token' THEN CASE WHEN kind = 'calendar' THEN @extschema@._xml_text(sync_token) END
    WHEN 'http://calendarserver.org/ns/|getctag' THEN CASE WHEN kind = 'calendar' THEN ctag END
    WHEN 'DAV:|getetag' THEN CASE WHEN kind = 'object' THEN '&quot;' || t.version || '&quot;'
                                  WHEN kind = 'calendar' THEN '&quot;' || ctag || '&quot;' END
    WHEN 'DAV:|getcontenttype' THEN CASE WHEN kind = 'object' THEN 'text/calendar; charset=utf-8; component=vtodo' END
    WHEN 'DAV:|getlastmodified' THEN
      CASE WHEN kind = 'object' THEN to_char(t.updated_at AT TIME ZONE 'UTC', 'Dy, DD Mon YYYY HH24:MI:SS "GMT"') END
    WHEN 'urn:ietf:params:xml:ns:caldav|calendar-data' THEN
      CASE WHEN kind = 'object' THEN @extschema@._xml_text(@extschema@.task_ical(t, res_uid)) END
  END
$$;

-- allprop: everything but calendar-data.
CREATE FUNCTION @extschema@._dav_allprop() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '{DAV:|resourcetype,DAV:|displayname,DAV:|current-user-principal,DAV:|getetag,DAV:|getcontenttype,DAV:|getlastmodified,urn:ietf:params:xml:ns:caldav|supported-calendar-component-set,DAV:|sync-token}'::text[]
$$;

-- The requested properties of a PROPFIND, REPORT or sync-collection body
-- under the element at path (NULL body or allprop: allprop).
CREATE FUNCTION @extschema@._dav_requested(doc xml, path text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN doc IS NULL
                   OR (xpath('count(' || path || '/D:allprop) + count(' || path || '/D:propname)', doc,
                             ARRAY[ARRAY['D', 'DAV:']]))[1]::text::numeric > 0
                   OR (xpath('count(' || path || '/D:prop)', doc, ARRAY[ARRAY['D', 'DAV:']]))[1]::text::numeric = 0
              THEN @extschema@._dav_allprop()
              ELSE @extschema@._dav_children(doc, path || '/D:prop') END
$$;

CREATE FUNCTION @extschema@._current_token_read_only() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce((SELECT NOT ('write' = ANY (t.scopes)) FROM @extschema@.personal_tokens t
                    WHERE t.id = @extschema@._current_token_id()), false)
$$;

-- The collection's ctag: changes whenever a task in it (as this user sees
-- it) does, and says nothing about others' tasks.
CREATE FUNCTION @extschema@._dav_ctag() RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT md5(coalesce(string_agg(t.id || ':' || t.version, ',' ORDER BY t.id), ''))
    FROM @extschema@.tasks t
$$;

CREATE FUNCTION @extschema@._dav_sync_token() RETURNS text
LANGUAGE sql VOLATILE PARALLEL RESTRICTED AS $$
  SELECT 'urn:x-taskmgmt:sync:' || pg_snapshot_xmin(pg_current_snapshot())
$$;

-- The visible task a resource name stands for, and its UID (NULLs: none).
CREATE FUNCTION @extschema@._dav_find(name text, OUT task_id bigint, OUT uid text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
BEGIN
  IF name ~ '^[1-9][0-9]{0,17}\.ics$' THEN
    SELECT x.id, 'taskmgmt-task-' || x.id INTO task_id, uid FROM @extschema@.tasks x
     WHERE x.id = split_part(name, '.', 1)::bigint
       AND NOT EXISTS (SELECT FROM @extschema@.dav_resources r WHERE r.task_id = x.id);
  ELSE
    SELECT r.task_id, r.uid INTO task_id, uid
      FROM @extschema@.dav_resources r JOIN @extschema@.tasks x ON x.id = r.task_id
     WHERE r.name = _dav_find.name ORDER BY x.id LIMIT 1;
  END IF;
END
$$;

-- ---------------------------------------------------------------- DAV requests

-- Signs in with HTTP Basic credentials: the account's email and one of its
-- personal access tokens (never the password: calendar apps store it).
CREATE FUNCTION @extschema@.dav_authenticate(credentials text) RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  m text[] := regexp_match(coalesce(credentials, ''), '^\s*Basic\s+([A-Za-z0-9+/=]+)\s*$', 'i');
  pair text;
  uid bigint;
BEGIN
  IF m IS NULL THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '28000', MESSAGE = 'HTTP Basic authentication required',
      HINT = 'User name: your email; password: a personal access token.';
  END IF;
  BEGIN
    pair := convert_from(decode(m[1], 'base64'), 'UTF8');
  EXCEPTION WHEN OTHERS THEN
    pair := NULL;
  END;
  IF pair IS NULL OR position(':' IN pair) = 0 THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '28000', MESSAGE = 'malformed HTTP Basic credentials';
  END IF;
  IF substr(pair, position(':' IN pair) + 1) !~ '^tmpat_' THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '28000', MESSAGE = 'invalid credentials',
      HINT = 'The password must be a personal access token (POST /api/v1/me/tokens), not the account password.';
  END IF;
  uid := @extschema@.authenticate(substr(pair, position(':' IN pair) + 1));
  IF NOT EXISTS (SELECT FROM @extschema@.users u
                  WHERE u.id = uid AND lower(u.email) = lower(btrim(split_part(pair, ':', 1)))) THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '28000', MESSAGE = 'invalid credentials';
  END IF;
  RETURN uid;
END
$$;

-- One CalDAV request.  path: the URL path (percent-encoded, no query);
-- depth, if_match, if_none_match: those headers or NULL; body: the raw
-- request body.  The answer's columns become the status, headers and body.
CREATE FUNCTION @extschema@.dav(method text, path text, depth text, if_match text, if_none_match text,
                                request_body text)
RETURNS TABLE (status integer, content_type text, etag text, location text, dav text, allow text, body text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  xml_type constant text := 'application/xml; charset=utf-8';
  me_id bigint := @extschema@._require_user();
  me_email text;
  me_name text;
  seg text[];
  kind text;
  name text;
  base text;
  doc xml;
  props text[];
  resp text := '';
  ctag text;
  token text;
  f record;
  t @extschema@.tasks;
  res_uid text;
  found bigint;
  parent bigint;
  fields jsonb;
  answer jsonb;
  expected integer;
  report text;
  since xid8;
  hrefs text[];
  h text;
  vtodo boolean := true;
  open_only boolean := false;
BEGIN
  SELECT u.email, u.display_name INTO me_email, me_name FROM @extschema@.users u WHERE u.id = me_id;
  base := '/dav/users/' || me_id || '/';
  method := upper(method);

  -- where: root, home, calendar or object (another user's paths: not found)
  IF path IN ('/.well-known/caldav', '/.well-known/caldav/') THEN
    RETURN QUERY SELECT 301, NULL::text, NULL::text, '/dav/'::text, NULL::text, NULL::text, NULL::text;
    RETURN;
  END IF;
  seg := array_remove(string_to_array(split_part(coalesce(path, ''), '?', 1), '/'), '');
  IF seg = '{dav}' THEN
    kind := 'root';
  ELSIF seg[1] = 'dav' AND seg[2] = 'users' AND seg[3] = me_id::text AND cardinality(seg) = 3 THEN
    kind := 'home';
  ELSIF seg[1] = 'dav' AND seg[2] = 'users' AND seg[3] = me_id::text AND seg[4] = 'tasks' AND cardinality(seg) = 4 THEN
    kind := 'calendar';
  ELSIF seg[1] = 'dav' AND seg[2] = 'users' AND seg[3] = me_id::text AND seg[4] = 'tasks' AND cardinality(seg) = 5 THEN
    kind := 'object';
    name := @extschema@._url_decode(seg[5]);
    IF name IS NULL OR name !~ '^[A-Za-z0-9._~@+=-]{1,250}\.ics$' THEN
      PERFORM @extschema@._not_found('calendar object');
    END IF;
  ELSE
    PERFORM @extschema@._not_found('DAV resource');
  END IF;

  IF method = 'OPTIONS' THEN
    RETURN QUERY SELECT 200, NULL::text, NULL::text, NULL::text, '1, 3, calendar-access'::text,
                        'OPTIONS, GET, PUT, DELETE, PROPFIND, PROPPATCH, REPORT'::text, NULL::text;
    RETURN;
  END IF;

  IF kind = 'object' THEN
    SELECT x.task_id, x.uid INTO found, res_uid FROM @extschema@._dav_find(name) x;
    SELECT * INTO t FROM @extschema@.tasks x WHERE x.id = found;
  END IF;

  CASE method
  WHEN 'PROPFIND' THEN
    IF nullif(btrim(coalesce(request_body, '')), '') IS NOT NULL THEN
      doc := @extschema@._dav_document(request_body, 'DAV:|propfind');
    END IF;
    props := @extschema@._dav_requested(doc, '/D:propfind');
    IF kind = 'object' AND t.id IS NULL THEN PERFORM @extschema@._not_found('calendar object'); END IF;
    IF kind = 'calendar' THEN
      ctag := @extschema@._dav_ctag();
      token := @extschema@._dav_sync_token();
    END IF;
    resp := @extschema@._dav_response(
              CASE kind WHEN 'root' THEN '/dav/' WHEN 'home' THEN base WHEN 'calendar' THEN base || 'tasks/'
                        ELSE base || 'tasks/' || name END,
              props, ARRAY(SELECT @extschema@._dav_prop(kind, k, me_id, me_email, me_name, t, res_uid, ctag, token) FROM unnest(props) k));
    IF coalesce(depth, '1') <> '0' THEN
      IF kind = 'home' THEN
        ctag := @extschema@._dav_ctag();
        token := @extschema@._dav_sync_token();
        resp := resp || @extschema@._dav_response(base || 'tasks/', props,
                  ARRAY(SELECT @extschema@._dav_prop('calendar', k, me_id, me_email, me_name, NULL, NULL, ctag, token) FROM unnest(props) k));
      ELSIF kind = 'calendar' THEN
        resp := resp || coalesce((
          SELECT string_agg(@extschema@._dav_response(base || 'tasks/' || coalesce(r.name, x.id || '.ics'), props,
                              ARRAY(SELECT @extschema@._dav_prop('object', k, me_id, me_email, me_name, x, r.uid, NULL, NULL)
                                      FROM unnest(props) k)), '' ORDER BY x.id)
            FROM @extschema@.tasks x LEFT JOIN @extschema@.dav_resources r ON r.task_id = x.id), '');
      END IF;
    END IF;
    RETURN QUERY SELECT 207, xml_type, NULL::text, NULL::text, NULL::text, NULL::text,
                        @extschema@._dav_multistatus(resp);

  WHEN 'PROPPATCH' THEN
    -- nothing here is the client's to set: every property is refused
    doc := @extschema@._dav_document(request_body, 'DAV:|propertyupdate');
    props := @extschema@._dav_children(doc, '/D:propertyupdate/D:set/D:prop')
             || @extschema@._dav_children(doc, '/D:propertyupdate/D:remove/D:prop');
    RETURN QUERY SELECT 207, xml_type, NULL::text, NULL::text, NULL::text, NULL::text,
      @extschema@._dav_multistatus('<D:response><D:href>' || @extschema@._xml_text(path) || '</D:href>'
        || '<D:propstat><D:prop>' || coalesce((SELECT string_agg(@extschema@._dav_element(k, NULL), '') FROM unnest(props) k), '')
        || '</D:prop><D:status>HTTP/1.1 403 Forbidden</D:status>'
        || '<D:responsedescription>properties are read-only</D:responsedescription></D:propstat></D:response>');

  WHEN 'REPORT' THEN
    IF kind <> 'calendar' THEN
      RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'REPORT is supported on the calendar collection only';
    END IF;
    doc := @extschema@._dav_document(request_body, 'urn:ietf:params:xml:ns:caldav|calendar-query',
                                     'urn:ietf:params:xml:ns:caldav|calendar-multiget', 'DAV:|sync-collection');
    report := (xpath('local-name(/*)', doc))[1]::text;
    props := @extschema@._dav_requested(doc, '/*');
    IF report = 'calendar-query' THEN
      -- component filters: VCALENDAR > VTODO (or none); COMPLETED is-not-defined
      -- keeps open tasks; other filters are not applied (clients filter too)
      vtodo := coalesce((SELECT bool_and(n = 'VTODO') FROM unnest(@extschema@._dav_texts(doc,
                 '/C:calendar-query/C:filter/C:comp-filter/C:comp-filter/@name')) n), true);
      open_only := (xpath('count(/C:calendar-query/C:filter/C:comp-filter/C:comp-filter/C:prop-filter[@name="COMPLETED"]/C:is-not-defined)',
                          doc, ARRAY[ARRAY['C', 'urn:ietf:params:xml:ns:caldav']]))[1]::text::numeric > 0;
      resp := coalesce((
        SELECT string_agg(@extschema@._dav_response(base || 'tasks/' || coalesce(r.name, x.id || '.ics'), props,
                            ARRAY(SELECT @extschema@._dav_prop('object', k, me_id, me_email, me_name, x, r.uid, NULL, NULL) FROM unnest(props) k)),
                          '' ORDER BY x.id)
          FROM @extschema@.tasks x LEFT JOIN @extschema@.dav_resources r ON r.task_id = x.id
         WHERE vtodo AND (NOT open_only OR x.status <> 'done')), '');
      RETURN QUERY SELECT 207, xml_type, NULL::text, NULL::text, NULL::text, NULL::text,
                          @extschema@._dav_multistatus(resp);
    ELSIF report = 'calendar-multiget' THEN
      hrefs := @extschema@._dav_texts(doc, '/C:calendar-multiget/D:href/text()');
      FOREACH h IN ARRAY hrefs LOOP
        name := @extschema@._url_decode(regexp_replace(btrim(h), '^https?://[^/]+', ''));
        IF name IS NOT NULL AND starts_with(name, base || 'tasks/') THEN
          name := substr(name, length(base || 'tasks/') + 1);
          SELECT x.task_id, x.uid INTO found, res_uid FROM @extschema@._dav_find(name) x;
        ELSE
          found := NULL;
        END IF;
        t := NULL;
        SELECT * INTO t FROM @extschema@.tasks x WHERE x.id = found;
        IF t.id IS NULL THEN
          resp := resp || @extschema@._dav_status_response(btrim(h), '404 Not Found');
        ELSE
          resp := resp || @extschema@._dav_response(btrim(h), props,
                    ARRAY(SELECT @extschema@._dav_prop('object', k, me_id, me_email, me_name, t, res_uid, NULL, NULL) FROM unnest(props) k));
        END IF;
      END LOOP;
      RETURN QUERY SELECT 207, xml_type, NULL::text, NULL::text, NULL::text, NULL::text,
                          @extschema@._dav_multistatus(resp);
    ELSE
      token := btrim(coalesce((@extschema@._dav_texts(doc, '/D:sync-collection/D:sync-token/text()'))[1], ''));
      IF token <> '' THEN
        IF token !~ '^urn:x-taskmgmt:sync:[0-9]{1,20}$' THEN
          RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'invalid sync token',
            HINT = 'Synchronise again without a token (DAV:valid-sync-token).';
        END IF;
        since := split_part(token, ':', 4)::xid8;
      END IF;
      token := @extschema@._dav_sync_token();
      IF since IS NULL THEN
        resp := coalesce((
          SELECT string_agg(@extschema@._dav_response(base || 'tasks/' || coalesce(r.name, x.id || '.ics'), props,
                              ARRAY(SELECT @extschema@._dav_prop('object', k, me_id, me_email, me_name, x, r.uid, NULL, NULL) FROM unnest(props) k)),
                            '' ORDER BY x.id)
            FROM @extschema@.tasks x LEFT JOIN @extschema@.dav_resources r ON r.task_id = x.id), '');
      ELSE
        FOR f IN SELECT * FROM @extschema@._dav_changes_since(since) c ORDER BY c.task_id LOOP
          IF f.removed THEN
            resp := resp || @extschema@._dav_status_response(base || 'tasks/' || f.name, '404 Not Found');
          ELSE
            SELECT x.* INTO t FROM @extschema@.tasks x WHERE x.id = f.task_id;
            SELECT r.uid INTO res_uid FROM @extschema@.dav_resources r WHERE r.task_id = f.task_id;
            resp := resp || @extschema@._dav_response(base || 'tasks/' || f.name, props,
                      ARRAY(SELECT @extschema@._dav_prop('object', k, me_id, me_email, me_name, t, res_uid, NULL, NULL) FROM unnest(props) k));
          END IF;
        END LOOP;
      END IF;
      RETURN QUERY SELECT 207, xml_type, NULL::text, NULL::text, NULL::text, NULL::text,
                          @extschema@._dav_multistatus(resp, token);
    END IF;

  WHEN 'GET' THEN
    IF kind <> 'object' THEN
      RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'collections have no content: GET a .ics resource';
    END IF;
    IF t.id IS NULL THEN PERFORM @extschema@._not_found('calendar object'); END IF;
    RETURN QUERY SELECT 200, 'text/calendar; charset=utf-8'::text, '"' || t.version || '"', NULL::text,
                        NULL::text, NULL::text, @extschema@.task_ical(t, res_uid);

  WHEN 'PUT' THEN
    IF kind <> 'object' THEN
      RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'PUT a .ics resource into the calendar collection';
    END IF;
    IF if_match IS NOT NULL AND btrim(if_match) <> '*' THEN
      IF btrim(if_match) !~ '^(W/)?"[0-9]{1,9}"$' THEN
        RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM412', MESSAGE = 'If-Match names no version of this resource';
      END IF;
      expected := substring(if_match FROM '"([0-9]+)"')::integer;
    END IF;
    fields := @extschema@._ical_parse_vtodo(coalesce(request_body, ''));
    IF NOT fields ? 'uid' OR btrim(fields ->> 'uid') = '' THEN
      PERFORM @extschema@._invalid('UID', 'is required');
    END IF;
    IF fields ? 'parent_uid' THEN
      parent := @extschema@._dav_uid_task(fields ->> 'parent_uid');
      IF parent IS NULL THEN
        PERFORM @extschema@._invalid('RELATED-TO', 'names no task you can see');
      END IF;
    END IF;
    IF t.id IS NOT NULL THEN
      IF btrim(coalesce(if_none_match, '')) = '*' THEN
        RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM412', MESSAGE = 'the resource exists (If-None-Match: *)';
      END IF;
      IF fields ->> 'uid' <> res_uid THEN
        PERFORM @extschema@._invalid('UID', 'cannot change: this resource is ' || res_uid);
      END IF;
      -- PUT replaces: what the VTODO leaves out is cleared
      answer := @extschema@.update_task(t.id, jsonb_build_object('description', '', 'priority', 'none', 'due_date', NULL,
                                                                 'recurrence', NULL, 'parent_id', parent)
                                              || (fields - 'uid' - 'parent_uid'), expected);
      RETURN QUERY SELECT 204, NULL::text, '"' || (answer ->> 'version') || '"', NULL::text, NULL::text, NULL::text, NULL::text;
    ELSE
      IF if_match IS NOT NULL THEN
        RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM412', MESSAGE = 'the resource does not exist (If-Match)';
      END IF;
      IF name ~ '^[0-9]+\.ics$' THEN
        RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'names of the form <number>.ics are reserved for tasks made elsewhere',
          HINT = 'Name a new resource after its UID.';
      END IF;
      IF fields ->> 'uid' ~ '^taskmgmt-task-' OR EXISTS (SELECT FROM @extschema@.dav_resources r WHERE r.uid = fields ->> 'uid') THEN
        RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '23505', MESSAGE = 'a task with this UID already exists in the calendar',
          HINT = 'CALDAV:no-uid-conflict: update that resource instead.';
      END IF;
      answer := @extschema@.create_task(fields - 'uid' - 'parent_uid' || jsonb_build_object('parent_id', parent));
      INSERT INTO @extschema@.dav_resources (task_id, name, uid, created_by)
      VALUES ((answer ->> 'id')::bigint, name, fields ->> 'uid', me_id);
      RETURN QUERY SELECT 201, NULL::text, '"' || (answer ->> 'version') || '"', base || 'tasks/' || name,
                          NULL::text, NULL::text, NULL::text;
    END IF;

  WHEN 'DELETE' THEN
    IF kind <> 'object' THEN
      RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'the calendar cannot be deleted; delete its tasks one by one';
    END IF;
    IF t.id IS NULL THEN PERFORM @extschema@._not_found('calendar object'); END IF;
    IF if_match IS NOT NULL AND btrim(if_match) <> '*'
       AND substring(if_match FROM '"([0-9]+)"') IS DISTINCT FROM t.version::text THEN
      RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM412', MESSAGE = 'task was changed by someone else',
        DETAIL = format('Expected %s, current version is %s.', btrim(if_match), t.version);
    END IF;
    PERFORM @extschema@.delete_task(t.id);
    RETURN QUERY SELECT 204, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text;

  WHEN 'MKCALENDAR', 'MKCOL' THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'there is one calendar per user: its tasks';
  ELSE
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM400', MESSAGE = method || ' is not supported here';
  END CASE;
END
$$;

-- what this file made is not PUBLIC's (functions are executable by PUBLIC when made)
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @extschema@ FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._ical_vtodo(text, text, text, text, text, date, text[], timestamptz, timestamptz, timestamptz, integer, text, text),
  @extschema@._ical_feed(text, text[], text[], date[], text[], timestamptz[]),
  @extschema@._ical_parse_vtodo(text), @extschema@._feed_authenticate(text),
  @extschema@.task_ical(@extschema@.tasks, text),
  @extschema@.create_calendar_feed(), @extschema@.revoke_calendar_feed(), @extschema@.calendar_feed(text),
  @extschema@._dav_changes_since(xid8), @extschema@._xml_text(text), @extschema@._url_decode(text),
  @extschema@._dav_children(xml, text), @extschema@._dav_texts(xml, text), @extschema@._dav_document(text, text[]),
  @extschema@._dav_element(text, text), @extschema@._dav_multistatus(text, text),
  @extschema@._dav_response(text, text[], text[]), @extschema@._dav_status_response(text, text),
  @extschema@._dav_prop(text, text, bigint, text, text, @extschema@.tasks, text, text, text),
  @extschema@._dav_allprop(), @extschema@._dav_requested(xml, text), @extschema@._current_token_read_only(),
  @extschema@._dav_ctag(), @extschema@._dav_sync_token(), @extschema@._dav_find(text), @extschema@._dav_uid_task(text),
  @extschema@.dav_authenticate(text), @extschema@.dav(text, text, text, text, text, text) TO taskmgmt_client;

-- ==== server-set columns (#17) ====
-- Ids, times, versions and who did it are the server's through every door:
-- no client privilege names them, defaults and triggers fill them in.

-- updated_at belongs to the server: a BEFORE UPDATE trigger with this moves
-- it to now() when anything else in the row changes and keeps it otherwise,
-- whatever the door (clients cannot write the column, see 40_rls.sql).
-- Restores run with triggers off, so they keep the dumped value.
CREATE FUNCTION @extschema@._touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := OLD.updated_at;
  IF NEW IS DISTINCT FROM OLD THEN
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._touch_updated_at() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._touch_updated_at() TO taskmgmt_client;

-- after the one above (triggers fire in name order): it sees the final row
CREATE TRIGGER users_touch_updated_at BEFORE UPDATE ON @extschema@.users
  FOR EACH ROW EXECUTE FUNCTION @extschema@._touch_updated_at();
-- updated_at is the server's (30_helpers.sql)
CREATE TRIGGER saved_views_touch_updated_at BEFORE UPDATE ON @extschema@.saved_views
  FOR EACH ROW EXECUTE FUNCTION @extschema@._touch_updated_at();

-- read_at is the server's time of reading, whatever the door (mark_read(),
-- or plain SQL on the one column clients may update): a notification that
-- becomes read gets now(), one already read keeps its time, NULL makes it
-- unread again.
CREATE FUNCTION @extschema@._notifications_read_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.read_at IS NOT NULL THEN
    NEW.read_at := coalesce(OLD.read_at, now());
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER notifications_read_at BEFORE UPDATE OF read_at ON @extschema@.notifications
  FOR EACH ROW EXECUTE FUNCTION @extschema@._notifications_read_at();
REVOKE ALL ON FUNCTION @extschema@._notifications_read_at() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._notifications_read_at() TO taskmgmt_client;

REVOKE UPDATE (updated_at) ON @extschema@.users FROM taskmgmt_client;
REVOKE INSERT (created_by) ON @extschema@.teams FROM taskmgmt_client;
REVOKE INSERT ON @extschema@.team_members FROM taskmgmt_client;
GRANT INSERT (team_id, user_id, role) ON @extschema@.team_members TO taskmgmt_client;
REVOKE INSERT (creator_id) ON @extschema@.tasks FROM taskmgmt_client;
REVOKE UPDATE (updated_at) ON @extschema@.saved_views FROM taskmgmt_client;

-- The creator of a task or team is whoever is signed in: filled in by
-- default, and no client may name another (the policies above check it too).
-- A DBA working without signing in names one.
ALTER TABLE @extschema@.tasks ALTER COLUMN creator_id SET DEFAULT @extschema@.current_user_id();
ALTER TABLE @extschema@.teams ALTER COLUMN created_by SET DEFAULT @extschema@.current_user_id();

-- the API functions no longer name the columns the server sets
CREATE OR REPLACE FUNCTION @extschema@.create_team(name text) RETURNS jsonb
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

CREATE OR REPLACE FUNCTION @extschema@.create_task(task jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  r @extschema@.tasks;
BEGIN
  PERFORM @extschema@._require_user();
  PERFORM @extschema@._check_keys(task,
    '{title,description,status,priority,due_date,team_id,assignee,tags}',
    '{id,creator_id,version,created_at,updated_at,started_at,completed_at}');
  IF NOT task ? 'title' THEN PERFORM @extschema@._invalid('title', 'is required'); END IF;
  r.description := '';
  r.status := 'todo';
  r.priority := 'none';
  r.tags := '{}';
  r := @extschema@._apply_task_fields(task, r);
  -- creator_id: the signed-in user, by default (40_rls.sql)
  INSERT INTO @extschema@.tasks (title, description, status, priority, due_date, team_id,
                                 assignee_user_id, assignee_team_id, tags)
  VALUES (r.title, r.description, r.status, r.priority, r.due_date, r.team_id,
          r.assignee_user_id, r.assignee_team_id, r.tags)
  RETURNING * INTO r;
  RETURN @extschema@.task_json(r);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.save_view(name text, filter jsonb, is_default boolean DEFAULT false) RETURNS jsonb
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

CREATE OR REPLACE FUNCTION @extschema@.set_default_view(name text) RETURNS jsonb
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

-- ==== restore: the triggers of #12.7 and #13 that fire on insert skip restoring sessions too (#15) ====
CREATE OR REPLACE TRIGGER comments_reply_depth BEFORE INSERT ON @extschema@.comments
  FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL AND NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._comments_reply_depth();
CREATE OR REPLACE TRIGGER tasks_webhooks AFTER INSERT OR UPDATE OR DELETE ON @extschema@.tasks
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_webhooks();
CREATE OR REPLACE TRIGGER comments_webhooks AFTER INSERT ON @extschema@.comments
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._comments_webhooks();
CREATE OR REPLACE TRIGGER tasks_dav_changes AFTER INSERT OR UPDATE OR DELETE ON @extschema@.tasks
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_dav_changes();
CREATE OR REPLACE TRIGGER dav_resources_name AFTER INSERT ON @extschema@.dav_resources
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._dav_resources_name();

-- ==== merge: created_by of relations and CalDAV names is server-set too (#17 with #13, #14) ====
ALTER TABLE @extschema@.task_relations ALTER COLUMN created_by SET DEFAULT @extschema@.current_user_id();
ALTER TABLE @extschema@.dav_resources ALTER COLUMN created_by SET DEFAULT @extschema@.current_user_id();
REVOKE INSERT (created_by) ON @extschema@.task_relations FROM taskmgmt_client;
REVOKE INSERT (created_by) ON @extschema@.dav_resources FROM taskmgmt_client;

-- ==== recurrence: an UNTIL with a time ends the series on the user's date (#14) ====
-- _rrule_next gains the time zone (a new argument, so the function is
-- dropped and created again); the trigger passes the creator's.
DROP FUNCTION @extschema@._rrule_next(text, date, date);
-- The first occurrence after `after` of the series starting at dtstart
-- (dtstart is the first occurrence); NULL when the series has ended.  tz:
-- the user's time zone, in which an UNTIL with a time (UTC) ends the series.
CREATE FUNCTION @extschema@._rrule_next(rule text, dtstart date, after date, tz text DEFAULT 'UTC') RETURNS date
AS 'MODULE_PATHNAME', 'tm_rrule_next' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
REVOKE ALL ON FUNCTION @extschema@._rrule_next(text, date, date, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._rrule_next(text, date, date, text) TO taskmgmt_client;
CREATE OR REPLACE FUNCTION @extschema@._tasks_recur() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  due date;
  nxt @extschema@.tasks;
  role_name text := CASE WHEN current_setting('role') <> 'none' THEN current_setting('role')
                         ELSE session_user::text END;
BEGIN
  -- a task re-done after being reopened has its next occurrence already
  IF EXISTS (SELECT FROM @extschema@.tasks t WHERE t.recurrence_of = NEW.id) THEN
    RETURN NULL;
  END IF;
  due := @extschema@._rrule_next(NEW.recurrence, NEW.recurrence_start,
                                 coalesce(NEW.due_date, @extschema@._user_today(NEW.creator_id)),
                                 coalesce((SELECT u.timezone FROM @extschema@.users u WHERE u.id = NEW.creator_id), 'UTC'));
  IF due IS NULL THEN
    RETURN NULL;  -- COUNT or UNTIL ended the series
  END IF;
  INSERT INTO @extschema@.tasks (title, description, status, priority, due_date, team_id,
                                 assignee_user_id, assignee_team_id, tags, creator_id, parent_id,
                                 recurrence, recurrence_start, recurrence_of)
  VALUES (NEW.title, NEW.description, 'todo', NEW.priority, due, NEW.team_id,
          NEW.assignee_user_id, NEW.assignee_team_id, NEW.tags, NEW.creator_id, NEW.parent_id,
          NEW.recurrence, NEW.recurrence_start, NEW.id)
  RETURNING * INTO nxt;
  INSERT INTO @extschema@.task_events (task_id, actor_id, actor_role, source, kind, changes, description)
  VALUES (NEW.id, @extschema@.current_user_id(), role_name, @extschema@._event_source(), 'updated',
          jsonb_build_object('next_occurrence', jsonb_build_array(NULL, nxt.id)),
          format('next occurrence: #%s, due %s', nxt.id, to_char(due, 'YYYY-MM-DD'))),
         (nxt.id, @extschema@.current_user_id(), role_name, @extschema@._event_source(), 'updated',
          jsonb_build_object('previous_occurrence', jsonb_build_array(NULL, NEW.id)),
          format('recurs from #%s', NEW.id));
  RETURN NULL;
END
$$;

-- ==== CalDAV: a change of visibility without a task change ends the user's sync tokens ====
-- When a user's visibility changed other than through a task.  Append-only:
-- an upsert of one row per user would lock it, and two membership changes
-- of the same users in opposite order would deadlock.  A row per change of
-- membership or role, which are rare.  Not dumped: its transaction ids mean
-- nothing in another cluster, and tokens do not survive a restore anyway
-- (_dav_sync_epoch).
CREATE TABLE @extschema@.dav_access_changes (
  user_id     bigint NOT NULL,
  changed_xid xid8 NOT NULL
);
CREATE INDEX dav_access_changes_user_idx ON @extschema@.dav_access_changes (user_id, changed_xid);
ALTER TABLE @extschema@.dav_access_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.dav_access_changes FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.dav_access_changes FROM PUBLIC;

CREATE FUNCTION @extschema@._dav_access_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  -- a row's fields are looked up at run time: the users row has no user_id
  old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
  new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
  key text := CASE TG_TABLE_NAME WHEN 'users' THEN 'id' ELSE 'user_id' END;
BEGIN
  INSERT INTO @extschema@.dav_access_changes (user_id, changed_xid)
  SELECT DISTINCT u, pg_current_xact_id()
    FROM unnest(ARRAY[(old_row ->> key)::bigint, (new_row ->> key)::bigint]) u
   WHERE u IS NOT NULL;
  RETURN NULL;
END $$;
CREATE TRIGGER team_members_dav_access AFTER INSERT OR DELETE OR UPDATE OF user_id, team_id
  ON @extschema@.team_members FOR EACH ROW WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._dav_access_changed();

CREATE TRIGGER users_dav_access AFTER UPDATE OF role ON @extschema@.users
  FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role)
  EXECUTE FUNCTION @extschema@._dav_access_changed();

-- Whether the signed-in user's visibility changed since the token's snapshot.
CREATE FUNCTION @extschema@._dav_access_changed_since(since xid8) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT FROM @extschema@.dav_access_changes a
                  WHERE a.user_id = @extschema@.current_user_id() AND a.changed_xid >= since)
$$;

-- Which database a sync token belongs to: the cluster's system identifier
-- (kept by its standbys, so a failover keeps the tokens) and the
-- database's OID.  A restore makes a new one, so a token from before it,
-- whose transaction ids mean nothing there, is refused (valid-sync-token)
-- instead of silently missing changes.
CREATE FUNCTION @extschema@._dav_sync_epoch() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
  SELECT (SELECT system_identifier FROM pg_control_system()) || '.'
         || (SELECT oid FROM pg_database WHERE datname = current_database())
$$;

REVOKE ALL ON FUNCTION @extschema@._dav_access_changed(), @extschema@._dav_access_changed_since(xid8),
  @extschema@._dav_sync_epoch() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._dav_access_changed_since(xid8), @extschema@._dav_sync_epoch() TO taskmgmt_client;

-- ==== notification channel privacy: NOTIFY payloads carry a notification key, not the user id (#17) ====
ALTER TABLE @extschema@.signing_keys
  ADD COLUMN notify_secret bytea NOT NULL DEFAULT (uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()))
  CHECK (length(notify_secret) >= 16);

-- Notification keys.  NOTIFY payloads say whose notification it is with an
-- opaque per-user key instead of the user id: PostgreSQL has no privilege
-- for LISTEN, so every role that can connect to the database can listen to
-- taskmgmt_notifications.  The key is a MAC of the user id under
-- signing_keys.notify_secret (owner-only), in the nested construction of
-- _cursor_mac (70_cursor.sql) with keys of its own, truncated to 128 bits,
-- base64url: 22 characters.  Only the owner may compute anyone's key: not
-- granted to clients (90_grants.sql), and SECURITY INVOKER, so that even a
-- grant would fail on the secret's table (callers: the publish trigger
-- below and notification_key(), both SECURITY DEFINER).  A signed-in user
-- learns their own with notification_key(), which is how the shim and any
-- other listener recognise a user's announcements.
CREATE FUNCTION @extschema@._notification_key(uid bigint) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL RESTRICTED AS $$
  SELECT @extschema@._b64url_encode(substr(
           sha256(sha256('taskmgmt notification outer key:'::bytea || k.notify_secret)
                  || sha256(sha256('taskmgmt notification inner key:'::bytea || k.notify_secret)
                            || convert_to(uid::text, 'UTF8'))), 1, 16))
  FROM @extschema@.signing_keys k WHERE k.id = 1
$$;

-- The signed-in user's own notification key.
CREATE FUNCTION @extschema@.notification_key() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT @extschema@._notification_key(@extschema@._require_user())
$$;
REVOKE ALL ON FUNCTION @extschema@._notification_key(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.notification_key() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.notification_key() TO taskmgmt_client;

CREATE OR REPLACE FUNCTION @extschema@._notifications_publish() RETURNS trigger
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
                         format('{"key": "%s", "id": %s}', @extschema@._notification_key(user_id), id)))
  INTO n FROM (SELECT * FROM published ORDER BY id) p;
  RETURN NULL;
END
$$;

-- ==== Hot paths at the cost of plain SQL (#11) ====
-- The caller's team ids in C, cached per snapshot; the task JSON built in C
-- (_task_jsonb) with the planning keys of #14; list_tasks and search_tasks
-- as one statement each with a kept plan (_query_cached), their pages'
-- planning counts in two index scans (_page_sql); visibility keys in the
-- search index; the export streamed by a C cursor; report_summary in one
-- pass (its closing definition is in the last section); notifications
-- triggered only when there is something to send.

CREATE OR REPLACE FUNCTION @extschema@.my_team_ids() RETURNS bigint[]
  AS 'MODULE_PATHNAME', 'tm_my_team_ids'
  LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE OR REPLACE FUNCTION @extschema@.my_led_team_ids() RETURNS bigint[]
  AS 'MODULE_PATHNAME', 'tm_my_led_team_ids'
  LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE OR REPLACE FUNCTION @extschema@.my_owned_team_ids() RETURNS bigint[]
  AS 'MODULE_PATHNAME', 'tm_my_owned_team_ids'
  LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE OR REPLACE FUNCTION @extschema@._cursor_mac(message text) RETURNS bytea
  AS 'MODULE_PATHNAME', 'tm_cursor_mac'
  LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
CREATE FUNCTION @extschema@._query_cached(sql text, p1 text[], p2 jsonb, p3 jsonb) RETURNS jsonb
  AS 'MODULE_PATHNAME', 'tm_query_cached'
  LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION @extschema@._task_team_name(task_id bigint, team_id bigint) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  name text;
BEGIN
  SELECT tm.name INTO name
    FROM @extschema@.tasks t JOIN @extschema@.teams tm ON tm.id = t.assignee_team_id
   WHERE t.id = _task_team_name.task_id AND tm.id = _task_team_name.team_id
     AND (t.creator_id = @extschema@.current_user_id()
          OR tm.id = ANY (@extschema@.my_team_ids())
          OR t.team_id = ANY (@extschema@.my_team_ids())
          OR @extschema@.current_user_is_admin());
  RETURN name;
END
$$;
CREATE FUNCTION @extschema@._task_jsonb(
    id bigint, title text, description text, status @extschema@.task_status,
    priority @extschema@.task_priority, due_date date, team_id bigint, assignee_user_id bigint,
    assignee_team_id bigint, assignee_name text, tags text[], creator_id bigint,
    created_at timestamptz, updated_at timestamptz, started_at timestamptz,
    completed_at timestamptz, version integer, parent_id bigint, recurrence text,
    subtasks_total bigint, subtasks_done bigint, blocked_by_open bigint) RETURNS jsonb
  AS 'MODULE_PATHNAME', 'tm_task_jsonb'
  LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION @extschema@._jsonb_page(items jsonb[], next_cursor text) RETURNS jsonb
  AS 'MODULE_PATHNAME', 'tm_jsonb_page'
  LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION @extschema@._page_planning(ids bigint[], OUT id bigint, OUT subtasks_total bigint,
                                            OUT subtasks_done bigint, OUT blocked_by_open bigint)
  RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'tm_page_planning'
  LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 1;
CREATE FUNCTION @extschema@._task_planning(id bigint) RETURNS bigint[]
  AS 'MODULE_PATHNAME', 'tm_task_planning'
  LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
CREATE FUNCTION @extschema@._task_json(t @extschema@.tasks, created boolean) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  name text;
  counts bigint[] := '{0,0,0}';
BEGIN
  IF t.assignee_user_id IS NOT NULL THEN
    SELECT u.display_name INTO name FROM @extschema@.users u WHERE u.id = t.assignee_user_id;
  ELSIF t.assignee_team_id IS NOT NULL THEN
    name := @extschema@._task_team_name(t.id, t.assignee_team_id);
  END IF;
  IF NOT created THEN
    counts := @extschema@._task_planning(t.id);
  END IF;
  RETURN @extschema@._task_jsonb(t.id, t.title, t.description, t.status, t.priority, t.due_date,
    t.team_id, t.assignee_user_id, t.assignee_team_id, name, t.tags, t.creator_id, t.created_at,
    t.updated_at, t.started_at, t.completed_at, t.version, t.parent_id, t.recurrence,
    counts[1], counts[2], counts[3]);
END
$$;
CREATE OR REPLACE FUNCTION @extschema@.task_json(t @extschema@.tasks) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT @extschema@._task_json(t, false)
$$;
DROP FUNCTION @extschema@._with_planning(jsonb[]);
DROP FUNCTION @extschema@._task_planning_json(@extschema@.tasks);
DROP FUNCTION @extschema@._task_json_core(@extschema@.tasks);

CREATE OR REPLACE FUNCTION @extschema@.get_task(id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  r @extschema@.tasks;
BEGIN
  PERFORM @extschema@._require_user();
  SELECT * INTO r FROM @extschema@.tasks t WHERE t.id = get_task.id;
  IF NOT FOUND THEN PERFORM @extschema@._not_found('task'); END IF;
  RETURN @extschema@.task_json(r);
END
$$;
CREATE INDEX tasks_assignee_created_idx ON @extschema@.tasks
  (assignee_user_id, created_at, id) WHERE assignee_user_id IS NOT NULL;
DROP INDEX @extschema@.tasks_assignee_user_id_idx;

CREATE OR REPLACE FUNCTION @extschema@._filter_where(f jsonb) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  conds text[] := '{true}';
  uid bigint := @extschema@.current_user_id();
  a text := f ->> 'assignee';
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
    conds := conds || 't.assignee_user_id = @extschema@.current_user_id()'::text;
  ELSIF a = 'none' THEN
    conds := conds || 't.assignee_user_id IS NULL AND t.assignee_team_id IS NULL'::text;
  ELSIF a LIKE 'user:%' THEN
    conds := conds || $q$t.assignee_user_id = split_part($2 ->> 'assignee', ':', 2)::bigint$q$::text;
  ELSIF a LIKE 'team:%' THEN
    conds := conds || $q$t.assignee_team_id = split_part($2 ->> 'assignee', ':', 2)::bigint$q$::text;
  END IF;
  IF f ? 'team' THEN
    conds := conds || $q$t.team_id = ($2 ->> 'team')::bigint$q$::text;
  END IF;
  IF f ? 'tag' THEN
    conds := conds || CASE WHEN f ->> 'tag_mode' = 'all'
                           THEN $q$t.tags @> ARRAY(SELECT jsonb_array_elements_text($2 -> 'tag'))$q$::text
                           ELSE $q$t.tags && ARRAY(SELECT jsonb_array_elements_text($2 -> 'tag'))$q$::text END;
  END IF;
  IF f ? 'due_before' THEN
    conds := conds || $q$t.due_date < ($2 ->> 'due_before')::date$q$::text;
  END IF;
  IF f ? 'due_after' THEN
    conds := conds || $q$t.due_date > ($2 ->> 'due_after')::date$q$::text;
  END IF;
  IF f ? 'overdue' THEN
    conds := conds || format(CASE WHEN (f ->> 'overdue')::boolean THEN '%s' ELSE 'NOT coalesce(%s, false)' END,
      '(t.due_date < current_date AND t.status NOT IN (''done'', ''canceled''))');
  END IF;
  IF f ? 'ready' THEN  -- planning (#14, 77_relations.sql)
    conds := conds || @extschema@._ready_sql((f ->> 'ready')::boolean);
  END IF;
  IF f ? 'filter_sql' THEN  -- the filter language (#14): values in $1, see _filter_params
    conds := conds || (f ->> 'filter_sql');
  END IF;
  IF f ? 'q' THEN
    conds := conds || $q$t.search_vector OPERATOR(@extschema@.@@) websearch_to_tsquery('english', $2 ->> 'q')$q$::text;
  END IF;
  -- Index paths for the visibility rule.  RLS stays the authority (its
  -- policy is applied on top); this restates the policy's own arms so the
  -- planner can combine the per-arm indexes instead of scanning every task
  -- and filtering by the policy.  Not for admins (who see everything), and
  -- not when an assignee (user or team) or team filter already narrows the
  -- scan through its own index.
  -- With search words (q, or a text: term of the filter language, which
  -- compiles to a match on t.search_vector), the same rule as one condition
  -- on the visibility keys, which the search index holds next to the words
  -- (see 74_search.sql).
  IF uid IS NOT NULL AND coalesce(a, 'none') = 'none' AND NOT f ? 'team'
     AND NOT coalesce((f ->> 'filter_narrows')::boolean, false)  -- the filter language (#14)
     AND NOT @extschema@.current_user_is_admin() THEN
    conds := conds || CASE
      WHEN f ? 'q' OR strpos(f ->> 'filter_sql', 't.search_vector') > 0
      THEN '@extschema@._visibility_keys(t.creator_id, t.assignee_user_id, t.assignee_team_id, t.team_id) '
           'OPERATOR(@extschema@.&&) (SELECT @extschema@._my_visibility_keys())'
      WHEN cardinality(@extschema@.my_team_ids()) = 0
      THEN '(t.creator_id = (SELECT @extschema@.current_user_id()) OR t.assignee_user_id = (SELECT @extschema@.current_user_id()))'
      ELSE '(t.creator_id = (SELECT @extschema@.current_user_id()) OR t.assignee_user_id = (SELECT @extschema@.current_user_id()) '
           'OR t.assignee_team_id = ANY ((SELECT @extschema@.my_team_ids())::bigint[]) '
           'OR t.team_id = ANY ((SELECT @extschema@.my_team_ids())::bigint[]))' END;
  END IF;
  RETURN array_to_string(conds, ' AND ');
END
$$;
CREATE OR REPLACE FUNCTION @extschema@._keyset_sql(sorts jsonb, cur jsonb) RETURNS text
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
    vals := vals || format('($3 -> ''k'' ->> %s)::%s', i, f.typ);
    ops := ops || CASE WHEN sorts -> i ->> 1 = 'desc' THEN '<' ELSE '>' END;
    last_desc := sorts -> i ->> 1 = 'desc';
  END LOOP;
  exprs := exprs || 't.id'::text;
  vals := vals || '($3 ->> ''i'')::bigint'::text;
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
CREATE OR REPLACE FUNCTION @extschema@.filter_tasks(filter jsonb DEFAULT '{}') RETURNS SETOF @extschema@.tasks
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  f jsonb;
BEGIN
  PERFORM @extschema@._require_user();
  f := @extschema@._filter_normalize(filter);
  PERFORM @extschema@._filter_cursor(f, 'list');
  RETURN QUERY EXECUTE format('SELECT t.* FROM @extschema@.tasks t WHERE %s ORDER BY %s',
                              @extschema@._filter_where(f),
                              (@extschema@._order_sql(@extschema@._filter_sort(f))).order_by)
               USING @extschema@._filter_params(f), f;
END
$$;
CREATE FUNCTION @extschema@._page_columns() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 't.id, t.title, t.description, t.status, t.priority, t.due_date, t.team_id, '
         't.assignee_user_id, t.assignee_team_id, t.tags, t.creator_id, t.created_at, '
         't.updated_at, t.started_at, t.completed_at, t.version, t.parent_id, t.recurrence'
$$;
CREATE FUNCTION @extschema@._page_sql(rows text, n integer, item text, next_cursor text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT format(
      'WITH t AS MATERIALIZED (%1$s) '
      'SELECT @extschema@._jsonb_page(array_agg(%3$s ORDER BY t.n) FILTER (WHERE t.n <= %2$s), '
      '  CASE WHEN max(t.n) > %2$s THEN @extschema@._cursor_make(%4$s) END) '
      'FROM t '
      'LEFT JOIN (SELECT u.id, u.display_name FROM @extschema@.users u '
      '            WHERE u.id = ANY (ARRAY(SELECT DISTINCT t.assignee_user_id FROM t))) u ON u.id = t.assignee_user_id '
      'LEFT JOIN (SELECT p.id, sum(p.subtasks_total)::bigint AS total, sum(p.subtasks_done)::bigint AS done, '
      '                  sum(p.blocked_by_open)::bigint AS blocked '
      '             FROM @extschema@._page_planning(ARRAY(SELECT t.id FROM t)) p GROUP BY p.id) pl ON pl.id = t.id '
      'CROSS JOIN LATERAL (SELECT @extschema@._task_jsonb(t.id, t.title, t.description, t.status, '
      '  t.priority, t.due_date, t.team_id, t.assignee_user_id, t.assignee_team_id, '
      '  CASE WHEN t.assignee_user_id IS NOT NULL THEN u.display_name '
      '       WHEN t.assignee_team_id IS NOT NULL THEN @extschema@._task_team_name(t.id, t.assignee_team_id) END, '
      '  t.tags, t.creator_id, t.created_at, t.updated_at, t.started_at, t.completed_at, t.version, '
      '  t.parent_id, t.recurrence, pl.total, pl.done, pl.blocked) AS task) d',
      rows, n, item, next_cursor)
$$;
CREATE OR REPLACE FUNCTION @extschema@._list_sql(f jsonb, cur jsonb, n integer) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  sorts jsonb := @extschema@._filter_sort(f);
  o record := @extschema@._order_sql(sorts);
BEGIN
  RETURN @extschema@._page_sql(
    format('SELECT q.*, row_number() OVER () AS n FROM ('
           '  SELECT %s FROM @extschema@.tasks t WHERE %s AND %s ORDER BY %s LIMIT %s) q',
           @extschema@._page_columns(), @extschema@._filter_where(f), @extschema@._keyset_sql(sorts, cur),
           o.order_by, n + 1),
    n, 'd.task',
    format('jsonb_build_object(''s'', ''list'', ''f'', @extschema@._filter_hash($2), '
           '''k'', (array_agg(jsonb_build_array(%1$s)) FILTER (WHERE t.n = %2$s))[1], '
           '''i'', max(t.id) FILTER (WHERE t.n = %2$s))',
           o.key_list, n));
END
$$;
CREATE OR REPLACE FUNCTION @extschema@.list_tasks(filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  f jsonb;
  cur jsonb;
BEGIN
  PERFORM @extschema@._require_user();
  f := @extschema@._filter_normalize(filter);
  cur := @extschema@._filter_cursor(f, 'list');
  RETURN @extschema@._query_cached(@extschema@._list_sql(f, cur, coalesce((f ->> 'limit')::integer, 50)),
                                   @extschema@._filter_params(f), f, cur);
END
$$;
CREATE FUNCTION @extschema@._visibility_keys(creator_id bigint, assignee_user_id bigint,
                                              assignee_team_id bigint, team_id bigint) RETURNS bigint[]
  AS 'MODULE_PATHNAME', 'tm_visibility_keys'
  LANGUAGE C IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@._my_visibility_keys() RETURNS bigint[]
  AS 'MODULE_PATHNAME', 'tm_my_visibility_keys'
  LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION @extschema@._keys_overlap(bigint[], bigint[]) RETURNS boolean
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'arrayoverlap';
CREATE OPERATOR @extschema@.&& (
  LEFTARG = bigint[], RIGHTARG = bigint[], FUNCTION = @extschema@._keys_overlap,
  COMMUTATOR = OPERATOR(@extschema@.&&), RESTRICT = matchingsel, JOIN = matchingjoinsel);
CREATE OPERATOR CLASS @extschema@.visibility_keys_ops FOR TYPE bigint[] USING gin AS
  OPERATOR 1 @extschema@.&& (bigint[], bigint[]),
  FUNCTION 1 btint8cmp(bigint, bigint),
  FUNCTION 2 ginarrayextract(anyarray, internal, internal),
  FUNCTION 3 ginqueryarrayextract(anyarray, internal, smallint, internal, internal, internal, internal),
  FUNCTION 4 ginarrayconsistent(internal, smallint, anyarray, integer, internal, internal, internal, internal),
  FUNCTION 6 ginarraytriconsistent(internal, smallint, anyarray, integer, internal, internal, internal),
  STORAGE bigint;
DROP INDEX @extschema@.tasks_search_idx;
CREATE INDEX tasks_search_idx ON @extschema@.tasks USING gin (
  @extschema@._visibility_keys(creator_id, assignee_user_id, assignee_team_id, team_id) @extschema@.visibility_keys_ops,
  search_vector @extschema@.tsvector_rls_ops);
CREATE FUNCTION @extschema@._snippet(title text, description text, query tsquery) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT replace(replace(replace(replace(replace(
           ts_headline('english', title || E'\n' || description, query,
                       'StartSel=' || chr(2) || ', StopSel=' || chr(3)
                       || ', MaxWords=30, MinWords=10, MaxFragments=2, FragmentDelimiter=" … "'),
           '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), chr(2), '<mark>'), chr(3), '</mark>')
$$;
CREATE OR REPLACE FUNCTION @extschema@._snippet(t @extschema@.tasks, query tsquery) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT @extschema@._snippet(t.title, t.description, query)
$$;
CREATE OR REPLACE FUNCTION @extschema@._search_sql(f jsonb, cur jsonb, n integer) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  after text := 'true';
BEGIN
  IF cur IS NOT NULL THEN
    IF jsonb_typeof(cur -> 'r') IS DISTINCT FROM 'number' OR jsonb_typeof(cur -> 'i') IS DISTINCT FROM 'number'
       OR (cur ->> 'i') !~ '^[0-9]{1,18}$' THEN
      PERFORM @extschema@._bad_parameter('cursor', 'is not a valid cursor');
    END IF;
    after := '(y.rank < ($3 ->> ''r'')::numeric OR (y.rank = ($3 ->> ''r'')::numeric AND y.id > ($3 ->> ''i'')::bigint))';
  END IF;
  RETURN @extschema@._page_sql(
    format('SELECT %1$s, x.rank, x.query, x.n FROM ('
           '  SELECT y.id, y.rank, y.query, row_number() OVER (ORDER BY y.rank DESC, y.id) AS n FROM ('
           '    SELECT t.id, round(ts_rank(t.search_vector, q.query)::numeric, 6) AS rank, q.query'
           '    FROM @extschema@.tasks t, (SELECT (SELECT websearch_to_tsquery(''english'', $2 ->> ''q'')) AS query OFFSET 0) q'
           '    WHERE %2$s) y'
           '  WHERE %3$s ORDER BY y.rank DESC, y.id LIMIT %4$s) x '
           'JOIN @extschema@.tasks t ON t.id = x.id',
           @extschema@._page_columns(), @extschema@._filter_where(f), after, n + 1),
    n,
    'jsonb_build_object(''task'', d.task, ''rank'', t.rank, '
    '                   ''snippet'', @extschema@._snippet(t.title, t.description, t.query))',
    format('jsonb_build_object(''s'', ''search'', ''f'', @extschema@._filter_hash($2), '
           '''r'', max(t.rank) FILTER (WHERE t.n = %1$s), ''i'', max(t.id) FILTER (WHERE t.n = %1$s))', n));
END
$$;
CREATE OR REPLACE FUNCTION @extschema@.search_tasks(q text, filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  f jsonb;
  query tsquery;
  cur jsonb;
  lim integer;
  rec record;
  items jsonb[] := '{}';
  result jsonb;
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
    result := @extschema@._query_cached(@extschema@._search_sql(f, cur, lim), @extschema@._filter_params(f), f, cur);
    IF result -> 'items' <> '[]' OR cur IS NOT NULL THEN
      RETURN result;
    END IF;
  END IF;
  IF cur IS NULL AND @extschema@._search_fuzzy_sql(f, lim) IS NOT NULL THEN
    FOR rec IN EXECUTE @extschema@._search_fuzzy_sql(f, lim) USING @extschema@._filter_params(f), f LOOP
      items := items || jsonb_build_object('task', @extschema@.task_json(rec.task), 'rank', rec.rank,
        'snippet', replace(replace(replace((rec.task).title, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'));
    END LOOP;
    IF cardinality(items) > 0 THEN
      RETURN jsonb_build_object('items', to_jsonb(items), 'next_cursor', NULL, 'fuzzy', true);
    END IF;
  END IF;
  RETURN coalesce(result, @extschema@._jsonb_page(NULL, NULL));
END
$$;
CREATE OR REPLACE FUNCTION @extschema@._task_document(title text, tags text[], description text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RETURN setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
      || setweight(to_tsvector('english'::regconfig, coalesce(array_to_string(tags, ' '), '')), 'B')
      || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C');
END
$$;
DROP TRIGGER tasks_notify ON @extschema@.tasks;
CREATE TRIGGER tasks_notify AFTER UPDATE ON @extschema@.tasks
  FOR EACH ROW
  WHEN ((NEW.version <> OLD.version
         OR (NEW.assignee_user_id, NEW.assignee_team_id) IS DISTINCT FROM (OLD.assignee_user_id, OLD.assignee_team_id))
        AND NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_notify();
CREATE TRIGGER tasks_notify_assigned AFTER INSERT ON @extschema@.tasks
  FOR EACH ROW
  WHEN ((NEW.assignee_user_id IS NOT NULL OR NEW.assignee_team_id IS NOT NULL)
        AND NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_notify();
CREATE FUNCTION @extschema@._export_statement(filter jsonb, OUT sql text, OUT params text[], OUT f jsonb,
                                              OUT header text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  inc boolean := @extschema@._export_include_comments(filter);
BEGIN
  f := @extschema@._filter_normalize(@extschema@._export_list_filter(filter));
  PERFORM @extschema@._filter_cursor(f, 'list');
  params := @extschema@._filter_params(f);
  header := @extschema@.csv_line(@extschema@._export_header(inc));
  sql := format(
      'SELECT e.id, e.title, e.status, e.priority, e.due_date, e.assignee_type,'
      ' e.assignee_name, e.team, e.tags, e.creator, e.created_at, e.updated_at, e.completed_at%s'
      ' FROM @extschema@.tasks t CROSS JOIN LATERAL @extschema@._export_fields(t) e'
      ' WHERE %s ORDER BY %s',
      CASE WHEN inc THEN ', @extschema@._export_comments(t.id)' ELSE '' END,
      @extschema@._filter_where(f), (@extschema@._order_sql(@extschema@._filter_sort(f))).order_by);
END
$$;
CREATE FUNCTION @extschema@._export_csv_lines(filter jsonb) RETURNS SETOF text
  AS 'MODULE_PATHNAME', 'tm_export_tasks_csv_lines'
  LANGUAGE C STABLE PARALLEL UNSAFE;
CREATE OR REPLACE FUNCTION @extschema@.export_tasks_csv_lines(filter jsonb DEFAULT '{}') RETURNS SETOF text
LANGUAGE sql STABLE AS $$
  SELECT @extschema@._export_csv_lines(filter)
$$;
CREATE INDEX tasks_completed_at_idx ON @extschema@.tasks (completed_at)
  INCLUDE (created_at, started_at, creator_id, assignee_user_id, assignee_team_id, team_id)
  WHERE status = 'done';
CREATE FUNCTION @extschema@._report_figures(team bigint, team_name text, tz text, today date,
                                             d_from date, d_to date, t_from timestamptz,
                                             t_to timestamptz, me bigint, my_teams bigint[])
RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan AS $$
BEGIN
  RETURN QUERY
  -- One pass over the tasks in scope, grouped by assignee and status: every
  -- figure that is a count, a sum or a maximum adds up over the groups, and
  -- they make the per-assignee table.  The completed tasks of the period
  -- (lead and cycle times, weekly throughput) come from the index on
  -- completed_at.  A team's tasks are those it owns or is assigned.
  WITH g AS (
    SELECT t.assignee_user_id, t.assignee_team_id, t.status,
           count(*) AS total,
           count(*) FILTER (WHERE t.completed_at >= t_from AND t.completed_at < t_to) AS completed,
           count(*) FILTER (WHERE t.created_at >= t_from AND t.created_at < t_to) AS created,
           count(*) FILTER (WHERE t.due_date < today) AS late,
           sum(today - t.due_date) FILTER (WHERE t.due_date < today) AS late_days,
           max(today - t.due_date) FILTER (WHERE t.due_date < today) AS late_max
      FROM @extschema@.tasks t
     WHERE (team IS NULL OR t.team_id = team OR t.assignee_team_id = team)
       AND (me IS NULL OR t.creator_id = me OR t.assignee_user_id = me
            OR t.assignee_team_id = ANY (my_teams) OR t.team_id = ANY (my_teams))
     GROUP BY 1, 2, 3
  ),
  x AS (
    SELECT coalesce(sum(g.total), 0) AS total,
           coalesce(sum(g.total) FILTER (WHERE g.status = 'todo'), 0) AS todo,
           coalesce(sum(g.total) FILTER (WHERE g.status = 'in_progress'), 0) AS in_progress,
           coalesce(sum(g.total) FILTER (WHERE g.status = 'done'), 0) AS done,
           coalesce(sum(g.total) FILTER (WHERE g.status = 'canceled'), 0) AS canceled,
           coalesce(sum(g.created), 0) AS created,
           coalesce(sum(g.created) FILTER (WHERE g.status = 'done'), 0) AS created_done,
           coalesce(sum(g.late) FILTER (WHERE g.status IN ('todo', 'in_progress')), 0) AS overdue,
           sum(g.late_days) FILTER (WHERE g.status IN ('todo', 'in_progress')) AS overdue_days,
           max(g.late_max) FILTER (WHERE g.status IN ('todo', 'in_progress')) AS overdue_max
      FROM g
  ),
  a AS (
    SELECT CASE WHEN g.assignee_user_id IS NOT NULL THEN 'user'
                WHEN g.assignee_team_id IS NOT NULL THEN 'team' END AS kind,
           coalesce(g.assignee_user_id, g.assignee_team_id) AS aid,
           coalesce(sum(g.completed) FILTER (WHERE g.status = 'done'), 0) AS completed,
           coalesce(sum(g.total) FILTER (WHERE g.status IN ('todo', 'in_progress')), 0) AS open
      FROM g GROUP BY 1, 2
  ),
  done AS (
    SELECT extract(epoch FROM t.completed_at - t.created_at) / 3600 AS lead_h,
           extract(epoch FROM t.completed_at - t.started_at) / 3600 AS cycle_h,
           (t.completed_at AT TIME ZONE tz)::date AS day
      FROM @extschema@.tasks t
     WHERE t.status = 'done' AND t.completed_at >= t_from AND t.completed_at < t_to
       AND (team IS NULL OR t.team_id = team OR t.assignee_team_id = team)
       AND (me IS NULL OR t.creator_id = me OR t.assignee_user_id = me
            OR t.assignee_team_id = ANY (my_teams) OR t.team_id = ANY (my_teams))
  ),
  weeks AS (
    SELECT w::date AS week_start
      FROM generate_series(date_trunc('week', d_from::timestamp), d_to::timestamp, interval '1 week') w
  ),
  named AS (
    SELECT a.kind, a.aid, a.completed, a.open, CASE a.kind
             WHEN 'user' THEN (SELECT u.display_name FROM @extschema@.users u WHERE u.id = a.aid)
             WHEN 'team' THEN @extschema@._team_name(a.aid) END AS name
      FROM a
     WHERE a.completed > 0 OR a.open > 0
  )
  SELECT jsonb_build_object(
    'team', CASE WHEN team IS NOT NULL THEN jsonb_build_object('id', team, 'name', team_name) END,
    'from', d_from, 'to', d_to, 'timezone', tz, 'as_of', today, 'generated_at', now(),
    'total', x.total,
    'counts_by_status', jsonb_build_object('canceled', x.canceled, 'done', x.done,
                                           'in_progress', x.in_progress, 'todo', x.todo),
    'created_in_period', x.created,
    'completed_in_period', (SELECT count(*) FROM done),
    -- of the tasks created in the period, the share that is done now
    'completion_rate', round(x.created_done::numeric / nullif(x.created, 0), 4),
    'overdue', jsonb_build_object('count', x.overdue,
                                  'mean_age_days', round(x.overdue_days::numeric / nullif(x.overdue, 0), 1),
                                  'max_age_days', x.overdue_max),
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
      SELECT jsonb_agg(jsonb_build_object('week_start', w.week_start, 'completed', coalesce(c.n, 0))
                       ORDER BY w.week_start)
        FROM weeks w
        LEFT JOIN (SELECT date_trunc('week', done.day::timestamp)::date AS week_start, count(*) AS n
                     FROM done GROUP BY 1) c ON c.week_start = w.week_start),
    -- #14 (79_as_of.sql): stays in each status that ended in the period
    'time_in_status_hours', @extschema@._time_in_status(ARRAY(
      SELECT t.id FROM @extschema@.tasks t
       WHERE (team IS NULL OR t.team_id = team OR t.assignee_team_id = team)
         AND (me IS NULL OR t.creator_id = me OR t.assignee_user_id = me
              OR t.assignee_team_id = ANY (my_teams) OR t.team_id = ANY (my_teams))), t_from, t_to),
    'assignees', coalesce((
      SELECT jsonb_agg(jsonb_build_object('type', n.kind, 'id', n.aid, 'name', n.name,
                                          'completed', n.completed, 'open', n.open)
                       ORDER BY n.completed DESC, n.open DESC, n.name NULLS LAST, n.aid)
        FROM named n), '[]'))
    FROM x;
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
  -- the usual case, without a query: nothing is left once the allowed keys go
  IF obj - allowed = '{}'::jsonb THEN
    RETURN;
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
DO $$
DECLARE
  f regprocedure;
BEGIN
  -- the new functions: as 90_grants.sql does for a fresh install
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
           WHERE p.pronamespace = '@extschema@'::regnamespace
             AND p.proname IN ('_query_cached', '_task_team_name', '_task_jsonb', '_jsonb_page',
                               '_page_columns', '_page_sql', '_task_json', '_page_planning', '_task_planning', '_visibility_keys', '_my_visibility_keys',
                               '_keys_overlap', '_snippet', '_export_statement', '_export_csv_lines',
                               '_report_figures')
  LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO taskmgmt_client', f);
  END LOOP;
END
$$;

-- ==== report_summary: time in status from the period's status changes (#11) ====
-- _time_in_status takes the report's scope instead of every task id in it
-- (the new _report_figures is in the closing section)
DROP FUNCTION @extschema@._time_in_status(bigint[], timestamptz, timestamptz);

-- report_summary's time_in_status_hours: per status, the stays that ended
-- (the task moved to another status) within [t_from, t_to), of the tasks in
-- the report's scope (team, and the visibility rule restated for a caller
-- who is not an admin, as in _report_figures; row-level security applies on
-- top): {status: {count, mean, p85}} in hours.  A stay still going on does
-- not count: its length is not known yet.  A stay ends with a status change
-- (an 'updated' event: the 'created' one starts a task's first stay), so
-- only the period's status changes are read, each paired with the task's
-- status event before it.  Which ones: for a report of everything (an
-- admin's), by their time; otherwise those of the tasks in scope, by task,
-- so that a user who sees few tasks reads few events.  Reading every event
-- of every task in scope took seconds at a million tasks; reading the
-- period's changes of all tasks to keep a few visible ones took a quarter
-- of a second for a user who sees 24.  Custom plans: the scope decides.
CREATE INDEX task_events_status_changes_idx ON @extschema@.task_events (at)
  INCLUDE (task_id, id) WHERE kind = 'updated' AND changes ? 'status';
CREATE INDEX task_events_task_status_changes_idx ON @extschema@.task_events (task_id, at)
  WHERE kind = 'updated' AND changes ? 'status';

CREATE FUNCTION @extschema@._time_in_status(team bigint, me bigint, my_teams bigint[],
                                            t_from timestamptz, t_to timestamptz) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SET plan_cache_mode = force_custom_plan AS $$
DECLARE
  ids bigint[];  -- the tasks in scope; NULL: every task
BEGIN
  IF team IS NOT NULL OR me IS NOT NULL THEN
    ids := ARRAY(SELECT t.id FROM @extschema@.tasks t
                  WHERE (team IS NULL OR t.team_id = team OR t.assignee_team_id = team)
                    AND (me IS NULL OR t.creator_id = me OR t.assignee_user_id = me
                         OR t.assignee_team_id = ANY (my_teams) OR t.team_id = ANY (my_teams)));
  END IF;
  RETURN (
    WITH ends AS (
      SELECT e.task_id, e.id, e.at
        FROM @extschema@.task_events e
        JOIN @extschema@.tasks t ON t.id = e.task_id
       WHERE e.kind = 'updated' AND e.changes ? 'status' AND e.at >= t_from AND e.at < t_to
         AND (ids IS NULL OR e.task_id = ANY (ids))
    ),
    stays AS MATERIALIZED (
      SELECT s.status, extract(epoch FROM ends.at - s.at) / 3600 AS h
        FROM ends
        CROSS JOIN LATERAL (
          SELECT p.changes -> 'status' ->> 1 AS status, p.at
            FROM @extschema@.task_events p
           WHERE p.task_id = ends.task_id AND p.id < ends.id
             AND p.kind IN ('created', 'updated') AND p.changes ? 'status'
           ORDER BY p.id DESC LIMIT 1) s
    )
    SELECT jsonb_object_agg(st, (
             SELECT jsonb_build_object('count', count(*), 'mean', round(avg(s.h)::numeric, 2),
                      'p85', round((percentile_cont(0.85) WITHIN GROUP (ORDER BY s.h))::numeric, 2))
               FROM stays s WHERE s.status = st)
           ORDER BY st)
      FROM unnest(enum_range(NULL::@extschema@.task_status)::text[]) st);
END
$$;
REVOKE ALL ON FUNCTION @extschema@._time_in_status(bigint, bigint, bigint[], timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._time_in_status(bigint, bigint, bigint[], timestamptz, timestamptz) TO taskmgmt_client;

-- ==== list_tasks: the helpers that build its statement are PL/pgSQL, no longer parsed and planned at every call (#11) ====
-- The sortable fields and their SQL (ascending, descending) and type.
-- PL/pgSQL, like the other helpers that build a statement's text: a SQL
-- function with OUT parameters is never inlined, so it would be parsed and
-- planned again at every call (~50 us of a ~0.7 ms list call).
CREATE OR REPLACE FUNCTION @extschema@._sort_field(field text, descending boolean, OUT expr text, OUT typ text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  expr := CASE field
            WHEN 'due_date' THEN CASE WHEN descending THEN '@extschema@._due_desc(t.due_date)'
                                      ELSE '@extschema@._due_asc(t.due_date)' END
            ELSE 't.' || field END;
  typ := CASE field
           WHEN 'priority' THEN '@extschema@.task_priority' WHEN 'status' THEN '@extschema@.task_status'
           WHEN 'due_date' THEN 'date' WHEN 'title' THEN 'text' ELSE 'timestamptz' END;
END
$$;

-- A page statement (list_tasks, search_tasks): one row, the whole answer
-- {items, next_cursor}.  rows: the page's rows, one more than n (to know
-- whether a next page exists), with the _page_columns, their position n
-- (1, 2, ...) and whatever item and next_cursor read; item: an item's JSON,
-- where d.task is the task object; next_cursor: the jsonb payload of the
-- cursor after row n.  Both read the page's rows as t.  The task objects
-- are those of task_json(): the names of the page's few assignee users,
-- read by their ids (joined to users as such, a kept generic plan hashed
-- every user: 15 ms at 10,000 users; a subquery per row scanned a small
-- users table once per row), a team's name from _task_team_name, and the
-- planning counts (#14) for the whole page from
-- _page_planning (77_relations.sql), which costs one index probe each when
-- the page has nothing to count: planned in here, the count queries and
-- their policies cost a fifth of a plain page even then.  PL/pgSQL: format()
-- is not immutable, so a SQL function of it is never inlined (_sort_field).
CREATE OR REPLACE FUNCTION @extschema@._page_sql(rows text, n integer, item text, next_cursor text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RETURN format(
      'WITH t AS MATERIALIZED (%1$s) '
      'SELECT @extschema@._jsonb_page(array_agg(%3$s ORDER BY t.n) FILTER (WHERE t.n <= %2$s), '
      '  CASE WHEN max(t.n) > %2$s THEN @extschema@._cursor_make(%4$s) END) '
      'FROM t '
      'LEFT JOIN (SELECT u.id, u.display_name FROM @extschema@.users u '
      '            WHERE u.id = ANY (ARRAY(SELECT DISTINCT t.assignee_user_id FROM t))) u ON u.id = t.assignee_user_id '
      'LEFT JOIN (SELECT p.id, sum(p.subtasks_total)::bigint AS total, sum(p.subtasks_done)::bigint AS done, '
      '                  sum(p.blocked_by_open)::bigint AS blocked '
      '             FROM @extschema@._page_planning(ARRAY(SELECT t.id FROM t)) p GROUP BY p.id) pl ON pl.id = t.id '
      'CROSS JOIN LATERAL (SELECT @extschema@._task_jsonb(t.id, t.title, t.description, t.status, '
      '  t.priority, t.due_date, t.team_id, t.assignee_user_id, t.assignee_team_id, '
      '  CASE WHEN t.assignee_user_id IS NOT NULL THEN u.display_name '
      '       WHEN t.assignee_team_id IS NOT NULL THEN @extschema@._task_team_name(t.id, t.assignee_team_id) END, '
      '  t.tags, t.creator_id, t.created_at, t.updated_at, t.started_at, t.completed_at, t.version, '
      '  t.parent_id, t.recurrence, pl.total, pl.done, pl.blocked) AS task) d',
      rows, n, item, next_cursor);
END
$$;

-- The bind values of a normalized filter ('{}' without a filter text).
-- PL/pgSQL: a SQL function with a sub-select is never inlined, and was
-- parsed and planned at every list call.
CREATE OR REPLACE FUNCTION @extschema@._filter_params(f jsonb) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  IF NOT f ? 'filter_params' THEN
    RETURN '{}';
  END IF;
  RETURN coalesce(ARRAY(SELECT jsonb_array_elements_text(f -> 'filter_params')), '{}');
END
$$;

-- ==== report_summary: an admin's report from tallies of the tasks, not a pass over all of them (#11) ====
-- (the new _report_figures is in the closing section)
-- Tallies of all tasks, for the one report that reads every task: an
-- admin's without a team (row-level security lets an admin see every task,
-- so counting all of them is counting what the admin sees).  A million
-- tasks are one pass of a second and more; the tallies make it a read of
-- one row per assignee and status, and one per open status and due date.
-- Every write appends a delta row (no row is updated, so concurrent writes
-- never wait for each other); compact_task_tallies() folds the deltas into
-- the summed rows, every minute under pg_cron (schedule_jobs()).  Readers
-- add up both kinds, so the figures are exact whether or not the deltas
-- have been folded, in the reader's snapshot like the tasks themselves.
CREATE TABLE @extschema@.task_tallies (
  -- 'delta': one task counted (+1) or uncounted (-1), every column set;
  -- 'assignee': the sum per assignee and status (due_date NULL);
  -- 'due': the sum per open status and due date (assignees NULL)
  kind             text NOT NULL CHECK (kind IN ('delta', 'assignee', 'due')),
  assignee_user_id bigint,
  assignee_team_id bigint,
  status           @extschema@.task_status NOT NULL,
  due_date         date,
  n                bigint NOT NULL
);
-- the summed rows, one per key; delta rows are not indexed
CREATE UNIQUE INDEX task_tallies_sum_key ON @extschema@.task_tallies
  (kind, assignee_user_id, assignee_team_id, status, due_date) NULLS NOT DISTINCT
  WHERE kind <> 'delta';
COMMENT ON TABLE @extschema@.task_tallies IS
  'Counts of all tasks per assignee and status, and per open status and due date, for an admin''s report.';
-- no key, but compaction deletes and updates rows: a publication of all
-- tables must be able to send that
ALTER TABLE @extschema@.task_tallies REPLICA IDENTITY FULL;
ALTER TABLE @extschema@.task_tallies ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.task_tallies FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.task_tallies FROM PUBLIC;
-- counts of every task: for those who see every task
CREATE POLICY task_tallies_select ON @extschema@.task_tallies FOR SELECT
  USING ((SELECT @extschema@.current_user_is_admin()));
GRANT SELECT ON @extschema@.task_tallies TO taskmgmt_client;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.task_tallies', '');

-- SECURITY DEFINER: clients cannot write tallies themselves.
CREATE FUNCTION @extschema@._tasks_tally() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO @extschema@.task_tallies (kind, assignee_user_id, assignee_team_id, status, due_date, n)
    VALUES ('delta', NEW.assignee_user_id, NEW.assignee_team_id, NEW.status, NEW.due_date, 1);
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO @extschema@.task_tallies (kind, assignee_user_id, assignee_team_id, status, due_date, n)
    VALUES ('delta', OLD.assignee_user_id, OLD.assignee_team_id, OLD.status, OLD.due_date, -1);
  ELSE
    INSERT INTO @extschema@.task_tallies (kind, assignee_user_id, assignee_team_id, status, due_date, n)
    VALUES ('delta', OLD.assignee_user_id, OLD.assignee_team_id, OLD.status, OLD.due_date, -1),
           ('delta', NEW.assignee_user_id, NEW.assignee_team_id, NEW.status, NEW.due_date, 1);
  END IF;
  RETURN NULL;
END
$$;

-- TRUNCATE, as the tasks were: it waits for a compaction that is running
-- (a DELETE would miss the sums such a compaction inserts, and in a
-- repeatable-read transaction every row committed after its snapshot), and
-- older snapshots see the tallies go with the tasks.
CREATE FUNCTION @extschema@._tasks_tally_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  TRUNCATE @extschema@.task_tallies;
  RETURN NULL;
END
$$;

-- Not while a dump is restored: the tallies come with it.  Like the other
-- triggers, not in replica mode (session_replication_role): logical
-- replication's apply workers copy the tallies as they copy the tasks;
-- after a DBA's writes in that mode, rebuild_task_tallies() counts again.
CREATE TRIGGER tasks_tally AFTER INSERT OR DELETE ON @extschema@.tasks
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_tally();
CREATE TRIGGER tasks_tally_update AFTER UPDATE OF status, assignee_user_id, assignee_team_id, due_date
  ON @extschema@.tasks
  FOR EACH ROW
  WHEN ((OLD.status, OLD.assignee_user_id, OLD.assignee_team_id, OLD.due_date)
          IS DISTINCT FROM (NEW.status, NEW.assignee_user_id, NEW.assignee_team_id, NEW.due_date)
        AND NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_tally();
CREATE TRIGGER tasks_tally_truncate AFTER TRUNCATE ON @extschema@.tasks
  FOR EACH STATEMENT
  EXECUTE FUNCTION @extschema@._tasks_tally_truncate();

-- Folds the delta rows into the summed rows: a scheduled job (82_jobs.sql).
-- Deltas appended meanwhile are not in this transaction's snapshot and stay
-- for the next run.  Returns how many delta rows it folded.
CREATE FUNCTION @extschema@.compact_task_tallies() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n_folded bigint;
BEGIN
  PERFORM @extschema@._require_job_runner();
  -- one run at a time: a second would wait for the first's deltas anyway
  IF NOT pg_catalog.pg_try_advisory_xact_lock('@extschema@.task_tallies'::regclass::oid::bigint) THEN
    RETURN 0;
  END IF;
  WITH d AS (
    DELETE FROM @extschema@.task_tallies y WHERE y.kind = 'delta' RETURNING y.*
  ),
  by_assignee AS (
    INSERT INTO @extschema@.task_tallies AS y (kind, assignee_user_id, assignee_team_id, status, n)
    SELECT 'assignee', d.assignee_user_id, d.assignee_team_id, d.status, sum(d.n)
      FROM d GROUP BY d.assignee_user_id, d.assignee_team_id, d.status
    ON CONFLICT (kind, assignee_user_id, assignee_team_id, status, due_date) WHERE kind <> 'delta'
    DO UPDATE SET n = y.n + excluded.n
  ),
  by_due AS (
    INSERT INTO @extschema@.task_tallies AS y (kind, status, due_date, n)
    SELECT 'due', d.status, d.due_date, sum(d.n)
      FROM d WHERE d.status IN ('todo', 'in_progress') AND d.due_date IS NOT NULL
     GROUP BY d.status, d.due_date
    ON CONFLICT (kind, assignee_user_id, assignee_team_id, status, due_date) WHERE kind <> 'delta'
    DO UPDATE SET n = y.n + excluded.n
  )
  SELECT count(*) INTO n_folded FROM d;
  DELETE FROM @extschema@.task_tallies y WHERE y.kind <> 'delta' AND y.n = 0;
  RETURN n_folded;
END
$$;
COMMENT ON FUNCTION @extschema@.compact_task_tallies() IS
  'Scheduled job: folds the task tallies'' delta rows into their sums (an admin''s report reads both).';

-- The tallies computed again from the tasks, for a DBA who changed tasks
-- with the triggers disabled or in replica mode.
CREATE FUNCTION @extschema@.rebuild_task_tallies() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n_rows bigint;
BEGIN
  PERFORM @extschema@._require_job_runner();
  LOCK TABLE @extschema@.tasks IN SHARE MODE;  -- no write in between
  PERFORM pg_catalog.pg_advisory_xact_lock('@extschema@.task_tallies'::regclass::oid::bigint);  -- no compaction
  DELETE FROM @extschema@.task_tallies;
  INSERT INTO @extschema@.task_tallies (kind, assignee_user_id, assignee_team_id, status, n)
  SELECT 'assignee', t.assignee_user_id, t.assignee_team_id, t.status, count(*)
    FROM @extschema@.tasks t GROUP BY t.assignee_user_id, t.assignee_team_id, t.status;
  INSERT INTO @extschema@.task_tallies (kind, status, due_date, n)
  SELECT 'due', t.status, t.due_date, count(*)
    FROM @extschema@.tasks t WHERE t.status IN ('todo', 'in_progress') AND t.due_date IS NOT NULL
   GROUP BY t.status, t.due_date;
  SELECT count(*) INTO n_rows FROM @extschema@.task_tallies;
  RETURN n_rows;
END
$$;
COMMENT ON FUNCTION @extschema@.rebuild_task_tallies() IS
  'Recomputes the task tallies from the tasks (after writes made with the triggers disabled or in replica mode).';

-- The groups of _report_figures over every task but the period's
-- completed (from its done): totals per assignee and status from the
-- tallies, created in the period per status by the index on created_at,
-- overdue per open status from the tallies by due date.  A function of its
-- own, so that the other reports do not plan these statements.
CREATE FUNCTION @extschema@._report_groups_counted(t_from timestamptz, t_to timestamptz, today date)
RETURNS TABLE (assignee_user_id bigint, assignee_team_id bigint, status @extschema@.task_status,
               total numeric, completed bigint, created bigint, late numeric, late_days numeric,
               late_max integer)
-- PARALLEL RESTRICTED: unsafe would keep every report's statement from a
-- parallel plan, even where the branch that calls it is never run
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SET plan_cache_mode = force_custom_plan AS $$
BEGIN
  RETURN QUERY
    SELECT y.assignee_user_id, y.assignee_team_id, y.status, sum(y.n), 0::bigint, 0::bigint, 0::numeric,
           NULL::numeric, NULL::integer
      FROM @extschema@.task_tallies y
     WHERE y.kind <> 'due'
     GROUP BY 1, 2, 3 HAVING sum(y.n) <> 0
    UNION ALL
    SELECT NULL, NULL, t.status, 0, 0, count(*), 0, NULL, NULL
      FROM @extschema@.tasks t
     WHERE t.created_at >= t_from AND t.created_at < t_to
     GROUP BY 3
    UNION ALL
    SELECT NULL, NULL, y.status, 0, 0, 0, sum(y.n), sum(y.n * (today - y.due_date)), max(today - y.due_date)
      FROM @extschema@.task_tallies y
     WHERE y.kind <> 'assignee' AND y.status IN ('todo', 'in_progress') AND y.due_date < today
     GROUP BY 3, y.due_date HAVING sum(y.n) <> 0;
END
$$;

SELECT @extschema@.rebuild_task_tallies();
DO $$
DECLARE
  f regprocedure;
BEGIN
  -- the new functions: as 90_grants.sql does for a fresh install
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
           WHERE p.pronamespace = '@extschema@'::regnamespace
             AND p.proname IN ('compact_task_tallies', 'rebuild_task_tallies', '_report_groups_counted')
  LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO taskmgmt_client', f);
  END LOOP;
END
$$;
-- the job that compacts them
CREATE OR REPLACE FUNCTION @extschema@.schedule_jobs() RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  jobs constant text[][] := ARRAY[
    ['taskmgmt-due-soon',         '*/15 * * * *', 'SELECT @extschema@.send_due_soon()'],
    ['taskmgmt-overdue',          '*/15 * * * *', 'SELECT @extschema@.send_overdue()'],
    ['taskmgmt-cleanup-sessions', '17 3 * * *',   'SELECT @extschema@.cleanup_sessions()'],
    ['taskmgmt-outbox-retention', '37 3 * * *',   'SELECT @extschema@.outbox_retention()'],
    ['taskmgmt-compact-tallies',  '* * * * *',    'SELECT @extschema@.compact_task_tallies()']];
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

-- the tasks created in a period, counted from the index alone (73_list.sql)
DROP INDEX @extschema@.tasks_created_at_idx;
CREATE INDEX tasks_created_at_idx ON @extschema@.tasks (created_at, id)
  INCLUDE (status, creator_id, assignee_user_id, assignee_team_id, team_id);
-- the admin test first (71_history.sql)
ALTER POLICY task_events_select ON @extschema@.task_events
  USING ((SELECT @extschema@.current_user_is_admin())
         OR EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = task_events.task_id));

-- ==== definitions as of 0.2.0: functions changed by more than one part of this release ====

CREATE OR REPLACE FUNCTION @extschema@._tasks_before_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  uid bigint := @extschema@.current_user_id();
BEGIN
  -- the next occurrence of a recurring task (recurrence_of, which clients
  -- cannot insert) continues its series as it was assigned (78_recurrence.sql)
  IF uid IS NOT NULL AND NOT (TG_OP = 'INSERT' AND NEW.recurrence_of IS NOT NULL) THEN
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
      NEW.assignee_user_id, NEW.assignee_team_id, NEW.tags, NEW.parent_id, NEW.recurrence)
     IS NOT DISTINCT FROM
     (OLD.title, OLD.description, OLD.status, OLD.priority, OLD.due_date, OLD.team_id,
      OLD.assignee_user_id, OLD.assignee_team_id, OLD.tags, OLD.parent_id, OLD.recurrence) THEN
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
    '{title,description,status,priority,due_date,team_id,assignee,tags,parent_id,recurrence}',
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
         assignee_team_id = r.assignee_team_id, tags = r.tags, parent_id = r.parent_id,
         recurrence = r.recurrence
   WHERE t.id = r.id
  RETURNING * INTO r;
  RETURN @extschema@.task_json(r);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.delete_task(id bigint, cascade boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  ids bigint[];
BEGIN
  PERFORM @extschema@._require_user();
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = delete_task.id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  ids := @extschema@._visible_subtree(delete_task.id);
  IF cardinality(ids) > 1 AND NOT coalesce(cascade, false) THEN
    PERFORM @extschema@._invalid('cascade',
      format('must be true to delete a task with subtasks (this one has %s)', cardinality(ids) - 1));
  END IF;
  DELETE FROM @extschema@.tasks t WHERE t.id = ANY (ids);
  IF NOT FOUND OR (SELECT count(*) FROM @extschema@.tasks t WHERE t.id = ANY (ids)) > 0 THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501',
      MESSAGE = 'only the creator, a lead or owner of its team, or an admin can delete this task';
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.filter_keys(api_function text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE api_function
           WHEN 'list_tasks' THEN l
           WHEN 'filter_tasks' THEN l
           WHEN 'save_view' THEN array_remove(array_remove(l, 'cursor'), 'view')
           WHEN 'task_rows' THEN array_remove(array_remove(l, 'limit'), 'cursor')
           WHEN 'search_tasks' THEN array_remove(array_remove(l, 'sort'), 'q')
           WHEN 'export_tasks_csv' THEN l || '{include_comments}'::text[]
           WHEN 'export_tasks_csv_lines' THEN l || '{include_comments}'::text[]
           WHEN '_export_csv_lines' THEN l || '{include_comments}'::text[]  -- what the shim calls for it
           WHEN 'task_history' THEN '{limit,cursor}'
           WHEN 'notifications' THEN '{unread,cursor,limit,since}'
           WHEN 'report_summary' THEN '{team,from,to}'
           WHEN 'report_summary_pdf' THEN '{team,from,to}'
           WHEN 'mail_unsubscribe' THEN '{token}'
           WHEN 'delete_task' THEN '{cascade}'
           WHEN 'task_as_of' THEN '{at}'
         END
    FROM (SELECT '{status,assignee,team,priority,tag,tag_mode,due_before,due_after,overdue,q,sort,limit,cursor,view,ready,filter}'::text[] AS l) k
$$;

CREATE OR REPLACE FUNCTION @extschema@._filter_normalize(filter jsonb, extra_keys text[] DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  known constant text[] := @extschema@.filter_keys('list_tasks');
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
      WHEN 'ready' THEN  -- planning (#14, 77_relations.sql)
        f := f || jsonb_build_object(k, @extschema@._bool_param(v, k));
      WHEN 'filter' THEN  -- the filter language (#14, 79_filter_lang.sql)
        IF jsonb_typeof(v) <> 'string' THEN
          PERFORM @extschema@._bad_parameter(k, 'must be a filter text such as status:todo due<7d');
        END IF;
        f := f || jsonb_build_object(k, v #>> '{}')
               || (SELECT jsonb_build_object('filter_sql', c -> 'sql', 'filter_params', c -> 'params',
                                             'filter_narrows', c -> 'narrows')
                     FROM @extschema@._filter_compile(v #>> '{}') c);
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

CREATE OR REPLACE FUNCTION @extschema@.report_summary(filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE SET jit = off AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  f jsonb := coalesce(filter, '{}');
  v jsonb;
  tz text;
  today date;
  team bigint;
  team_name text;
  d_from date;
  d_to date;
  t_from timestamptz;
  t_to timestamptz;
BEGIN
  PERFORM @extschema@._check_filter_keys('report_summary', f);

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

  RETURN (SELECT r FROM @extschema@._report_figures(team, team_name, tz, today, d_from, d_to, t_from, t_to,
            CASE WHEN NOT @extschema@.current_user_is_admin() THEN uid END, @extschema@.my_team_ids()) r);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.add_relation(id bigint, relation jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  typ text;
  other bigint;
  r @extschema@.task_relations;
BEGIN
  PERFORM @extschema@._check_keys(relation, '{type,task_id}');
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = add_relation.id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  typ := @extschema@._enum_field(relation, 'type', '{blocks,blocked_by,relates,duplicates}');
  IF NOT relation ? 'task_id' OR relation -> 'task_id' = 'null' THEN
    PERFORM @extschema@._invalid('task_id', 'is required');
  END IF;
  other := @extschema@._id_field(relation, 'task_id');
  IF other = add_relation.id THEN
    PERFORM @extschema@._invalid('task_id', 'must be another task');
  END IF;
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = other) THEN
    PERFORM @extschema@._invalid('task_id', 'is not a task you can see');
  END IF;
  IF EXISTS (SELECT FROM @extschema@.task_relations x
              WHERE (x.task_id, x.other_id) IN ((add_relation.id, other), (other, add_relation.id))) THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '23505', MESSAGE = 'these tasks are already related',
      HINT = 'Delete the existing relation first.';
  END IF;
  INSERT INTO @extschema@.task_relations (task_id, other_id, type)
  VALUES (CASE WHEN typ = 'blocked_by' THEN other ELSE add_relation.id END,
          CASE WHEN typ = 'blocked_by' THEN add_relation.id ELSE other END,
          CASE WHEN typ = 'blocked_by' THEN 'blocks' ELSE typ END)
  RETURNING * INTO r;
  RETURN @extschema@._relation_json(r, add_relation.id);
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
  IF p ? 'parent_id' THEN  -- checked by the tasks_check_parent trigger (76_subtasks.sql)
    r.parent_id := @extschema@._id_field(p, 'parent_id');
  END IF;
  IF p ? 'recurrence' THEN  -- checked by the tasks_check_recurrence trigger (78_recurrence.sql)
    r.recurrence := nullif(btrim(@extschema@._text_field(p, 'recurrence', 500)), '');
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

CREATE OR REPLACE FUNCTION @extschema@.create_task(task jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  r @extschema@.tasks;
BEGIN
  PERFORM @extschema@._require_user();
  PERFORM @extschema@._check_keys(task,
    '{title,description,status,priority,due_date,team_id,assignee,tags,parent_id,recurrence}',
    '{id,creator_id,version,created_at,updated_at,started_at,completed_at}');
  IF NOT task ? 'title' THEN PERFORM @extschema@._invalid('title', 'is required'); END IF;
  r.description := '';
  r.status := 'todo';
  r.priority := 'none';
  r.tags := '{}';
  r := @extschema@._apply_task_fields(task, r);
  -- creator_id: the signed-in user, by default (40_rls.sql)
  INSERT INTO @extschema@.tasks (title, description, status, priority, due_date, team_id,
                                 assignee_user_id, assignee_team_id, tags, parent_id, recurrence)
  VALUES (r.title, r.description, r.status, r.priority, r.due_date, r.team_id,
          r.assignee_user_id, r.assignee_team_id, r.tags, r.parent_id, r.recurrence)
  RETURNING * INTO r;
  RETURN @extschema@._task_json(r, true);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.task_as_of(id bigint, at timestamptz) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  e record;
  r jsonb;
  k text;
  v jsonb;
  fields constant jsonb := @extschema@._as_of_defaults();
BEGIN
  PERFORM @extschema@._require_user();
  IF task_as_of.at IS NULL THEN
    PERFORM @extschema@._bad_parameter('at', 'is required');
  END IF;
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = task_as_of.id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  FOR e IN SELECT ev.kind, ev.changes FROM @extschema@.task_events ev
            WHERE ev.task_id = task_as_of.id AND ev.at <= task_as_of.at AND ev.kind IN ('created', 'updated')
            ORDER BY ev.id LOOP
    IF e.kind = 'created' THEN
      r := fields;
    END IF;
    CONTINUE WHEN r IS NULL;
    FOR k, v IN SELECT * FROM jsonb_each(e.changes) LOOP
      IF fields ? k AND jsonb_typeof(v) = 'array' THEN
        r := jsonb_set(r, ARRAY[k], v -> 1);
      END IF;
    END LOOP;
  END LOOP;
  IF r IS NULL THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'P0002', MESSAGE = 'task did not exist at that time';
  END IF;
  RETURN jsonb_build_object('id', task_as_of.id, 'as_of', task_as_of.at) || r;
END
$$;



CREATE OR REPLACE FUNCTION @extschema@._dav_sync_token() RETURNS text
LANGUAGE sql VOLATILE PARALLEL RESTRICTED AS $$
  SELECT 'urn:x-taskmgmt:sync:' || @extschema@._dav_sync_epoch() || '-' || pg_snapshot_xmin(pg_current_snapshot())
$$;

CREATE OR REPLACE FUNCTION @extschema@.dav(method text, path text, depth text, if_match text, if_none_match text,
                                request_body text)
RETURNS TABLE (status integer, content_type text, etag text, location text, dav text, allow text, body text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  xml_type constant text := 'application/xml; charset=utf-8';
  me_id bigint := @extschema@._require_user();
  me_email text;
  me_name text;
  seg text[];
  kind text;
  name text;
  base text;
  doc xml;
  props text[];
  resp text := '';
  ctag text;
  token text;
  f record;
  t @extschema@.tasks;
  res_uid text;
  found bigint;
  parent bigint;
  fields jsonb;
  answer jsonb;
  expected integer;
  report text;
  since xid8;
  hrefs text[];
  h text;
  vtodo boolean := true;
  open_only boolean := false;
BEGIN
  SELECT u.email, u.display_name INTO me_email, me_name FROM @extschema@.users u WHERE u.id = me_id;
  base := '/dav/users/' || me_id || '/';
  method := upper(method);

  -- where: root, home, calendar or object (another user's paths: not found)
  IF path IN ('/.well-known/caldav', '/.well-known/caldav/') THEN
    RETURN QUERY SELECT 301, NULL::text, NULL::text, '/dav/'::text, NULL::text, NULL::text, NULL::text;
    RETURN;
  END IF;
  seg := array_remove(string_to_array(split_part(coalesce(path, ''), '?', 1), '/'), '');
  IF seg = '{dav}' THEN
    kind := 'root';
  ELSIF seg[1] = 'dav' AND seg[2] = 'users' AND seg[3] = me_id::text AND cardinality(seg) = 3 THEN
    kind := 'home';
  ELSIF seg[1] = 'dav' AND seg[2] = 'users' AND seg[3] = me_id::text AND seg[4] = 'tasks' AND cardinality(seg) = 4 THEN
    kind := 'calendar';
  ELSIF seg[1] = 'dav' AND seg[2] = 'users' AND seg[3] = me_id::text AND seg[4] = 'tasks' AND cardinality(seg) = 5 THEN
    kind := 'object';
    name := @extschema@._url_decode(seg[5]);
    IF name IS NULL OR name !~ '^[A-Za-z0-9._~@+=-]{1,250}\.ics$' THEN
      PERFORM @extschema@._not_found('calendar object');
    END IF;
  ELSE
    PERFORM @extschema@._not_found('DAV resource');
  END IF;

  IF method = 'OPTIONS' THEN
    RETURN QUERY SELECT 200, NULL::text, NULL::text, NULL::text, '1, 3, calendar-access'::text,
                        'OPTIONS, GET, PUT, DELETE, PROPFIND, PROPPATCH, REPORT'::text, NULL::text;
    RETURN;
  END IF;

  IF kind = 'object' THEN
    SELECT x.task_id, x.uid INTO found, res_uid FROM @extschema@._dav_find(name) x;
    SELECT * INTO t FROM @extschema@.tasks x WHERE x.id = found;
  END IF;

  CASE method
  WHEN 'PROPFIND' THEN
    IF nullif(btrim(coalesce(request_body, '')), '') IS NOT NULL THEN
      doc := @extschema@._dav_document(request_body, 'DAV:|propfind');
    END IF;
    props := @extschema@._dav_requested(doc, '/D:propfind');
    IF kind = 'object' AND t.id IS NULL THEN PERFORM @extschema@._not_found('calendar object'); END IF;
    IF kind = 'calendar' THEN
      ctag := @extschema@._dav_ctag();
      token := @extschema@._dav_sync_token();
    END IF;
    resp := @extschema@._dav_response(
              CASE kind WHEN 'root' THEN '/dav/' WHEN 'home' THEN base WHEN 'calendar' THEN base || 'tasks/'
                        ELSE base || 'tasks/' || name END,
              props, ARRAY(SELECT @extschema@._dav_prop(kind, k, me_id, me_email, me_name, t, res_uid, ctag, token) FROM unnest(props) k));
    IF coalesce(depth, '1') <> '0' THEN
      IF kind = 'home' THEN
        ctag := @extschema@._dav_ctag();
        token := @extschema@._dav_sync_token();
        resp := resp || @extschema@._dav_response(base || 'tasks/', props,
                  ARRAY(SELECT @extschema@._dav_prop('calendar', k, me_id, me_email, me_name, NULL, NULL, ctag, token) FROM unnest(props) k));
      ELSIF kind = 'calendar' THEN
        resp := resp || coalesce((
          SELECT string_agg(@extschema@._dav_response(base || 'tasks/' || coalesce(r.name, x.id || '.ics'), props,
                              ARRAY(SELECT @extschema@._dav_prop('object', k, me_id, me_email, me_name, x, r.uid, NULL, NULL)
                                      FROM unnest(props) k)), '' ORDER BY x.id)
            FROM @extschema@.tasks x LEFT JOIN @extschema@.dav_resources r ON r.task_id = x.id), '');
      END IF;
    END IF;
    RETURN QUERY SELECT 207, xml_type, NULL::text, NULL::text, NULL::text, NULL::text,
                        @extschema@._dav_multistatus(resp);

  WHEN 'PROPPATCH' THEN
    -- nothing here is the client's to set: every property is refused
    doc := @extschema@._dav_document(request_body, 'DAV:|propertyupdate');
    props := @extschema@._dav_children(doc, '/D:propertyupdate/D:set/D:prop')
             || @extschema@._dav_children(doc, '/D:propertyupdate/D:remove/D:prop');
    RETURN QUERY SELECT 207, xml_type, NULL::text, NULL::text, NULL::text, NULL::text,
      @extschema@._dav_multistatus('<D:response><D:href>' || @extschema@._xml_text(path) || '</D:href>'
        || '<D:propstat><D:prop>' || coalesce((SELECT string_agg(@extschema@._dav_element(k, NULL), '') FROM unnest(props) k), '')
        || '</D:prop><D:status>HTTP/1.1 403 Forbidden</D:status>'
        || '<D:responsedescription>properties are read-only</D:responsedescription></D:propstat></D:response>');

  WHEN 'REPORT' THEN
    IF kind <> 'calendar' THEN
      RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'REPORT is supported on the calendar collection only';
    END IF;
    doc := @extschema@._dav_document(request_body, 'urn:ietf:params:xml:ns:caldav|calendar-query',
                                     'urn:ietf:params:xml:ns:caldav|calendar-multiget', 'DAV:|sync-collection');
    report := (xpath('local-name(/*)', doc))[1]::text;
    props := @extschema@._dav_requested(doc, '/*');
    IF report = 'calendar-query' THEN
      -- component filters: VCALENDAR > VTODO (or none); COMPLETED is-not-defined
      -- keeps open tasks; other filters are not applied (clients filter too)
      vtodo := coalesce((SELECT bool_and(n = 'VTODO') FROM unnest(@extschema@._dav_texts(doc,
                 '/C:calendar-query/C:filter/C:comp-filter/C:comp-filter/@name')) n), true);
      open_only := (xpath('count(/C:calendar-query/C:filter/C:comp-filter/C:comp-filter/C:prop-filter[@name="COMPLETED"]/C:is-not-defined)',
                          doc, ARRAY[ARRAY['C', 'urn:ietf:params:xml:ns:caldav']]))[1]::text::numeric > 0;
      resp := coalesce((
        SELECT string_agg(@extschema@._dav_response(base || 'tasks/' || coalesce(r.name, x.id || '.ics'), props,
                            ARRAY(SELECT @extschema@._dav_prop('object', k, me_id, me_email, me_name, x, r.uid, NULL, NULL) FROM unnest(props) k)),
                          '' ORDER BY x.id)
          FROM @extschema@.tasks x LEFT JOIN @extschema@.dav_resources r ON r.task_id = x.id
         WHERE vtodo AND (NOT open_only OR x.status <> 'done')), '');
      RETURN QUERY SELECT 207, xml_type, NULL::text, NULL::text, NULL::text, NULL::text,
                          @extschema@._dav_multistatus(resp);
    ELSIF report = 'calendar-multiget' THEN
      hrefs := @extschema@._dav_texts(doc, '/C:calendar-multiget/D:href/text()');
      FOREACH h IN ARRAY hrefs LOOP
        name := @extschema@._url_decode(regexp_replace(btrim(h), '^https?://[^/]+', ''));
        IF name IS NOT NULL AND starts_with(name, base || 'tasks/') THEN
          name := substr(name, length(base || 'tasks/') + 1);
          SELECT x.task_id, x.uid INTO found, res_uid FROM @extschema@._dav_find(name) x;
        ELSE
          found := NULL;
        END IF;
        t := NULL;
        SELECT * INTO t FROM @extschema@.tasks x WHERE x.id = found;
        IF t.id IS NULL THEN
          resp := resp || @extschema@._dav_status_response(btrim(h), '404 Not Found');
        ELSE
          resp := resp || @extschema@._dav_response(btrim(h), props,
                    ARRAY(SELECT @extschema@._dav_prop('object', k, me_id, me_email, me_name, t, res_uid, NULL, NULL) FROM unnest(props) k));
        END IF;
      END LOOP;
      RETURN QUERY SELECT 207, xml_type, NULL::text, NULL::text, NULL::text, NULL::text,
                          @extschema@._dav_multistatus(resp);
    ELSE
      token := btrim(coalesce((@extschema@._dav_texts(doc, '/D:sync-collection/D:sync-token/text()'))[1], ''));
      IF token <> '' THEN
        IF token !~ '^urn:x-taskmgmt:sync:[0-9]{1,20}\.[0-9]{1,10}-[0-9]{1,20}$'
           OR split_part(split_part(token, ':', 4), '-', 1) <> @extschema@._dav_sync_epoch() THEN
          RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'invalid sync token',
            HINT = 'Synchronise again without a token (DAV:valid-sync-token).';
        END IF;
        since := split_part(split_part(token, ':', 4), '-', 2)::xid8;
        IF @extschema@._dav_access_changed_since(since) THEN
          RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501',
            MESSAGE = 'sync token expired: the tasks you may see changed (team membership or role)',
            HINT = 'Synchronise again without a token (DAV:valid-sync-token).';
        END IF;
      END IF;
      token := @extschema@._dav_sync_token();
      IF since IS NULL THEN
        resp := coalesce((
          SELECT string_agg(@extschema@._dav_response(base || 'tasks/' || coalesce(r.name, x.id || '.ics'), props,
                              ARRAY(SELECT @extschema@._dav_prop('object', k, me_id, me_email, me_name, x, r.uid, NULL, NULL) FROM unnest(props) k)),
                            '' ORDER BY x.id)
            FROM @extschema@.tasks x LEFT JOIN @extschema@.dav_resources r ON r.task_id = x.id), '');
      ELSE
        FOR f IN SELECT * FROM @extschema@._dav_changes_since(since) c ORDER BY c.task_id LOOP
          IF f.removed THEN
            resp := resp || @extschema@._dav_status_response(base || 'tasks/' || f.name, '404 Not Found');
          ELSE
            SELECT x.* INTO t FROM @extschema@.tasks x WHERE x.id = f.task_id;
            SELECT r.uid INTO res_uid FROM @extschema@.dav_resources r WHERE r.task_id = f.task_id;
            resp := resp || @extschema@._dav_response(base || 'tasks/' || f.name, props,
                      ARRAY(SELECT @extschema@._dav_prop('object', k, me_id, me_email, me_name, t, res_uid, NULL, NULL) FROM unnest(props) k));
          END IF;
        END LOOP;
      END IF;
      RETURN QUERY SELECT 207, xml_type, NULL::text, NULL::text, NULL::text, NULL::text,
                          @extschema@._dav_multistatus(resp, token);
    END IF;

  WHEN 'GET' THEN
    IF kind <> 'object' THEN
      RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'collections have no content: GET a .ics resource';
    END IF;
    IF t.id IS NULL THEN PERFORM @extschema@._not_found('calendar object'); END IF;
    RETURN QUERY SELECT 200, 'text/calendar; charset=utf-8'::text, '"' || t.version || '"', NULL::text,
                        NULL::text, NULL::text, @extschema@.task_ical(t, res_uid);

  WHEN 'PUT' THEN
    IF kind <> 'object' THEN
      RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'PUT a .ics resource into the calendar collection';
    END IF;
    IF if_match IS NOT NULL AND btrim(if_match) <> '*' THEN
      IF btrim(if_match) !~ '^(W/)?"[0-9]{1,9}"$' THEN
        RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM412', MESSAGE = 'If-Match names no version of this resource';
      END IF;
      expected := substring(if_match FROM '"([0-9]+)"')::integer;
    END IF;
    fields := @extschema@._ical_parse_vtodo(coalesce(request_body, ''));
    IF NOT fields ? 'uid' OR btrim(fields ->> 'uid') = '' THEN
      PERFORM @extschema@._invalid('UID', 'is required');
    END IF;
    IF fields ? 'parent_uid' THEN
      parent := @extschema@._dav_uid_task(fields ->> 'parent_uid');
      IF parent IS NULL THEN
        PERFORM @extschema@._invalid('RELATED-TO', 'names no task you can see');
      END IF;
    END IF;
    IF t.id IS NOT NULL THEN
      IF btrim(coalesce(if_none_match, '')) = '*' THEN
        RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM412', MESSAGE = 'the resource exists (If-None-Match: *)';
      END IF;
      IF fields ->> 'uid' <> res_uid THEN
        PERFORM @extschema@._invalid('UID', 'cannot change: this resource is ' || res_uid);
      END IF;
      -- PUT replaces: what the VTODO leaves out is cleared
      answer := @extschema@.update_task(t.id, jsonb_build_object('description', '', 'priority', 'none', 'due_date', NULL,
                                                                 'recurrence', NULL, 'parent_id', parent)
                                              || (fields - 'uid' - 'parent_uid'), expected);
      RETURN QUERY SELECT 204, NULL::text, '"' || (answer ->> 'version') || '"', NULL::text, NULL::text, NULL::text, NULL::text;
    ELSE
      IF if_match IS NOT NULL THEN
        RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM412', MESSAGE = 'the resource does not exist (If-Match)';
      END IF;
      IF name ~ '^[0-9]+\.ics$' THEN
        RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'names of the form <number>.ics are reserved for tasks made elsewhere',
          HINT = 'Name a new resource after its UID.';
      END IF;
      IF fields ->> 'uid' ~ '^taskmgmt-task-' OR EXISTS (SELECT FROM @extschema@.dav_resources r WHERE r.uid = fields ->> 'uid') THEN
        RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '23505', MESSAGE = 'a task with this UID already exists in the calendar',
          HINT = 'CALDAV:no-uid-conflict: update that resource instead.';
      END IF;
      answer := @extschema@.create_task(fields - 'uid' - 'parent_uid' || jsonb_build_object('parent_id', parent));
      INSERT INTO @extschema@.dav_resources (task_id, name, uid)
      VALUES ((answer ->> 'id')::bigint, name, fields ->> 'uid');
      RETURN QUERY SELECT 201, NULL::text, '"' || (answer ->> 'version') || '"', base || 'tasks/' || name,
                          NULL::text, NULL::text, NULL::text;
    END IF;

  WHEN 'DELETE' THEN
    IF kind <> 'object' THEN
      RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'the calendar cannot be deleted; delete its tasks one by one';
    END IF;
    IF t.id IS NULL THEN PERFORM @extschema@._not_found('calendar object'); END IF;
    IF if_match IS NOT NULL AND btrim(if_match) <> '*'
       AND substring(if_match FROM '"([0-9]+)"') IS DISTINCT FROM t.version::text THEN
      RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM412', MESSAGE = 'task was changed by someone else',
        DETAIL = format('Expected %s, current version is %s.', btrim(if_match), t.version);
    END IF;
    PERFORM @extschema@.delete_task(t.id);
    RETURN QUERY SELECT 204, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text;

  WHEN 'MKCALENDAR', 'MKCOL' THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'there is one calendar per user: its tasks';
  ELSE
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM400', MESSAGE = method || ' is not supported here';
  END CASE;
END
$$;
-- The figures of report_summary for a checked scope and period, as one
-- row.  RETURN QUERY runs its statement to completion in one go, which is
-- what lets PostgreSQL scan the tasks with parallel workers (a SELECT ...
-- INTO, or a SQL function's statement, is run a row at a time, and such a
-- run is never parallel).  Planned for the values every time: a report of
-- one team reads that team's tasks by index, a user who sees few tasks
-- reads them by the visibility rule's indexes (me, my_teams: the rule
-- restated, as in _filter_where, NULL for an admin; row-level security is
-- applied on top), a report of everything reads the tallies.
CREATE OR REPLACE FUNCTION @extschema@._report_figures(team bigint, team_name text, tz text, today date,
                                             d_from date, d_to date, t_from timestamptz,
                                             t_to timestamptz, me bigint, my_teams bigint[])
RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan AS $$
BEGIN
  RETURN QUERY
  -- One pass over the tasks in scope, grouped by assignee and status: every
  -- figure that is a count, a sum or a maximum adds up over the groups, and
  -- they make the per-assignee table.  The completed tasks of the period
  -- (done: lead and cycle times, weekly throughput) come from the index on
  -- completed_at.  A team's tasks are those it owns or is assigned.
  -- Everything (an admin's report without a team) makes the same groups
  -- without that pass: the period's completed from done, the rest from
  -- _report_groups_counted.  The values are constants in the plan, so the
  -- branches not taken are constant-false and never run.
  WITH done AS (
    SELECT t.assignee_user_id, t.assignee_team_id,
           extract(epoch FROM t.completed_at - t.created_at) / 3600 AS lead_h,
           extract(epoch FROM t.completed_at - t.started_at) / 3600 AS cycle_h,
           (t.completed_at AT TIME ZONE tz)::date AS day
      FROM @extschema@.tasks t
     WHERE t.status = 'done' AND t.completed_at >= t_from AND t.completed_at < t_to
       AND (team IS NULL OR t.team_id = team OR t.assignee_team_id = team)
       AND (me IS NULL OR t.creator_id = me OR t.assignee_user_id = me
            OR t.assignee_team_id = ANY (my_teams) OR t.team_id = ANY (my_teams))
  ),
  g AS (
    SELECT t.assignee_user_id, t.assignee_team_id, t.status,
           count(*) AS total,
           count(*) FILTER (WHERE t.completed_at >= t_from AND t.completed_at < t_to) AS completed,
           count(*) FILTER (WHERE t.created_at >= t_from AND t.created_at < t_to) AS created,
           count(*) FILTER (WHERE t.due_date < today) AS late,
           sum(today - t.due_date) FILTER (WHERE t.due_date < today) AS late_days,
           max(today - t.due_date) FILTER (WHERE t.due_date < today) AS late_max
      FROM @extschema@.tasks t
     WHERE (team IS NOT NULL OR me IS NOT NULL)
       AND (team IS NULL OR t.team_id = team OR t.assignee_team_id = team)
       AND (me IS NULL OR t.creator_id = me OR t.assignee_user_id = me
            OR t.assignee_team_id = ANY (my_teams) OR t.team_id = ANY (my_teams))
     GROUP BY 1, 2, 3
    UNION ALL
    SELECT d.assignee_user_id, d.assignee_team_id, 'done', 0, count(*), 0, 0, NULL, NULL
      FROM done d
     WHERE team IS NULL AND me IS NULL
     GROUP BY 1, 2
    UNION ALL
    SELECT * FROM @extschema@._report_groups_counted(t_from, t_to, today)
     WHERE team IS NULL AND me IS NULL
  ),
  x AS (
    SELECT coalesce(sum(g.total), 0) AS total,
           coalesce(sum(g.total) FILTER (WHERE g.status = 'todo'), 0) AS todo,
           coalesce(sum(g.total) FILTER (WHERE g.status = 'in_progress'), 0) AS in_progress,
           coalesce(sum(g.total) FILTER (WHERE g.status = 'done'), 0) AS done,
           coalesce(sum(g.total) FILTER (WHERE g.status = 'canceled'), 0) AS canceled,
           coalesce(sum(g.created), 0) AS created,
           coalesce(sum(g.created) FILTER (WHERE g.status = 'done'), 0) AS created_done,
           coalesce(sum(g.late) FILTER (WHERE g.status IN ('todo', 'in_progress')), 0) AS overdue,
           sum(g.late_days) FILTER (WHERE g.status IN ('todo', 'in_progress')) AS overdue_days,
           max(g.late_max) FILTER (WHERE g.status IN ('todo', 'in_progress')) AS overdue_max
      FROM g
  ),
  a AS (
    SELECT CASE WHEN g.assignee_user_id IS NOT NULL THEN 'user'
                WHEN g.assignee_team_id IS NOT NULL THEN 'team' END AS kind,
           coalesce(g.assignee_user_id, g.assignee_team_id) AS aid,
           coalesce(sum(g.completed) FILTER (WHERE g.status = 'done'), 0) AS completed,
           coalesce(sum(g.total) FILTER (WHERE g.status IN ('todo', 'in_progress')), 0) AS open
      FROM g GROUP BY 1, 2
  ),
  weeks AS (
    SELECT w::date AS week_start
      FROM generate_series(date_trunc('week', d_from::timestamp), d_to::timestamp, interval '1 week') w
  ),
  -- each name once (the table reads a name twice, to show and to order
  -- by it): users in one join, teams in another where the caller sees the
  -- team (an admin sees all), otherwise by _team_name, which checks that
  -- the caller may know it (a call costs more than a join)
  named AS MATERIALIZED (
    SELECT a.kind, a.aid, a.completed, a.open, CASE a.kind
             WHEN 'user' THEN u.display_name
             WHEN 'team' THEN coalesce(tm.name, @extschema@._team_name(a.aid)) END AS name
      FROM a
      LEFT JOIN @extschema@.users u ON a.kind = 'user' AND u.id = a.aid
      LEFT JOIN @extschema@.teams tm ON a.kind = 'team' AND tm.id = a.aid
     WHERE a.completed > 0 OR a.open > 0
  )
  SELECT jsonb_build_object(
    'team', CASE WHEN team IS NOT NULL THEN jsonb_build_object('id', team, 'name', team_name) END,
    'from', d_from, 'to', d_to, 'timezone', tz, 'as_of', today, 'generated_at', now(),
    'total', x.total,
    'counts_by_status', jsonb_build_object('canceled', x.canceled, 'done', x.done,
                                           'in_progress', x.in_progress, 'todo', x.todo),
    'created_in_period', x.created,
    'completed_in_period', (SELECT count(*) FROM done),
    -- of the tasks created in the period, the share that is done now
    'completion_rate', round(x.created_done::numeric / nullif(x.created, 0), 4),
    'overdue', jsonb_build_object('count', x.overdue,
                                  'mean_age_days', round(x.overdue_days::numeric / nullif(x.overdue, 0), 1),
                                  'max_age_days', x.overdue_max),
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
      SELECT jsonb_agg(jsonb_build_object('week_start', w.week_start, 'completed', coalesce(c.n, 0))
                       ORDER BY w.week_start)
        FROM weeks w
        LEFT JOIN (SELECT date_trunc('week', done.day::timestamp)::date AS week_start, count(*) AS n
                     FROM done GROUP BY 1) c ON c.week_start = w.week_start),
    -- #14 (79_as_of.sql): stays in each status that ended in the period
    'time_in_status_hours', @extschema@._time_in_status(team, me, my_teams, t_from, t_to),
    'assignees', coalesce((
      SELECT jsonb_agg(jsonb_build_object('type', n.kind, 'id', n.aid, 'name', n.name,
                                          'completed', n.completed, 'open', n.open)
                       ORDER BY n.completed DESC, n.open DESC, n.name NULLS LAST, n.aid)
        FROM named n), '[]'))
    FROM x;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@._filter_where(f jsonb) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  conds text[] := '{true}';
  uid bigint := @extschema@.current_user_id();
  a text := f ->> 'assignee';
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
    conds := conds || 't.assignee_user_id = @extschema@.current_user_id()'::text;
  ELSIF a = 'none' THEN
    conds := conds || 't.assignee_user_id IS NULL AND t.assignee_team_id IS NULL'::text;
  ELSIF a LIKE 'user:%' THEN
    conds := conds || $q$t.assignee_user_id = split_part($2 ->> 'assignee', ':', 2)::bigint$q$::text;
  ELSIF a LIKE 'team:%' THEN
    conds := conds || $q$t.assignee_team_id = split_part($2 ->> 'assignee', ':', 2)::bigint$q$::text;
  END IF;
  IF f ? 'team' THEN
    conds := conds || $q$t.team_id = ($2 ->> 'team')::bigint$q$::text;
  END IF;
  IF f ? 'tag' THEN
    conds := conds || CASE WHEN f ->> 'tag_mode' = 'all'
                           THEN $q$t.tags @> ARRAY(SELECT jsonb_array_elements_text($2 -> 'tag'))$q$::text
                           ELSE $q$t.tags && ARRAY(SELECT jsonb_array_elements_text($2 -> 'tag'))$q$::text END;
  END IF;
  IF f ? 'due_before' THEN
    conds := conds || $q$t.due_date < ($2 ->> 'due_before')::date$q$::text;
  END IF;
  IF f ? 'due_after' THEN
    conds := conds || $q$t.due_date > ($2 ->> 'due_after')::date$q$::text;
  END IF;
  IF f ? 'overdue' THEN
    conds := conds || format(CASE WHEN (f ->> 'overdue')::boolean THEN '%s' ELSE 'NOT coalesce(%s, false)' END,
      -- "today" in the user's time zone, as is:overdue and the reports
      '(t.due_date < @extschema@._user_today(@extschema@.current_user_id()) AND t.status NOT IN (''done'', ''canceled''))');
  END IF;
  IF f ? 'ready' THEN  -- planning (#14, 77_relations.sql)
    conds := conds || @extschema@._ready_sql((f ->> 'ready')::boolean);
  END IF;
  IF f ? 'filter_sql' THEN  -- the filter language (#14): values in $1, see _filter_params
    conds := conds || (f ->> 'filter_sql');
  END IF;
  IF f ? 'q' THEN
    conds := conds || $q$t.search_vector OPERATOR(@extschema@.@@) websearch_to_tsquery('english', $2 ->> 'q')$q$::text;
  END IF;
  -- Index paths for the visibility rule.  RLS stays the authority (its
  -- policy is applied on top); this restates the policy's own arms so the
  -- planner can combine the per-arm indexes instead of scanning every task
  -- and filtering by the policy.  Not for admins (who see everything), and
  -- not when an assignee (user or team) or team filter already narrows the
  -- scan through its own index.
  -- With search words (q, or a text: term of the filter language, which
  -- compiles to a match on t.search_vector), the same rule as one condition
  -- on the visibility keys, which the search index holds next to the words
  -- (see 74_search.sql).
  IF uid IS NOT NULL AND coalesce(a, 'none') = 'none' AND NOT f ? 'team'
     AND NOT coalesce((f ->> 'filter_narrows')::boolean, false)  -- the filter language (#14)
     AND NOT @extschema@.current_user_is_admin() THEN
    conds := conds || CASE
      WHEN f ? 'q' OR strpos(f ->> 'filter_sql', 't.search_vector') > 0
      THEN '@extschema@._visibility_keys(t.creator_id, t.assignee_user_id, t.assignee_team_id, t.team_id) '
           'OPERATOR(@extschema@.&&) (SELECT @extschema@._my_visibility_keys())'
      WHEN cardinality(@extschema@.my_team_ids()) = 0
      THEN '(t.creator_id = (SELECT @extschema@.current_user_id()) OR t.assignee_user_id = (SELECT @extschema@.current_user_id()))'
      ELSE '(t.creator_id = (SELECT @extschema@.current_user_id()) OR t.assignee_user_id = (SELECT @extschema@.current_user_id()) '
           'OR t.assignee_team_id = ANY ((SELECT @extschema@.my_team_ids())::bigint[]) '
           'OR t.team_id = ANY ((SELECT @extschema@.my_team_ids())::bigint[]))' END;
  END IF;
  RETURN array_to_string(conds, ' AND ');
END
$$;

-- ==== trigger functions are not the clients' to execute (#11 review) ====
-- With EXECUTE, a client could attach a SECURITY DEFINER trigger function
-- (history, tallies) to a temporary table of its own and have it write;
-- triggers fire whatever the caller's rights (90_grants.sql).
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
           WHERE p.pronamespace = '@extschema@'::regnamespace
             AND p.prorettype = 'pg_catalog.trigger'::pg_catalog.regtype
  LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, taskmgmt_client', f);
  END LOOP;
END
$$;

-- ==== the new job, where the others are scheduled (#11) ====
-- compact_task_tallies joins the jobs pg_cron runs for this database, as
-- the role that runs the others; elsewhere schedule_jobs() adds it.
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
    EXECUTE $q$SELECT cron.schedule_in_database('taskmgmt-compact-tallies', '* * * * *',
                 'SELECT @extschema@.compact_task_tallies()', j.database, j.username)
                 FROM cron.job j WHERE j.jobname = 'taskmgmt-due-soon' AND j.database = current_database()$q$;
  END IF;
EXCEPTION WHEN OTHERS THEN  -- scheduling must not fail the update
  RAISE WARNING 'taskmgmt: the job taskmgmt-compact-tallies is not scheduled (%)', SQLERRM
    USING HINT = 'Run SELECT taskmgmt.schedule_jobs() as the role that runs the other jobs.';
END
$$;
