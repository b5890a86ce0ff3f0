-- Notifications: who gets what for assigned/updated, preferences, no
-- self-notification, rollback, visibility, the client API and its errors.
\ir 8_notify_helpers.psql
BEGIN;
SELECT plan(67);

SELECT pg_temp.mkuser('Ada') AS ada, pg_temp.mkuser('Bob') AS bob, pg_temp.mkuser('Cy') AS cy,
       pg_temp.mkuser('Dee') AS dee, pg_temp.mkuser('Root', true) AS root \gset
-- helpers that read as the superuser (RLS does not apply to it)
CREATE FUNCTION pg_temp.notes(uid bigint) RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(event || ':' || task_id || ':' || coalesce(actor_id::text, '-'), ' ' ORDER BY created_at, event, task_id), '')
  FROM taskmgmt.notifications WHERE user_id = uid
$$;
CREATE FUNCTION pg_temp.mails(uid bigint) RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(kind || ':' || jsonb_array_length(items) || ':'
                             || (SELECT string_agg(i ->> 'event', ',') FROM jsonb_array_elements(items) i),
                             ' ' ORDER BY id), '')
  FROM taskmgmt.email_outbox WHERE user_id = uid
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;

SET ROLE tap_notify;
SELECT is(pg_temp.err('SELECT taskmgmt.notifications()'), '28000: not signed in', 'notifications() needs a signed-in user');
SELECT is(pg_temp.err('SELECT taskmgmt.mark_all_read()'), '28000: not signed in', 'so does mark_all_read()');
SELECT pg_temp.as_user(:ada) \gset
SELECT (taskmgmt.create_team('Design') ->> 'id')::bigint AS design \gset
SELECT taskmgmt.add_team_member(:design, :bob, 'member') IS NOT NULL AS ok \gset
SELECT taskmgmt.add_team_member(:design, :cy, 'member') IS NOT NULL AS ok \gset

-- ---------------------------------------------------------------- assigned
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'Spec', 'assignee',
          jsonb_build_object('type', 'user', 'id', :bob))) ->> 'id')::bigint AS t1 \gset
RESET ROLE;
SELECT is(pg_temp.notes(:bob), 'assigned:' || :t1 || ':' || :ada, 'assigning a user notifies that user, with the actor');
SELECT is(pg_temp.notes(:ada), '', 'the actor is never notified');
SELECT is((SELECT message FROM taskmgmt.notifications WHERE user_id = :bob), 'Ada assigned you "Spec"', 'assigned message');
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE id IS NOT NULL), 0,
          'ids are not drawn before commit');
SELECT is(pg_temp.mails(:bob), 'single:1:assigned', 'assigned is emailed at once by default');
SELECT is((SELECT recipient FROM taskmgmt.email_outbox WHERE user_id = :bob), 'bob@notify.test', 'to the user''s address');
SELECT matches((SELECT message_id FROM taskmgmt.email_outbox WHERE user_id = :bob),
               '^<[0-9a-f]{32}@taskmgmt\.invalid>$', 'each email has a Message-ID');
SELECT ok((SELECT send_after <= now() FROM taskmgmt.email_outbox WHERE user_id = :bob), 'and is due now');

-- publish as a commit would (the suite itself never commits)
SET CONSTRAINTS taskmgmt.notifications_publish IMMEDIATE;
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE id IS NULL), 0, 'publishing assigns the ids');

SET ROLE tap_notify;
SELECT pg_temp.as_user(:ada) \gset
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'Logo', 'team_id', :design, 'assignee',
          jsonb_build_object('type', 'team', 'id', :design))) ->> 'id')::bigint AS t2 \gset
RESET ROLE;
SELECT is(pg_temp.notes(:cy), 'assigned:' || :t2 || ':' || :ada, 'assigning a team notifies each member');
SELECT is(pg_temp.notes(:bob), 'assigned:' || :t1 || ':' || :ada || ' assigned:' || :t2 || ':' || :ada, '... every member');
SELECT is(pg_temp.notes(:ada), '', '... except the actor, who is a member too');
SELECT is(pg_temp.notes(:dee), '', 'outsiders get nothing');
SELECT is((SELECT message FROM taskmgmt.notifications WHERE user_id = :cy),
          'Ada assigned "Logo" to your team Design', 'team assignment message');

-- ----------------------------------------------------------------- updated
SET ROLE tap_notify;
SELECT pg_temp.as_user(:bob) \gset
SELECT taskmgmt.update_task(:t2, '{"status": "in_progress", "priority": "high"}') IS NOT NULL AS ok \gset
RESET ROLE;
SELECT is(pg_temp.notes(:ada), 'updated:' || :t2 || ':' || :bob, 'an update notifies the creator');
SELECT is(pg_temp.notes(:cy), 'assigned:' || :t2 || ':' || :ada || ' updated:' || :t2 || ':' || :bob, '... and the assignees');
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE user_id = :bob AND event = 'updated'), 0,
          'but not the one who made it');
SELECT is((SELECT message FROM taskmgmt.notifications WHERE user_id = :ada AND event = 'updated'),
          'Bob updated "Logo": status todo → in_progress, priority none → high', 'the message says what changed');
SELECT is(pg_temp.mails(:ada), '', 'updated is not emailed by default');

SET ROLE tap_notify;
SELECT pg_temp.as_user(:bob) \gset
SELECT taskmgmt.update_task(:t2, '{"status": "in_progress"}') IS NOT NULL AS ok \gset
RESET ROLE;
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE event = 'updated'), 2,
          'an update that changes nothing notifies nobody');

-- reassigning: the new assignee gets assigned (only), the old one and the creator updated
SET ROLE tap_notify;
SELECT pg_temp.as_user(:ada) \gset
SELECT taskmgmt.update_task(:t1, jsonb_build_object('assignee', jsonb_build_object('type', 'user', 'id', :cy))) IS NOT NULL AS ok \gset
RESET ROLE;
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE user_id = :cy AND task_id = :t1 AND event = 'assigned'), 1,
          'reassigning: the new assignee is assigned');
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE user_id = :cy AND task_id = :t1 AND event = 'updated'), 0,
          '... and not also updated');
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE user_id = :bob AND task_id = :t1 AND event = 'updated'), 0,
          '... the previous assignee, who can no longer see the task, is not told');

-- ------------------------------------------------------------- preferences
SET ROLE tap_notify;
SELECT pg_temp.as_user(:cy) \gset
SELECT taskmgmt.update_me('{"preferences": {"notifications": {"updated": {"in_app": false, "email": true}}}}') IS NOT NULL AS ok \gset
SELECT is(taskmgmt.notification_preferences() -> 'updated', '{"in_app": false, "email": true}', 'preferences as set');
SELECT is(taskmgmt.notification_preferences() -> 'assigned', '{"in_app": true, "email": true}', 'defaults for the rest');
SELECT is(taskmgmt.notification_preferences() -> 'commented', '{"in_app": true, "email": false}', 'commented: in-app only by default');
SELECT pg_temp.as_user(:bob) \gset
SELECT taskmgmt.update_me('{"preferences": {"notifications": {"assigned": {"email": false}}}}') IS NOT NULL AS ok \gset
SELECT pg_temp.as_user(:ada) \gset
SELECT taskmgmt.update_task(:t2, '{"title": "Logo v2"}') IS NOT NULL AS ok \gset
SELECT taskmgmt.update_task(:t2, '{"description": "round corners"}') IS NOT NULL AS ok \gset
RESET ROLE;
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE user_id = :cy AND event = 'updated'), 1,
          'in_app false: no new in-app notification');
SELECT is(pg_temp.mails(:cy), 'single:1:assigned single:1:assigned digest:2:updated,updated', 'email true: updates coalesced into one digest');
SELECT ok((SELECT send_after > now() AND send_after <= now() + interval '3 minutes'
           FROM taskmgmt.email_outbox WHERE user_id = :cy AND kind = 'digest'), 'the digest waits for the idle window');
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE user_id = :bob AND task_id = :t2 AND event = 'updated'), 2,
          'Bob (defaults for updated) is notified in-app of both');
SELECT is(pg_temp.mails(:bob), 'single:1:assigned single:1:assigned', 'no digest for Bob: updated email is off by default');
SET ROLE tap_notify;
SELECT pg_temp.as_user(:ada) \gset
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'Icons', 'assignee',
          jsonb_build_object('type', 'user', 'id', :bob))) ->> 'id')::bigint AS t3 \gset
RESET ROLE;
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE user_id = :bob AND task_id = :t3), 1,
          'assigned email off: still in-app');
SELECT is(pg_temp.mails(:bob), 'single:1:assigned single:1:assigned', '... but no new email');
-- a digest older than digest_max is closed: the next update starts a new one
UPDATE taskmgmt.email_outbox SET created_at = now() - interval '11 minutes' WHERE user_id = :cy AND kind = 'digest';
SET ROLE tap_notify;
SELECT pg_temp.as_user(:bob) \gset
SELECT taskmgmt.update_task(:t2, '{"priority": "low"}') IS NOT NULL AS ok \gset
RESET ROLE;
SELECT is(pg_temp.mails(:cy), 'single:1:assigned single:1:assigned digest:2:updated,updated digest:1:updated', 'digest_max closes a digest');

-- ---------------------------------------------------------------- rollback
SELECT count(*) AS before_n FROM taskmgmt.notifications \gset
SELECT count(*) AS before_m FROM taskmgmt.email_outbox \gset
SAVEPOINT s;
SET ROLE tap_notify;
SELECT pg_temp.as_user(:ada) \gset
SELECT taskmgmt.update_task(:t3, '{"status": "done"}') IS NOT NULL AS ok \gset
RESET ROLE;
SELECT ok((SELECT count(*) FROM taskmgmt.notifications) > :before_n, 'a change notifies ...');
ROLLBACK TO SAVEPOINT s;
SELECT is((SELECT count(*) FROM taskmgmt.notifications), :before_n::bigint, '... and a rolled-back change leaves no notification');
SELECT is((SELECT count(*) FROM taskmgmt.email_outbox), :before_m::bigint, '... and no email');

-- -------------------------------------------------------------- visibility
-- Bob leaves the team: the team task he was notified about disappears from his list,
-- and later changes to it do not notify him at all.
SET ROLE tap_notify;
SELECT pg_temp.as_user(:bob) \gset
SELECT is((SELECT count(*)::int FROM jsonb_array_elements(taskmgmt.notifications() -> 'items') i
           WHERE (i ->> 'task_id')::bigint = :t2), 3, 'Bob sees his notifications about the team task');
SELECT taskmgmt.remove_team_member(:design, :bob) IS NULL AS ok \gset
SELECT is((SELECT count(*)::int FROM jsonb_array_elements(taskmgmt.notifications() -> 'items') i
           WHERE (i ->> 'task_id')::bigint = :t2), 0, 'after leaving the team, none about that task are visible');
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE task_id = :t2), 0, '... not even in the table');
SELECT pg_temp.as_user(:ada) \gset
SELECT taskmgmt.update_task(:t2, '{"priority": "urgent"}') IS NOT NULL AS ok \gset
RESET ROLE;
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE task_id = :t2 AND user_id = :bob AND event = 'updated'), 2,
          'an invisible task never notifies (no new row for Bob)');
-- the visibility rule used for recipients agrees with the RLS policy
CREATE TEMP TABLE seen (user_id bigint, task_id bigint);
GRANT INSERT ON seen TO PUBLIC;
SET ROLE tap_notify;
SELECT pg_temp.as_user(:ada) \gset
INSERT INTO seen SELECT :ada, id FROM taskmgmt.tasks;
SELECT pg_temp.as_user(:bob) \gset
INSERT INTO seen SELECT :bob, id FROM taskmgmt.tasks;
SELECT pg_temp.as_user(:cy) \gset
INSERT INTO seen SELECT :cy, id FROM taskmgmt.tasks;
SELECT pg_temp.as_user(:dee) \gset
INSERT INTO seen SELECT :dee, id FROM taskmgmt.tasks;
SELECT pg_temp.as_user(:root) \gset
INSERT INTO seen SELECT :root, id FROM taskmgmt.tasks;
RESET ROLE;
SELECT is((SELECT count(*)::int FROM taskmgmt.users u CROSS JOIN taskmgmt.tasks t
           WHERE u.id IN (:ada, :bob, :cy, :dee, :root)
             AND taskmgmt._user_can_see_task(u.id, u.role = 'admin', t)
                 <> EXISTS (SELECT FROM seen s WHERE s.user_id = u.id AND s.task_id = t.id)), 0,
          'recipient visibility rule = tasks RLS policy, for every user and task');
SELECT is((SELECT count(*)::int FROM seen WHERE user_id = :dee), 0, '(Dee sees no task)');

-- -------------------------------------------------------------- client API
SET ROLE tap_notify;
SELECT pg_temp.as_user(:cy) \gset
SELECT taskmgmt.notifications() AS cy_all \gset
SELECT is(jsonb_array_length(:'cy_all'::jsonb -> 'items'), 3, 'notifications(): all of mine');
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(:'cy_all'::jsonb -> 'items' -> 0) k),
          '{actor_id,created_at,event,id,message,read_at,task_id}', 'item fields as in the contract');
SELECT ok((:'cy_all'::jsonb -> 'items' -> 0 ->> 'id')::bigint > (:'cy_all'::jsonb -> 'items' -> 1 ->> 'id')::bigint, 'newest first');
SELECT is(:'cy_all'::jsonb -> 'next_cursor', 'null', 'no next page');
SELECT taskmgmt.notifications('{"limit": 2}') AS page1 \gset
SELECT is(jsonb_array_length(:'page1'::jsonb -> 'items'), 2, 'limit');
SELECT is(jsonb_array_length(taskmgmt.notifications(jsonb_build_object('limit', 2, 'cursor', :'page1'::jsonb -> 'next_cursor')) -> 'items'), 1,
          'cursor: the next page');
SELECT is(taskmgmt.mark_read(ARRAY[(:'cy_all'::jsonb -> 'items' -> 0 ->> 'id')::bigint]), 1, 'mark_read marks mine');
SELECT is(jsonb_array_length(taskmgmt.notifications('{"unread": true}') -> 'items'), 2, 'unread: true leaves out read ones');
SELECT is(jsonb_array_length(taskmgmt.notifications('{"unread": "true"}') -> 'items'), 2, 'unread accepts "true" (HTTP)');
SELECT is(jsonb_array_length(taskmgmt.notifications(jsonb_build_object('since', (:'cy_all'::jsonb -> 'items' -> 1 ->> 'id')::bigint)) -> 'items'), 1,
          'since: only later ids');
SELECT pg_temp.as_user(:ada) \gset
SELECT is(taskmgmt.mark_read(ARRAY[(:'cy_all'::jsonb -> 'items' -> 1 ->> 'id')::bigint]), 0, 'mark_read ignores others'' ids');
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE user_id <> :ada), 0, 'the table shows only my own rows');
SELECT pg_temp.as_user(:cy) \gset
SELECT is(taskmgmt.mark_all_read(), 2, 'mark_all_read');
SELECT is(jsonb_array_length(taskmgmt.notifications('{"unread": true}') -> 'items'), 0, 'nothing unread');

SELECT is(pg_temp.err($$SELECT taskmgmt.notifications('{"bogus": 1}')$$), 'TM400: bogus: is not a known parameter (unread, cursor, limit, since)', 'unknown parameter');
SELECT is(pg_temp.err($$SELECT taskmgmt.notifications('{"limit": 0}')$$), 'TM400: limit: must be an integer from 1 to 200', 'bad limit');
SELECT is(pg_temp.err($$SELECT taskmgmt.notifications('{"cursor": "x1"}')$$), 'TM400: cursor: is not a valid cursor', 'bad cursor');
SELECT is(pg_temp.err($$SELECT taskmgmt.mark_read(NULL)$$), 'TM422: ids is required', 'mark_read(NULL)');
-- clients cannot write notifications or read the outbox, or make the system notify anyone
SELECT is(pg_temp.err(format($$INSERT INTO taskmgmt.notifications (user_id, event, task_id, message) VALUES (%s, 'assigned', %s, 'x')$$, :dee, :t1)),
          '42501: permission denied for table notifications', 'no INSERT into notifications');
SELECT is(pg_temp.err($$SELECT * FROM taskmgmt.email_outbox$$), '42501: permission denied for table email_outbox', 'no access to the outbox');
SELECT is(pg_temp.err($$SELECT * FROM taskmgmt.outbox_claim(10)$$), '42501: permission denied for table mail_settings', 'outbox_claim is for mailers');
SELECT is(pg_temp.err(format($$SELECT taskmgmt._deliver(%s, 'assigned', t, NULL, 'spam') FROM taskmgmt.tasks t WHERE id = %s$$, :dee, :t1)),
          '42501: permission denied for table users', '_deliver cannot be called by a client');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
