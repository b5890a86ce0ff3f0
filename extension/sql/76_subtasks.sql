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
