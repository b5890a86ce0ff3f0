-- taskmgmt 0.1.0 → 0.2.0.  Every change made to extension/sql/ since 0.1.0
-- goes here too, so that ALTER EXTENSION taskmgmt UPDATE gives exactly the
-- schema of a fresh CREATE EXTENSION (the suite deploy-upgrade compares them).
-- New columns go at the end of their table in extension/sql/ as well.
\echo Use "ALTER EXTENSION taskmgmt UPDATE TO '0.2.0'" to load this file. \quit


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
