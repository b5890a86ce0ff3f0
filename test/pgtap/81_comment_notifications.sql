-- commented and mentioned: who gets what, mentions replace commented,
-- invisible tasks and outsiders, edits, preferences.
\ir 8_notify_helpers.psql
BEGIN;
SELECT plan(16);

SELECT pg_temp.mkuser('Ada') AS ada, pg_temp.mkuser('Bob') AS bob, pg_temp.mkuser('Cy') AS cy,
       pg_temp.mkuser('Dee') AS dee \gset
CREATE FUNCTION pg_temp.got(uid bigint, ev text DEFAULT NULL) RETURNS int LANGUAGE sql AS $$
  SELECT count(*)::int FROM taskmgmt.notifications
  WHERE user_id = uid AND event IN ('commented', 'mentioned') AND (ev IS NULL OR event = ev)
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;

SET ROLE tap_notify;
SELECT pg_temp.as_user(:ada) \gset
SELECT (taskmgmt.create_team('Design') ->> 'id')::bigint AS design \gset
SELECT taskmgmt.add_team_member(:design, :bob, 'member') IS NOT NULL AS ok \gset
SELECT taskmgmt.add_team_member(:design, :cy, 'member') IS NOT NULL AS ok \gset
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'Spec', 'team_id', :design, 'assignee',
          jsonb_build_object('type', 'user', 'id', :bob))) ->> 'id')::bigint AS t \gset
SELECT (taskmgmt.create_task('{"title": "Private"}') ->> 'id')::bigint AS p \gset

-- Bob (assignee) comments: the creator is told; nobody else is concerned yet
SELECT pg_temp.as_user(:bob) \gset
SELECT (taskmgmt.add_comment(:t, 'First draft is up') ->> 'id')::bigint AS c1 \gset
RESET ROLE;
SELECT is(pg_temp.got(:ada, 'commented'), 1, 'commented: the creator');
SELECT is(pg_temp.got(:bob) + pg_temp.got(:cy) + pg_temp.got(:dee), 0, 'not the author, not bystanders');
SELECT is((SELECT message FROM taskmgmt.notifications WHERE user_id = :ada AND event = 'commented'),
          'Bob commented on "Spec": First draft is up', 'commented message with an excerpt');
SELECT is((SELECT count(*)::int FROM taskmgmt.email_outbox WHERE user_id = :ada), 0, 'commented is not emailed by default');

-- Cy (team member, not yet a participant) comments mentioning Ada
SET ROLE tap_notify;
SELECT pg_temp.as_user(:cy) \gset
SELECT (taskmgmt.add_comment(:t, 'Looks good @ada@notify.test', :c1) ->> 'id')::bigint AS c2 \gset
RESET ROLE;
SELECT is(pg_temp.got(:ada, 'mentioned'), 1, 'mentioned: the mentioned user');
SELECT is(pg_temp.got(:ada, 'commented'), 1, '... who does not also get commented for it');
SELECT is(pg_temp.got(:bob, 'commented'), 1, 'commented: the assignee (and earlier participant)');
SELECT is((SELECT string_agg(kind || ':' || (items -> 0 ->> 'event'), ',') FROM taskmgmt.email_outbox WHERE user_id = :ada),
          'single:mentioned', 'mentioned is emailed at once by default');
SELECT is((SELECT message FROM taskmgmt.notifications WHERE user_id = :ada AND event = 'mentioned'),
          'Cy mentioned you on "Spec": Looks good @ada@notify.test', 'mentioned message');

-- Ada mentions Dee, who cannot see the task: nothing for Dee; Cy is now a participant
SET ROLE tap_notify;
SELECT pg_temp.as_user(:ada) \gset
SELECT (taskmgmt.add_comment(:t, 'Thanks, cc @dee@notify.test') ->> 'id')::bigint AS c3 \gset
RESET ROLE;
SELECT is(pg_temp.got(:dee), 0, 'a mention never tells an outsider about a task');
SELECT is(pg_temp.got(:cy, 'commented'), 1, 'earlier participants of the thread are told');

-- an edit that adds a mention notifies the newly mentioned user
SET ROLE tap_notify;
SELECT pg_temp.as_user(:ada) \gset
SELECT taskmgmt.update_comment(:c3, 'Thanks, cc @dee@notify.test and @cy@notify.test') IS NOT NULL AS ok \gset
RESET ROLE;
SELECT is(pg_temp.got(:cy, 'mentioned'), 1, 'an edit adding a mention notifies that user');

-- a private task: mentioning Bob there tells him nothing
SET ROLE tap_notify;
SELECT pg_temp.as_user(:ada) \gset
SELECT taskmgmt.add_comment(:p, 'note to self, not for @bob@notify.test') IS NOT NULL AS ok \gset
RESET ROLE;
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE task_id = :p), 0, 'invisible task: no notification');
SELECT is((SELECT count(*)::int FROM taskmgmt.email_outbox o WHERE o.items @> jsonb_build_array(jsonb_build_object('task_id', :p))), 0,
          'invisible task: no email');

-- preferences: Bob wants commented by email → a digest
SET ROLE tap_notify;
SELECT pg_temp.as_user(:bob) \gset
SELECT taskmgmt.update_me('{"preferences": {"notifications": {"commented": {"email": true}}}}') IS NOT NULL AS ok \gset
SELECT pg_temp.as_user(:cy) \gset
SELECT taskmgmt.add_comment(:t, 'one more') IS NOT NULL AS ok \gset
SELECT taskmgmt.add_comment(:t, 'and another') IS NOT NULL AS ok \gset
RESET ROLE;
SELECT is((SELECT string_agg(kind || ':' || jsonb_array_length(items), ',') FROM taskmgmt.email_outbox
           WHERE user_id = :bob AND kind = 'digest'), 'digest:2', 'commented by email: coalesced into one digest');
-- deleting a comment notifies nobody
SELECT count(*) AS before_n FROM taskmgmt.notifications \gset
SET ROLE tap_notify;
SELECT pg_temp.as_user(:cy) \gset
SELECT taskmgmt.delete_comment(:c2) IS NULL AS ok \gset
RESET ROLE;
SELECT is((SELECT count(*) FROM taskmgmt.notifications), :before_n::bigint, 'deleting a comment notifies nobody');

SELECT * FROM finish();
ROLLBACK;
