-- Who is signed in lives in backend C memory: sign_in() sets it for the
-- connection, authenticate(token) until the end of the current transaction,
-- and no setting (SET / set_config, taskmgmt.* or any other) can change it.
-- Row-level security follows it.  This file needs real transaction ends, so
-- it runs in autocommit mode with explicit BEGIN/COMMIT/ROLLBACK, and
-- deletes its users and tasks at the end.
\ir 1_identity_helpers.psql

DELETE FROM taskmgmt.tasks WHERE creator_id IN (SELECT id FROM taskmgmt.users WHERE email LIKE '%@t10.identity.test');
DELETE FROM taskmgmt.users WHERE email LIKE '%@t10.identity.test';

SET ROLE tap_identity;
SELECT count(taskmgmt.register(e || '@t10.identity.test', e || ' password 1')) AS registered
  FROM unnest(ARRAY['ann', 'bob']) e \gset
SELECT p->>'access_token' AS ann_tok, p->>'user_id' AS ann_uid,
       pg_temp.jwt_part(p->>'access_token', 2)::jsonb->>'sid' AS ann_sid
  FROM (SELECT taskmgmt.password_grant('ann@t10.identity.test', 'ann password 1') p) x \gset
SELECT p->>'access_token' AS bob_tok, p->>'user_id' AS bob_uid
  FROM (SELECT taskmgmt.password_grant('bob@t10.identity.test', 'bob password 1') p) x \gset
BEGIN;
SELECT taskmgmt.authenticate(:'ann_tok') AS signed_in \gset
SELECT taskmgmt.create_task('{"title": "ann private t10"}')->>'id' AS task_id \gset
COMMIT;

SELECT plan(78);

-- ---- nobody signed in ----
SELECT is(taskmgmt.current_user_id(), NULL, 'not signed in: current_user_id() is NULL');
SELECT is(taskmgmt.current_user_is_admin(), false, 'not signed in: not an admin');
SELECT throws_ok(format('SELECT taskmgmt.get_task(%s)', :task_id), '28000', 'not signed in', 'not signed in: get_task raises 28000');
SELECT is((SELECT count(*)::int FROM taskmgmt.tasks), 0, 'not signed in: no task is visible through RLS');

-- ---- no setting can forge an identity ----
SELECT throws_ok(format('SELECT set_config(%L, %L, false)', name, :'ann_uid'), '42602', NULL,
                 format('set_config(%L) is refused (reserved prefix)', name))
  FROM unnest(ARRAY['taskmgmt.user_id', 'taskmgmt.current_user_id', 'taskmgmt.uid', 'taskmgmt.sub',
                    'taskmgmt.session_id', 'taskmgmt.identity', 'taskmgmt.is_admin']) name;
SELECT throws_ok(format('SET taskmgmt.user_id = %s', :ann_uid), '42602', NULL, 'SET taskmgmt.user_id is refused');
SELECT throws_ok(format('SET LOCAL taskmgmt.current_user_id = %s', :ann_uid), '42602', NULL, 'SET LOCAL taskmgmt.current_user_id is refused');
SELECT throws_ok($$SELECT set_config('taskmgmt.access_token_ttl', '86400', false)$$, '42501', NULL,
                 'a client cannot change the real taskmgmt.* settings either');
SELECT lives_ok(format('SELECT set_config(%L, %L, false)', name, :'ann_uid'), format('set_config(%L) is allowed ...', name))
  FROM unnest(ARRAY['request.jwt.claim.sub', 'app.user_id', 'app.current_user_id', 'jwt.claims.sub',
                    'myapp.uid', 'session.user_id']) name;
SELECT lives_ok(format($$SELECT set_config('request.jwt.claims', %L, false)$$, json_build_object('sub', :ann_uid::bigint, 'role', 'admin')),
                'set_config(request.jwt.claims) is allowed ...');
SELECT is(taskmgmt.current_user_id(), NULL, '... but none of them signs anyone in');
SELECT is((SELECT count(*)::int FROM taskmgmt.tasks), 0, '... and RLS still shows nothing');
SELECT throws_ok(format('SELECT taskmgmt.get_task(%s)', :task_id), '28000', 'not signed in', '... and get_task still raises 28000');
RESET ROLE;
SELECT throws_ok(format('SELECT set_config(%L, %L, false)', 'taskmgmt.user_id', :'ann_uid'), '42602', NULL,
                 'not even a superuser can create a taskmgmt.user_id setting');
SET ROLE tap_identity;

SELECT is((taskmgmt.sign_in('bob@t10.identity.test', 'bob password 1')->>'user_id'), :'bob_uid', 'sign_in as bob');
SELECT lives_ok(format('SELECT set_config(%L, %L, false)', 'app.user_id', :'ann_uid'), 'set app.user_id to ann');
SELECT is(taskmgmt.current_user_id(), :bob_uid::bigint, 'signed in as bob, settings naming ann change nothing');
SELECT is((SELECT count(*)::int FROM taskmgmt.tasks WHERE id = :task_id), 0, 'bob does not see ann''s task');
SELECT throws_ok(format('SELECT taskmgmt.get_task(%s)', :task_id), 'P0002', NULL, 'get_task of ann''s task: not found for bob');

-- ---- authenticate(): until the end of the transaction ----
SELECT is(taskmgmt.current_user_id(), :ann_uid::bigint, 'one statement: authenticate(token) then current_user_id()')
  FROM (SELECT taskmgmt.authenticate(:'ann_tok')) a;
SELECT is(taskmgmt.current_user_id(), :bob_uid::bigint, 'next statement (autocommit): back to the connection''s sign-in (bob)');
SELECT lives_ok('SELECT taskmgmt.sign_out()', 'bob signs out');
SELECT is(taskmgmt.current_user_id(), NULL, 'signed out');
SELECT throws_ok('SELECT taskmgmt.sign_out()', '28000', 'not signed in', 'signing out twice: 28000');

SELECT taskmgmt.authenticate(:'ann_tok') AS signed_in \gset
SELECT is(taskmgmt.current_user_id(), NULL, 'authenticate() alone in autocommit: identity gone in the next statement');

BEGIN;
SELECT is(taskmgmt.authenticate(:'ann_tok'), :ann_uid::bigint, 'BEGIN; authenticate(ann)');
SELECT is(taskmgmt.current_user_id(), :ann_uid::bigint, 'ann within the transaction');
SELECT is(taskmgmt.get_task(:task_id)->>'title', 'ann private t10', 'ann sees her task');
SELECT is((SELECT count(*)::int FROM taskmgmt.tasks WHERE id = :task_id), 1, 'RLS shows it to her');
SELECT lives_ok(format('SELECT set_config(%L, %L, true)', 'app.user_id', :'bob_uid'), 'set_config(app.user_id, bob, local)');
SELECT is(taskmgmt.current_user_id(), :ann_uid::bigint, 'still ann');
COMMIT;
SELECT is(taskmgmt.current_user_id(), NULL, 'after COMMIT: nobody');
SELECT is((SELECT count(*)::int FROM taskmgmt.tasks), 0, 'after COMMIT: RLS shows nothing');

BEGIN;
SELECT taskmgmt.authenticate(:'ann_tok') AS signed_in \gset
ROLLBACK;
SELECT is(taskmgmt.current_user_id(), NULL, 'after ROLLBACK: nobody');

BEGIN;
SAVEPOINT s1;
SELECT taskmgmt.authenticate(:'ann_tok') AS signed_in \gset
RELEASE SAVEPOINT s1;
SELECT is(taskmgmt.current_user_id(), :ann_uid::bigint, 'authenticate() inside a released savepoint: ann for the transaction');
COMMIT;
SELECT is(taskmgmt.current_user_id(), NULL, '... and nobody after COMMIT');

BEGIN;
SELECT is(pg_temp.auth_err('not.a.token'), '28000: invalid access token', 'a refused token ...');
SELECT is(taskmgmt.current_user_id(), NULL, '... signs nobody in');
COMMIT;

-- ---- sign_in() signs the connection in; password_grant() does not ----
SELECT is(taskmgmt.current_user_id(), NULL, 'password_grant returns tokens but signs nobody in (same statement)')
  FROM (SELECT taskmgmt.password_grant('ann@t10.identity.test', 'ann password 1')) g;
SELECT is(taskmgmt.current_user_id(), NULL, 'nor in the next statement');
SELECT p->>'access_token' AS ann_tok2, pg_temp.jwt_part(p->>'access_token', 2)::jsonb->>'sid' AS ann_sid2
  FROM (SELECT taskmgmt.sign_in('ann@t10.identity.test', 'ann password 1') p) x \gset
SELECT is(taskmgmt.current_user_id(), :ann_uid::bigint, 'sign_in: signed in in the next statement');
BEGIN;
SELECT is(taskmgmt.current_user_id(), :ann_uid::bigint, 'and in the next transaction');
SELECT is((SELECT count(*)::int FROM taskmgmt.tasks WHERE id = :task_id), 1, 'RLS follows the connection''s sign-in');
COMMIT;
BEGIN;
SELECT is(taskmgmt.authenticate(:'bob_tok'), :bob_uid::bigint, 'authenticate(bob) while the connection is ann ...');
SELECT is(taskmgmt.current_user_id(), :bob_uid::bigint, '... is bob for this transaction');
COMMIT;
SELECT is(taskmgmt.current_user_id(), :ann_uid::bigint, '... and ann again afterwards');

-- the session is checked again in every transaction
RESET ROLE;
UPDATE taskmgmt.sessions SET revoked_at = now(), revoke_reason = 'test' WHERE id = :ann_sid2;
SET ROLE tap_identity;
SELECT is(taskmgmt.current_user_id(), NULL, 'session revoked elsewhere: the connection is signed out at once');
SELECT is(pg_temp.auth_err(:'ann_tok2'), '28000: session has ended {Sign in again.}', 'and that session''s token is refused');

BEGIN;
SELECT is((taskmgmt.sign_in('ann@t10.identity.test', 'ann password 1')->>'user_id'), :'ann_uid', 'BEGIN; sign_in(ann)');
SELECT is(taskmgmt.current_user_id(), :ann_uid::bigint, 'signed in within the transaction');
ROLLBACK;
SELECT is(taskmgmt.current_user_id(), NULL, 'a rolled-back sign_in leaves the connection signed out');

SELECT is((taskmgmt.sign_in('ann@t10.identity.test', 'ann password 1')->>'user_id'), :'ann_uid', 'sign_in(ann) again');
RESET ROLE;
UPDATE taskmgmt.users SET disabled = true WHERE id = :ann_uid;
SET ROLE tap_identity;
SELECT is(taskmgmt.current_user_id(), NULL, 'account disabled by an admin: signed out at once');
SELECT is(pg_temp.auth_err(:'ann_tok'), '28000: session has ended {Sign in again.}', 'and her tokens are refused');
RESET ROLE;
UPDATE taskmgmt.users SET disabled = false WHERE id = :ann_uid;
SET ROLE tap_identity;

-- connection pools reset a connection with DISCARD ALL, which does RESET ALL:
-- that signs out (DISCARD ALL itself would also drop this file's temp helpers)
SELECT is((taskmgmt.sign_in('ann@t10.identity.test', 'ann password 1')->>'user_id'), :'ann_uid', 'sign_in(ann) once more');
RESET ALL;
SET client_min_messages = warning;
SET ROLE tap_identity;
SELECT is(taskmgmt.current_user_id(), NULL, 'RESET ALL (and so DISCARD ALL) signs the connection out');
SELECT throws_ok('SET taskmgmt.connection_signed_in = on', '42501', NULL, 'a client cannot touch the internal signed-in flag');
RESET ROLE;
SET taskmgmt.connection_signed_in = on;
SET ROLE tap_identity;
SELECT is(taskmgmt.current_user_id(), NULL, 'and a superuser turning it on signs nobody in');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM pg_settings WHERE name = 'taskmgmt.connection_signed_in'), 0,
          'the flag is hidden from pg_settings / SHOW ALL');
RESET taskmgmt.connection_signed_in;
SET ROLE tap_identity;
BEGIN;
SAVEPOINT before_sign_in;
SELECT is((taskmgmt.sign_in('ann@t10.identity.test', 'ann password 1')->>'user_id'), :'ann_uid', 'sign_in(ann) inside a savepoint');
ROLLBACK TO SAVEPOINT before_sign_in;
SELECT is(taskmgmt.current_user_id(), NULL, 'rolling back to the savepoint signs out at once');
COMMIT;

SELECT is((taskmgmt.sign_in('bob@t10.identity.test', 'bob password 1')->>'user_id'), :'bob_uid', 'sign_in(bob)');
SELECT is(taskmgmt.current_user_is_admin(), false, 'bob is no admin');
RESET ROLE;
UPDATE taskmgmt.users SET role = 'admin' WHERE id = :bob_uid;
SET ROLE tap_identity;
SELECT is(taskmgmt.current_user_is_admin(), true, 'made admin: seen from the next statement');
SELECT is((SELECT count(*)::int FROM taskmgmt.tasks WHERE id = :task_id), 1, 'an admin sees ann''s task');
RESET ROLE;
UPDATE taskmgmt.users SET role = 'user' WHERE id = :bob_uid;
SET ROLE tap_identity;
SELECT is(taskmgmt.current_user_is_admin(), false, 'demoted: no longer admin');
SELECT lives_ok('SELECT taskmgmt.sign_out()', 'bob signs out');

RESET ROLE;
SELECT * FROM finish();

DELETE FROM taskmgmt.tasks WHERE creator_id IN (SELECT id FROM taskmgmt.users WHERE email LIKE '%@t10.identity.test');
DELETE FROM taskmgmt.users WHERE email LIKE '%@t10.identity.test';
