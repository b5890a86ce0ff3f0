-- Scheduled jobs: due-soon and overdue reminders (who, once per task and
-- due date, idempotent), session cleanup, outbox retention, schedule_jobs()
-- with and without pg_cron; a DBA change without a signed-in actor.
\ir 8_notify_helpers.psql
BEGIN;
SELECT plan(46);

SELECT pg_temp.mkuser('Ada') AS ada, pg_temp.mkuser('Bob') AS bob, pg_temp.mkuser('Cy') AS cy,
       pg_temp.mkuser('Dee') AS dee \gset
INSERT INTO taskmgmt.teams (name, created_by) VALUES ('Ops', :ada) RETURNING id AS ops \gset
INSERT INTO taskmgmt.team_members (team_id, user_id, role) VALUES (:ops, :ada, 'owner'), (:ops, :cy, 'member');
-- as_of is 2030-01-14 12:00 UTC; a task is due at the end of its due date (UTC)
INSERT INTO taskmgmt.tasks (title, creator_id, assignee_user_id, due_date, status) VALUES
  ('today',     :ada, :bob, '2030-01-14', 'todo'),          -- due in 12 h: due soon
  ('tomorrow',  :ada, :bob, '2030-01-15', 'in_progress'),   -- due in 36 h: not yet
  ('late',      :ada, :bob, '2030-01-13', 'todo'),          -- overdue
  ('finished',  :ada, :bob, '2030-01-14', 'done'),          -- done: never reminded
  ('undated',   :ada, :bob, NULL, 'todo');
INSERT INTO taskmgmt.tasks (title, creator_id, assignee_team_id, due_date) VALUES ('team task', :dee, :ops, '2030-01-14');
SELECT id AS today FROM taskmgmt.tasks WHERE title = 'today' AND creator_id = :ada \gset
SELECT id AS late FROM taskmgmt.tasks WHERE title = 'late' AND creator_id = :ada \gset
SELECT id AS teamtask FROM taskmgmt.tasks WHERE title = 'team task' AND creator_id = :dee \gset

-- a DBA's change, nobody signed in: everyone concerned is told, as "Someone"
SELECT is((SELECT string_agg(user_id::text, ',' ORDER BY user_id) FROM taskmgmt.notifications
           WHERE task_id = :teamtask AND event = 'assigned'), :ada || ',' || :cy,
          'a change without a signed-in actor notifies everyone concerned');
SELECT is((SELECT DISTINCT message FROM taskmgmt.notifications WHERE task_id = :teamtask AND event = 'assigned'),
          'Someone assigned "team task" to your team Ops', '... as "Someone"');
DELETE FROM taskmgmt.notifications;
DELETE FROM taskmgmt.email_outbox;

-- ---------------------------------------------------------------- due soon
SELECT is(taskmgmt.send_due_soon('2030-01-14 12:00Z'), 2, 'due_soon: the two open tasks due within 24 h');
SELECT is((SELECT string_agg(user_id || ':' || task_id, ' ' ORDER BY task_id, user_id) FROM taskmgmt.notifications WHERE event = 'due_soon'),
          :ada || ':' || :today || ' ' || :bob || ':' || :today || ' ' || :ada || ':' || :teamtask || ' ' || :cy || ':' || :teamtask || ' ' || :dee || ':' || :teamtask,
          'to the creator and the assignees (team members)');
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE event = 'due_soon' AND actor_id IS NOT NULL), 0, 'no actor');
SELECT is((SELECT message FROM taskmgmt.notifications WHERE event = 'due_soon' AND user_id = :bob),
          '"today" is due on 2030-01-14', 'due_soon message');
SELECT is((SELECT count(*)::int FROM taskmgmt.email_outbox WHERE items -> 0 ->> 'event' = 'due_soon' AND kind = 'single'), 5,
          'due_soon is emailed at once by default');
SELECT is(taskmgmt.send_due_soon('2030-01-14 12:00Z'), 0, 'running it again reminds nobody');
SELECT is(taskmgmt.send_due_soon('2030-01-14 23:00Z'), 0, '... nor later the same day');
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE event = 'due_soon'), 5, 'no second notification');
SELECT is((SELECT count(*)::int FROM taskmgmt.email_outbox), 5, 'no second email');
SELECT is(taskmgmt.send_due_soon('2030-01-15 00:30Z'), 1, 'the next day: tomorrow''s task');
UPDATE taskmgmt.tasks SET due_date = '2030-01-16' WHERE id = :today;
SELECT is(taskmgmt.send_due_soon('2030-01-16 12:00Z'), 1, 'a new due date is reminded again (once per task and due date)');

-- ----------------------------------------------------------------- overdue
DELETE FROM taskmgmt.notifications;
DELETE FROM taskmgmt.email_outbox;
SELECT is(taskmgmt.send_overdue('2030-01-14 12:00Z'), 1, 'overdue: the one task past its due date');
SELECT is((SELECT string_agg(user_id || ':' || task_id, ' ' ORDER BY user_id) FROM taskmgmt.notifications WHERE event = 'overdue'),
          :ada || ':' || :late || ' ' || :bob || ':' || :late, 'to the creator and the assignee');
SELECT is((SELECT message FROM taskmgmt.notifications WHERE event = 'overdue' AND user_id = :bob),
          '"late" is overdue (due 2030-01-13)', 'overdue message');
SELECT is((SELECT count(*)::int FROM taskmgmt.email_outbox), 0, 'overdue is not emailed by default');
SELECT is(taskmgmt.send_overdue('2030-01-14 13:00Z'), 0, 'running it again notifies nobody');
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE event = 'overdue'), 2, 'overdue only once');
SELECT is(taskmgmt.send_overdue('2030-01-17 00:00Z'), 3, 'later, the others become overdue once each');
SELECT is(taskmgmt.send_overdue('2030-01-17 00:00Z'), 0, '... and only once');
-- preferences apply to reminders too
UPDATE taskmgmt.users SET preferences = '{"notifications": {"due_soon": {"in_app": false, "email": false}}}' WHERE id = :bob;
INSERT INTO taskmgmt.tasks (title, creator_id, assignee_user_id, due_date) VALUES ('quiet', :ada, :bob, '2030-02-01');
SELECT is(taskmgmt.send_due_soon('2030-02-01 12:00Z'), 1, 'reminded ...');
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications n JOIN taskmgmt.tasks t ON t.id = n.task_id
           WHERE t.title = 'quiet' AND n.user_id = :bob AND n.event = 'due_soon'), 0, '... but not Bob, who turned due_soon off');

-- ---------------------------------------------------------------- cleanup
INSERT INTO taskmgmt.sessions (user_id, expires_at) VALUES (:dee, now() - interval '1 day') RETURNING id AS old_s \gset
INSERT INTO taskmgmt.sessions (user_id, expires_at, revoked_at) VALUES (:dee, now() + interval '20 days', now() - interval '8 days') RETURNING id AS revoked_s \gset
INSERT INTO taskmgmt.sessions (user_id, expires_at, revoked_at) VALUES (:dee, now() + interval '20 days', now() - interval '1 day') RETURNING id AS recent_s \gset
INSERT INTO taskmgmt.sessions (user_id, expires_at) VALUES (:dee, now() + interval '20 days') RETURNING id AS live_s \gset
INSERT INTO taskmgmt.refresh_tokens (token_hash, session_id, expires_at) VALUES
  ('\x01', :live_s, now() - interval '1 second'), ('\x02', :live_s, now() + interval '20 days'),
  ('\x03', :old_s, now() + interval '20 days');
INSERT INTO taskmgmt.idempotency_keys (user_id, key, request_hash, created_at) VALUES
  (:dee, 'old', '\x00', now() - interval '25 hours'), (:dee, 'new', '\x00', now() - interval '23 hours');
SELECT ok((taskmgmt.cleanup_sessions() ->> 'sessions')::int >= 2, 'cleanup_sessions runs');
SELECT is((SELECT array_agg(key) FROM taskmgmt.idempotency_keys WHERE user_id = :dee), ARRAY['new'],
          'Idempotency-Keys older than 24 hours go (#12.10)');
SELECT is((SELECT array_agg(id ORDER BY id) FROM taskmgmt.sessions WHERE id IN (:old_s, :revoked_s, :recent_s, :live_s)),
          ARRAY[:recent_s, :live_s]::bigint[], 'expired and week-old revoked sessions go; live and recently revoked ones stay');
SELECT is((SELECT array_agg(token_hash) FROM taskmgmt.refresh_tokens WHERE session_id IN (:live_s, :old_s)), ARRAY['\x02'::bytea],
          'expired refresh tokens go (and those of removed sessions)');
SELECT is(taskmgmt.cleanup_sessions(), '{"sessions": 0, "refresh_tokens": 0, "login_failures": 0, "idempotency_keys": 0}',
          'running it again removes nothing');

-- --------------------------------------------------------------- retention
DELETE FROM taskmgmt.email_outbox;
INSERT INTO taskmgmt.email_outbox (recipient, kind, items, message_id, status, sent_at, created_at) VALUES
  ('a@x.test', 'single', '[]', '<r1@t>', 'sent', '2030-01-01', '2030-01-01'),
  ('a@x.test', 'single', '[]', '<r2@t>', 'sent', '2030-05-30', '2030-05-30'),
  ('a@x.test', 'single', '[]', '<r3@t>', 'dead', NULL, '2030-04-01'),
  ('a@x.test', 'single', '[]', '<r5@t>', 'dead', NULL, '2030-01-01'),
  ('a@x.test', 'single', '[]', '<r4@t>', 'pending', NULL, '2029-01-01');
SELECT is(taskmgmt.outbox_retention('2030-06-01'), 2, 'retention: sent mail older than 30 days, dead mail older than 90');
SELECT is((SELECT string_agg(message_id, ',' ORDER BY message_id) FROM taskmgmt.email_outbox), '<r2@t>,<r3@t>,<r4@t>',
          'recent sent, dead (90 days) and pending mail stay');
SELECT is(taskmgmt.outbox_retention('2030-06-01'), 0, 'running it again removes nothing');

-- ------------------------------------------------------------ mail settings
DELETE FROM taskmgmt.mail_settings;
SELECT is(taskmgmt._mail_settings(), ROW(1, 'http://localhost:8080', interval '3 minutes', interval '10 minutes',
          interval '30 days', interval '90 days')::taskmgmt.mail_settings, 'no stored settings: the defaults');
SELECT is(taskmgmt.configure_mail(app_url => 'https://tasks.example.com', keep_sent => '7 days'),
          '{"app_url": "https://tasks.example.com", "keep_dead": "90 days", "keep_sent": "7 days", "digest_max": "00:10:00", "digest_idle": "00:03:00"}',
          'configure_mail sets what it is given');
SELECT is((SELECT app_url || ' ' || keep_sent FROM taskmgmt.mail_settings), 'https://tasks.example.com 7 days', '... and stores one row');
SELECT is((taskmgmt.configure_mail(digest_idle => '1 minute') ->> 'app_url'), 'https://tasks.example.com', 'NULL arguments keep their value');
SELECT is(pg_temp.err($$SELECT taskmgmt.configure_mail(app_url => 'ftp://x')$$), 'TM422: app_url must be an http:// or https:// address', 'bad app_url');
SELECT is(pg_temp.err($$SELECT taskmgmt.configure_mail(digest_max => '-1 minute')$$), 'TM422: digest_max must not be negative', 'negative interval');

-- ------------------------------------------------------------ who may run them
SET ROLE tap_notify;
SELECT is(pg_temp.err($$SELECT taskmgmt.send_due_soon('2100-01-01')$$), '42501: scheduled jobs run as the database owner or a superuser',
          'a client cannot run a job');
SELECT is(pg_temp.err($$SELECT taskmgmt.schedule_jobs()$$), '42501: scheduled jobs run as the database owner or a superuser',
          'nor schedule them');
SELECT is(pg_temp.err($$SELECT taskmgmt.configure_mail(app_url => 'https://evil.example')$$),
          '42501: permission denied for table mail_settings', 'nor configure email');
RESET ROLE;

-- ---------------------------------------------------------------- pg_cron
SELECT ok(NOT EXISTS (SELECT FROM pg_available_extension_versions WHERE name = 'taskmgmt' AND 'pg_cron' = ANY (requires)),
          'pg_cron is not a required extension');
DROP EXTENSION IF EXISTS pg_cron;
SELECT is(pg_temp.err('SELECT taskmgmt.schedule_jobs()'), '0A000: pg_cron is not installed in this database',
          'schedule_jobs without pg_cron: a clear error');
CREATE EXTENSION pg_cron;
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(taskmgmt.schedule_jobs()) k),
          '{taskmgmt-cleanup-sessions,taskmgmt-compact-tallies,taskmgmt-due-soon,taskmgmt-outbox-retention,taskmgmt-overdue}',
          'schedule_jobs schedules the five jobs');
SELECT taskmgmt.schedule_jobs() IS NOT NULL AS again \gset
SELECT is((SELECT string_agg(jobname || ' ' || schedule || ' ' || command, E'\n' ORDER BY jobname) FROM cron.job),
          E'taskmgmt-cleanup-sessions 17 3 * * * SELECT taskmgmt.cleanup_sessions()\n'
          'taskmgmt-compact-tallies * * * * * SELECT taskmgmt.compact_task_tallies()\n'
          'taskmgmt-due-soon */15 * * * * SELECT taskmgmt.send_due_soon()\n'
          'taskmgmt-outbox-retention 37 3 * * * SELECT taskmgmt.outbox_retention()\n'
          'taskmgmt-overdue */15 * * * * SELECT taskmgmt.send_overdue()',
          'calling it twice leaves each job once, with its schedule and command');
CREATE FUNCTION pg_temp.run_cron_commands() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  c text;
  n int := 0;
BEGIN
  FOR c IN SELECT command FROM cron.job WHERE jobname LIKE 'taskmgmt-%' LOOP
    EXECUTE c;
    n := n + 1;
  END LOOP;
  RETURN n;
END
$$;
SELECT is(pg_temp.run_cron_commands(), 5, 'each scheduled command runs as pg_cron would run it');
SELECT is(taskmgmt.unschedule_jobs(), 5, 'unschedule_jobs removes them');

SELECT * FROM finish();
ROLLBACK;
