-- Sessions: refresh() rotates the refresh token; reusing a rotated one ends
-- the whole session (written by a background worker so it outlives the
-- error; that worker needs the session committed, hence autocommit mode
-- here); sign_out() ends the session and its access tokens at once; refresh
-- tokens are stored only as sha256 hashes.  Rows are deleted at the end.
\ir 1_identity_helpers.psql

DELETE FROM taskmgmt.users WHERE email LIKE '%@t14.identity.test';

SET ROLE tap_identity;
SELECT count(taskmgmt.register(e || '@t14.identity.test', e || ' password 1')) AS registered
  FROM unnest(ARRAY['ann', 'bob']) e \gset
SELECT p->>'access_token' AS a0, p->>'refresh_token' AS r0, p->>'user_id' AS uid,
       pg_temp.jwt_part(p->>'access_token', 2)::jsonb->>'sid' AS sid
  FROM (SELECT taskmgmt.password_grant('ann@t14.identity.test', 'ann password 1') p) x \gset
-- a second session of the same user, which must survive what happens to the first
SELECT p->>'access_token' AS other_a, p->>'refresh_token' AS other_r
  FROM (SELECT taskmgmt.password_grant('ann@t14.identity.test', 'ann password 1') p) x \gset
\set reuse '28000: invalid refresh token (The token was already used; the session has been ended.)'
\set badrefresh '28000: invalid refresh token'
\set ended '28000: session has ended {Sign in again.}'

SELECT plan(46);

-- ---- storage ----
RESET ROLE;
SELECT is((SELECT count(*)::int FROM taskmgmt.refresh_tokens WHERE token_hash = sha256(convert_to(:'r0', 'UTF8'))), 1,
          'the refresh token is stored as its sha256');
SELECT is((SELECT count(*)::int FROM taskmgmt.refresh_tokens
           WHERE position(convert_to(:'r0', 'UTF8') IN token_hash) > 0 OR token_hash = decode(translate(:'r0', '-_', '+/') || '=', 'base64')),
          0, 'and never in the clear');
SELECT ok(length(:'r0') >= 43 AND :'r0' ~ '^[A-Za-z0-9_-]+$', 'refresh token: at least 32 random bytes, base64url');
SET ROLE tap_identity;

-- ---- rotation ----
SELECT p->>'access_token' AS a1, p->>'refresh_token' AS r1
  FROM (SELECT taskmgmt.refresh(:'r0') p) x \gset
SELECT isnt(:'r1'::text, :'r0', 'refresh() returns a new refresh token');
SELECT is(pg_temp.jwt_part(:'a1', 1)::jsonb->>'alg', 'HS256', 'and an access token (identical to the first when issued in the same second)');
SELECT is(pg_temp.jwt_part(:'a1', 2)::jsonb->>'sid', :'sid', 'for the same session');
SELECT is(taskmgmt.current_user_id(), NULL, 'refresh() signs nobody in');
SELECT is(taskmgmt.current_user_id(), :uid::bigint, 'the new access token works') FROM (SELECT taskmgmt.authenticate(:'a1')) a;
SELECT is(taskmgmt.current_user_id(), :uid::bigint, 'the previous access token still works until it expires')
  FROM (SELECT taskmgmt.authenticate(:'a0')) a;
SELECT p->>'access_token' AS a2, p->>'refresh_token' AS r2
  FROM (SELECT taskmgmt.refresh(:'r1') p) x \gset
SELECT isnt(:'r2'::text, :'r1', 'refresh again with the newest token: rotates again');
SELECT is(pg_temp.err('SELECT taskmgmt.refresh(NULL)'), :'badrefresh', 'refresh(NULL): 28000');
SELECT is(pg_temp.err($$SELECT taskmgmt.refresh('')$$), :'badrefresh', 'refresh(''''): 28000');
SELECT is(pg_temp.err(format('SELECT taskmgmt.refresh(%L)', :'a2')), :'badrefresh', 'an access token is no refresh token');
SELECT is(pg_temp.err(format('SELECT taskmgmt.refresh(%L)', pg_temp.b64url(gen_random_bytes(32)))), :'badrefresh',
          'a random token: 28000');
SELECT is(pg_temp.err(format('SELECT taskmgmt.refresh(%L)', upper(:'r2'))), :'badrefresh', 'the newest token in other case: 28000');

-- ---- reuse of a rotated token ends the whole session ----
SELECT is(pg_temp.err(format('SELECT taskmgmt.refresh(%L)', :'r0')), :'reuse', 'reusing the first (rotated) refresh token: 28000');
RESET ROLE;
SELECT is((SELECT revoke_reason FROM taskmgmt.sessions WHERE id = :sid AND revoked_at IS NOT NULL), 'refresh token reuse',
          'the session is revoked, committed despite the error');
SET ROLE tap_identity;
SELECT is(pg_temp.err(format('SELECT taskmgmt.refresh(%L)', :'r2')), :'badrefresh', 'then even the newest refresh token is refused');
SELECT is(pg_temp.auth_err(:'a2'), :'ended', 'and the newest access token');
SELECT is(pg_temp.auth_err(:'a1'), :'ended', 'and the one before');
SELECT is(pg_temp.auth_err(:'a0'), :'ended', 'and the first');
SELECT is(pg_temp.auth_err(pg_temp.good(:uid, :sid)), :'ended', 'and any correctly signed token for that session');
SELECT is(pg_temp.err(format('SELECT taskmgmt.refresh(%L)', :'r1')), :'reuse', 'reusing again: still refused');
SELECT is(taskmgmt.current_user_id(), :uid::bigint, 'the user''s other session is untouched (access token)')
  FROM (SELECT taskmgmt.authenticate(:'other_a')) a;
SELECT p->>'access_token' AS other_a1, p->>'refresh_token' AS other_r1
  FROM (SELECT taskmgmt.refresh(:'other_r') p) x \gset
SELECT ok(:'other_r1' <> :'other_r', 'the other session still refreshes');

-- ---- reuse inside a transaction that later rolls back: the revocation stays ----
SELECT p->>'access_token' AS b0, p->>'refresh_token' AS br0, pg_temp.jwt_part(p->>'access_token', 2)::jsonb->>'sid' AS bsid
  FROM (SELECT taskmgmt.password_grant('bob@t14.identity.test', 'bob password 1') p) x \gset
SELECT taskmgmt.refresh(:'br0') IS NOT NULL AS rotated \gset
BEGIN;
SELECT is(pg_temp.err(format('SELECT taskmgmt.refresh(%L)', :'br0')), :'reuse', 'in a transaction: reuse refused');
ROLLBACK;
SELECT is(pg_temp.auth_err(:'b0'), :'ended', 'the transaction rolled back, the session is still ended');

-- ---- sign_out ----
SELECT p->>'access_token' AS s_a, p->>'refresh_token' AS s_r, pg_temp.jwt_part(p->>'access_token', 2)::jsonb->>'sid' AS s_sid
  FROM (SELECT taskmgmt.sign_in('ann@t14.identity.test', 'ann password 1') p) x \gset
SELECT is(taskmgmt.current_user_id(), :uid::bigint, 'sign_in: signed in');
SELECT lives_ok('SELECT taskmgmt.sign_out()', 'sign_out()');
SELECT is(taskmgmt.current_user_id(), NULL, 'signed out');
SELECT is(pg_temp.auth_err(:'s_a'), :'ended', 'its access token fails at once');
SELECT is(pg_temp.err(format('SELECT taskmgmt.refresh(%L)', :'s_r')), :'badrefresh', 'its refresh token fails');
RESET ROLE;
SELECT is((SELECT revoke_reason FROM taskmgmt.sessions WHERE id = :s_sid AND revoked_at IS NOT NULL), 'sign out',
          'the session row is revoked');
SET ROLE tap_identity;

-- pooled style: authenticate(token) then sign_out() in one transaction
SELECT p->>'access_token' AS p_a, p->>'refresh_token' AS p_r
  FROM (SELECT taskmgmt.password_grant('ann@t14.identity.test', 'ann password 1') p) x \gset
BEGIN;
SELECT is(taskmgmt.authenticate(:'p_a'), :uid::bigint, 'BEGIN; authenticate(token)');
SELECT lives_ok('SELECT taskmgmt.sign_out()', 'sign_out()');
SELECT is(pg_temp.auth_err(:'p_a'), :'ended', 'the token fails in the same transaction');
COMMIT;
SELECT is(pg_temp.auth_err(:'p_a'), :'ended', 'and after it');
SELECT is(pg_temp.err(format('SELECT taskmgmt.refresh(%L)', :'p_r')), :'badrefresh', 'and so does its refresh token');
SELECT is(pg_temp.err(format('SELECT taskmgmt.authenticate(%L), taskmgmt.sign_out(), taskmgmt.authenticate(%L)', :'other_a1', :'other_a1')),
          :'ended', 'sign_out() takes effect within the very statement');

-- ---- change_password ends the user's other sessions, not this one ----
SELECT p->>'access_token' AS c_a, p->>'refresh_token' AS c_r
  FROM (SELECT taskmgmt.password_grant('ann@t14.identity.test', 'ann password 1') p) x \gset
SELECT p->>'access_token' AS d_a FROM (SELECT taskmgmt.sign_in('ann@t14.identity.test', 'ann password 1') p) x \gset
SELECT lives_ok($$SELECT taskmgmt.change_password('ann password 1', 'ann password 2')$$, 'change_password() while signed in');
SELECT is(pg_temp.auth_err(:'c_a'), :'ended', 'another session''s access token fails at once');
SELECT is(pg_temp.err(format('SELECT taskmgmt.refresh(%L)', :'c_r')), :'badrefresh', 'and its refresh token');
SELECT is(taskmgmt.current_user_id(), :uid::bigint, 'the session that changed it stays signed in');
SELECT is(pg_temp.auth_err(:'d_a'), NULL, 'and its token still works');
SELECT lives_ok('SELECT taskmgmt.sign_out()', 'sign out');

SELECT is(pg_temp.err('SELECT taskmgmt.sign_out()'), '28000: not signed in {Call taskmgmt.sign_in(email, password) or taskmgmt.authenticate(token) first.}',
          'sign_out() without a sign-in: 28000');

RESET ROLE;
SELECT * FROM finish();
DELETE FROM taskmgmt.users WHERE email LIKE '%@t14.identity.test';
