-- CalDAV listing costs (prints timings; asserts nothing).  Run as a
-- superuser against a database with the extension, e.g. the test or make
-- run cluster:  psql -X -d taskmgmt -f bench/caldav.sql
-- One user with 2000 visible tasks; each REPORT/PROPFIND three times, as a
-- member of taskmgmt_client (row-level security applies).  Rolled back.
\set QUIET on
SET client_min_messages = warning;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_caldav') THEN CREATE ROLE bench_caldav NOLOGIN; END IF;
END $$;
GRANT taskmgmt_client TO bench_caldav;
BEGIN;
SET LOCAL ROLE bench_caldav;
SELECT (taskmgmt.register(format('bench-caldav-%s@example.com', md5(random()::text)), 'bench caldav password')
        ->> 'email') AS email \gset
SELECT (taskmgmt.sign_in(:'email', 'bench caldav password') ->> 'user_id') AS uid \gset
SELECT count(taskmgmt.create_task(jsonb_build_object('title', 'task ' || g, 'description', repeat('words ', 20),
        'tags', '["a","b"]'::jsonb, 'due_date', '2030-01-01'))) AS tasks FROM generate_series(1, 2000) g \gset
\echo 2000 tasks; times in ms:
\timing on
\echo calendar-query, getetag
SELECT length(body) FROM taskmgmt.dav('REPORT', '/dav/users/' || :uid || '/tasks/', '1', NULL, NULL, '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VTODO"/></c:comp-filter></c:filter></c:calendar-query>') \g /dev/null
\g /dev/null
\g /dev/null
\echo calendar-query, getetag + calendar-data
SELECT length(body) FROM taskmgmt.dav('REPORT', '/dav/users/' || :uid || '/tasks/', '1', NULL, NULL, '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VTODO"/></c:comp-filter></c:filter></c:calendar-query>') \g /dev/null
\g /dev/null
\g /dev/null
\echo PROPFIND Depth 1, allprop
SELECT length(body) FROM taskmgmt.dav('PROPFIND', '/dav/users/' || :uid || '/tasks/', '1', NULL, NULL, NULL) \g /dev/null
\g /dev/null
\g /dev/null
\echo plain SQL of the same rows: id and version
SELECT count(*) FROM (SELECT id, version FROM taskmgmt.tasks) t \g /dev/null
\g /dev/null
\timing off
ROLLBACK;
