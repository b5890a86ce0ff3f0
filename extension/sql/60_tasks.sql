-- Tasks: JSON shape, validation, the four CRUD functions, and the trigger
-- that enforces the assignment rules for every door (SQL API or plain SQL).

-- The name of a task's assignee team, for a task the caller sees.  A
-- team's name is shown on such a task even when the caller is not in that
-- team, but teams' own row-level security hides that team, so this reads
-- the name as the owner (like _team_name), and answers only where the
-- tasks_select rule, spelled out here, lets the caller see the task: its
-- creator, a member of its team or of the assignee team, an admin (a
-- team-assigned task has no assignee user); NULL otherwise.  By task id it
-- is one primary-key probe (_team_name, given only a team, looks for any
-- visible task of that team).  PL/pgSQL: the probe's plan is kept.
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

-- The task object, from its fields, the assignee's name and the planning
-- counts (#14: direct subtasks the caller sees, in total and done, and the
-- visible open tasks that block it): a formatter in C
-- (extension/task_json.c), the same jsonb as jsonb_build_object() would
-- give, built without its per-value type lookups and key sorting.
CREATE FUNCTION @extschema@._task_jsonb(
    id bigint, title text, description text, status @extschema@.task_status,
    priority @extschema@.task_priority, due_date date, team_id bigint, assignee_user_id bigint,
    assignee_team_id bigint, assignee_name text, tags text[], creator_id bigint,
    created_at timestamptz, updated_at timestamptz, started_at timestamptz,
    completed_at timestamptz, version integer, parent_id bigint, recurrence text,
    subtasks_total bigint, subtasks_done bigint, blocked_by_open bigint) RETURNS jsonb
  AS 'MODULE_PATHNAME', 'tm_task_jsonb'
  LANGUAGE C STABLE PARALLEL SAFE;

-- {"items": items, "next_cursor": next_cursor}, the answer of a list: the
-- items' binary jsonb copied as it is (C, extension/task_json.c), where
-- jsonb_agg() and jsonb_build_object() would take each item apart and build
-- it again.  NULL items: an empty list.
CREATE FUNCTION @extschema@._jsonb_page(items jsonb[], next_cursor text) RETURNS jsonb
  AS 'MODULE_PATHNAME', 'tm_jsonb_page'
  LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- task_json(), and for create_task (created: true) without the planning
-- counts' two queries: a task that did not exist before this statement
-- has no subtasks and nothing blocking it (the rows that would point to it
-- cannot have been written before it).  PL/pgSQL, so that its small
-- lookups keep their plans and only the name the row needs is looked up;
-- the counts (_task_planning, 77_relations.sql) run under the caller's
-- policies, so they count visible tasks only.
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

-- The JSON of one task row: get_task, update_task, webhooks, subtask lists
-- (and callers of 0.1.0).  Pages of tasks (list, search) get the same
-- object from one statement per page (_page_sql, 73_list.sql).
CREATE FUNCTION @extschema@.task_json(t @extschema@.tasks) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT @extschema@._task_json(t, false)
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

-- Authorisation and bookkeeping for every insert and update, whatever the door.
-- A DBA working without signing in (current_user_id() NULL) is trusted.
CREATE FUNCTION @extschema@._tasks_before_write() RETURNS trigger
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

CREATE TRIGGER tasks_before_write BEFORE INSERT OR UPDATE ON @extschema@.tasks
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_before_write();

CREATE FUNCTION @extschema@.create_task(task jsonb) RETURNS jsonb
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

CREATE FUNCTION @extschema@.get_task(id bigint) RETURNS jsonb
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

-- expected_version: the version the caller last saw (HTTP If-Match); a
-- different current version raises TM412 and changes nothing.
CREATE FUNCTION @extschema@.update_task(id bigint, patch jsonb, expected_version integer DEFAULT NULL)
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
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501',
      MESSAGE = 'only the creator, a lead or owner of its team, or an admin can delete this task';
  END IF;
END
$$;
