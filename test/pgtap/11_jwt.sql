-- Access tokens: authenticate(token) accepts exactly HS256 JWTs signed with
-- the extension's key, with integer sub/sid/iat/exp, exp checked with a 30 s
-- leeway, iat not in the future, and a live session.  Everything else is
-- refused with SQLSTATE 28000 and a message that says nothing more.
-- One transaction, rolled back; tokens are forged with pgcrypto's hmac() and
-- the real key (read as superuser in 1_identity_helpers.psql).
\ir 1_identity_helpers.psql

BEGIN;
SELECT plan(87);

SET ROLE tap_identity;
SELECT taskmgmt.register('ann@t11.identity.test', 'ann password 1', 'Ann') IS NOT NULL AS ok \gset
SELECT taskmgmt.register('bob@t11.identity.test', 'bob password 1', 'Bob') IS NOT NULL AS ok \gset
SELECT p->>'access_token' AS tok, (p->>'user_id')::bigint AS uid,
       (pg_temp.jwt_part(p->>'access_token', 2)::jsonb->>'sid')::bigint AS sid,
       (p->>'expires_in')::int AS expires_in
  FROM (SELECT taskmgmt.password_grant('ann@t11.identity.test', 'ann password 1') AS p) x \gset
SELECT (p->>'user_id')::bigint AS bob_uid,
       (pg_temp.jwt_part(p->>'access_token', 2)::jsonb->>'sid')::bigint AS bob_sid
  FROM (SELECT taskmgmt.password_grant('bob@t11.identity.test', 'bob password 1') AS p) x \gset
\set invalid '28000: invalid access token'

-- ---- what sign-in issues ----
SELECT is(pg_temp.jwt_part(:'tok', 1)::jsonb, '{"alg":"HS256","typ":"JWT"}'::jsonb,
          'issued token: header is {"alg":"HS256","typ":"JWT"}');
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(pg_temp.jwt_part(:'tok', 2)::jsonb) k),
          ARRAY['exp', 'iat', 'sid', 'sub'], 'issued token: claims are exactly sub, sid, iat, exp');
SELECT is((pg_temp.jwt_part(:'tok', 2)::jsonb->>'sub')::bigint, :uid::bigint, 'issued token: sub is the user id');
SELECT is((SELECT (j->>'exp')::bigint - (j->>'iat')::bigint FROM (SELECT pg_temp.jwt_part(:'tok', 2)::jsonb j) x),
          900::bigint, 'issued token: lifetime is taskmgmt.access_token_ttl (default 15 min)');
SELECT is(:expires_in, 900, 'issued pair: expires_in is 900');
SELECT ok(abs((pg_temp.jwt_part(:'tok', 2)::jsonb->>'iat')::bigint - pg_temp.epoch()) <= 5,
          'issued token: iat is now');
SELECT is(pg_temp.jwt(pg_temp.jwt_part(:'tok', 1), pg_temp.jwt_part(:'tok', 2), pg_temp.key()), :'tok',
          'issued token: signature is HMAC-SHA256 over header.payload with the signing key');

-- ---- refused: the header names another algorithm (signature is a valid HS256 one) ----
SELECT is(pg_temp.auth_err(pg_temp.jwt('{"alg":"none","typ":"JWT"}', pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'alg none with a valid HS256 signature: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt('{"alg":"none","typ":"JWT"}', pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), NULL)),
          :'invalid', 'alg none with an empty signature: refused');
SELECT is(pg_temp.auth_err(pg_temp.b64url('{"alg":"none"}') || '.' || pg_temp.b64url(pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60))),
          :'invalid', 'alg none as two segments (no signature part): refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt('{"alg":"HS384","typ":"JWT"}', pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'alg HS384 with a valid HS256 signature: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt('{"alg":"HS384","typ":"JWT"}', pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key(), 'sha384')),
          :'invalid', 'alg HS384 with a valid HS384 signature: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt('{"alg":"HS512","typ":"JWT"}', pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key(), 'sha512')),
          :'invalid', 'alg HS512 with a valid HS512 signature: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt('{"alg":"RS256","typ":"JWT"}', pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'alg RS256 with a valid HS256 signature: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt('{"alg":"hs256","typ":"JWT"}', pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'alg hs256 (wrong case): refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt('{"typ":"JWT"}', pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'header without alg: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt('{"alg":["HS256"]}', pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'alg as an array ["HS256"]: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt('{"alg":"none","alg":"HS256"}', pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'two alg fields (none, HS256): refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt('{"alg":"HS256","alg":"none"}', pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'two alg fields (HS256, none): refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt('{"alg":"HS256","crit":["exp"]}', pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'header with crit: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt('"HS256"', pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'header that is a JSON string, not an object: refused');

-- ---- refused: signature ----
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), gen_random_bytes(32))),
          :'invalid', 'signed with another 32-byte key: refused');
SELECT is(pg_temp.auth_err(overlay(:'tok' placing (CASE WHEN substr(split_part(:'tok', '.', 3), 1, 1) = 'A' THEN 'B' ELSE 'A' END)
                                   from length(split_part(:'tok', '.', 1)) + length(split_part(:'tok', '.', 2)) + 3 for 1)),
          :'invalid', 'tampered signature (first character changed): refused');
SELECT is(pg_temp.auth_err(left(:'tok', -4)), :'invalid', 'truncated signature: refused');
SELECT is(pg_temp.auth_err(split_part(:'tok', '.', 1) || '.' || split_part(:'tok', '.', 2) || '.'),
          :'invalid', 'empty signature: refused');
SELECT is(pg_temp.auth_err(split_part(:'tok', '.', 1) || '.' || pg_temp.b64url(pg_temp.claims(:bob_uid, :bob_sid,
            (pg_temp.jwt_part(:'tok', 2)::jsonb->>'iat')::bigint, (pg_temp.jwt_part(:'tok', 2)::jsonb->>'exp')::bigint))
          || '.' || split_part(:'tok', '.', 3)),
          :'invalid', 'tampered payload (another user) under the original signature: refused');
SELECT is(pg_temp.auth_err(split_part(:'tok', '.', 1) || '.' || split_part(:'tok', '.', 2) || '.'
          || split_part(pg_temp.good(:bob_uid, :bob_sid), '.', 3)),
          :'invalid', 'signature taken from another valid token: refused');

-- ---- refused: shape ----
SELECT is(pg_temp.auth_err(split_part(:'tok', '.', 1) || '.' || split_part(:'tok', '.', 2)),
          :'invalid', '2 segments: refused');
SELECT is(pg_temp.auth_err(:'tok' || '.' || split_part(:'tok', '.', 3)), :'invalid', '4 segments: refused');
SELECT is(pg_temp.auth_err(:'tok' || '.'), :'invalid', '4 segments (trailing dot): refused');
SELECT is(pg_temp.auth_err(split_part(:'tok', '.', 2)), :'invalid', '1 segment: refused');
SELECT is(pg_temp.auth_err(''), :'invalid', 'empty string: refused');
SELECT is(pg_temp.auth_err('..'), :'invalid', 'two dots: refused');
SELECT is(pg_temp.auth_err(NULL), '28000: access token required', 'NULL: refused');
SELECT is(pg_temp.auth_err(:'tok' || ' '), :'invalid', 'trailing space: refused');
SELECT is(pg_temp.auth_err(' ' || :'tok'), :'invalid', 'leading space: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(),
            format('{"sub":%s,"sid":%s,"iat":%s,"exp":%s,"pad":"%s"}', :uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60, repeat('x', 5000)),
            pg_temp.key())),
          :'invalid', 'token over 4096 bytes: refused');

-- ---- refused: base64url (correctly signed over the bad segments) ----
SELECT is(pg_temp.auth_err(pg_temp.sign(split_part(:'tok', '.', 1) || '=.' || split_part(:'tok', '.', 2))),
          :'invalid', 'padding "=" in the header: refused');
SELECT is(pg_temp.auth_err(CASE WHEN seg ~ '[+/]' THEN pg_temp.sign(split_part(:'tok', '.', 1) || '.' || seg) END),
          :'invalid', 'standard base64 ("+" or "/") instead of base64url: refused')
  FROM (SELECT rtrim(replace(encode(convert_to(format('{"sub":%s,"sid":%s,"iat":%s,"exp":%s,"x":"~~~~~~"}',
                :uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), 'UTF8'), 'base64'), E'\n', ''), '=') AS seg) x;
SELECT is(pg_temp.auth_err(pg_temp.sign(split_part(:'tok', '.', 1) || '.*' || split_part(:'tok', '.', 2))),
          :'invalid', 'character outside the alphabet: refused');
SELECT is(pg_temp.auth_err(pg_temp.sign(split_part(:'tok', '.', 1) || '.' || split_part(:'tok', '.', 2) || 'A')),
          :'invalid', 'impossible length (or trailing garbage): refused');
SELECT is(pg_temp.auth_err(pg_temp.sign('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjF9' || 'x')),
          :'invalid', 'garbage after the payload: refused');
SELECT is(pg_temp.auth_err(pg_temp.sign(
            -- {"alg":"HS256"} is eyJhbGciOiJIUzI1NiJ9; ...J9 -> ...J- leaves non-zero trailing bits
            'eyJhbGciOiJIUzI1NiJ-.' || split_part(:'tok', '.', 2))),
          :'invalid', 'non-canonical final character (non-zero trailing bits): refused');
SELECT is(pg_temp.auth_err(pg_temp.sign(pg_temp.b64url('\xff7b7d'::bytea) || '.' || split_part(:'tok', '.', 2))),
          :'invalid', 'header that is not UTF-8: refused');

-- ---- refused: JSON ----
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), 'not json', pg_temp.key())), :'invalid', 'payload not JSON: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), format('[%s,%s]', :uid, :sid), pg_temp.key())), :'invalid', 'payload a JSON array: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), '12345', pg_temp.key())), :'invalid', 'payload a JSON number: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), rtrim(pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), '}'), pg_temp.key())),
          :'invalid', 'payload truncated JSON: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), rtrim(pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), '}') || ',}', pg_temp.key())),
          :'invalid', 'payload with a trailing comma: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), '', pg_temp.key())), :'invalid', 'empty payload: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60) || '{}', pg_temp.key())),
          :'invalid', 'payload with a second JSON value after the object: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), rtrim(pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), '}') || ',"x":"\ud800"}', pg_temp.key())),
          :'invalid', 'payload with a lone surrogate escape: refused, not an internal error');

-- ---- refused: claims ----
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), format('{"sub":%s,"sid":%s,"iat":%s}', :uid, :sid, pg_temp.epoch()), pg_temp.key())),
          :'invalid', 'missing exp: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), format('{"sub":%s,"sid":%s,"iat":%s,"exp":"%s"}', :uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'exp as a string: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), format('{"sub":%s,"sid":%s,"iat":%s,"exp":null}', :uid, :sid, pg_temp.epoch()), pg_temp.key())),
          :'invalid', 'exp null: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), format('{"sub":%s,"sid":%s,"iat":%s,"exp":true}', :uid, :sid, pg_temp.epoch()), pg_temp.key())),
          :'invalid', 'exp boolean: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), format('{"sub":%s,"sid":%s,"iat":%s,"exp":%s.5}', :uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'exp with a fraction: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), format('{"sub":%s,"sid":%s,"iat":%s,"exp":1e10}', :uid, :sid, pg_temp.epoch()), pg_temp.key())),
          :'invalid', 'exp with an exponent: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), format('{"sub":%s,"sid":%s,"iat":%s,"exp":[%s]}', :uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'exp inside an array: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), format('{"sub":%s,"sid":%s,"iat":%s,"exp":{"v":%s}}', :uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'exp as an object: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), format('{"sub":%s,"sid":%s,"iat":%s,"exp":%s,"exp":%s}', :uid, :sid, pg_temp.epoch(), pg_temp.epoch() - 3600, pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'exp given twice: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), format('{"sub":"%s","sid":%s,"iat":%s,"exp":%s}', :uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'sub as a string: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), format('{"sub":%s,"iat":%s,"exp":%s}', :uid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'missing sid: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), format('{"sub":%s,"sid":%s,"exp":%s}', :uid, :sid, pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'missing iat: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), format('{"sub":99999999999999999999,"sid":%s,"iat":%s,"exp":%s}', :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key())),
          :'invalid', 'sub beyond bigint: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), pg_temp.claims(:uid, :sid, pg_temp.epoch() - 120, pg_temp.epoch() - 45), pg_temp.key())),
          '28000: access token expired', 'expired 45 s ago (past the 30 s leeway): refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), pg_temp.claims(:uid, :sid, pg_temp.epoch() - 7200, pg_temp.epoch() - 3600), pg_temp.key())),
          '28000: access token expired', 'expired an hour ago: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), pg_temp.claims(:uid, :sid, pg_temp.epoch() - 60, -9223372036854775807), pg_temp.key())),
          '28000: access token expired', 'exp at the bigint minimum: refused as expired (no overflow)');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), pg_temp.claims(:uid, :sid, pg_temp.epoch() + 3600, pg_temp.epoch() + 4000), pg_temp.key())),
          :'invalid', 'iat an hour in the future: refused');
SELECT is(pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), pg_temp.claims(:uid, :sid, 9223372036854775807, 9223372036854775807), pg_temp.key())),
          :'invalid', 'iat at the bigint maximum: refused (no overflow)');
SELECT is(pg_temp.auth_err(pg_temp.good(:uid, :bob_sid)), '28000: session has ended {Sign in again.}',
          'correctly signed, but sid belongs to another user: refused');
SELECT is(pg_temp.auth_err(pg_temp.good(:uid, 0)), '28000: session has ended {Sign in again.}',
          'correctly signed, but no such session: refused');
SELECT is(taskmgmt.current_user_id(), NULL, 'after all those refusals nobody is signed in');

-- ---- accepted ----
SELECT is(taskmgmt.authenticate(:'tok'), :uid::bigint, 'the issued token is accepted and returns the user id');
SELECT is(taskmgmt.current_user_id(), :uid::bigint, 'and signs in for this transaction');
SELECT is(taskmgmt.authenticate(pg_temp.good(:bob_uid, :bob_sid)), :bob_uid::bigint, 'a token forged with the real key and HS256 is accepted');
SELECT is(taskmgmt.current_user_id(), :bob_uid::bigint, 'a later authenticate() replaces the identity');
SELECT is(taskmgmt.authenticate(pg_temp.jwt('{"alg":"HS256"}', pg_temp.claims(:uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60), pg_temp.key())),
          :uid::bigint, 'header {"alg":"HS256"} without typ is accepted');
SELECT is(taskmgmt.authenticate(pg_temp.jwt(pg_temp.hs256(), pg_temp.claims(:uid, :sid, pg_temp.epoch() - 100, pg_temp.epoch() - 15), pg_temp.key())),
          :uid::bigint, 'expired 15 s ago (within the 30 s leeway): accepted');
SELECT is(taskmgmt.authenticate(pg_temp.jwt(pg_temp.hs256(), pg_temp.claims(:uid, :sid, pg_temp.epoch() + 10, pg_temp.epoch() + 60), pg_temp.key())),
          :uid::bigint, 'iat 10 s ahead (clock skew within the leeway): accepted');
SELECT is(taskmgmt.authenticate(pg_temp.jwt(pg_temp.hs256(),
            format('{"sub":%s,"sid":%s,"iat":%s,"exp":%s,"role":"admin","admin":true}', :uid, :sid, pg_temp.epoch(), pg_temp.epoch() + 60),
            pg_temp.key())), :uid::bigint, 'extra claims are ignored ...');
SELECT is(taskmgmt.current_user_is_admin(), false, '... so a forged "admin" claim grants nothing');

-- ---- lifetime setting (superuser only) ----
SELECT throws_ok('SET taskmgmt.access_token_ttl = 86400', '42501', NULL,
                 'a client cannot change taskmgmt.access_token_ttl');
RESET ROLE;
SET LOCAL taskmgmt.access_token_ttl = 120;
SET ROLE tap_identity;
SELECT is((SELECT (pg_temp.jwt_part(p->>'access_token', 2)::jsonb->>'exp')::bigint
                - (pg_temp.jwt_part(p->>'access_token', 2)::jsonb->>'iat')::bigint
           FROM (SELECT taskmgmt.password_grant('ann@t11.identity.test', 'ann password 1') p) x),
          120::bigint, 'with taskmgmt.access_token_ttl = 120 tokens live 120 s');

-- ---- key rotation (superuser) kills every token at once ----
RESET ROLE;
SELECT taskmgmt.rotate_signing_key() IS NULL AS rotated \gset
SET ROLE tap_identity;
SELECT is(pg_temp.auth_err(:'tok'), :'invalid', 'after rotate_signing_key() the old token is refused');
SELECT is(pg_temp.auth_err(pg_temp.good(:uid, :sid)), :'invalid', 'and so is anything signed with the old key');
SELECT is(taskmgmt.authenticate(p->>'access_token'), :uid::bigint, 'a token issued after the rotation works')
  FROM (SELECT taskmgmt.password_grant('ann@t11.identity.test', 'ann password 1') p) x;

RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
