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

-- ==== restore without re-deriving rows (#15) ====
-- True in a session that loads rows as they are: pg_restore, and a plain
-- pg_dump script run with psql, always begin with SET row_security = off.
-- The deriving triggers skip such sessions (see 30_helpers.sql).
CREATE FUNCTION @extschema@._restoring() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT pg_catalog.current_setting('row_security') = 'off'
$$;
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
