-- CalDAV and iCalendar under RLS: HTTP Basic with email + token; each user
-- reaches only their own collection, which holds exactly the tasks they
-- see (PROPFIND, calendar-query, multiget, GET); a client's PUT creates and
-- updates through the task API, with ETags and If-Match; what the model
-- cannot hold is refused whole; sync-collection reports changes and
-- removals only to those who saw the task; the read-only feed.
\ir 7_workflow_helpers.psql
BEGIN;
SET ROLE tap_workflow;
SELECT pg_temp.wf_user('ann') AS ann, pg_temp.wf_user('bob') AS bob \gset
SELECT plan(81);

CREATE FUNCTION pg_temp.basic(email text, secret text) RETURNS text LANGUAGE sql AS $$
  SELECT 'Basic ' || replace(encode(convert_to(email || ':' || secret, 'UTF8'), 'base64'), E'\n', '')
$$;
-- status and body of a DAV request
CREATE FUNCTION pg_temp.dav(method text, path text, body text DEFAULT NULL, depth text DEFAULT '1',
                            if_match text DEFAULT NULL, if_none_match text DEFAULT NULL)
RETURNS TABLE (status int, etag text, body text) LANGUAGE sql AS $$
  SELECT d.status, d.etag, d.body FROM taskmgmt.dav(method, path, depth, if_match, if_none_match, body) d
$$;
CREATE FUNCTION pg_temp.ics(uid text, props text) RETURNS text LANGUAGE sql AS $$
  SELECT E'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTODO\r\nUID:' || uid
         || E'\r\nDTSTAMP:20250101T000000Z\r\n' || props || E'END:VTODO\r\nEND:VCALENDAR\r\n'
$$;
-- the hrefs of a multistatus, in order
CREATE FUNCTION pg_temp.hrefs(ms text) RETURNS text[] LANGUAGE sql AS $$
  SELECT coalesce(array_agg(h::text), '{}') FROM unnest(xpath('/D:multistatus/D:response/D:href/text()', ms::xml,
                                                               ARRAY[ARRAY['D', 'DAV:']])) h
$$;

SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT taskmgmt.create_token('{"name": "dav", "scopes": ["write"]}') ->> 'token' AS ann_tok \gset
SELECT taskmgmt.create_token('{"name": "dav ro", "scopes": ["read"]}') ->> 'token' AS ann_ro \gset
SELECT (taskmgmt.create_task('{"title": "Ann plan, v1", "description": "a\nb", "due_date": "2025-03-04", "tags": ["x", "y"], "priority": "high"}') ->> 'id')::bigint AS t1 \gset
SELECT pg_temp.wf_as('bob') IS NOT NULL AS signed_in \gset
SELECT taskmgmt.create_token('{"name": "dav", "scopes": ["write"]}') ->> 'token' AS bob_tok \gset
SELECT (taskmgmt.create_task('{"title": "Bob secret"}') ->> 'id')::bigint AS t_bob \gset
SELECT '/dav/users/' || :ann || '/tasks/' AS cal, '/dav/users/' || :bob || '/tasks/' AS bob_cal \gset

-- ---------------------------------------------------------------- authentication
SELECT taskmgmt.sign_out() IS NULL AS signed_out \gset
SELECT is(pg_temp.wf_err('SELECT * FROM taskmgmt.dav(''PROPFIND'', ''/dav/'', ''0'', NULL, NULL, NULL)'),
          '28000 not signed in', 'without authentication: 28000');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.dav_authenticate(%L)', pg_temp.basic('ann@wf.test', 'ann password 1'))),
          '28000 invalid credentials', 'the account password is not accepted: calendar apps get a token');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.dav_authenticate(%L)', pg_temp.basic('bob@wf.test', :'ann_tok'))),
          '28000 invalid credentials', 'a token with another account''s email is refused');
SELECT is(pg_temp.wf_err('SELECT taskmgmt.dav_authenticate(''Basic !!!'')'),
          '28000 HTTP Basic authentication required', 'malformed credentials');
SELECT is(taskmgmt.dav_authenticate(pg_temp.basic('ANN@wf.test', :'ann_tok')), :ann::bigint,
          'email (any case) + personal access token signs in');

-- ---------------------------------------------------------------- discovery
SELECT is((SELECT status FROM pg_temp.dav('PROPFIND', '/.well-known/caldav')), 301, '/.well-known/caldav redirects');
SELECT is((SELECT location FROM taskmgmt.dav('PROPFIND', '/.well-known/caldav', '0', NULL, NULL, NULL)), '/dav/', 'to /dav/');
SELECT is((SELECT status FROM pg_temp.dav('PROPFIND', '/dav/', NULL, '0')), 207, 'PROPFIND answers 207 Multi-Status');
SELECT matches((SELECT body FROM pg_temp.dav('PROPFIND', '/dav/', '<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/><d:nope/></d:prop></d:propfind>', '0')),
               '<D:current-user-principal><D:href>/dav/users/' || :ann || '/</D:href></D:current-user-principal></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat><D:propstat><D:prop><D:nope/></D:prop><D:status>HTTP/1.1 404 Not Found',
               'current-user-principal; an unknown property is 404 in its own propstat');
SELECT matches((SELECT body FROM pg_temp.dav('PROPFIND', '/dav/users/' || :ann || '/', '<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-home-set/></d:prop></d:propfind>', '0')),
               '<C:calendar-home-set><D:href>/dav/users/' || :ann || '/</D:href></C:calendar-home-set>', 'calendar-home-set');
SELECT matches((SELECT body FROM pg_temp.dav('PROPFIND', :'cal', '<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:resourcetype/><c:supported-calendar-component-set/></d:prop></d:propfind>', '0')),
               '<D:resourcetype><D:collection/><C:calendar/></D:resourcetype><C:supported-calendar-component-set><C:comp name="VTODO"/></C:supported-calendar-component-set>',
               'the calendar: a VTODO collection');
SELECT is((SELECT status FROM taskmgmt.dav('OPTIONS', :'cal', NULL, NULL, NULL, NULL)), 200, 'OPTIONS');
SELECT is((SELECT dav FROM taskmgmt.dav('OPTIONS', :'cal', NULL, NULL, NULL, NULL)), '1, 3, calendar-access', 'with DAV: calendar-access');

-- ---------------------------------------------------------------- visibility
SELECT is(pg_temp.hrefs((SELECT body FROM pg_temp.dav('PROPFIND', :'cal', '<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>'))),
          ARRAY[:'cal', :'cal' || :t1 || '.ics'], 'Depth 1 lists exactly the tasks ann sees');
SELECT is(pg_temp.hrefs((SELECT body FROM pg_temp.dav('REPORT', :'cal', '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VTODO"/></c:comp-filter></c:filter></c:calendar-query>'))),
          ARRAY[:'cal' || :t1 || '.ics'], 'calendar-query: the same tasks');
SELECT is(pg_temp.hrefs((SELECT body FROM pg_temp.dav('REPORT', :'cal', '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"/></c:comp-filter></c:filter></c:calendar-query>'))),
          '{}', 'no events here');
SELECT is(pg_temp.wf_err(format('SELECT * FROM taskmgmt.dav(''GET'', %L, NULL, NULL, NULL, NULL)', :'cal' || :t_bob || '.ics')),
          'P0002 calendar object not found', 'bob''s task does not exist for ann (GET)');
SELECT matches((SELECT body FROM pg_temp.dav('REPORT', :'cal', format('<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop><d:href>%s%s.ics</d:href></c:calendar-multiget>', :'cal', :t_bob))),
               '<D:status>HTTP/1.1 404 Not Found</D:status>', 'nor in a multiget');
SELECT is(pg_temp.wf_err(format('SELECT * FROM taskmgmt.dav(''PROPFIND'', %L, NULL, ''0'', NULL, NULL)', :'bob_cal')),
          'P0002 DAV resource not found', 'bob''s calendar does not exist for ann');
SELECT is(pg_temp.wf_err(format('SELECT * FROM taskmgmt.dav(''PUT'', %L, NULL, NULL, NULL, %L)', :'cal' || :t_bob || '.ics',
                                pg_temp.ics('taskmgmt-task-' || :t_bob, E'SUMMARY:mine now\r\n'))),
          '42501 names of the form <number>.ics are reserved for tasks made elsewhere', 'nor can ann overwrite it by its name');
SELECT is((SELECT title FROM taskmgmt.tasks WHERE id = :t_bob), NULL, 'it is untouched (and invisible)');

-- ---------------------------------------------------------------- iCalendar out
SELECT body AS ics, etag AS etag1 FROM pg_temp.dav('GET', :'cal' || :t1 || '.ics') \gset
SELECT is(:'etag1'::text, '"1"', 'ETag: the task version');
SELECT matches(:'ics'::text, E'UID:taskmgmt-task-' || :t1 || E'\r\n', 'UID');
SELECT matches(:'ics'::text, E'SUMMARY:Ann plan\\\\, v1\r\n', 'SUMMARY: the title (escaped)');
SELECT matches(:'ics'::text, E'DESCRIPTION:a\\\\nb\r\n', 'DESCRIPTION');
SELECT matches(:'ics'::text, E'DUE;VALUE=DATE:20250304\r\n', 'DUE: a date');
SELECT matches(:'ics'::text, E'STATUS:NEEDS-ACTION\r\n', 'STATUS: NEEDS-ACTION for todo');
SELECT matches(:'ics'::text, E'PRIORITY:3\r\n', 'PRIORITY: 3 for high');
SELECT matches(:'ics'::text, E'CATEGORIES:x\r\nCATEGORIES:y\r\n', 'CATEGORIES: the tags');

-- ---------------------------------------------------------------- iCalendar in
SELECT status AS put_status, etag AS put_etag FROM pg_temp.dav('PUT', :'cal' || 'c1@client.ics',
  pg_temp.ics('c1@client', E'SUMMARY:From the phone\r\nSTATUS:IN-PROCESS\r\nPRIORITY:1\r\nDUE;VALUE=DATE:20250601\r\nCATEGORIES:home,errands\r\nX-CLIENT-SORT:7\r\n'),
  NULL, NULL, '*') \gset
SELECT is(:put_status::int, 201, 'PUT of a new resource: 201');
SELECT (SELECT task_id FROM taskmgmt.dav_resources WHERE name = 'c1@client.ics') AS c1 \gset
SELECT is((SELECT jsonb_build_object('title', title, 'status', status, 'priority', priority, 'due_date', due_date, 'tags', tags, 'creator_id', creator_id)
             FROM taskmgmt.tasks WHERE id = :c1),
          jsonb_build_object('title', 'From the phone', 'status', 'in_progress', 'priority', 'urgent', 'due_date', '2025-06-01',
                             'tags', '["home", "errands"]'::jsonb, 'creator_id', :ann),
          'it is a task made through the task API');
SELECT is((SELECT count(*)::int FROM taskmgmt.task_events WHERE task_id = :c1 AND kind = 'created'), 1,
          'with its history');
SELECT matches((SELECT body FROM pg_temp.dav('GET', :'cal' || 'c1@client.ics')), E'UID:c1@client\r\n', 'served at the client''s name with its UID');
SELECT is(pg_temp.wf_err(format('SELECT * FROM taskmgmt.dav(''PUT'', %L, NULL, NULL, ''*'', %L)', :'cal' || 'c1@client.ics',
                                pg_temp.ics('c1@client', E'SUMMARY:again\r\n'))),
          'TM412 the resource exists (If-None-Match: *)', 'If-None-Match: * on an existing resource: 412');
SELECT is((SELECT status FROM pg_temp.dav('PUT', :'cal' || 'c1@client.ics',
                                          pg_temp.ics('c1@client', E'SUMMARY:From the phone, done\r\nSTATUS:COMPLETED\r\nCOMPLETED:20250102T000000Z\r\n'), NULL, '"1"')),
          204, 'an update with the current ETag: 204');
SELECT is((SELECT jsonb_build_object('title', title, 'status', status, 'priority', priority, 'due_date', due_date, 'tags', tags, 'version', version)
             FROM taskmgmt.tasks WHERE id = :c1),
          '{"title": "From the phone, done", "status": "done", "priority": "none", "due_date": null, "tags": [], "version": 2}',
          'PUT replaces: what the VTODO leaves out is cleared');
SELECT is(pg_temp.wf_err(format('SELECT * FROM taskmgmt.dav(''PUT'', %L, NULL, ''"1"'', NULL, %L)', :'cal' || 'c1@client.ics',
                                pg_temp.ics('c1@client', E'SUMMARY:stale\r\n'))),
          'TM412 task was changed by someone else', 'a stale If-Match: 412');
SELECT is(pg_temp.wf_err(format('SELECT * FROM taskmgmt.dav(''PUT'', %L, NULL, NULL, NULL, %L)', :'cal' || 'c2.ics',
                                pg_temp.ics('c1@client', E'SUMMARY:same uid\r\n'))),
          '23505 a task with this UID already exists in the calendar', 'a second resource with the same UID: 409');

-- what the model cannot hold, refused whole
SELECT is(pg_temp.wf_err(format('SELECT * FROM taskmgmt.dav(''PUT'', %L, NULL, NULL, NULL, %L)', :'cal' || 'bad.ics', x.body)), x.err, x.what)
  FROM (VALUES
    ('not iCalendar at all', 'TM400 calendar data is not valid iCalendar', 'garbage: 400'),
    (pg_temp.ics('bad', E'SUMMARY:x\r\nRDATE:20250101\r\n'), 'TM422 RDATE cannot be kept: a task recurs by one RRULE only', 'recurrence beyond an RRULE'),
    (pg_temp.ics('bad', E'SUMMARY:x\r\nDUE:20250101T143000Z\r\n'),
     'TM422 DUE has a time of day (14:30): tasks have a due date only; send DUE;VALUE=DATE:20250101', 'a due time'),
    (pg_temp.ics('bad', E'SUMMARY:x\r\nRELATED-TO:no-such-task\r\n'),
     'TM422 [RELATED-TO] RELATED-TO names no task you can see', 'a parent one cannot see'),
    (pg_temp.ics('bad', E'SUMMARY:x\r\nRELATED-TO;RELTYPE=CHILD:' || 'taskmgmt-task-' || :t1 || E'\r\n'),
     'TM422 RELATED-TO;RELTYPE=CHILD cannot be kept: a subtask names its parent (RELTYPE=PARENT)', 'a child'),
    (pg_temp.ics('bad', E'SUMMARY:x\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n'),
     'TM422 VALARM inside VTODO cannot be kept: tasks have no reminders', 'an alarm'),
    (pg_temp.ics('bad', E'SUMMARY:x\r\nLOCATION:Office\r\n'), 'TM422 LOCATION cannot be kept: the task has no place for it', 'a location'),
    (pg_temp.ics('bad', E'DESCRIPTION:no title\r\n'), 'TM422 SUMMARY is required: it is the task''s title', 'no SUMMARY'),
    (replace(pg_temp.ics('bad', E'SUMMARY:x\r\n'), 'VTODO', 'VEVENT'), 'TM422 VEVENT cannot be kept: this calendar holds tasks (VTODO) only', 'an event'),
    (pg_temp.ics('bad', E'SUMMARY:' || repeat('x', 201) || E'\r\n'), 'TM422 [title] title must be at most 200 characters', 'the task rules apply')
  ) x(body, err, what);
SELECT is((SELECT count(*)::int FROM taskmgmt.dav_resources WHERE name = 'bad.ics'), 0, 'and nothing of them was kept');

-- subtasks and recurrence
SELECT is((SELECT status FROM pg_temp.dav('PUT', :'cal' || 'sub@client.ics',
  pg_temp.ics('sub@client', E'SUMMARY:A subtask\r\nRELATED-TO;RELTYPE=PARENT:taskmgmt-task-' || :t1
              || E'\r\nDUE;VALUE=DATE:20250106\r\nRRULE:FREQ=WEEKLY;BYDAY=MO\r\n'))), 201,
          'RELATED-TO (the parent) and RRULE are kept');
SELECT is((SELECT jsonb_build_object('parent_id', parent_id, 'recurrence', recurrence) FROM taskmgmt.tasks
            WHERE id = (SELECT task_id FROM taskmgmt.dav_resources WHERE name = 'sub@client.ics')),
          jsonb_build_object('parent_id', :t1, 'recurrence', 'FREQ=WEEKLY;BYDAY=MO'), 'as parent_id and recurrence');
SELECT matches((SELECT body FROM pg_temp.dav('GET', :'cal' || 'sub@client.ics')),
               E'RRULE:FREQ=WEEKLY;BYDAY=MO\r\nRELATED-TO;RELTYPE=PARENT:taskmgmt-task-' || :t1 || E'\r\n',
               'and rendered back');
SELECT throws_ok(format('INSERT INTO taskmgmt.dav_resources (task_id, name, uid) VALUES (%s, ''x.ics'', ''x'')',
                        :t_bob), '42501', NULL, 'nobody names a task of someone else''s');

-- scope and deletion
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT taskmgmt.dav_authenticate(pg_temp.basic('ann@wf.test', :'ann_tok')) IS NOT NULL AS ok \gset
SELECT is(pg_temp.wf_err(format('SELECT * FROM taskmgmt.dav(''DELETE'', %L, NULL, ''"1"'', NULL, NULL)', :'cal' || 'c1@client.ics')),
          'TM412 task was changed by someone else', 'DELETE with a stale If-Match: 412');
SELECT is((SELECT status FROM pg_temp.dav('DELETE', :'cal' || 'c1@client.ics', NULL, NULL, '"2"')), 204, 'DELETE: 204');
SELECT is((SELECT count(*)::int FROM taskmgmt.tasks WHERE id = :c1), 0, 'the task is gone');

-- ---------------------------------------------------------------- sync-collection
SELECT (xpath('/D:multistatus/D:sync-token/text()', body::xml, ARRAY[ARRAY['D', 'DAV:']]))[1]::text AS token0
  FROM pg_temp.dav('REPORT', :'cal', '<d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>') \gset
SELECT matches(:'token0'::text, '^urn:x-taskmgmt:sync:[0-9]+\.[0-9]+-[0-9]+$', 'sync-collection hands out a token: this database''s epoch and a snapshot');
SELECT 'urn:x-taskmgmt:sync:' || taskmgmt._dav_sync_epoch() || '-' AS tok \gset
SELECT is(pg_temp.wf_err('SELECT * FROM taskmgmt.dav(''REPORT'', ''' || :'cal' || ''', NULL, NULL, NULL, ''<d:sync-collection xmlns:d="DAV:"><d:sync-token>urn:x-taskmgmt:sync:1.1-5</d:sync-token><d:prop/></d:sync-collection>'')'),
          '42501 invalid sync token', 'a token of another database (e.g. from before a restore): 403 (valid-sync-token)');
SELECT is(pg_temp.wf_err('SELECT * FROM taskmgmt.dav(''REPORT'', ''' || :'cal' || ''', NULL, NULL, NULL, ''<d:sync-collection xmlns:d="DAV:"><d:sync-token>bogus</d:sync-token><d:prop/></d:sync-collection>'')'),
          '42501 invalid sync token', 'a token not ours: 403 (valid-sync-token)');
SELECT is(pg_temp.wf_err('SELECT * FROM taskmgmt.dav(''REPORT'', ''' || :'cal' || ''', NULL, NULL, NULL, ''<x:unknown-report xmlns:x="urn:x"/>'')'),
          'TM400 [body] body: is a urn:x|unknown-report element; expected urn:ietf:params:xml:ns:caldav|calendar-query or urn:ietf:params:xml:ns:caldav|calendar-multiget or DAV:|sync-collection',
          'an unknown REPORT: 400 naming it');
SELECT is(pg_temp.wf_err('SELECT * FROM taskmgmt.dav(''PROPFIND'', ''' || :'cal' || ''', NULL, NULL, NULL, ''<d:propfind xmlns:d="DAV:"><d:prop>'')'),
          'TM400 [body] body: is not a well-formed XML document', 'malformed XML: 400');
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.create_team('Crew') ->> 'id')::bigint AS crew \gset
SELECT taskmgmt.add_team_member(:crew, :bob, 'member') IS NOT NULL AS ok \gset
SELECT taskmgmt.update_task(:t1, jsonb_build_object('team_id', :crew)) IS NOT NULL AS ok \gset
SELECT (taskmgmt.create_task('{"title": "Ann private"}') ->> 'id')::bigint AS t_priv \gset
SELECT taskmgmt.delete_task(:t_priv) IS NULL AS ok \gset
-- bob, since the start: he joined a team since, so his token has expired
-- (the team's older tasks are no change of a task, only a full listing shows them)
SELECT taskmgmt.dav_authenticate(pg_temp.basic('bob@wf.test', :'bob_tok')) IS NOT NULL AS ok \gset
SELECT is(pg_temp.wf_err(format('SELECT * FROM taskmgmt.dav(''REPORT'', %L, NULL, NULL, NULL, %L)', :'bob_cal',
            '<d:sync-collection xmlns:d="DAV:"><d:sync-token>' || :'tok' || '1</d:sync-token><d:prop/></d:sync-collection>')),
          '42501 sync token expired: the tasks you may see changed (team membership or role)',
          'a sync token from before joining a team is refused (403, valid-sync-token)');
-- the same with the membership older than the token (this test is one transaction)
RESET ROLE;
SELECT is(array_agg(DISTINCT user_id ORDER BY user_id), ARRAY[:ann, :bob]::bigint[], 'the team''s creator and its new member were recorded')
  FROM taskmgmt.dav_access_changes WHERE user_id IN (:ann, :bob);
UPDATE taskmgmt.dav_access_changes SET changed_xid = '1' WHERE user_id IN (:ann, :bob);
SET ROLE tap_workflow;
SELECT body AS bob_sync FROM pg_temp.dav('REPORT', :'bob_cal',
  format('<d:sync-collection xmlns:d="DAV:"><d:sync-token>%s</d:sync-token><d:prop><d:getetag/></d:prop></d:sync-collection>', :'tok' || '2')) \gset
SELECT ok(:'bob_sync' LIKE '%' || :'bob_cal' || :t1 || '.ics</D:href><D:propstat>%', 'bob''s sync reports the task that became his team''s');
SELECT ok(:'bob_sync' NOT LIKE '%/' || :t_priv || '.ics%', 'but nothing of ann''s private task that he never saw, not even its deletion');
SELECT taskmgmt.dav_authenticate(pg_temp.basic('ann@wf.test', :'ann_tok')) IS NOT NULL AS ok \gset
SELECT body AS ann_sync FROM pg_temp.dav('REPORT', :'cal',
  format('<d:sync-collection xmlns:d="DAV:"><d:sync-token>%s</d:sync-token><d:prop><d:getetag/></d:prop></d:sync-collection>', :'tok' || '2')) \gset
SELECT ok(:'ann_sync' LIKE '%<D:href>' || :'cal' || :t_priv || '.ics</D:href><D:status>HTTP/1.1 404 Not Found</D:status>%',
          'ann''s sync reports her deleted task as removed');
SELECT ok(:'ann_sync' LIKE '%<D:href>' || :'cal' || 'c1@client.ics</D:href><D:status>HTTP/1.1 404 Not Found</D:status>%',
          'under the name her client gave it');
-- leaving a team, and a change of role, end the tokens too; others' stay
SELECT taskmgmt.remove_team_member(:crew, :bob) IS NULL AS ok \gset
RESET ROLE;
UPDATE taskmgmt.users SET role = 'admin' WHERE id = :ann;
SELECT is((SELECT count(*)::int FROM taskmgmt.dav_access_changes WHERE user_id IN (:ann, :bob) AND changed_xid > '1'), 2,
          'leaving a team and becoming an admin are recorded');
UPDATE taskmgmt.users SET role = 'user' WHERE id = :ann;
UPDATE taskmgmt.dav_access_changes SET changed_xid = '1' WHERE user_id = :ann;
UPDATE taskmgmt.users SET display_name = 'Ann B' WHERE id = :ann;
SELECT is((SELECT max(changed_xid)::text FROM taskmgmt.dav_access_changes WHERE user_id = :ann), '1',
          'another change of a user is not');
SET ROLE tap_workflow;
SELECT is(pg_temp.wf_err(format('SELECT * FROM taskmgmt.dav(''REPORT'', %L, NULL, NULL, NULL, %L)', :'cal',
            '<d:sync-collection xmlns:d="DAV:"><d:sync-token>' || :'tok' || '2</d:sync-token><d:prop/></d:sync-collection>')),
          'ok', 'ann''s token stays valid when bob leaves her team');
SELECT taskmgmt.dav_authenticate(pg_temp.basic('bob@wf.test', :'bob_tok')) IS NOT NULL AS ok \gset
SELECT is(pg_temp.wf_err(format('SELECT * FROM taskmgmt.dav(''REPORT'', %L, NULL, NULL, NULL, %L)', :'bob_cal',
            '<d:sync-collection xmlns:d="DAV:"><d:sync-token>' || :'tok' || '2</d:sync-token><d:prop/></d:sync-collection>')),
          '42501 sync token expired: the tasks you may see changed (team membership or role)',
          'bob''s token ends when he leaves the team');
SELECT is((SELECT status FROM pg_temp.dav('REPORT', :'bob_cal',
            '<d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:prop><d:getetag/></d:prop></d:sync-collection>')), 207,
          'a sync without a token (the full listing) works');
SELECT taskmgmt.dav_authenticate(pg_temp.basic('ann@wf.test', :'ann_tok')) IS NOT NULL AS ok \gset

-- ---------------------------------------------------------------- the feed
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT taskmgmt.create_calendar_feed() AS old_feed \gset
SELECT lives_ok('SELECT taskmgmt.revoke_calendar_feed()', 'a feed can be revoked');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.calendar_feed(%L)', :'old_feed'::jsonb ->> 'token')), 'P0002 calendar feed not found',
          'and then it is gone');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.calendar_feed(%L)', 'tmfeed_' || repeat('A', 43))), 'P0002 calendar feed not found',
          'an unknown feed: not found');
SELECT taskmgmt.create_calendar_feed() AS feed \gset
SELECT matches(:'feed'::jsonb ->> 'url', '^/api/v1/calendar/tmfeed_[A-Za-z0-9_-]{43}\.ics$', 'a feed URL with a secret token');
-- (from here on this transaction is signed in read-only, as a feed request is)
SELECT taskmgmt.calendar_feed(:'feed'::jsonb ->> 'token') AS cal_feed \gset
SELECT matches(:'cal_feed'::text, E'BEGIN:VEVENT\r\nUID:taskmgmt-task-' || :t1 || E'-due\r\nDTSTAMP:[0-9TZ]+\r\nDTSTART;VALUE=DATE:20250304\r\nDTEND;VALUE=DATE:20250305\r\nSUMMARY:Ann plan\\\\, v1',
               'the feed: open tasks with a due date as all-day events');
SELECT ok(:'cal_feed' NOT LIKE '%Bob secret%', 'only what its owner sees');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.create_task('{"title": "x"}')$$), 'TM403 this token may only read',
          'a feed request cannot write');

-- ---------------------------------------------------------------- read scope
SELECT taskmgmt.dav_authenticate(pg_temp.basic('ann@wf.test', :'ann_ro')) IS NOT NULL AS ok \gset
SELECT is((SELECT status FROM pg_temp.dav('GET', :'cal' || :t1 || '.ics')), 200, 'a read token reads');
SELECT is(pg_temp.wf_err(format('SELECT * FROM taskmgmt.dav(''PUT'', %L, NULL, NULL, NULL, %L)', :'cal' || 'ro.ics',
                                pg_temp.ics('ro', E'SUMMARY:x\r\n'))),
          'TM403 this token may only read', 'but cannot PUT');


SELECT * FROM finish();
ROLLBACK;
