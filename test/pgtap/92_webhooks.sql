-- Webhooks: creation and its validation (URL, private targets, events,
-- teams), visibility under RLS, the secret shown once, the outbox rows the
-- triggers write (only about tasks the owner sees at the time of the
-- event), the dispatcher's claim with a Standard Webhooks signature, and
-- the deliveries with their attempts.
\ir 8_notify_helpers.psql
BEGIN;
SELECT plan(50);

SELECT pg_temp.mkuser('Ada') AS ada, pg_temp.mkuser('Bob') AS bob, pg_temp.mkuser('Cy') AS cy,
       pg_temp.mkuser('Root', true) AS root \gset
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tap_mailer') THEN
    CREATE ROLE tap_mailer NOLOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
END $$;
GRANT taskmgmt_mailer TO tap_mailer;
CREATE FUNCTION pg_temp.hooks(uid bigint) RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg((o.payload ->> 'type') || ':' || coalesce(o.payload -> 'data' -> 'task' ->> 'id', '?'),
                             ' ' ORDER BY o.id), '')
  FROM taskmgmt.email_outbox o WHERE o.kind = 'webhook' AND o.user_id = uid
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;

SET ROLE tap_notify;
SELECT pg_temp.as_user(:ada) \gset
SELECT (taskmgmt.create_team('Design') ->> 'id')::bigint AS design \gset
SELECT taskmgmt.add_team_member(:design, :bob, 'member') IS NOT NULL AS ok \gset

-- ---------------------------------------------------------------- creation
SELECT is(pg_temp.err($$SELECT taskmgmt.create_webhook('{"url": "http://127.0.0.1:9/hook"}')$$),
          'TM422: url points to a private, loopback or link-local address', 'a loopback target is refused by default');
SELECT is(pg_temp.err($$SELECT taskmgmt.create_webhook('{"url": "https://10.1.2.3/x"}')$$),
          'TM422: url points to a private, loopback or link-local address', 'so is a private one');
SELECT is(pg_temp.err($$SELECT taskmgmt.create_webhook('{"url": "http://[fe80::1]/x"}')$$),
          'TM422: url points to a private, loopback or link-local address', 'and a link-local IPv6 one');
SELECT is(pg_temp.err($$SELECT taskmgmt.create_webhook('{"url": "http://169.254.169.254/latest/meta-data"}')$$),
          'TM422: url points to a private, loopback or link-local address', 'and the cloud metadata address');
SELECT is(pg_temp.err($$SELECT taskmgmt.create_webhook('{"url": "http://localhost:8080/"}')$$),
          'TM422: url points to a private, loopback or link-local address', 'and localhost by name');
SELECT is(pg_temp.err($$SELECT taskmgmt.create_webhook('{"url": "ftp://example.com/x"}')$$),
          'TM422: url must be an http:// or https:// address without credentials or fragment', 'only http(s)');
SELECT is(pg_temp.err($$SELECT taskmgmt.create_webhook('{"url": "https://user:pw@example.com/x"}')$$),
          'TM422: url must be an http:// or https:// address without credentials or fragment', 'no credentials in the URL');
SELECT is(pg_temp.err($$SELECT taskmgmt.create_webhook('{"url": "https://example.com/x", "events": ["task.exploded"]}')$$),
          'TM422: events must be a non-empty array of task.created, task.updated, task.deleted, comment.created',
          'an unknown event');
SELECT is(pg_temp.err($$SELECT taskmgmt.create_webhook('{"events": ["task.created"]}')$$),
          'TM422: url is required', 'url is required');
SELECT is(pg_temp.err($$SELECT taskmgmt.create_webhook('{"url": "https://example.com/x", "secret": "mine"}')$$),
          'TM422: secret is read-only', 'the secret is not the client''s to choose');
SELECT is(taskmgmt.list_webhooks(), '[]', 'nothing was created by the refused calls');

SELECT taskmgmt.create_webhook('{"url": "https://hooks.example.com/ada", "events": ["task.updated", "task.created"]}') AS w1 \gset
SELECT (:'w1'::jsonb ->> 'id')::bigint AS w1_id, :'w1'::jsonb ->> 'secret' AS w1_secret \gset
SELECT matches(:'w1_secret'::text, '^whsec_[A-Za-z0-9+/]{43}=$', 'the secret is whsec_ and 32 bytes in base64, shown at creation');
SELECT is(:'w1'::jsonb -> 'events', '["task.created", "task.updated"]', 'events in their canonical order');
SELECT ok(NOT taskmgmt.list_webhooks()::text LIKE '%whsec_%', 'and never shown again');
SELECT throws_ok('SELECT secret FROM taskmgmt.webhooks', '42501', NULL, 'clients cannot read secrets');

-- team webhooks: leads and owners only
SELECT (taskmgmt.create_webhook(jsonb_build_object('url', 'https://hooks.example.com/design', 'team_id', :design,
          'events', '["task.created", "task.deleted", "comment.created"]'::jsonb)) ->> 'id')::bigint AS w_team \gset
SELECT pg_temp.as_user(:bob) \gset
SELECT is(pg_temp.err(format('SELECT taskmgmt.create_webhook(%L)',
                             jsonb_build_object('url', 'https://hooks.example.com/bob', 'team_id', :design))),
          '42501: only team leads, owners and admins can add team webhooks', 'a mere member cannot add a team webhook');
SELECT pg_temp.as_user(:cy) \gset
SELECT is(pg_temp.err(format('SELECT taskmgmt.create_webhook(%L)',
                             jsonb_build_object('url', 'https://hooks.example.com/cy', 'team_id', :design))),
          'TM422: team_id is not a team you belong to', 'an outsider is told nothing about the team');
SELECT is(pg_temp.err(format('SELECT taskmgmt.create_webhook(%L)',
                             jsonb_build_object('url', 'https://hooks.example.com/cy', 'team_id', 999999999))),
          'TM422: team_id is not a team you belong to', 'the same answer for a team that does not exist');

-- ---------------------------------------------------------------- visibility
SELECT is(taskmgmt.list_webhooks(), '[]', 'cy sees none of ada''s webhooks');
SELECT is((SELECT count(*)::int FROM taskmgmt.webhooks), 0, 'not even in the table');
SELECT is(pg_temp.err(format('SELECT taskmgmt.delete_webhook(%s)', :w1_id)), 'P0002: webhook not found', 'nor deletes them');
SELECT is(pg_temp.err(format('SELECT taskmgmt.webhook_deliveries(%s)', :w1_id)), 'P0002: webhook not found',
          'nor reads their deliveries');
SELECT pg_temp.as_user(:bob) \gset
SELECT is(taskmgmt.list_webhooks(), '[]', 'a team member does not see the team''s webhooks');
SELECT pg_temp.as_user(:root) \gset
SELECT is(jsonb_array_length(taskmgmt.list_webhooks()), 2, 'an admin sees them all');

-- ---------------------------------------------------------------- events
SELECT pg_temp.as_user(:ada) \gset
SELECT (taskmgmt.create_task('{"title": "Mine"}') ->> 'id')::bigint AS t_mine \gset
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'Team', 'team_id', :design)) ->> 'id')::bigint AS t_team \gset
SELECT pg_temp.as_user(:bob) \gset
SELECT (taskmgmt.create_task('{"title": "Bob private"}') ->> 'id')::bigint AS t_bob \gset
SELECT taskmgmt.update_task(:t_team, '{"priority": "high"}') IS NOT NULL AS ok \gset
SELECT taskmgmt.add_comment(:t_team, 'looks good') IS NOT NULL AS ok \gset
SELECT taskmgmt.update_task(:t_team, '{"priority": "high"}') IS NOT NULL AS ok \gset
RESET ROLE;
SELECT is(pg_temp.hooks(:ada), format('task.created:%s task.created:%s task.created:%s task.updated:%s comment.created:%s',
                                      :t_mine, :t_team, :t_team, :t_team, :t_team),
          'events as they happen, to each webhook that wants them; nothing for an unchanged update, nothing about bob''s private task');
SELECT is((SELECT count(*)::int FROM taskmgmt.email_outbox WHERE payload::text LIKE '%Bob private%'), 0,
          'a task the owner cannot see is never reported');
SELECT is((SELECT payload -> 'data' -> 'task' ->> 'priority' FROM taskmgmt.email_outbox
            WHERE webhook_id = :w1_id AND payload ->> 'type' = 'task.updated'), 'high', 'the payload carries the task');
SELECT ok((SELECT bool_and(message_id ~ '^msg_[0-9a-f]{32}$') FROM taskmgmt.email_outbox WHERE kind = 'webhook'),
          'each delivery has its webhook-id');
SELECT is((SELECT count(*)::int FROM taskmgmt.email_outbox WHERE kind = 'webhook' AND user_id = :bob), 0,
          'bob has no webhook: nothing queued for him');

-- ada leaves the team: what happens to its tasks is no longer hers to hear
SET ROLE tap_notify;
SELECT pg_temp.as_user(:root) \gset
SELECT taskmgmt.add_team_member(:design, :bob, 'owner') IS NOT NULL AS ok \gset
SELECT count(*) AS ok FROM (SELECT taskmgmt.remove_team_member(:design, :ada)) x \gset
SELECT pg_temp.as_user(:bob) \gset
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'After ada', 'team_id', :design)) ->> 'id')::bigint AS t_after \gset
RESET ROLE;
SELECT is((SELECT count(*)::int FROM taskmgmt.email_outbox WHERE payload -> 'data' -> 'task' ->> 'id' = :'t_after'), 0,
          'once the owner no longer sees the team''s tasks, its webhook hears nothing of them');

-- a rolled-back change reports nothing
SET ROLE tap_notify;
SELECT pg_temp.as_user(:ada) \gset
SAVEPOINT s;
SELECT taskmgmt.create_task('{"title": "Rolled back"}') IS NOT NULL AS ok \gset
ROLLBACK TO SAVEPOINT s;
RESET ROLE;
SELECT is((SELECT count(*)::int FROM taskmgmt.email_outbox WHERE payload::text LIKE '%Rolled back%'), 0,
          'a rolled-back change is never reported');

-- ---------------------------------------------------------------- dispatch
SET ROLE tap_notify;
SELECT is(pg_temp.err('SELECT * FROM taskmgmt.webhook_claim()'), '42501: permission denied for function webhook_claim',
          'clients cannot claim deliveries');
RESET ROLE;
UPDATE taskmgmt.email_outbox SET send_after = now() - interval '1 minute' WHERE kind <> 'webhook';
SET ROLE tap_mailer;
SELECT is((SELECT count(*)::int FROM taskmgmt.outbox_claim(100)), (SELECT count(*)::int FROM taskmgmt.email_outbox WHERE kind <> 'webhook'),
          'outbox_claim() takes mail only');
CREATE TEMP TABLE claimed AS SELECT * FROM taskmgmt.webhook_claim(100, '1 minute');
SELECT is((SELECT count(*)::int FROM claimed), 5, 'webhook_claim() leases the webhook deliveries');
SELECT is((SELECT url FROM claimed ORDER BY id LIMIT 1), 'https://hooks.example.com/ada', 'with the receiver');
SELECT ok((SELECT bool_and(ts BETWEEN extract(epoch FROM now()) - 5 AND extract(epoch FROM now()) + 5) FROM claimed),
          'the timestamp of the claim');
RESET ROLE;
SELECT is((SELECT signature FROM claimed ORDER BY id LIMIT 1),
          (SELECT 'v1,' || encode(public.hmac(convert_to(message_id || '.' || ts || '.' || body, 'UTF8'),
                                              decode(substr(:'w1_secret', 7), 'base64'), 'sha256'), 'base64')
             FROM claimed ORDER BY id LIMIT 1),
          'signature: v1, base64 HMAC-SHA256 of id.timestamp.body with the decoded whsec_ secret');
SELECT is((SELECT body::jsonb FROM claimed ORDER BY id LIMIT 1),
          (SELECT payload FROM taskmgmt.email_outbox WHERE id = (SELECT min(id) FROM claimed)), 'the body is the payload');
SET ROLE tap_mailer;
SELECT ok(taskmgmt.webhook_log_attempt(id, claim_token, 500, 12, 'HTTP 500'), 'the dispatcher logs a failed attempt')
  FROM (SELECT * FROM claimed ORDER BY id LIMIT 1) c;
SELECT is(taskmgmt.outbox_mark_failed(id, claim_token, 'HTTP 500', false, 3, '1 second'), 'pending',
          'and marks it failed with the shared backoff') FROM (SELECT * FROM claimed ORDER BY id LIMIT 1) c;
SELECT ok(taskmgmt.webhook_log_attempt(id, claim_token, 204, 8, NULL) AND taskmgmt.outbox_mark_sent(id, claim_token),
          'another is delivered') FROM (SELECT * FROM claimed ORDER BY id OFFSET 1 LIMIT 1) c;
SELECT ok(NOT taskmgmt.webhook_log_attempt(id, gen_random_uuid(), 204, 1, NULL), 'an attempt without the claim is not logged')
  FROM (SELECT * FROM claimed ORDER BY id OFFSET 2 LIMIT 1) c;
SELECT is(taskmgmt._webhook_address_allowed('127.0.0.1'), false, 'the dispatcher refuses loopback addresses');
SELECT is(taskmgmt._webhook_address_allowed('93.184.215.14'), true, 'and allows public ones');
RESET ROLE;
SET LOCAL taskmgmt.webhook_allow_private_targets = on;
SELECT is(taskmgmt._webhook_address_allowed('127.0.0.1'), true, 'unless the superuser setting allows private targets');
SET ROLE tap_notify;
SELECT pg_temp.as_user(:ada) \gset
SELECT ok(taskmgmt.create_webhook('{"url": "http://127.0.0.1:9/hook"}') ? 'secret', 'then loopback webhooks can be created');
SELECT taskmgmt.webhook_deliveries(:w1_id) AS d \gset
SELECT is((SELECT array_agg(e ->> 'status' ORDER BY (e ->> 'id')::bigint) FROM jsonb_array_elements(:'d'::jsonb) e),
          '{pending,sent,pending}', 'webhook_deliveries() shows each delivery''s status');
SELECT is((SELECT e -> 'history' -> 0 ->> 'status_code' FROM jsonb_array_elements(:'d'::jsonb) e ORDER BY (e ->> 'id')::bigint LIMIT 1),
          '500', 'and its attempts');
SELECT lives_ok(format('SELECT taskmgmt.delete_webhook(%s)', :w1_id), 'ada deletes her webhook');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM taskmgmt.email_outbox WHERE webhook_id = :w1_id), 0, 'and its deliveries go with it');

SELECT * FROM finish();
ROLLBACK;
