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
  event      text NOT NULL CHECK (event IN ('assigned', 'updated', 'commented', 'mentioned', 'due_soon', 'overdue', 'unblocked')),
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
           "overdue":   {"in_app": true, "email": false},
           "unblocked": {"in_app": true, "email": false}}'::jsonb
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

-- Only where the function has something to do (a WHEN clause costs no
-- function call): a new task with an assignee; an update that reassigns or
-- changes what users see (the version moves).  An INSERT trigger cannot
-- look at OLD, hence two triggers.  Neither fires while restoring.
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
-- The NOTIFY carries the recipient's notification key and the final id and,
-- like every NOTIFY, is only delivered if the transaction commits.
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
                         format('{"key": "%s", "id": %s}', @extschema@._notification_key(user_id), id)))
  INTO n FROM (SELECT * FROM published ORDER BY id) p;
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER notifications_publish AFTER INSERT ON @extschema@.notifications
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._notifications_publish();

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
