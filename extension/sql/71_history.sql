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
-- policy); the history of a deleted task only to admins.  The admin test
-- first: it is evaluated once per statement, the subquery once per row.
CREATE POLICY task_events_select ON @extschema@.task_events FOR SELECT
  USING ((SELECT @extschema@.current_user_is_admin())
         OR EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = task_events.task_id));
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

-- Which door, from how the actor signed in (nothing a client can set, such
-- as application_name, changes it): 'http' for an access token valid for
-- this transaction (authenticate(): every request through the shim),
-- 'api' for a session signed in with sign_in(), 'sql' without sign-in.
-- actor_id / actor_role say who.
CREATE FUNCTION @extschema@._event_source() RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT CASE @extschema@._identity_kind() WHEN 'token' THEN 'http' WHEN 'session' THEN 'api' ELSE 'sql' END
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

CREATE TRIGGER tasks_record_history AFTER INSERT OR UPDATE OR DELETE ON @extschema@.tasks
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_record_history();

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
