-- Failed sign-ins: an unknown email and a wrong password get the same answer
-- (28P01, same message).  Past taskmgmt.login_max_failures for one email
-- from one client address, that address must wait (TM429, HTTP 429)
-- taskmgmt.login_lockout, doubling with each further failure, while other
-- addresses are not affected; past taskmgmt.login_account_max_failures from
-- all addresses, attempts on the email are spaced taskmgmt.login_account_delay
-- apart.  Nothing locks the owner out (#12.5).  Attempts are counted by a
-- background worker in a transaction of its own, before the bcrypt, so this
-- file runs in autocommit mode (no wrapping transaction) and removes its
-- rows at the end.  No timing is asserted here: the time of the two failure
-- kinds is compared by bench/identity.sh.  The parallel case (#12.6) is
-- test/http/test_signin_abuse.py.
\ir 1_identity_helpers.psql

-- a clean slate if an earlier run was interrupted
DELETE FROM taskmgmt.users WHERE email LIKE '%@t13.identity.test';
DELETE FROM taskmgmt.login_failures WHERE email_key IN (SELECT pg_temp.email_key(e || '@t13.identity.test')
  FROM unnest(ARRAY['same', 'nobody', 'lock', 'other', 'ghost', 'win', 'off', 'acct', 'six', 'busy']) e);

SET taskmgmt.login_max_failures = 3;
SET taskmgmt.login_account_max_failures = 50;
SET taskmgmt.login_lockout = 2;
SET taskmgmt.login_failure_window = 60;

SELECT plan(56);
SET ROLE tap_identity;
SELECT count(taskmgmt.register(e || '@t13.identity.test', e || ' password 1')) AS registered
  FROM unnest(ARRAY['same', 'lock', 'other', 'win', 'off', 'acct', 'six', 'busy']) e \gset
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
           WHERE email_key IN (pg_temp.email_key('nobody@t13.identity.test'), pg_temp.email_key('same@t13.identity.test'))
             AND client = ''),
          ARRAY[2, 2], 'failures are counted for unknown and known emails alike (and survived the errors)');
SELECT is((SELECT array_agg(client ORDER BY client) FROM taskmgmt.login_failures
           WHERE email_key = pg_temp.email_key('same@t13.identity.test')),
          ARRAY['', 'local'], 'per email and per client address: a Unix socket counts as "local" (inet_client_addr() is NULL)');
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
-- #12.5: the owner, from an address with no failures, signs in all the same
SELECT is(taskmgmt.password_grant('lock@t13.identity.test', 'lock password 1', '192.0.2.10')->>'user_id', :'lock_uid',
          'the right password from another address signs in while "local" waits');
SELECT is(pg_temp.err($$SELECT taskmgmt.password_grant('lock@t13.identity.test', 'wrong password 5', '192.0.2.10')$$), :'wrong',
          'from that address a wrong password is just wrong (28P01), not refused');
-- (asserted on the counter, not by a TM429: the 2 s wait may be over by now
-- on a loaded machine, after three bcrypt evaluations)
RESET ROLE;
SELECT is((SELECT failures FROM taskmgmt.login_failures
            WHERE email_key = pg_temp.email_key('lock@t13.identity.test') AND client = 'local'), 3,
          '... and the address that failed still waits (its failures are kept)');
SET ROLE tap_identity;
SELECT is(pg_temp.err(format($$SELECT taskmgmt.sign_in('ghost@t13.identity.test', 'ghost password %s')$$, n)), :'wrong',
          format('unknown email, failure %s: 28P01', n))
  FROM generate_series(1, 3) n;
SELECT throws_ok($$SELECT taskmgmt.sign_in('ghost@t13.identity.test', 'ghost password 4')$$, 'TM429',
                 'too many failed sign-in attempts', 'an unknown email is locked out the same way (nothing to learn from it)');
SELECT throws_ok('SET taskmgmt.login_max_failures = 1000', '42501', NULL, 'a client cannot change taskmgmt.login_max_failures');
SELECT throws_ok('SET taskmgmt.login_lockout = 1', '42501', NULL, 'nor taskmgmt.login_lockout');

-- ---- a slowed address: its own failures, per address, doubling ----
SELECT is(pg_temp.err(format($$SELECT taskmgmt.password_grant('six@t13.identity.test', 'wrong password %s', '198.51.100.6')$$, n)),
          :'wrong', format('address A, failure %s: 28P01', n))
  FROM generate_series(1, 3) n;
SELECT matches(pg_temp.err($$SELECT taskmgmt.password_grant('six@t13.identity.test', 'six password 1', '198.51.100.6')$$),
               '^TM429: too many failed sign-in attempts \(Try again in [12] seconds\.\)$', 'address A waits login_lockout (2 s)');
SELECT is(taskmgmt.password_grant('six@t13.identity.test', 'six password 1', '198.51.100.7')->>'token_type', 'bearer',
          'address B is not slowed');
SELECT is(pg_temp.err($$SELECT taskmgmt.password_grant('six@t13.identity.test', 'wrong password', '2001:db8:6::1')$$), :'wrong',
          'IPv6: failure 1 from 2001:db8:6::1');
SELECT is(pg_temp.err($$SELECT taskmgmt.password_grant('six@t13.identity.test', 'wrong password', '2001:db8:6::2')$$), :'wrong',
          'failure 2 from 2001:db8:6::2');
RESET ROLE;
SELECT is((SELECT failures FROM taskmgmt.login_failures
            WHERE email_key = pg_temp.email_key('six@t13.identity.test') AND client = '2001:db8:6::/64'), 2,
          'IPv6 addresses count by /64');
SET ROLE tap_identity;
SELECT pg_sleep(2.2) IS NULL AS slept \gset
SELECT is(pg_temp.err($$SELECT taskmgmt.password_grant('six@t13.identity.test', 'wrong password 4', '198.51.100.6')$$), :'wrong',
          'after the wait, address A may try again: 28P01');
SELECT matches(pg_temp.err($$SELECT taskmgmt.password_grant('six@t13.identity.test', 'six password 1', '198.51.100.6')$$),
               '^TM429: too many failed sign-in attempts \(Try again in [34] seconds\.\)$',
               'one more failure: the wait doubles (4 s)');

-- ---- many addresses: the email as a whole is spaced out, nobody locked ----
RESET ROLE;
SET taskmgmt.login_account_max_failures = 4;
SET taskmgmt.login_account_delay = 1;
SET ROLE tap_identity;
SELECT is(pg_temp.err(format($$SELECT taskmgmt.password_grant('acct@t13.identity.test', 'wrong password', '203.0.113.%s')$$, n)),
          :'wrong', format('address 203.0.113.%s, one failure: 28P01', n))
  FROM generate_series(1, 4) n;
SELECT matches(pg_temp.err($$SELECT taskmgmt.password_grant('acct@t13.identity.test', 'acct password 1', '203.0.113.99')$$),
               '^TM429: too many failed sign-in attempts \(Try again in 1 seconds\.\)$',
               'past login_account_max_failures even a clean address waits login_account_delay (1 s)');
SELECT pg_sleep(1.1) IS NULL AS slept \gset
SELECT is(taskmgmt.password_grant('acct@t13.identity.test', 'acct password 1', '203.0.113.99')->>'token_type', 'bearer',
          '... and then gets in: slowed down, not locked');
RESET ROLE;
RESET taskmgmt.login_account_max_failures;
RESET taskmgmt.login_account_delay;
SELECT is((SELECT failures FROM taskmgmt.login_failures
            WHERE email_key = pg_temp.email_key('acct@t13.identity.test') AND client = ''), 4,
          'the success took back its own count only');
SELECT ok(NOT has_function_privilege('taskmgmt_client', 'taskmgmt._login_attempt(bytea,text,integer,integer,integer,integer,integer)', 'EXECUTE')
          AND NOT has_function_privilege('taskmgmt_client', 'taskmgmt._login_success(bytea,text)', 'EXECUTE'),
          'clients cannot call the counters themselves');

-- ---- an attempt that cannot be counted is refused, without a bcrypt ----
-- (the counting worker waits for this transaction's uncommitted row until
-- the caller gives up after 5 s)
BEGIN;
SET LOCAL client_min_messages = error;   -- the server's WARNING about it is expected
INSERT INTO taskmgmt.login_failures (email_key, client, failures, window_start)
VALUES (pg_temp.email_key('busy@t13.identity.test'), '', 0, now());
SET LOCAL ROLE tap_identity;
SELECT is(pg_temp.err($$SELECT taskmgmt.password_grant('busy@t13.identity.test', 'busy password 1')$$),
          '53400: sign-in is busy, try again in a moment (The attempt could not be recorded.) {Raise max_worker_processes if this persists.}',
          'refused with 53400 (HTTP 503) when the attempt cannot be counted, the right password too');
ROLLBACK;
SET ROLE tap_identity;
SELECT is(taskmgmt.password_grant('busy@t13.identity.test', 'busy password 1')->>'token_type', 'bearer',
          'once it can be counted again, the right password works');

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
  FROM unnest(ARRAY['same', 'nobody', 'lock', 'other', 'ghost', 'win', 'off', 'acct', 'six', 'busy']) e);
