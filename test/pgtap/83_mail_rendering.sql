-- What the mailer is given to send (outbox_claim): a mention's subject
-- names the task, never the comment, which goes whole into the body; the
-- text and HTML bodies with links that open the task and the preferences;
-- HTML escaping; digests; the one-click unsubscribe link and what it does
-- (only with a valid token, for that user only, email only).
\ir 8_notify_helpers.psql
BEGIN;
SELECT plan(28);

SELECT pg_temp.mkuser('Ada') AS ada, pg_temp.mkuser('Bob') AS bob, pg_temp.mkuser('Cy') AS cy \gset
SELECT taskmgmt.configure_mail(app_url => 'https://tasks.example.com/') IS NOT NULL AS configured \gset
-- the mailer's view of a row, claimed and handed back (so each test sees a fresh claim)
CREATE FUNCTION pg_temp.mail(uid bigint) RETURNS TABLE (subject text, body text, body_html text, list_unsubscribe text)
LANGUAGE plpgsql AS $$
BEGIN
  SET LOCAL ROLE taskmgmt_mailer;
  RETURN QUERY SELECT c.subject, c.body, c.body_html, c.list_unsubscribe
    FROM taskmgmt.outbox_claim(1000, '1 minute') c
    JOIN taskmgmt.email_outbox o ON o.id = c.id WHERE o.user_id = uid ORDER BY c.id DESC LIMIT 1;
  RESET ROLE;
  UPDATE taskmgmt.email_outbox SET claimed_until = NULL, claim_token = NULL, attempts = 0;
END
$$;

SET ROLE tap_notify;
SELECT pg_temp.as_user(:ada) \gset
-- Ada leads a team with Bob in it, so she may assign to him
SELECT (taskmgmt.create_team('Mail') ->> 'id')::bigint AS team \gset
SELECT taskmgmt.add_team_member(:team, :bob, 'member') IS NOT NULL AS ok \gset
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'Draft the <spec> & "plan"',
          'assignee', jsonb_build_object('type', 'user', 'id', :bob))) ->> 'id')::bigint AS t \gset
SELECT taskmgmt.add_comment(:t, E'Please check section 2 before Friday, @bob@notify.test.\nAlso <b>this</b> & that: a long comment that goes on and on past any subject line length limit at all, really.') IS NOT NULL AS ok \gset
RESET ROLE;

-- ---- a mention ----
SELECT * FROM pg_temp.mail(:bob) \gset m_
SELECT is(:'m_subject'::text, '[taskmgmt] Ada mentioned you on "Draft the <spec> & "plan""',
          'mention: the subject names the task and who, not the comment');
SELECT ok(:'m_body' LIKE E'Ada mentioned you on "Draft the <spec> & "plan"":\n\n> Please check section 2 before Friday, @bob@notify.test.\n> Also <b>this</b> & that: a long comment%really.\n\nOpen the task: https://tasks.example.com/?task=' || :t || E'\n%',
          'mention: the whole comment, quoted, in the text body, then the link that opens the task');
SELECT ok(:'m_body' LIKE E'%\n-- \nYou get this email because of your taskmgmt notification preferences.\nChange them: https://tasks.example.com/?preferences\n',
          'text body: a signature with the preferences page');
SELECT ok(:'m_body_html' LIKE '<!DOCTYPE html>%</html>' || E'\n', 'an HTML alternative');
SELECT ok(strpos(:'m_body_html', 'Ada mentioned you on &quot;Draft the &lt;spec&gt; &amp; &quot;plan&quot;&quot;') > 0,
          'HTML: the title escaped');
SELECT ok(strpos(:'m_body_html', 'Also &lt;b&gt;this&lt;/b&gt; &amp; that') > 0 AND strpos(:'m_body_html', '<b>this') = 0,
          'HTML: the comment escaped: no markup from users');
SELECT ok(strpos(:'m_body_html', E'before Friday, @bob@notify.test.<br>\nAlso') > 0, 'HTML: line breaks kept');
SELECT ok(strpos(:'m_body_html', format('<a href="https://tasks.example.com/?task=%s">Open the task</a>', :t)) > 0,
          'HTML: the link opens the task');
SELECT ok(strpos(:'m_body_html', '<a href="https://tasks.example.com/?preferences">Change them</a>') > 0,
          'HTML: the preferences link');
SELECT ok(:'m_list_unsubscribe' ~ ('^https://tasks\.example\.com/api/v1/mail/unsubscribe\?token=' || :bob || '\.[A-Za-z0-9_-]{22}$'),
          'the one-click unsubscribe address, with a token naming the recipient');
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE user_id = :bob AND event = 'mentioned'
            AND message LIKE 'Ada mentioned you on "Draft the <spec> & "plan"": Please check section 2%…'), 1,
          'the in-app notification still has its excerpt');

-- ---- the assignment: subject and body as before ----
SELECT is((SELECT subject FROM taskmgmt.outbox_claim(1000, '1 minute') c JOIN taskmgmt.email_outbox o ON o.id = c.id
            WHERE o.user_id = :bob AND o.items -> 0 ->> 'event' = 'assigned'),
          '[taskmgmt] Ada assigned you "Draft the <spec> & "plan""', 'assigned: the subject is the event');
UPDATE taskmgmt.email_outbox SET claimed_until = NULL, claim_token = NULL, attempts = 0;

-- ---- a digest about one task, and about several ----
UPDATE taskmgmt.users SET preferences = '{"notifications": {"updated": {"email": true}}}' WHERE id = :ada;
SET ROLE tap_notify;
SELECT pg_temp.as_user(:bob) \gset
SELECT taskmgmt.update_task(:t, '{"status": "in_progress"}', NULL) IS NOT NULL AS ok \gset
SELECT taskmgmt.update_task(:t, '{"priority": "high"}', NULL) IS NOT NULL AS ok \gset
RESET ROLE;
UPDATE taskmgmt.email_outbox SET send_after = now() WHERE kind = 'digest';
SELECT * FROM pg_temp.mail(:ada) \gset d_
SELECT is(:'d_subject'::text, '[taskmgmt] 2 updates on "Draft the <spec> & "plan""', 'a digest about one task names it');
SELECT ok(:'d_body' LIKE '%status todo → in_progress%priority none → high%', 'the digest lists every update');
SET ROLE tap_notify;
SELECT pg_temp.as_user(:ada) \gset
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'Second', 'assignee', jsonb_build_object('type', 'user', 'id', :bob))) ->> 'id')::bigint AS t2 \gset
SELECT pg_temp.as_user(:bob) \gset
SELECT taskmgmt.update_task(:t2, '{"status": "done"}', NULL) IS NOT NULL AS ok \gset
RESET ROLE;
UPDATE taskmgmt.email_outbox SET send_after = now() WHERE kind = 'digest';
SELECT is((SELECT subject FROM pg_temp.mail(:ada)), '[taskmgmt] 3 updates on your tasks', 'a digest about several tasks');

-- ---- rows written before 0.2.0 (no headline, title, comment or token) ----
INSERT INTO taskmgmt.email_outbox (user_id, recipient, kind, items, message_id) VALUES
  (:cy, 'cy@notify.test', 'single', jsonb_build_array(jsonb_build_object('event', 'mentioned', 'task_id', :t,
     'message', 'Ada mentioned you on "X": hello', 'at', now())), '<old@t>');
SELECT is((SELECT subject FROM pg_temp.mail(:cy)), '[taskmgmt] Ada mentioned you on "X": hello', 'an old row: its message stands in');
SELECT is((SELECT list_unsubscribe FROM pg_temp.mail(:cy)), NULL, '... and it has no unsubscribe address');

-- ---- one-click unsubscribe ----
SELECT substring(:'m_list_unsubscribe' FROM 'token=(.*)$') AS tok \gset
SET ROLE tap_notify;   -- as the shim: a client, nobody signed in
SELECT taskmgmt.sign_out() IS NULL AS out \gset
SELECT is(pg_temp.err(format('SELECT taskmgmt.mail_unsubscribe(%L)', jsonb_build_object('token', :bob || '.' || repeat('A', 22)))),
          'TM400: token: is not a valid unsubscribe link (it may be older than a key rotation); change your email preferences in the web UI',
          'a forged token is refused');
SELECT is(pg_temp.err(format('SELECT taskmgmt.mail_unsubscribe(%L)', jsonb_build_object('token', :cy || substring(:'tok' FROM '\..*$')))),
          'TM400: token: is not a valid unsubscribe link (it may be older than a key rotation); change your email preferences in the web UI',
          'Bob''s MAC does not unsubscribe Cy');
SELECT is(pg_temp.err('SELECT taskmgmt.mail_unsubscribe(''{"token": "x", "user": 1}'')'),
          'TM400: user: is not a known parameter (token)', 'unknown parameters are refused');
SELECT is(pg_temp.err(format('SELECT taskmgmt._unsubscribe_token(%s)', :cy)), '42501: permission denied for table signing_keys',
          'a client cannot mint tokens');
SELECT is(taskmgmt.mail_unsubscribe(jsonb_build_object('token', :'tok')), '{"unsubscribed": true}'::jsonb,
          'the token from the mail unsubscribes, without a session');
RESET ROLE;
SELECT is((SELECT jsonb_object_agg(e, taskmgmt._wants(u.preferences, e, 'email'))
             FROM taskmgmt.users u, jsonb_object_keys(taskmgmt.notification_defaults()) e WHERE u.id = :bob),
          '{"assigned": false, "updated": false, "overdue": false, "due_soon": false, "commented": false, "mentioned": false, "unblocked": false}'::jsonb,
          'every email notification of Bob is off');
SELECT is((SELECT jsonb_object_agg(e, taskmgmt._wants(u.preferences, e, 'in_app'))
             FROM taskmgmt.users u, jsonb_object_keys(taskmgmt.notification_defaults()) e WHERE u.id = :bob),
          (SELECT jsonb_object_agg(e, (taskmgmt.notification_defaults() -> e ->> 'in_app')::boolean)
             FROM jsonb_object_keys(taskmgmt.notification_defaults()) e),
          'in-app notifications are untouched');
SELECT ok((SELECT taskmgmt._wants(u.preferences, 'assigned', 'email') FROM taskmgmt.users u WHERE u.id = :ada),
          'nobody else is touched');
SET ROLE tap_notify;
SELECT is(taskmgmt.mail_unsubscribe(jsonb_build_object('token', :'tok')), '{"unsubscribed": true}'::jsonb, 'twice is fine');
RESET ROLE;
SELECT count(*) AS bob_mail FROM taskmgmt.email_outbox WHERE user_id = :bob \gset
SET ROLE tap_notify;
SELECT pg_temp.as_user(:ada) \gset
SELECT taskmgmt.update_task(:t, '{"assignee": null}', NULL) IS NOT NULL AS ok \gset
SELECT taskmgmt.update_task(:t, jsonb_build_object('assignee', jsonb_build_object('type', 'user', 'id', :bob)), NULL) IS NOT NULL AS ok \gset
RESET ROLE;
SELECT is((SELECT count(*)::int FROM taskmgmt.email_outbox WHERE user_id = :bob), :bob_mail,
          'after unsubscribing, a new assignment is not emailed');
SELECT ok((SELECT count(*) FROM taskmgmt.notifications WHERE user_id = :bob AND event = 'assigned' AND task_id = :t) = 2,
          '... while the in-app notification still arrives');

SELECT * FROM finish();
ROLLBACK;
