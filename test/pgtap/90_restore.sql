-- Restore: a session with row_security = off (pg_restore, a plain pg_dump
-- script run with psql) loads rows as they are; the triggers that derive
-- rows (history, versions and times, mentions, notifications) leave them
-- alone.  Every other session derives them as usual.  The whole dump and
-- restore is the suite 'restore' (test/suites/83-restore.sh).
\ir 7_workflow_helpers.psql
BEGIN;
SELECT plan(12);
SELECT pg_temp.wf_user('rita') AS rita, pg_temp.wf_user('sam') AS sam \gset

SELECT is(taskmgmt._restoring(), false, 'an ordinary session is not restoring');

-- A restore only inserts (COPY): every trigger that fires on INSERT has the
-- WHEN clause (history, versions, mentions, notifications, webhooks, the
-- CalDAV change log, checks that read other rows), so a trigger added later
-- without it fails here.  (tgtype bit 4: INSERT)
SELECT is(array_agg(t.tgname::text ORDER BY t.tgname), NULL,
          'every trigger on INSERT is skipped while restoring (WHEN (NOT _restoring()))')
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = 'taskmgmt'::regnamespace AND NOT t.tgisinternal
  AND t.tgtype & 4 <> 0
  AND pg_get_triggerdef(t.oid) NOT LIKE '% WHEN (%(NOT taskmgmt._restoring())%';

-- as pg_restore does: rows with their own ids, times and versions
SET LOCAL row_security = off;
SELECT is(taskmgmt._restoring(), true, 'row_security = off is a restoring session');
SELECT count(*) AS events0 FROM taskmgmt.task_events \gset
SELECT count(*) AS notes0 FROM taskmgmt.notifications \gset
INSERT INTO taskmgmt.tasks (id, title, status, creator_id, assignee_user_id, created_at, updated_at,
                            started_at, completed_at, version)
  OVERRIDING SYSTEM VALUE
  VALUES (900001, 'Restored task', 'done', :rita, :sam, '2020-01-02 03:04:05+00', '2020-02-03 04:05:06+00',
          '2020-01-03 00:00:00+00', '2020-02-03 04:05:06+00', 7);
SELECT results_eq($$SELECT version, created_at, updated_at, started_at, completed_at
                      FROM taskmgmt.tasks WHERE id = 900001$$,
  $$VALUES (7, '2020-01-02 03:04:05+00'::timestamptz, '2020-02-03 04:05:06+00'::timestamptz,
            '2020-01-03 00:00:00+00'::timestamptz, '2020-02-03 04:05:06+00'::timestamptz)$$,
  'a restored task keeps its version and times');
SELECT is((SELECT count(*) FROM taskmgmt.task_events), :events0::bigint, 'restoring a task records no history');
SELECT is((SELECT count(*) FROM taskmgmt.notifications), :notes0::bigint, 'restoring an assigned task notifies nobody');
INSERT INTO taskmgmt.comments (id, task_id, author_id, body, created_at, edited_at)
  OVERRIDING SYSTEM VALUE
  VALUES (900001, 900001, :rita, '  hello @sam  ', '2020-01-05 00:00:00+00', '2020-01-06 00:00:00+00');
SELECT results_eq($$SELECT body, created_at, edited_at FROM taskmgmt.comments WHERE id = 900001$$,
  $$VALUES ('  hello @sam  '::text, '2020-01-05 00:00:00+00'::timestamptz, '2020-01-06 00:00:00+00'::timestamptz)$$,
  'a restored comment keeps its body and times');
SELECT is((SELECT count(*) FROM taskmgmt.comment_mentions WHERE comment_id = 900001), 0::bigint,
          'restoring a comment derives no mentions (they are restored from their own table)');
INSERT INTO taskmgmt.comment_mentions VALUES (900001, :sam);
SELECT is((SELECT count(*) FROM taskmgmt.notifications), :notes0::bigint,
          'restoring comments and mentions notifies nobody');

-- back to an ordinary session: the same triggers derive again
SET LOCAL row_security = on;
SELECT pg_temp.wf_as('rita') IS NOT NULL AS signed_in \gset
SELECT is((taskmgmt.update_task(900001, '{"status": "in_progress"}', 7) ->> 'version')::int, 8,
          'after the restore, an update bumps the version');
SELECT is((SELECT count(*) FROM taskmgmt.task_events WHERE task_id = 900001), 1::bigint,
          'after the restore, an update records history');
SELECT ok(EXISTS (SELECT FROM taskmgmt.notifications WHERE task_id = 900001 AND user_id = :sam),
          'after the restore, an update notifies the assignee');

SELECT * FROM finish();
ROLLBACK;
