-- Webhooks (#13): a user's own tasks, or a team's (created by its leads
-- and owners), reported to an HTTP receiver as task.created, task.updated,
-- task.deleted and comment.created.
--
-- Deliveries are rows of the one outbox (kind 'webhook', 81_outbox.sql),
-- written by trigger in the transaction of the change (a rolled-back change
-- reports nothing) and drained by taskmgmt-mailer with the same leases,
-- backoff and dead letter as mail.  Each is signed as the Standard Webhooks
-- specification says: webhook-id (fixed per delivery, so a receiver can
-- de-duplicate at-least-once deliveries), webhook-timestamp and
-- webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>", keyed
-- with the webhook's secret ("whsec_<base64>", shown once at creation; it
-- stays in the database: the signature is computed when a delivery is
-- claimed).
--
-- A receiver gets only events about tasks its owner can see at the time of
-- the event (_user_can_see_task, the rule of the tasks policy).  Targets in
-- private, loopback, link-local and other special ranges are refused unless
-- the superuser setting taskmgmt.webhook_allow_private_targets is on: URLs
-- naming such an address are refused at creation, and the dispatcher asks
-- _webhook_address_allowed() for every address it connects to, so a name
-- that resolves there is refused too.
--
-- This file comes after 90_grants.sql, so it grants its own functions.

CREATE TABLE @extschema@.webhooks (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES @extschema@.users ON DELETE CASCADE,
  team_id    bigint REFERENCES @extschema@.teams ON DELETE CASCADE,
  url        text NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
  events     text[] NOT NULL CHECK (cardinality(events) >= 1
                                    AND events <@ '{task.created,task.updated,task.deleted,comment.created}'),
  secret     bytea NOT NULL CHECK (length(secret) = 32),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_user_id_idx ON @extschema@.webhooks (user_id);
CREATE INDEX webhooks_team_id_idx ON @extschema@.webhooks (team_id) WHERE team_id IS NOT NULL;
COMMENT ON TABLE @extschema@.webhooks IS
  'HTTP receivers of task and comment events: a user''s own tasks (team_id NULL) or a team''s.';

ALTER TABLE @extschema@.webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.webhooks FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.webhooks FROM PUBLIC;
-- One's own webhooks, the webhooks of teams one leads or owns, and for
-- admins all.  No INSERT: create_webhook() makes the secret.
CREATE POLICY webhooks_select ON @extschema@.webhooks FOR SELECT
  USING (user_id = (SELECT @extschema@.current_user_id())
         OR team_id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[])
         OR (SELECT @extschema@.current_user_is_admin()));
CREATE POLICY webhooks_delete ON @extschema@.webhooks FOR DELETE
  USING (user_id = (SELECT @extschema@.current_user_id())
         OR team_id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[])
         OR (SELECT @extschema@.current_user_is_admin()));
-- The dispatcher reads the secrets to sign (in webhook_claim()).
CREATE POLICY webhooks_mailer ON @extschema@.webhooks FOR SELECT TO taskmgmt_mailer USING (true);
GRANT SELECT (id, user_id, team_id, url, events, created_at), DELETE ON @extschema@.webhooks TO taskmgmt_client;
GRANT SELECT (id, secret) ON @extschema@.webhooks TO taskmgmt_mailer;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.webhooks', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.webhooks_id_seq', '');

-- Webhook deliveries in the outbox: the receiver and the exact body.
ALTER TABLE @extschema@.email_outbox DROP CONSTRAINT email_outbox_kind_check;
ALTER TABLE @extschema@.email_outbox ADD CONSTRAINT email_outbox_kind_check
  CHECK (kind IN ('single', 'digest', 'webhook'));
ALTER TABLE @extschema@.email_outbox
  ADD COLUMN webhook_id bigint REFERENCES @extschema@.webhooks ON DELETE CASCADE,
  ADD COLUMN payload jsonb;
ALTER TABLE @extschema@.email_outbox ADD CONSTRAINT email_outbox_webhook_check
  CHECK ((kind = 'webhook') = (webhook_id IS NOT NULL AND payload IS NOT NULL));
CREATE INDEX email_outbox_webhook_idx ON @extschema@.email_outbox (webhook_id, id) WHERE webhook_id IS NOT NULL;

-- Every attempt, for GET /webhooks/{id}/deliveries.
CREATE TABLE @extschema@.webhook_attempts (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  outbox_id   bigint NOT NULL REFERENCES @extschema@.email_outbox ON DELETE CASCADE,
  attempt     integer NOT NULL,
  at          timestamptz NOT NULL DEFAULT now(),
  status_code integer,
  duration_ms integer,
  error       text CHECK (length(error) <= 500)
);
CREATE INDEX webhook_attempts_outbox_id_idx ON @extschema@.webhook_attempts (outbox_id, id);
ALTER TABLE @extschema@.webhook_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.webhook_attempts FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.webhook_attempts FROM PUBLIC;
CREATE POLICY webhook_attempts_mailer ON @extschema@.webhook_attempts FOR ALL TO taskmgmt_mailer USING (true);
GRANT SELECT, INSERT (outbox_id, attempt, status_code, duration_ms, error)
  ON @extschema@.webhook_attempts TO taskmgmt_mailer;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.webhook_attempts', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.webhook_attempts_id_seq', '');

CREATE FUNCTION @extschema@._random_bytes(n integer) RETURNS bytea
  AS 'MODULE_PATHNAME', 'tm_random_bytes_sql'
  LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

-- "v1,<base64 HMAC-SHA256(secret, msg_id || '.' || ts || '.' || body)>"
CREATE FUNCTION @extschema@._webhook_signature(secret bytea, msg_id text, ts bigint, body text) RETURNS text
  AS 'MODULE_PATHNAME', 'tm_webhook_signature'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- May the dispatcher connect to this address?  Special-purpose ranges are
-- refused unless taskmgmt.webhook_allow_private_targets is on.
CREATE FUNCTION @extschema@._webhook_address_allowed(addr inet) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(current_setting('taskmgmt.webhook_allow_private_targets', true), 'off') IN ('on', 'true', '1')
      OR NOT EXISTS (
           SELECT FROM unnest('{0.0.0.0/8,10.0.0.0/8,100.64.0.0/10,127.0.0.0/8,169.254.0.0/16,172.16.0.0/12,
                                192.0.0.0/24,192.0.2.0/24,192.168.0.0/16,198.18.0.0/15,198.51.100.0/24,
                                203.0.113.0/24,224.0.0.0/4,240.0.0.0/4,::/127,::ffff:0:0/96,64:ff9b::/96,
                                100::/64,2001:db8::/32,fc00::/7,fe80::/10,ff00::/8}'::cidr[]) r
           WHERE family(r) = family(addr) AND addr <<= r)
$$;

-- The URL of a webhook: http(s), no credentials, no fragment, and not an
-- address the dispatcher would refuse.  TM422 naming url otherwise.
CREATE FUNCTION @extschema@._webhook_url(url text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  m text[];
  host text;
  addr inet;
BEGIN
  IF url IS NULL OR btrim(url) = '' THEN PERFORM @extschema@._invalid('url', 'is required'); END IF;
  url := btrim(url);
  IF length(url) > 2000 THEN PERFORM @extschema@._invalid('url', 'must be at most 2000 characters'); END IF;
  m := regexp_match(url, '^(https?)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(:[0-9]{1,5})?([/?][^\s#]*)?$');
  IF m IS NULL THEN
    PERFORM @extschema@._invalid('url', 'must be an http:// or https:// address without credentials or fragment');
  END IF;
  IF m[3] IS NOT NULL AND substr(m[3], 2)::integer NOT BETWEEN 1 AND 65535 THEN
    PERFORM @extschema@._invalid('url', 'has an invalid port');
  END IF;
  host := lower(btrim(m[2], '[]'));
  BEGIN
    addr := host::inet;
  EXCEPTION WHEN invalid_text_representation THEN
    addr := NULL;
  END;
  IF (addr IS NOT NULL AND NOT @extschema@._webhook_address_allowed(addr))
     OR (addr IS NULL AND (host = 'localhost' OR host LIKE '%.localhost' OR host ~ '^[0-9.]+$')
         AND NOT @extschema@._webhook_address_allowed('127.0.0.1')) THEN
    PERFORM @extschema@._invalid('url', 'points to a private, loopback or link-local address');
  END IF;
  RETURN url;
END
$$;

CREATE FUNCTION @extschema@.webhook_json(w @extschema@.webhooks) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', w.id, 'url', w.url, 'events', to_jsonb(w.events),
                            'team_id', w.team_id, 'user_id', w.user_id, 'created_at', w.created_at)
$$;

-- create_webhook({url, events?, team_id?}) -> the webhook and its secret
-- (in this answer only).  events default to all four.
CREATE FUNCTION @extschema@.create_webhook(spec jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  all_events constant text[] := '{task.created,task.updated,task.deleted,comment.created}';
  ev text[] := '{}';
  e jsonb;
  team bigint;
  key bytea := @extschema@._random_bytes(32);
  w @extschema@.webhooks;
BEGIN
  PERFORM @extschema@._check_keys(spec, '{url,events,team_id}', '{id,secret,created_at,user_id}');
  IF NOT spec ? 'url' OR jsonb_typeof(spec -> 'url') <> 'string' THEN
    PERFORM @extschema@._invalid('url', 'is required');
  END IF;
  IF spec ? 'events' AND spec -> 'events' <> 'null' THEN
    IF jsonb_typeof(spec -> 'events') <> 'array' OR jsonb_array_length(spec -> 'events') = 0 THEN
      PERFORM @extschema@._invalid('events', 'must be a non-empty array of ' || array_to_string(all_events, ', '));
    END IF;
    FOR e IN SELECT jsonb_array_elements(spec -> 'events') LOOP
      IF jsonb_typeof(e) <> 'string' OR NOT (e #>> '{}') = ANY (all_events) THEN
        PERFORM @extschema@._invalid('events', 'must be a non-empty array of ' || array_to_string(all_events, ', '));
      END IF;
      IF NOT (e #>> '{}') = ANY (ev) THEN ev := ev || (e #>> '{}'); END IF;
    END LOOP;
  ELSE
    ev := all_events;
  END IF;
  team := @extschema@._id_field(spec, 'team_id');
  IF team IS NOT NULL AND NOT (team = ANY (@extschema@.my_led_team_ids()) OR @extschema@.current_user_is_admin()) THEN
    IF team = ANY (@extschema@.my_team_ids()) THEN
      RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'only team leads, owners and admins can add team webhooks',
        COLUMN = 'team_id';
    END IF;
    -- the same answer for a team that exists and one that does not
    PERFORM @extschema@._invalid('team_id', 'is not a team you belong to');
  END IF;
  IF team IS NOT NULL AND NOT EXISTS (SELECT FROM @extschema@.teams t WHERE t.id = team) THEN
    PERFORM @extschema@._invalid('team_id', 'is not a team you belong to');
  END IF;
  IF (SELECT count(*) FROM @extschema@.webhooks x WHERE x.user_id = uid) >= 20 THEN
    PERFORM @extschema@._invalid('url', 'cannot be added: you have 20 webhooks; delete one first');
  END IF;
  INSERT INTO @extschema@.webhooks (user_id, team_id, url, events, secret)
  VALUES (uid, team, @extschema@._webhook_url(spec ->> 'url'),
          (SELECT array_agg(x ORDER BY array_position(all_events, x)) FROM unnest(ev) x), key)
  RETURNING * INTO w;
  RETURN @extschema@.webhook_json(w)
         || jsonb_build_object('secret', 'whsec_' || replace(encode(key, 'base64'), E'\n', ''));
END
$$;

CREATE FUNCTION @extschema@.list_webhooks() RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
BEGIN
  PERFORM @extschema@._require_user();
  -- the columns one by one: the client may not read the whole row (the secret)
  RETURN coalesce((SELECT jsonb_agg(jsonb_build_object('id', w.id, 'url', w.url, 'events', to_jsonb(w.events),
                                                       'team_id', w.team_id, 'user_id', w.user_id,
                                                       'created_at', w.created_at) ORDER BY w.id)
                   FROM @extschema@.webhooks w), '[]');
END
$$;

CREATE FUNCTION @extschema@.delete_webhook(id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
  PERFORM @extschema@._require_user();
  DELETE FROM @extschema@.webhooks w WHERE w.id = delete_webhook.id;
  IF NOT FOUND THEN PERFORM @extschema@._not_found('webhook'); END IF;
END
$$;

-- The newest deliveries of a visible webhook with their attempts:
-- [{id, event, webhook_id, status, attempts, created_at, next_attempt_at,
--   sent_at, last_error, history: [{attempt, at, status_code, duration_ms, error}]}]
CREATE FUNCTION @extschema@.webhook_deliveries(id bigint, lim integer DEFAULT 50) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@._require_user();
  IF lim IS NULL OR lim NOT BETWEEN 1 AND 200 THEN
    PERFORM @extschema@._bad_parameter('limit', 'must be between 1 and 200');
  END IF;
  -- visibility under the caller's rights (the function runs as the owner)
  IF NOT EXISTS (SELECT FROM @extschema@.webhooks w WHERE w.id = webhook_deliveries.id
                   AND (w.user_id = @extschema@.current_user_id()
                        OR w.team_id = ANY (@extschema@.my_led_team_ids())
                        OR @extschema@.current_user_is_admin())) THEN
    PERFORM @extschema@._not_found('webhook');
  END IF;
  RETURN coalesce((
    SELECT jsonb_agg(jsonb_build_object(
             'id', o.id, 'webhook_id', o.webhook_id, 'event', o.payload ->> 'type',
             'message_id', o.message_id, 'status', o.status, 'attempts', o.attempts,
             'created_at', o.created_at, 'sent_at', o.sent_at,
             'next_attempt_at', CASE WHEN o.status = 'pending' THEN greatest(o.send_after, o.claimed_until) END,
             'last_error', o.last_error,
             'history', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                           'attempt', a.attempt, 'at', a.at, 'status_code', a.status_code,
                                           'duration_ms', a.duration_ms, 'error', a.error) ORDER BY a.id)
                                  FROM @extschema@.webhook_attempts a WHERE a.outbox_id = o.id), '[]'))
             ORDER BY o.id DESC)
    FROM (SELECT * FROM @extschema@.email_outbox x
           WHERE x.webhook_id = webhook_deliveries.id ORDER BY x.id DESC LIMIT lim) o), '[]');
END
$$;

-- Queues one event for every webhook that wants it and whose owner sees
-- the task now.  payload: {type, timestamp, data}.  Called by the triggers
-- below, as the owner.
CREATE FUNCTION @extschema@._webhooks_enqueue(ev text, t @extschema@.tasks, old_team_ids bigint[], data jsonb)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  payload jsonb;
BEGIN
  payload := jsonb_build_object('type', ev, 'timestamp', now(), 'data', data);
  INSERT INTO @extschema@.email_outbox (user_id, recipient, kind, items, message_id, webhook_id, payload)
  SELECT w.user_id, w.url, 'webhook', '[]', 'msg_' || replace(gen_random_uuid()::text, '-', ''), w.id, payload
    FROM @extschema@.webhooks w JOIN @extschema@.users u ON u.id = w.user_id
   WHERE ev = ANY (w.events) AND NOT u.disabled
     AND CASE WHEN w.team_id IS NULL THEN w.user_id IN (t.creator_id, t.assignee_user_id)
              ELSE w.team_id IN (t.team_id, t.assignee_team_id) OR w.team_id = ANY (old_team_ids) END
     AND @extschema@._user_can_see_task(w.user_id, u.role = 'admin', t)
   ORDER BY w.id;
END
$$;

CREATE FUNCTION @extschema@._tasks_webhooks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- the common case costs one index probe
  IF NOT EXISTS (SELECT FROM @extschema@.webhooks) THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    PERFORM @extschema@._webhooks_enqueue('task.created', NEW, '{}',
                                          jsonb_build_object('task', @extschema@.task_json(NEW)));
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM @extschema@._webhooks_enqueue('task.deleted', OLD, '{}',
                                          jsonb_build_object('task', @extschema@.task_json(OLD)));
  ELSIF NEW.version <> OLD.version THEN
    -- a team's webhook also hears of a task leaving the team
    PERFORM @extschema@._webhooks_enqueue('task.updated', NEW, ARRAY[OLD.team_id, OLD.assignee_team_id],
                                          jsonb_build_object('task', @extschema@.task_json(NEW),
                                                             'previous_version', OLD.version));
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER tasks_webhooks AFTER INSERT OR UPDATE OR DELETE ON @extschema@.tasks
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_webhooks();

CREATE FUNCTION @extschema@._comments_webhooks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t @extschema@.tasks;
BEGIN
  IF NOT EXISTS (SELECT FROM @extschema@.webhooks) THEN
    RETURN NULL;
  END IF;
  SELECT * INTO t FROM @extschema@.tasks x WHERE x.id = NEW.task_id;
  IF FOUND THEN
    PERFORM @extschema@._webhooks_enqueue('comment.created', t, '{}',
                                          jsonb_build_object('comment', @extschema@.comment_json(NEW),
                                                             'task', @extschema@.task_json(t)));
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER comments_webhooks AFTER INSERT ON @extschema@.comments
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._comments_webhooks();

-- The dispatcher's side (taskmgmt-mailer), next to outbox_claim(): leases
-- due webhook rows and signs each with the timestamp of the claim; the
-- outcome is reported with webhook_log_attempt() and then the shared
-- outbox_mark_sent() / outbox_mark_failed() / outbox_release().
CREATE FUNCTION @extschema@.webhook_claim(batch_size integer DEFAULT 10, lease interval DEFAULT '5 minutes')
RETURNS TABLE (id bigint, url text, body text, message_id text, ts bigint, signature text,
               attempts integer, claim_token uuid)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  stamp bigint := floor(extract(epoch FROM now()))::bigint;
BEGIN
  IF batch_size IS NULL OR batch_size NOT BETWEEN 1 AND 1000 THEN
    PERFORM @extschema@._invalid('batch_size', 'must be from 1 to 1000');
  END IF;
  IF lease IS NULL OR lease < '1 second' THEN
    PERFORM @extschema@._invalid('lease', 'must be at least 1 second');
  END IF;
  RETURN QUERY
  WITH due AS (
    SELECT o.id FROM @extschema@.email_outbox o
    WHERE o.kind = 'webhook' AND o.status = 'pending' AND o.send_after <= now()
      AND (o.claimed_until IS NULL OR o.claimed_until < now())
    ORDER BY o.send_after, o.id
    LIMIT batch_size
    FOR UPDATE SKIP LOCKED
  )
  UPDATE @extschema@.email_outbox o
     SET attempts = o.attempts + 1, claim_token = gen_random_uuid(), claimed_until = now() + lease
    FROM due, @extschema@.webhooks w
   WHERE o.id = due.id AND w.id = o.webhook_id
  RETURNING o.id, o.recipient, o.payload::text, o.message_id, stamp,
            @extschema@._webhook_signature(w.secret, o.message_id, stamp, o.payload::text),
            o.attempts, o.claim_token;
END
$$;

-- Records one attempt of a claimed delivery (while the claim holds).
CREATE FUNCTION @extschema@.webhook_log_attempt(id bigint, claim_token uuid, status_code integer,
                                                duration_ms integer, error text)
RETURNS boolean LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
  INSERT INTO @extschema@.webhook_attempts (outbox_id, attempt, status_code, duration_ms, error)
  SELECT o.id, o.attempts, status_code, duration_ms, left(error, 500)
    FROM @extschema@.email_outbox o
   WHERE o.id = webhook_log_attempt.id AND o.claim_token = webhook_log_attempt.claim_token
     AND o.kind = 'webhook' AND o.status = 'pending';
  RETURN FOUND;
END
$$;

-- what this file made is not PUBLIC's (functions are executable by PUBLIC when made)
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @extschema@ FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.webhook_json(@extschema@.webhooks), @extschema@.create_webhook(jsonb),
  @extschema@.list_webhooks(), @extschema@.delete_webhook(bigint),
  @extschema@.webhook_deliveries(bigint, integer)
  TO taskmgmt_client;
GRANT EXECUTE ON FUNCTION @extschema@.webhook_claim(integer, interval),
  @extschema@.webhook_log_attempt(bigint, uuid, integer, integer, text),
  @extschema@._webhook_signature(bytea, text, bigint, text), @extschema@._webhook_address_allowed(inet)
  TO taskmgmt_mailer;
