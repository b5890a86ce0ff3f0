-- Function privileges: nothing is executable by PUBLIC; taskmgmt_client gets
-- the API.  Internal helpers used inside policies and API functions must be
-- executable by the client role too (they run as the caller), but reveal
-- nothing beyond what the caller may see.  Not granted: the DBA's functions,
-- the sign-in counters, _notification_key(uid), which would tell anyone
-- everyone's notification key (80_notifications.sql), and trigger functions:
-- they fire whatever the caller's rights, and with EXECUTE a client could
-- attach one (SECURITY DEFINER: history, tallies) to a temporary table of
-- its own and have it write.
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
           WHERE p.pronamespace = '@extschema@'::regnamespace
  LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
  END LOOP;
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
           WHERE p.pronamespace = '@extschema@'::regnamespace
             AND p.proname NOT IN ('rotate_signing_key', 'make_admin', '_login_attempt', '_login_success',
                                 '_notification_key')
             AND p.prorettype <> 'pg_catalog.trigger'::pg_catalog.regtype
  LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO taskmgmt_client', f);
  END LOOP;
END
$$;
