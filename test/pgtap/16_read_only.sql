-- Read-only transactions, as on a hot standby (pg_auto_failover's
-- secondary, a CNPG replica): the functions that write refuse at once with
-- 25006, before the bcrypt and before a wrong password could start the
-- autonomous failure count (which cannot write there: a standby would then
-- let anyone guess passwords without a lockout).  Verifying a token only
-- reads and works.  On a real standby: the suite 'ha'.
\ir 1_identity_helpers.psql
BEGIN;
SELECT plan(10);
SET ROLE tap_identity;
SELECT (taskmgmt.register('ro@t16.identity.test', 'some password 1', 'Ro') ->> 'id')::bigint AS uid \gset
SELECT taskmgmt.password_grant('ro@t16.identity.test', 'some password 1') AS pair \gset
SELECT taskmgmt.sign_in('ro@t16.identity.test', 'some password 1') IS NOT NULL AS signed_in \gset
SAVEPOINT writable;

SET TRANSACTION READ ONLY;
SELECT is(pg_temp.err($$SELECT taskmgmt.sign_in('ro@t16.identity.test', 'some password 1')$$),
          '25006: cannot execute sign_in() in a read-only transaction', 'sign_in refuses with 25006');
SELECT is(pg_temp.err($$SELECT taskmgmt.password_grant('ro@t16.identity.test', 'a wrong password')$$),
          '25006: cannot execute password_grant() in a read-only transaction',
          'a wrong password gets 25006 too, not 28P01 (no failure count is attempted)');
SELECT is(pg_temp.err($$SELECT taskmgmt.register('ro2@t16.identity.test', 'some password 1')$$),
          '25006: cannot execute register() in a read-only transaction', 'register refuses with 25006');
SELECT is(pg_temp.err(format('SELECT taskmgmt.refresh(%L)', :'pair'::jsonb ->> 'refresh_token')),
          '25006: cannot execute refresh() in a read-only transaction', 'refresh refuses with 25006');
SELECT is(pg_temp.err($$SELECT taskmgmt.change_password('some password 1', 'other password 2')$$),
          '25006: cannot execute change_password() in a read-only transaction', 'change_password refuses with 25006');
SELECT is(pg_temp.err($$SELECT taskmgmt.sign_out()$$),
          '25006: cannot execute sign_out() in a read-only transaction', 'sign_out refuses with 25006');
SELECT is(taskmgmt.authenticate(:'pair'::jsonb ->> 'access_token'), :uid::bigint,
          'authenticate (it only reads) works');
SELECT is(taskmgmt.me() ->> 'email', 'ro@t16.identity.test', 'reads as the authenticated user work');
ROLLBACK TO SAVEPOINT writable;
RESET ROLE;
-- (a row may stand for the right password's attempt, taken back: count failures)
SELECT is((SELECT coalesce(sum(failures), 0) FROM taskmgmt.login_failures WHERE email_key = pg_temp.email_key('ro@t16.identity.test')),
          0::bigint, 'no failure was counted');
SET TRANSACTION READ ONLY;
SELECT is(pg_temp.err($$SELECT taskmgmt.rotate_signing_key()$$),
          '25006: cannot execute rotate_signing_key() in a read-only transaction', 'rotate_signing_key refuses with 25006');
SELECT * FROM finish();
ROLLBACK;
