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
-- (dtstart is the first occurrence); NULL when the series has ended.  tz:
-- the user's time zone, in which an UNTIL with a time (UTC) ends the series.
CREATE FUNCTION @extschema@._rrule_next(rule text, dtstart date, after date, tz text DEFAULT 'UTC') RETURNS date
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
  FOR EACH ROW WHEN ((NEW.recurrence IS NOT NULL OR NEW.recurrence_start IS NOT NULL)
                     AND NOT @extschema@._restoring())
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

CREATE TRIGGER tasks_recur AFTER UPDATE OF status ON @extschema@.tasks
  FOR EACH ROW WHEN (NEW.status = 'done' AND OLD.status <> 'done' AND NEW.recurrence IS NOT NULL
                     AND NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_recur();

CREATE INDEX tasks_recurrence_of_idx ON @extschema@.tasks (recurrence_of) WHERE recurrence_of IS NOT NULL;
