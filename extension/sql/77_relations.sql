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
-- created_by is server-set: the signed-in user, by default (#17)
ALTER TABLE @extschema@.task_relations ALTER COLUMN created_by SET DEFAULT @extschema@.current_user_id();
GRANT SELECT, INSERT (task_id, other_id, type), DELETE
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
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._task_relations_check();

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
  FOR EACH ROW WHEN (NEW.status IN ('done', 'canceled') AND OLD.status NOT IN ('done', 'canceled')
                     AND NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_notify_unblocked();

-- The planning counts of a task object (subtasks {total, done},
-- blocked_by_open), for a page of tasks at once: a row for each of ids that
-- has a visible subtask or a visible open blocker (a task may come twice,
-- once for each; the others have none).  C (extension/planning.c): a probe
-- of tasks_parent_id_idx and task_relations_other_id_idx with the ids comes
-- first, and only where it finds an entry does the count run, as the
-- caller, under row-level security; most pages have nothing to count and
-- pay one index probe each.  Used by the page statements (_page_sql,
-- 73_list.sql).
CREATE FUNCTION @extschema@._page_planning(ids bigint[], OUT id bigint, OUT subtasks_total bigint,
                                            OUT subtasks_done bigint, OUT blocked_by_open bigint)
  RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'tm_page_planning'
  LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 1;

-- The same counts for one task, {subtasks total, subtasks done,
-- blocked_by_open}: task_json() reads them with a plain expression, where a
-- query of _page_planning would be a statement of its own.
CREATE FUNCTION @extschema@._task_planning(id bigint) RETURNS bigint[]
  AS 'MODULE_PATHNAME', 'tm_task_planning'
  LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
