-- register(): email trimmed, validated and unique case-insensitively;
-- password 12 to 72 bytes (bytes, not characters; longer is refused, never
-- truncated); bcrypt at the cost of taskmgmt.bcrypt_cost (default 12, min 10).
-- One transaction, rolled back (failed sign-ins are recorded by a background
-- worker that commits on its own: those rows are removed at the end).
\ir 1_identity_helpers.psql

BEGIN;
SELECT plan(66);
SET ROLE tap_identity;
\set badpw 'TM422: password must be 12 to 72 bytes long [password]'
\set bademail 'TM422: email is not a valid email address [email]'

-- ---- password length, in bytes ----
SELECT is(pg_temp.err($$SELECT taskmgmt.register('p11@t12.identity.test', repeat('a', 11))$$), :'badpw', '11 bytes: refused');
SELECT is(pg_temp.err($$SELECT taskmgmt.register('p12@t12.identity.test', repeat('a', 12))$$), NULL, '12 bytes: accepted');
SELECT is(pg_temp.err($$SELECT taskmgmt.register('p72@t12.identity.test', repeat('b', 71) || 'c')$$), NULL, '72 bytes: accepted');
SELECT is(pg_temp.err($$SELECT taskmgmt.register('p73@t12.identity.test', repeat('a', 73))$$), :'badpw', '73 bytes: refused');
SELECT is(pg_temp.err($$SELECT taskmgmt.register('p1k@t12.identity.test', repeat('a', 1000))$$), :'badpw', '1000 bytes: refused');
SELECT is(pg_temp.err($$SELECT taskmgmt.register('p0@t12.identity.test', '')$$), :'badpw', 'empty password: refused');
SELECT is(pg_temp.err($$SELECT taskmgmt.register('pnull@t12.identity.test', NULL)$$),
          'TM422: password is required [password]', 'NULL password: refused');
SELECT is(pg_temp.err($$SELECT taskmgmt.register('u6@t12.identity.test', repeat('é', 6))$$), NULL,
          '6 characters of 2 bytes (12 bytes): accepted');
SELECT is(pg_temp.err($$SELECT taskmgmt.register('u11@t12.identity.test', repeat('é', 5) || 'a')$$), :'badpw',
          '6 characters but 11 bytes: refused');
SELECT is(pg_temp.err($$SELECT taskmgmt.register('u72@t12.identity.test', repeat('é', 36))$$), NULL,
          '36 characters of 2 bytes (72 bytes): accepted');
SELECT is(pg_temp.err($$SELECT taskmgmt.register('u73@t12.identity.test', repeat('é', 36) || 'a')$$), :'badpw',
          '37 characters, 73 bytes: refused');
SELECT is(pg_temp.err($$SELECT taskmgmt.register('u40@t12.identity.test', repeat('€', 25))$$), :'badpw',
          '25 characters of 3 bytes (75 bytes): refused');

-- ---- never truncated: all 72 bytes count, and nothing beyond them signs in ----
SELECT is(taskmgmt.password_grant('p72@t12.identity.test', repeat('b', 71) || 'c')->>'token_type', 'bearer',
          '72-byte password: signs in');
SELECT is(pg_temp.err($$SELECT taskmgmt.password_grant('p72@t12.identity.test', repeat('b', 71) || 'd')$$),
          '28P01: invalid email or password', '72-byte password with only the last byte changed: refused');
SELECT is(pg_temp.err($$SELECT taskmgmt.password_grant('p72@t12.identity.test', repeat('b', 71))$$),
          '28P01: invalid email or password', 'its first 71 bytes: refused');
SELECT is(pg_temp.err($$SELECT taskmgmt.password_grant('p72@t12.identity.test', repeat('b', 71) || 'cX')$$),
          '28P01: invalid email or password', 'the 72 bytes plus one more (bcrypt would ignore it): refused');
SELECT is(pg_temp.err($$SELECT taskmgmt.sign_in('p72@t12.identity.test', repeat('b', 71) || 'c' || repeat('z', 100))$$),
          '28P01: invalid email or password', 'the 72 bytes plus 100 more, via sign_in: refused');
SELECT is(taskmgmt.current_user_id(), NULL, 'and nobody got signed in');

-- ---- change_password follows the same rules ----
SELECT is(taskmgmt.sign_in('p12@t12.identity.test', repeat('a', 12))->>'token_type', 'bearer', 'signed in to change the password');
SELECT is(pg_temp.err($$SELECT taskmgmt.change_password(repeat('a', 12), repeat('n', 11))$$),
          'TM422: new_password must be 12 to 72 bytes long [new_password]', 'change_password: 11-byte new password refused');
SELECT is(pg_temp.err($$SELECT taskmgmt.change_password(repeat('a', 12), repeat('n', 73))$$),
          'TM422: new_password must be 12 to 72 bytes long [new_password]', 'change_password: 73-byte new password refused');
SELECT is(pg_temp.err($$SELECT taskmgmt.change_password(repeat('a', 12) || repeat('x', 61), repeat('n', 72))$$),
          '28P01: current password is wrong [current_password]',
          'change_password: current password plus extra bytes (73 in all) is wrong');
SELECT is(pg_temp.err($$SELECT taskmgmt.change_password(repeat('a', 12), repeat('n', 72))$$), NULL,
          'change_password: 72-byte new password accepted');
SELECT is(pg_temp.err($$SELECT taskmgmt.password_grant('p12@t12.identity.test', repeat('a', 12))$$),
          '28P01: invalid email or password', 'the old password no longer works');
SELECT is(taskmgmt.password_grant('p12@t12.identity.test', repeat('n', 72))->>'token_type', 'bearer', 'the new one does');
SELECT lives_ok('SELECT taskmgmt.sign_out()', 'signed out');

-- ---- how passwords are stored (superuser: credentials are closed to clients) ----
RESET ROLE;
SELECT is((SELECT count(*)::int FROM taskmgmt.credentials c JOIN taskmgmt.users u ON u.id = c.user_id
           WHERE u.email LIKE '%@t12.identity.test'
             AND c.password_hash ~ ('^\$2a\$' || lpad(current_setting('taskmgmt.bcrypt_cost'), 2, '0') || '\$.{53}$')),
          4, 'every stored hash is bcrypt ($2a$) at the configured cost');
SELECT is((SELECT count(*)::int FROM taskmgmt.credentials c JOIN taskmgmt.users u ON u.id = c.user_id
           WHERE u.email = 'p72@t12.identity.test' AND c.password_hash = crypt(repeat('b', 71) || 'c', c.password_hash)
             AND strpos(c.password_hash, repeat('b', 12)) = 0),
          1, 'the hash verifies the password and does not contain it');
SELECT is((SELECT count(*)::int FROM taskmgmt.users WHERE email LIKE '%@t12.identity.test'), 4,
          'refused registrations left no user rows behind');
SELECT is((SELECT count(*)::int FROM taskmgmt.users u WHERE u.email LIKE '%@t12.identity.test'
           AND NOT EXISTS (SELECT FROM taskmgmt.credentials c WHERE c.user_id = u.id)), 0,
          'and every user row has its credentials');
SET LOCAL taskmgmt.bcrypt_cost = 11;
SET ROLE tap_identity;
SELECT is(pg_temp.err($$SELECT taskmgmt.register('cost11@t12.identity.test', 'cost eleven password')$$), NULL,
          'registered with taskmgmt.bcrypt_cost = 11');
RESET ROLE;
SELECT is((SELECT left(c.password_hash, 7) FROM taskmgmt.credentials c JOIN taskmgmt.users u ON u.id = c.user_id
           WHERE u.email = 'cost11@t12.identity.test'), '$2a$11$', '... and that hash has cost 11');
SELECT throws_ok('SET LOCAL taskmgmt.bcrypt_cost = 9', '22023', NULL, 'a bcrypt cost below 10 is refused');
SELECT is((SELECT boot_val || '/' || min_val || '/' || context FROM pg_settings WHERE name = 'taskmgmt.bcrypt_cost'),
          '12/10/superuser', 'taskmgmt.bcrypt_cost: default 12, minimum 10, superuser only');
RESET taskmgmt.bcrypt_cost;
SET ROLE tap_identity;
SELECT is(taskmgmt.password_grant('cost11@t12.identity.test', 'cost eleven password')->>'token_type', 'bearer',
          'the cost-11 account signs in after the cost is set back');
RESET ROLE;
SELECT is((SELECT left(c.password_hash, 7) FROM taskmgmt.credentials c JOIN taskmgmt.users u ON u.id = c.user_id
           WHERE u.email = 'cost11@t12.identity.test'),
          '$2a$' || lpad(current_setting('taskmgmt.bcrypt_cost'), 2, '0') || '$',
          '... and its hash was redone at the configured cost (sign-in costs the same for every account)');
SELECT is((SELECT count(*)::int FROM taskmgmt.credentials c JOIN taskmgmt.users u ON u.id = c.user_id
           WHERE u.email = 'cost11@t12.identity.test' AND c.password_hash = crypt('cost eleven password', c.password_hash)),
          1, '... and still verifies the password');
SET ROLE tap_identity;
SELECT throws_ok('SET taskmgmt.bcrypt_cost = 10', '42501', NULL, 'a client cannot change taskmgmt.bcrypt_cost');

-- ---- email: trimmed, validated ----
SELECT is(taskmgmt.register(E'  \tCarol@T12.Identity.Test \n', 'carol password', 'Carol')->>'email',
          'Carol@T12.Identity.Test', 'email is trimmed (case kept as typed)');
SELECT is(taskmgmt.password_grant('  carol@t12.identity.test ', 'carol password')->>'token_type', 'bearer',
          'sign-in matches it case-insensitively and trimmed');
SELECT is(pg_temp.err($$SELECT taskmgmt.register(NULL, 'long enough pw')$$), 'TM422: email is required [email]', 'NULL email: refused');
SELECT is(pg_temp.err(format('SELECT taskmgmt.register(%L, %L)', e, 'long enough pw')), :'bademail',
          format('invalid email %s: refused', quote_literal(left(e, 40))))
  FROM unnest(ARRAY['', '   ', 'plainaddress', '@t12.identity.test', 'nobody@', 'a@localhost',
                    'two words@t12.identity.test', 'a@@t12.identity.test', 'a@b@t12.identity.test',
                    'a@t12..identity.test', 'a@.t12.identity.test', 'a@t12.identity.test.',
                    'a@-t12.identity.test', 'quo"te@t12.identity.test', 'semi;colon@t12.identity.test',
                    repeat('l', 65) || '@t12.identity.test', 'x@' || repeat('d', 250) || '.test']) e;

-- ---- unique case-insensitively ----
SELECT is(pg_temp.err($$SELECT taskmgmt.register('dup@t12.identity.test', 'dup password 1')$$), NULL, 'dup@: registered');
SELECT is(pg_temp.err($$SELECT taskmgmt.register('DUP@T12.IDENTITY.TEST', 'dup password 2')$$),
          '23505: email is already registered [email]', 'DUP@ (other case): refused with 23505');
SELECT is(pg_temp.err($$SELECT taskmgmt.register('  Dup@t12.identity.test  ', 'dup password 3')$$),
          '23505: email is already registered [email]', '"  Dup@ " (case and spaces): refused with 23505');
SELECT is(taskmgmt.register('Émile@t12.identity.test', 'emile password 1')->>'email', 'Émile@t12.identity.test',
          'a non-ASCII address registers');
SELECT is(taskmgmt.password_grant('émile@T12.IDENTITY.TEST', 'emile password 1')->>'token_type', 'bearer',
          'and signs in with its letters in other case (non-ASCII too)');
SELECT is(pg_temp.err($$SELECT taskmgmt.register('ÉMILE@t12.identity.test', 'emile password 2')$$),
          '23505: email is already registered [email]', 'ÉMILE@ (non-ASCII, other case): refused with 23505');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM taskmgmt.users WHERE lower(email) = 'dup@t12.identity.test'), 1,
          'exactly one row for dup@');
SELECT is((SELECT count(*)::int FROM taskmgmt.credentials c JOIN taskmgmt.users u ON u.id = c.user_id
           WHERE lower(u.email) = 'dup@t12.identity.test' AND c.password_hash = crypt('dup password 1', c.password_hash)),
          1, 'and it still has the first password');

SELECT * FROM finish();
ROLLBACK;
DELETE FROM taskmgmt.login_failures WHERE email_key IN
  (SELECT pg_temp.email_key(e) FROM unnest(ARRAY['p72@t12.identity.test', 'p12@t12.identity.test']) e);
