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

-- ==== Personal access tokens, webhooks, CalDAV (#13) ====
-- Mail and webhook deliveries share the outbox: outbox_claim() leaves
-- webhook rows to webhook_claim().
CREATE OR REPLACE FUNCTION @extschema@.outbox_claim(batch_size integer DEFAULT 10, lease interval DEFAULT '5 minutes')
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
            o.message_id, o.attempts, o.claim_token;
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
-- and rendered with libical (ical.c).  A PUT goes through create_task() and
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
                                        completed timestamptz, version integer) RETURNS text
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
CREATE FUNCTION @extschema@.task_ical(t @extschema@.tasks, uid text DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT @extschema@._ical_vtodo(coalesce(uid, 'taskmgmt-task-' || t.id), t.title, t.description,
                                 t.status::text, t.priority::text, t.due_date, t.tags, t.created_at,
                                 t.updated_at, t.completed_at, t.version)
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
    IF t.id IS NOT NULL THEN
      IF btrim(coalesce(if_none_match, '')) = '*' THEN
        RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM412', MESSAGE = 'the resource exists (If-None-Match: *)';
      END IF;
      IF fields ->> 'uid' <> res_uid THEN
        PERFORM @extschema@._invalid('UID', 'cannot change: this resource is ' || res_uid);
      END IF;
      -- PUT replaces: what the VTODO leaves out is cleared
      answer := @extschema@.update_task(t.id, jsonb_build_object('description', '', 'priority', 'none', 'due_date', NULL)
                                              || (fields - 'uid'), expected);
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
      answer := @extschema@.create_task(fields - 'uid');
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
GRANT EXECUTE ON FUNCTION @extschema@._ical_vtodo(text, text, text, text, text, date, text[], timestamptz, timestamptz, timestamptz, integer),
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
  @extschema@._dav_ctag(), @extschema@._dav_sync_token(), @extschema@._dav_find(text),
  @extschema@.dav_authenticate(text), @extschema@.dav(text, text, text, text, text, text) TO taskmgmt_client;
