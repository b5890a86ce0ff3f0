-- Notification keys (#17): NOTIFY payloads name a user by an opaque key,
-- since every role that can connect may LISTEN.  Only the owner computes
-- anyone's key; a signed-in user learns their own; rotating the token
-- signing key keeps them (live websockets keep recognising theirs).
\ir 8_notify_helpers.psql
BEGIN;
SELECT plan(11);

SELECT pg_temp.mkuser('Kay') AS kay, pg_temp.mkuser('Lou') AS lou \gset

SET ROLE tap_notify;
SELECT is(pg_temp.err('SELECT taskmgmt.notification_key()'), '28000: not signed in',
          'notification_key() needs a signed-in user');
SELECT is(pg_temp.err(format('SELECT taskmgmt._notification_key(%s)', :lou)),
          '42501: permission denied for function _notification_key', 'clients cannot compute anyone''s key');
SELECT pg_temp.as_user(:kay) \gset
SELECT taskmgmt.notification_key() AS kay_key \gset
SELECT matches(:'kay_key'::text, '^[A-Za-z0-9_-]{22}$', 'a key is 22 base64url characters (128 bits)');
SELECT is(taskmgmt.notification_key(), :'kay_key', 'the same key every time');
SELECT is(pg_temp.err(format('SELECT taskmgmt._notification_key(%s)', :kay)),
          '42501: permission denied for function _notification_key', '... not even one''s own through the helper');
RESET ROLE;
SELECT is(taskmgmt._notification_key(:kay), :'kay_key', 'it is the key the publish trigger uses for that user');
SELECT isnt(taskmgmt._notification_key(:lou), :'kay_key', 'another user has another key');
SELECT taskmgmt.rotate_signing_key() IS NULL AS rotated \gset
SELECT is(taskmgmt._notification_key(:kay), :'kay_key', 'rotating the signing key keeps the notification keys');
UPDATE taskmgmt.signing_keys SET notify_secret = sha256('another secret');
SELECT isnt(taskmgmt._notification_key(:kay), :'kay_key', 'the keys come from notify_secret');
SELECT ok(NOT has_column_privilege('taskmgmt_client', 'taskmgmt.signing_keys', 'notify_secret', 'SELECT'),
          'which no client can read');
-- and a grant of the helper by mistake would not give the keys away either
GRANT EXECUTE ON FUNCTION taskmgmt._notification_key(bigint) TO tap_notify;
SET ROLE tap_notify;
SELECT is(pg_temp.err(format('SELECT taskmgmt._notification_key(%s)', :lou)),
          '42501: permission denied for table signing_keys', 'the helper runs as its caller (SECURITY INVOKER)');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
