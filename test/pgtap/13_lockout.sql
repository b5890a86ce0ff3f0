-- Failed sign-ins: an unknown email and a wrong password get the same answer
-- (28P01, same message); repeated failures for one email are refused with
-- TM429 (HTTP 429) for taskmgmt.login_lockout; the right password works again
-- afterwards.  Failures are written by a background worker in a transaction
-- of its own, so this file runs in autocommit mode (no wrapping transaction)
-- and removes its rows at the end.  No timing is asserted here: the time of
-- the two failure kinds is compared by bench/identity.sh.
\ir 1_identity_helpers.psql

-- a clean slate if an earlier run was interrupted
DELETE FROM taskmgmt.users WHERE email LIKE '%@t13.identity.test';
DELETE FROM taskmgmt.login_failures WHERE email_key IN (SELECT pg_temp.email_key(e || '@t13.identity.test')
  FROM unnest(ARRAY['same', 'nobody', 'lock', 'other', 'ghost', 'win', 'off']) e);

SET taskmgmt.login_max_failures = 3;
SET taskmgmt.login_lockout = 2;
SET taskmgmt.login_failure_window = 60;

SELECT plan(32);
SET ROLE tap_identity;
SELECT count(taskmgmt.register(e || '@t13.identity.test', e || ' password 1')) AS registered
  FROM unnest(ARRAY['same', 'lock', 'other', 'win', 'off']) e \gset
SELECT id AS lock_uid FROM (SELECT (taskmgmt.password_grant('lock@t13.identity.test', 'lock password 1')->>'user_id')::bigint AS id) x \gset
\set wrong '28P01: invalid email or password'

-- ---- unknown email and wrong password: one answer ----
SELECT is(pg_temp.err($$SELECT taskmgmt.sign_in('nobody@t13.identity.test', 'some password 1')$$), :'wrong',
          'unknown email: 28P01 "invalid email or password"');
SELECT is(pg_temp.err($$SELECT taskmgmt.sign_in('same@t13.identity.test', 'some password 1')$$), :'wrong',
          'known email, wrong password: exactly the same SQLSTATE, message, detail and hint');
SELECT is(pg_temp.err($$SELECT taskmgmt.password_grant('nobody@t13.identity.test', 'some password 1')$$),
          pg_temp.err($$SELECT taskmgmt.password_grant('same@t13.identity.test', 'some password 1')$$),
          'password_grant: the same for both');
SELECT is(pg_temp.err($$SELECT taskmgmt.sign_in(NULL, 'some password 1')$$), :'wrong', 'NULL email: the same answer');
SELECT is(pg_temp.err($$SELECT taskmgmt.sign_in('same@t13.identity.test', NULL)$$), :'wrong', 'NULL password: the same answer');
RESET ROLE;
UPDATE taskmgmt.users SET disabled = true WHERE email = 'off@t13.identity.test';
SET ROLE tap_identity;
SELECT is(pg_temp.err($$SELECT taskmgmt.sign_in('off@t13.identity.test', 'off password 1')$$), :'wrong',
          'disabled account, right password: the same answer');
RESET ROLE;
SELECT is((SELECT array_agg(failures ORDER BY failures) FROM taskmgmt.login_failures
           WHERE email_key IN (pg_temp.email_key('nobody@t13.identity.test'), pg_temp.email_key('same@t13.identity.test'))),
          ARRAY[2, 2], 'failures are counted for unknown and known emails alike (and survived the errors)');
DELETE FROM taskmgmt.login_failures WHERE email_key IN
  (pg_temp.email_key('nobody@t13.identity.test'), pg_temp.email_key('same@t13.identity.test'));
SET ROLE tap_identity;

-- ---- lockout after taskmgmt.login_max_failures (3) ----
SELECT is(pg_temp.err($$SELECT taskmgmt.sign_in('lock@t13.identity.test', 'wrong password 1')$$), :'wrong', 'failure 1: 28P01');
SELECT is(pg_temp.err($$SELECT taskmgmt.sign_in('lock@t13.identity.test', 'wrong password 2')$$), :'wrong', 'failure 2: 28P01');
SELECT is(pg_temp.err($$SELECT taskmgmt.sign_in('lock@t13.identity.test', 'wrong password 3')$$), :'wrong', 'failure 3: 28P01');
SELECT matches(pg_temp.err($$SELECT taskmgmt.sign_in('lock@t13.identity.test', 'lock password 1')$$),
               '^TM429: too many failed sign-in attempts \(Try again in [12] seconds\.\)$',
               'then even the right password: TM429, with the wait in DETAIL');
SELECT throws_ok($$SELECT taskmgmt.sign_in('lock@t13.identity.test', 'wrong password 4')$$, 'TM429',
                 'too many failed sign-in attempts', 'a wrong password while locked: TM429');
SELECT throws_ok($$SELECT taskmgmt.password_grant('lock@t13.identity.test', 'lock password 1')$$, 'TM429',
                 'too many failed sign-in attempts', 'password_grant is locked out too');
SELECT throws_ok($$SELECT taskmgmt.sign_in('  LOCK@T13.Identity.Test ', 'lock password 1')$$, 'TM429',
                 'too many failed sign-in attempts', 'so is the same address in other case and with spaces');
SELECT is(taskmgmt.current_user_id(), NULL, 'nobody got signed in');
SELECT is(taskmgmt.password_grant('other@t13.identity.test', 'other password 1')->>'token_type', 'bearer',
          'another account is not affected');
SELECT is(pg_temp.err(format($$SELECT taskmgmt.sign_in('ghost@t13.identity.test', 'ghost password %s')$$, n)), :'wrong',
          format('unknown email, failure %s: 28P01', n))
  FROM generate_series(1, 3) n;
SELECT throws_ok($$SELECT taskmgmt.sign_in('ghost@t13.identity.test', 'ghost password 4')$$, 'TM429',
                 'too many failed sign-in attempts', 'an unknown email is locked out the same way (nothing to learn from it)');
SELECT throws_ok('SET taskmgmt.login_max_failures = 1000', '42501', NULL, 'a client cannot change taskmgmt.login_max_failures');
SELECT throws_ok('SET taskmgmt.login_lockout = 1', '42501', NULL, 'nor taskmgmt.login_lockout');

-- ---- after taskmgmt.login_lockout (2 s) the right password works ----
SELECT pg_sleep(2.2) IS NULL AS slept \gset
SELECT is(taskmgmt.sign_in('lock@t13.identity.test', 'lock password 1')->>'user_id', :'lock_uid',
          'after the lockout the right password signs in');
SELECT is(taskmgmt.current_user_id(), :lock_uid::bigint, 'and the connection is signed in');
SELECT lives_ok('SELECT taskmgmt.sign_out()', 'sign out');
SELECT is(pg_temp.err(format($$SELECT taskmgmt.sign_in('lock@t13.identity.test', 'wrong password %s')$$, n)), :'wrong',
          format('success reset the count: failure %s is 28P01 again', n))
  FROM generate_series(1, 2) n;
SELECT is(taskmgmt.password_grant('lock@t13.identity.test', 'lock password 1')->>'token_type', 'bearer',
          'two failures after a success do not lock');

-- ---- failures only count within taskmgmt.login_failure_window ----
RESET ROLE;
SET taskmgmt.login_failure_window = 1;
SET ROLE tap_identity;
SELECT is(pg_temp.err(format($$SELECT taskmgmt.sign_in('win@t13.identity.test', 'wrong password %s')$$, n)), :'wrong',
          format('window: failure %s', n))
  FROM generate_series(1, 2) n;
SELECT pg_sleep(1.2) IS NULL AS slept \gset
SELECT is(pg_temp.err($$SELECT taskmgmt.sign_in('win@t13.identity.test', 'wrong password 3')$$), :'wrong',
          'a third failure after the window has passed: 28P01, a new window');
SELECT is(taskmgmt.password_grant('win@t13.identity.test', 'win password 1')->>'token_type', 'bearer',
          '... so the account is not locked');

RESET ROLE;
SELECT * FROM finish();

RESET taskmgmt.login_max_failures;
RESET taskmgmt.login_lockout;
RESET taskmgmt.login_failure_window;
DELETE FROM taskmgmt.users WHERE email LIKE '%@t13.identity.test';
DELETE FROM taskmgmt.login_failures WHERE email_key IN (SELECT pg_temp.email_key(e || '@t13.identity.test')
  FROM unnest(ARRAY['same', 'nobody', 'lock', 'other', 'ghost', 'win', 'off']) e);
