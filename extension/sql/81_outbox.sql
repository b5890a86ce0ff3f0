-- Email outbox: rows written in the same transaction as the change (so a
-- rolled-back change never mails anyone), drained by taskmgmt-mailer.
--
-- Batching: assigned, mentioned, due_soon and overdue go out at once (one
-- message each); updated and commented for one recipient are coalesced into
-- one digest that is sent after digest_idle without a new event, and at the
-- latest digest_max after its first event (configure_mail()).
--
-- The mailer connects as a member of taskmgmt_mailer, the only client role
-- that can read the outbox.  Its functions run as the caller, so for a
-- taskmgmt_client they fail on the table privileges (42501).
--
-- Each message has a plain-text and an HTML body (the mailer sends them as
-- multipart/alternative) and a one-click unsubscribe link (RFC 8058): the
-- mailer puts it in List-Unsubscribe with List-Unsubscribe-Post.  The link
-- carries a token signed with the token signing key, naming the user; a
-- POST to it (no session needed, as a mail provider makes it) turns every
-- email notification of that user off, and nothing else.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'taskmgmt_mailer') THEN
    CREATE ROLE taskmgmt_mailer NOLOGIN NOBYPASSRLS;
  END IF;
END
$$;
GRANT USAGE ON SCHEMA @extschema@ TO taskmgmt_mailer;

-- Settings: at most one row, written by configure_mail().  No row is
-- stored at CREATE EXTENSION (the defaults live in _mail_settings()), so
-- a pg_dump of a configured database restores without colliding with one.
CREATE TABLE @extschema@.mail_settings (
  id          integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  app_url     text NOT NULL CHECK (app_url ~ '^https?://[^\s]+$'),
  digest_idle interval NOT NULL CHECK (digest_idle >= '0'),
  digest_max  interval NOT NULL CHECK (digest_max >= '0'),
  keep_sent   interval NOT NULL CHECK (keep_sent >= '0'),
  keep_dead   interval NOT NULL CHECK (keep_dead >= '0')
);
COMMENT ON TABLE @extschema@.mail_settings IS
  'Email settings (see configure_mail()): web address for links, digest windows, outbox retention.';

-- The settings in force: the stored row, or the defaults.
CREATE FUNCTION @extschema@._mail_settings() RETURNS @extschema@.mail_settings
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  s @extschema@.mail_settings;
BEGIN
  SELECT * INTO s FROM @extschema@.mail_settings;
  IF NOT FOUND THEN
    s := ROW(1, 'http://localhost:8080', interval '3 minutes', interval '10 minutes',
             interval '30 days', interval '90 days');
  END IF;
  RETURN s;
END
$$;

-- The DBA's way to change them; arguments left NULL keep their value.
--   SELECT taskmgmt.configure_mail(app_url => 'https://tasks.example.com');
CREATE FUNCTION @extschema@.configure_mail(app_url text DEFAULT NULL, digest_idle interval DEFAULT NULL,
                                           digest_max interval DEFAULT NULL, keep_sent interval DEFAULT NULL,
                                           keep_dead interval DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  s @extschema@.mail_settings := @extschema@._mail_settings();
BEGIN
  IF NOT has_table_privilege('@extschema@.mail_settings', 'INSERT') THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'only the database owner or a superuser can configure email';
  END IF;
  IF app_url IS NOT NULL AND app_url !~ '^https?://[^\s]+$' THEN
    PERFORM @extschema@._invalid('app_url', 'must be an http:// or https:// address');
  END IF;
  IF least(digest_idle, digest_max, keep_sent, keep_dead) < interval '0' THEN
    PERFORM @extschema@._invalid(CASE WHEN digest_idle < interval '0' THEN 'digest_idle'
                                      WHEN digest_max < interval '0' THEN 'digest_max'
                                      WHEN keep_sent < interval '0' THEN 'keep_sent'
                                      ELSE 'keep_dead' END, 'must not be negative');
  END IF;
  s.app_url := coalesce(app_url, s.app_url);
  s.digest_idle := coalesce(digest_idle, s.digest_idle);
  s.digest_max := coalesce(digest_max, s.digest_max);
  s.keep_sent := coalesce(keep_sent, s.keep_sent);
  s.keep_dead := coalesce(keep_dead, s.keep_dead);
  INSERT INTO @extschema@.mail_settings AS m VALUES (s.*)
  ON CONFLICT (id) DO UPDATE
    SET app_url = EXCLUDED.app_url, digest_idle = EXCLUDED.digest_idle, digest_max = EXCLUDED.digest_max,
        keep_sent = EXCLUDED.keep_sent, keep_dead = EXCLUDED.keep_dead;
  RETURN to_jsonb(s) - 'id';
END
$$;

CREATE TABLE @extschema@.email_outbox (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id       bigint REFERENCES @extschema@.users ON DELETE CASCADE,
  recipient     text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('single', 'digest')),
  -- [{event, task_id, actor_id, comment_id, message, at}]; the subject and
  -- body are rendered from these, so a re-send carries the same text.
  items         jsonb NOT NULL CHECK (jsonb_typeof(items) = 'array'),
  message_id    text NOT NULL UNIQUE,
  status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_event_at timestamptz NOT NULL DEFAULT now(),
  send_after    timestamptz NOT NULL DEFAULT now(),
  attempts      integer NOT NULL DEFAULT 0,
  claim_token   uuid,
  claimed_until timestamptz,
  last_error    text,
  sent_at       timestamptz,
  -- the recipient's one-click unsubscribe token (_unsubscribe_token), fixed
  -- when the row is written: rendering runs as the mailer, which cannot sign
  unsubscribe_token text
);
CREATE INDEX email_outbox_due_idx ON @extschema@.email_outbox (send_after, id) WHERE status = 'pending';
CREATE INDEX email_outbox_open_digest_idx ON @extschema@.email_outbox (user_id)
  WHERE status = 'pending' AND kind = 'digest' AND claim_token IS NULL;
CREATE INDEX email_outbox_done_idx ON @extschema@.email_outbox (status, sent_at) WHERE status <> 'pending';
COMMENT ON TABLE @extschema@.email_outbox IS
  'Email to send: pending, sent or dead (gave up after too many attempts or a permanent SMTP error).';

ALTER TABLE @extschema@.mail_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.mail_settings FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.email_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.email_outbox FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.mail_settings, @extschema@.email_outbox FROM PUBLIC;
CREATE POLICY mail_settings_mailer ON @extschema@.mail_settings FOR SELECT TO taskmgmt_mailer USING (true);
CREATE POLICY email_outbox_mailer ON @extschema@.email_outbox FOR ALL TO taskmgmt_mailer USING (true);
GRANT SELECT ON @extschema@.mail_settings TO taskmgmt_mailer;
GRANT SELECT, UPDATE (status, attempts, claim_token, claimed_until, last_error, sent_at, send_after)
  ON @extschema@.email_outbox TO taskmgmt_mailer;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.mail_settings', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.email_outbox', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.email_outbox_id_seq', '');

-- Queues one event for one recipient's email (called by _deliver, as the
-- owner, inside the transaction making the change).
CREATE FUNCTION @extschema@._outbox_enqueue(uid bigint, address text, ev text, task_id bigint,
                                            actor bigint, msg text, comment bigint)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  s @extschema@.mail_settings;
  title text := (SELECT t.title FROM @extschema@.tasks t WHERE t.id = _outbox_enqueue.task_id);
  item jsonb := jsonb_build_object('event', ev, 'task_id', task_id, 'actor_id', actor,
                                   'comment_id', comment, 'message', msg, 'at', now(), 'title', title);
  open_id bigint;
BEGIN
  -- a comment goes into the body whole; the subject names the task only
  IF comment IS NOT NULL AND ev IN ('mentioned', 'commented') THEN
    item := item || jsonb_build_object(
      'headline', @extschema@._comment_headline(ev, actor, title),
      'comment', (SELECT c.body FROM @extschema@.comments c WHERE c.id = comment));
  END IF;
  IF ev IN ('updated', 'commented') THEN
    s := @extschema@._mail_settings();
    -- The open digest of this recipient, if any; one being claimed by a
    -- mailer right now is locked and skipped (a new digest starts instead),
    -- so a user's change never waits for an SMTP server.
    SELECT o.id INTO open_id FROM @extschema@.email_outbox o
    WHERE o.user_id = uid AND o.status = 'pending' AND o.kind = 'digest' AND o.claim_token IS NULL
      AND o.created_at + s.digest_max > now()
    ORDER BY o.id DESC LIMIT 1
    FOR UPDATE SKIP LOCKED;
    IF open_id IS NOT NULL THEN
      UPDATE @extschema@.email_outbox o
         SET items = o.items || item, recipient = address, last_event_at = now(),
             send_after = least(now() + s.digest_idle, o.created_at + s.digest_max)
       WHERE o.id = open_id;
    ELSE
      INSERT INTO @extschema@.email_outbox (user_id, recipient, kind, items, message_id, send_after, unsubscribe_token)
      VALUES (uid, address, 'digest', jsonb_build_array(item), @extschema@._new_message_id(),
              now() + least(s.digest_idle, s.digest_max), @extschema@._unsubscribe_token(uid));
    END IF;
  ELSE
    INSERT INTO @extschema@.email_outbox (user_id, recipient, kind, items, message_id, unsubscribe_token)
    VALUES (uid, address, 'single', jsonb_build_array(item), @extschema@._new_message_id(),
            @extschema@._unsubscribe_token(uid));
  END IF;
END
$$;

-- A globally unique Message-ID, fixed when the row is written, so a re-send
-- after a crash carries the same one and receivers can de-duplicate.
CREATE FUNCTION @extschema@._new_message_id() RETURNS text
LANGUAGE sql VOLATILE AS $$
  SELECT '<' || replace(gen_random_uuid()::text, '-', '') || '@taskmgmt.invalid>'
$$;

-- Wakes the mailers (LISTEN taskmgmt_outbox) at commit.
CREATE FUNCTION @extschema@._outbox_wake() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM pg_notify('taskmgmt_outbox', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER email_outbox_wake AFTER INSERT ON @extschema@.email_outbox
  FOR EACH STATEMENT
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._outbox_wake();

-- Rendering, from the items alone (so a re-send carries the same text).
-- Items written before 0.2.0 have no headline, title or comment: their
-- message stands in.
--
-- Subject: the event with the task's title, never a comment (that goes into
-- the body); a digest names its task when all its items are about one.
CREATE FUNCTION @extschema@._outbox_subject(kind text, items jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '[taskmgmt] ' || CASE
    WHEN kind = 'single' OR jsonb_array_length(items) = 1 THEN
      CASE WHEN length(h) > 150 THEN left(h, 149) || '…' ELSE h END
    WHEN (SELECT count(DISTINCT i ->> 'task_id') = 1 AND bool_and(i ? 'title') FROM jsonb_array_elements(items) i) THEN
      format('%s updates on %s', jsonb_array_length(items), @extschema@._short_title(items -> -1 ->> 'title'))
    ELSE format('%s updates on your tasks', jsonb_array_length(items))
  END
  FROM (SELECT coalesce(items -> 0 ->> 'headline', items -> 0 ->> 'message') AS h) x
$$;

-- The links of a message: the task (the web UI opens /?task=ID, after
-- signing in when this tab has no session), the preferences page, and the
-- one-click unsubscribe address (NULL without a token).
CREATE FUNCTION @extschema@._outbox_link(app_url text, what text, arg text DEFAULT NULL) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT rtrim(app_url, '/') || CASE what
    WHEN 'task' THEN '/?task=' || arg
    WHEN 'preferences' THEN '/?preferences'
    WHEN 'unsubscribe' THEN '/api/v1/mail/unsubscribe?token=' || arg
  END
$$;

CREATE FUNCTION @extschema@._outbox_body(items jsonb, app_url text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT string_agg(CASE WHEN i ? 'comment' THEN
                      format(E'%s:\n\n%s\n\nOpen the task: %s\n', i ->> 'headline',
                             regexp_replace(i ->> 'comment', '^', '> ', 'gn'),
                             @extschema@._outbox_link(app_url, 'task', i ->> 'task_id'))
                    ELSE format(E'%s\nOpen the task: %s\n', i ->> 'message',
                                @extschema@._outbox_link(app_url, 'task', i ->> 'task_id')) END,
                    E'\n' ORDER BY ord)
         || E'\n-- \nYou get this email because of your taskmgmt notification preferences.\n'
         || 'Change them: ' || @extschema@._outbox_link(app_url, 'preferences') || E'\n'
  FROM jsonb_array_elements(items) WITH ORDINALITY AS x(i, ord)
$$;

-- Text for HTML: & < > " ' escaped, so nothing from a task or comment can
-- become markup (or leave an attribute).
CREATE FUNCTION @extschema@._html_escape(s text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT replace(replace(replace(replace(replace(s, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                         '"', '&quot;'), '''', '&#39;')
$$;

-- The text/html alternative: the same content, escaped; line breaks kept.
CREATE FUNCTION @extschema@._outbox_html(items jsonb, app_url text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT E'<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
         || E'<body style="font-family: sans-serif; line-height: 1.4">\n'
         || string_agg(format(E'<div style="margin-bottom: 1.5em">\n<p>%s</p>\n%s<p><a href="%s">Open the task</a></p>\n</div>\n',
                              @extschema@._html_escape(coalesce(i ->> 'headline', i ->> 'message')),
                              CASE WHEN i ? 'comment' THEN
                                format(E'<blockquote style="margin: 0 0 0 0.5em; padding-left: 0.8em; border-left: 3px solid #ccc">%s</blockquote>\n',
                                       replace(@extschema@._html_escape(i ->> 'comment'), E'\n', E'<br>\n'))
                                ELSE '' END,
                              @extschema@._html_escape(@extschema@._outbox_link(app_url, 'task', i ->> 'task_id'))),
                       '' ORDER BY ord)
         || E'<hr>\n<p style="color: #666; font-size: small">You get this email because of your taskmgmt '
         || format(E'notification preferences. <a href="%s">Change them</a>.</p>\n</body></html>\n',
                   @extschema@._html_escape(@extschema@._outbox_link(app_url, 'preferences')))
  FROM jsonb_array_elements(items) WITH ORDINALITY AS x(i, ord)
$$;

-- One-click unsubscribe (RFC 8058).  The token is "<user id>.<mac>", the MAC
-- keyed like the cursors' (70_cursor.sql) with keys of its own, so neither
-- can stand for the other.  Minting needs the signing key (owner-only):
-- _outbox_enqueue runs as the owner (notification triggers and jobs), a
-- client calling this fails on the key's table.  Rotating the signing key
-- retires the links in mail sent before (the preferences page still works).
CREATE FUNCTION @extschema@._unsubscribe_mac(uid bigint) RETURNS bytea
LANGUAGE sql STABLE STRICT PARALLEL RESTRICTED AS $$
  SELECT substr(sha256(sha256('taskmgmt unsubscribe outer key:'::bytea || k.secret)
                       || sha256(sha256('taskmgmt unsubscribe inner key:'::bytea || k.secret)
                                 || convert_to('unsubscribe:' || uid, 'UTF8'))), 1, 16)
  FROM @extschema@.signing_keys k WHERE k.id = 1
$$;

CREATE FUNCTION @extschema@._unsubscribe_token(uid bigint) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL RESTRICTED AS $$
  SELECT uid || '.' || @extschema@._b64url_encode(@extschema@._unsubscribe_mac(uid))
$$;

-- POST /api/v1/mail/unsubscribe?token=...: turns off every email
-- notification of the token's user.  No session: a mail provider makes
-- this request.  SECURITY DEFINER to check the MAC and write that user's
-- preferences; it does nothing else and says nothing about the user.  Every
-- bad link is the same TM400 error naming the parameter.
CREATE FUNCTION @extschema@.mail_unsubscribe(link jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  m text[];
  uid bigint;
  mac bytea;
BEGIN
  PERFORM @extschema@._check_filter_keys('mail_unsubscribe', link);
  m := regexp_match(CASE WHEN jsonb_typeof(link -> 'token') = 'string' THEN link ->> 'token' END,
                    '^([0-9]{1,18})\.([A-Za-z0-9_-]{22})$');
  uid := m[1]::bigint;
  mac := @extschema@._b64url_decode(m[2]);
  -- compared as digests: the time taken says nothing about the right MAC
  IF m IS NULL OR mac IS NULL
     OR sha256(mac) IS DISTINCT FROM sha256(@extschema@._unsubscribe_mac(uid)) THEN
    PERFORM @extschema@._bad_parameter('token',
      'is not a valid unsubscribe link (it may be older than a key rotation); change your email preferences in the web UI');
  END IF;
  UPDATE @extschema@.users u
     SET preferences = jsonb_set(coalesce(u.preferences, '{}'), '{notifications}',
           coalesce(u.preferences -> 'notifications', '{}')
           || (SELECT jsonb_object_agg(e, coalesce(u.preferences -> 'notifications' -> e, '{}')
                                          || '{"email": false}')
                 FROM jsonb_object_keys(@extschema@.notification_defaults()) e)),
         updated_at = now()
   WHERE u.id = uid;
  RETURN jsonb_build_object('unsubscribed', true);
END
$$;
COMMENT ON FUNCTION @extschema@.mail_unsubscribe(jsonb) IS
  'One-click unsubscribe (RFC 8058): {"token": ...} from a List-Unsubscribe link turns off every email notification of its user.';

-- The mailer's side.  outbox_claim() leases up to batch_size due rows
-- (FOR UPDATE SKIP LOCKED: concurrent mailers get disjoint rows) and counts
-- the attempt; the mailer sends each and reports with outbox_mark_sent() or
-- outbox_mark_failed(), which only count while the claim token matches.  A
-- mailer that dies leaves its rows to be claimed again when the lease ends:
-- at-least-once, with the same Message-ID.  Webhook deliveries share the
-- table and the functions below but are claimed by webhook_claim()
-- (92_webhooks.sql).
CREATE FUNCTION @extschema@.outbox_claim(batch_size integer DEFAULT 10, lease interval DEFAULT '5 minutes')
RETURNS TABLE (id bigint, recipient text, subject text, body text, message_id text,
               attempts integer, claim_token uuid, body_html text, list_unsubscribe text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  url text;
BEGIN
  IF batch_size IS NULL OR batch_size NOT BETWEEN 1 AND 1000 THEN
    PERFORM @extschema@._invalid('batch_size', 'must be from 1 to 1000');
  END IF;
  IF lease IS NULL OR lease < '1 second' THEN
    PERFORM @extschema@._invalid('lease', 'must be at least 1 second');
  END IF;
  url := (@extschema@._mail_settings()).app_url;
  RETURN QUERY
  WITH due AS (
    SELECT o.id FROM @extschema@.email_outbox o
    WHERE o.kind <> 'webhook' AND o.status = 'pending' AND o.send_after <= now()
      AND (o.claimed_until IS NULL OR o.claimed_until < now())
    ORDER BY o.send_after, o.id
    LIMIT batch_size
    FOR UPDATE SKIP LOCKED
  )
  UPDATE @extschema@.email_outbox o
     SET attempts = o.attempts + 1, claim_token = gen_random_uuid(), claimed_until = now() + lease
    FROM due WHERE o.id = due.id
  RETURNING o.id, o.recipient, @extschema@._outbox_subject(o.kind, o.items),
            @extschema@._outbox_body(o.items, url),
            o.message_id, o.attempts, o.claim_token,
            @extschema@._outbox_html(o.items, url),
            @extschema@._outbox_link(url, 'unsubscribe', o.unsubscribe_token);
END
$$;

CREATE FUNCTION @extschema@.outbox_mark_sent(id bigint, claim_token uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
  UPDATE @extschema@.email_outbox o
     SET status = 'sent', sent_at = now(), claimed_until = NULL, last_error = NULL
   WHERE o.id = outbox_mark_sent.id AND o.claim_token = outbox_mark_sent.claim_token
     AND o.status = 'pending';
  RETURN FOUND;
END
$$;

-- A failed attempt: retried after backoff * 2^(attempts-1) (at most 6 hours),
-- or dead after max_attempts attempts or on a permanent error.
CREATE FUNCTION @extschema@.outbox_mark_failed(id bigint, claim_token uuid, error text,
                                               permanent boolean DEFAULT false,
                                               max_attempts integer DEFAULT 8,
                                               backoff interval DEFAULT '30 seconds')
RETURNS text LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  result text;
BEGIN
  UPDATE @extschema@.email_outbox o
     SET status = CASE WHEN permanent OR o.attempts >= max_attempts THEN 'dead' ELSE 'pending' END,
         send_after = now() + least(backoff * power(2, least(greatest(o.attempts - 1, 0), 20)),
                                    interval '6 hours'),
         claimed_until = NULL,
         last_error = left(coalesce(error, 'unknown error'), 500)
   WHERE o.id = outbox_mark_failed.id AND o.claim_token = outbox_mark_failed.claim_token
     AND o.status = 'pending'
  RETURNING o.status INTO result;
  RETURN result;
END
$$;

-- Hands a claimed row back unsent (a mailer shutting down): due again at
-- once, and the attempt it was claimed for does not count.
CREATE FUNCTION @extschema@.outbox_release(id bigint, claim_token uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
  UPDATE @extschema@.email_outbox o
     SET claimed_until = NULL, attempts = greatest(o.attempts - 1, 0)
   WHERE o.id = outbox_release.id AND o.claim_token = outbox_release.claim_token
     AND o.status = 'pending' AND o.claimed_until IS NOT NULL;
  RETURN FOUND;
END
$$;

-- When the next pending row becomes due (NULL: none), so an idle mailer can
-- sleep exactly that long.
CREATE FUNCTION @extschema@.outbox_next_due() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT min(greatest(o.send_after, coalesce(o.claimed_until, o.send_after)))
  FROM @extschema@.email_outbox o WHERE o.status = 'pending'
$$;

-- A DBA's tool: put a dead row back in the queue.
CREATE FUNCTION @extschema@.outbox_retry(id bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
  UPDATE @extschema@.email_outbox o
     SET status = 'pending', attempts = 0, send_after = now(), claimed_until = NULL, claim_token = NULL
   WHERE o.id = outbox_retry.id AND o.status = 'dead';
  RETURN FOUND;
END
$$;

GRANT EXECUTE ON FUNCTION @extschema@.outbox_claim(integer, interval),
  @extschema@.outbox_mark_sent(bigint, uuid),
  @extschema@.outbox_release(bigint, uuid),
  @extschema@.outbox_mark_failed(bigint, uuid, text, boolean, integer, interval),
  @extschema@.outbox_next_due(),
  @extschema@._outbox_subject(text, jsonb), @extschema@._outbox_body(jsonb, text),
  @extschema@._outbox_html(jsonb, text), @extschema@._outbox_link(text, text, text),
  @extschema@._html_escape(text), @extschema@._short_title(text),
  @extschema@._mail_settings()
  TO taskmgmt_mailer;
