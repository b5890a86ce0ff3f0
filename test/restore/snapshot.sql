-- Everything a dump carries, as one line per table or sequence: row count
-- and a digest of the rows in a fixed order.  Run as a superuser (RLS is
-- bypassed, so every row counts).  signing_keys, login_failures and
-- dav_access_changes (CalDAV: transaction ids of the old cluster) are
-- deliberately not dumped (doc/operations.md, "Dump and restore").
\set ON_ERROR_STOP 1
SELECT format('%s %s %s', c.relname,
              (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM taskmgmt.%I', c.relname), false, true, '')))[1],
              (xpath('/row/d/text()', query_to_xml(format(
                 'SELECT md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) AS d FROM taskmgmt.%I t',
                 c.relname), false, true, '')))[1])
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'taskmgmt' AND c.relkind = 'r' AND c.relname NOT IN ('signing_keys', 'login_failures', 'dav_access_changes')
ORDER BY c.relname;
SELECT format('%s last_value=%s', sequencename, last_value)
FROM pg_sequences WHERE schemaname = 'taskmgmt' ORDER BY sequencename;
