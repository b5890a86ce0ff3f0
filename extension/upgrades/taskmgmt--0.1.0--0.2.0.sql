-- taskmgmt 0.1.0 → 0.2.0.  Every change made to extension/sql/ since 0.1.0
-- goes here too, so that ALTER EXTENSION taskmgmt UPDATE gives exactly the
-- schema of a fresh CREATE EXTENSION (the suite deploy-upgrade compares them).
-- New columns go at the end of their table in extension/sql/ as well.
\echo Use "ALTER EXTENSION taskmgmt UPDATE TO '0.2.0'" to load this file. \quit

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
