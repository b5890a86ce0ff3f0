-- Internal helpers shared by the API functions and the policies.
--
-- Every error the extension raises for its callers carries SCHEMA =
-- 'taskmgmt' (PG_DIAG_SCHEMA_NAME, with no table or type): the HTTP shim
-- shows the message of such an error and replaces any other, since
-- PostgreSQL's own messages may name tables, types or constraints (it sets
-- a schema only together with the table or type).  The C code marks its
-- errors with tm_errclient().

-- Raises the validation error (SQLSTATE TM422) for one field.  The field
-- travels in the error's COLUMN field, so the shim can name it.
CREATE FUNCTION @extschema@._invalid(field text, message text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM422', MESSAGE = field || ' ' || message, COLUMN = field;
END
$$;

-- Raises 'bad request' (TM400) for a malformed parameter.
CREATE FUNCTION @extschema@._bad_parameter(param text, message text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM400', MESSAGE = param || ': ' || message, COLUMN = param;
END
$$;

CREATE FUNCTION @extschema@._not_found(what text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'P0002', MESSAGE = what || ' not found';
END
$$;

-- True in a session that loads rows as they are: pg_restore, and a plain
-- pg_dump script run with psql, always begin with SET row_security = off.
-- Restored rows already carry what the triggers derive (history, versions
-- and times, mentions, notifications, outbox rows); deriving it again would
-- duplicate history, renumber versions and notify and mail everyone again.
-- So the triggers that derive rows or send a NOTIFY have
-- WHEN (NOT _restoring()) (test/pgtap/90_restore.sql lists them), and a restore
-- needs no step that turns triggers off.  Nobody else writes these tables
-- with row_security off: they force RLS, which makes that an error for
-- every role but superusers and BYPASSRLS roles.  Logical replication's
-- apply workers (session_replication_role = replica) skip them on their own.
-- current_setting('row_security') = 'off', in C (extension/taskmgmt.c): a
-- SQL function in a trigger's WHEN clause is parsed again at every statement.
CREATE FUNCTION @extschema@._restoring() RETURNS boolean
  AS 'MODULE_PATHNAME', 'tm_restoring'
  LANGUAGE C STABLE PARALLEL SAFE;

-- The signed-in user, or SQLSTATE 28000.
CREATE FUNCTION @extschema@._require_user() RETURNS bigint
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

-- Team ids of the signed-in user (all roles / lead or owner / owner), in
-- id order.  C (extension/membership.c): one index scan that row-level
-- security does not apply to (so that the team_members policy can use them
-- without recursion), kept
-- while the caller's snapshot is unchanged, so a statement's policies ask
-- for them once however often they appear.
CREATE FUNCTION @extschema@.my_team_ids() RETURNS bigint[]
  AS 'MODULE_PATHNAME', 'tm_my_team_ids'
  LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@.my_led_team_ids() RETURNS bigint[]
  AS 'MODULE_PATHNAME', 'tm_my_led_team_ids'
  LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@.my_owned_team_ids() RETURNS bigint[]
  AS 'MODULE_PATHNAME', 'tm_my_owned_team_ids'
  LANGUAGE C STABLE PARALLEL RESTRICTED;

-- Runs a generated query (list_tasks, search_tasks) with a plan kept per
-- text in this backend: the first column of its first row.  The parameters
-- are $1 text[] (a filter text's values), $2 and $3 jsonb (the filter, a
-- cursor); read-only, as the caller (extension/query_cache.c).
CREATE FUNCTION @extschema@._query_cached(sql text, p1 text[], p2 jsonb, p3 jsonb) RETURNS jsonb
  AS 'MODULE_PATHNAME', 'tm_query_cached'
  LANGUAGE C STABLE PARALLEL RESTRICTED;

-- True for a team the signed-in user created and that has no member yet:
-- lets create_team() add its creator as the first owner.
CREATE FUNCTION @extschema@._team_is_new_and_mine(team_id bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT FROM @extschema@.teams t
                 WHERE t.id = team_id AND t.created_by = @extschema@.current_user_id())
     AND NOT EXISTS (SELECT FROM @extschema@.team_members m WHERE m.team_id = _team_is_new_and_mine.team_id)
$$;

-- For teams_select: whether a team the caller created has members.  Its
-- creator sees a team while it has none (create_team() reads the new row
-- back before adding the creator as its owner) and afterwards only as a
-- member, like everyone else.  Answers for the caller's own teams only.
CREATE FUNCTION @extschema@._team_has_members(team_id bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT FROM @extschema@.team_members m JOIN @extschema@.teams t ON t.id = m.team_id
                 WHERE m.team_id = _team_has_members.team_id
                   AND t.created_by = @extschema@.current_user_id())
$$;

-- Is this an active (not disabled) user?  Clients cannot read users.disabled
-- (nor users.role): who is disabled or an admin is not theirs to list.
-- Whether an id is an active user, they may know: list_users() shows them.
CREATE FUNCTION @extschema@._user_is_active(user_id bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT FROM @extschema@.users u WHERE u.id = _user_is_active.user_id AND NOT u.disabled)
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
