-- Personal access tokens: created with a password sign-in, shown once and
-- stored as sha256; authenticate() takes them like an access token; the
-- read scope is refused on every write (TM403), however it is attempted;
-- each user sees and revokes only their own; revoking, expiry, disabling
-- the account and changing the password end them.
\ir 7_workflow_helpers.psql
BEGIN;
SET ROLE tap_workflow;
SELECT pg_temp.wf_user('ann') AS ann, pg_temp.wf_user('bob') AS bob \gset
SELECT plan(50);

SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.create_task('{"title": "ann task"}') ->> 'id')::bigint AS task \gset
SELECT taskmgmt.create_token('{"name": "ci read", "scopes": ["read"], "expires_in_days": 30}') AS rt \gset
SELECT taskmgmt.create_token('{"name": "ci write", "scopes": ["write", "read", "write"]}') AS wt \gset
SELECT :'rt'::jsonb ->> 'token' AS read_token, (:'rt'::jsonb ->> 'id')::bigint AS read_id,
       :'wt'::jsonb ->> 'token' AS write_token, (:'wt'::jsonb ->> 'id')::bigint AS write_id \gset

-- ---- creation ----
SELECT ok(:'read_token' ~ '^tmpat_[A-Za-z0-9_-]{43}$', 'a token is tmpat_ and 32 random bytes in base64url');
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(:'rt'::jsonb) k),
          '{created_at,expires_at,id,last_used_at,name,scopes,token}', 'create_token answers id, name, scopes, dates and the token');
SELECT is(:'rt'::jsonb -> 'scopes', '["read"]', 'scopes as given');
SELECT is(:'wt'::jsonb -> 'scopes', '["read", "write"]', 'scopes sorted, without duplicates');
SELECT ok((:'rt'::jsonb ->> 'expires_at')::timestamptz BETWEEN now() + interval '29 days 23 hours' AND now() + interval '30 days 1 hour',
          'expires_in_days sets expires_at');
SELECT is(:'wt'::jsonb -> 'expires_at', 'null', 'without expires_in_days: no expiry');
SELECT is(taskmgmt._token_expiry(:'read_token'), floor(extract(epoch FROM (:'rt'::jsonb ->> 'expires_at')::timestamptz))::bigint,
          '_token_expiry(): a token''s expires_at (for the websocket)');
SELECT is(taskmgmt._token_expiry(:'write_token'), NULL, 'NULL for one that never expires');
SELECT is(taskmgmt._token_expiry(taskmgmt.password_grant('ann@wf.test', 'ann password 1') ->> 'access_token')
          BETWEEN extract(epoch FROM now())::bigint AND extract(epoch FROM now())::bigint + 3600, true, 'a JWT''s exp');
SELECT is(taskmgmt._token_expiry('garbage'), NULL, 'NULL for garbage, without an error');
SELECT is((SELECT array_agg(e ->> 'name' ORDER BY e ->> 'name') FROM jsonb_array_elements(taskmgmt.list_tokens()) e),
          '{"ci read","ci write"}', 'list_tokens lists them');
SELECT ok(NOT taskmgmt.list_tokens() @> '[{"token": null}]' AND taskmgmt.list_tokens()::text NOT LIKE '%tmpat_%',
          'and never shows a secret again');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM taskmgmt.personal_tokens WHERE token_hash = sha256(convert_to(:'read_token', 'UTF8'))), 1,
          'the token is stored as its sha256');
SELECT is((SELECT count(*)::int FROM taskmgmt.personal_tokens t WHERE t::text LIKE '%' || substr(:'read_token', 7, 20) || '%'), 0,
          'and nowhere in the clear');
SET ROLE tap_workflow;
SELECT throws_ok('SELECT token_hash FROM taskmgmt.personal_tokens', '42501', NULL, 'clients cannot read the hashes');
SELECT throws_ok(format('INSERT INTO taskmgmt.personal_tokens (user_id, name, scopes, token_hash) VALUES (%s, ''x'', ''{write}'', ''\x00'')', :ann),
                 '42501', NULL, 'nor insert a token of their choosing');

-- ---- validation ----
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.create_token('{"name": "x"}')$$),
          'TM422 [scopes] scopes must be a non-empty array of "read" and "write"', 'scopes are required');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.create_token('{"name": "x", "scopes": ["admin"]}')$$),
          'TM422 [scopes] scopes must be a non-empty array of "read" and "write"', 'an unknown scope');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.create_token('{"name": "x", "scopes": "read"}')$$),
          'TM422 [scopes] scopes must be a non-empty array of "read" and "write"', 'scopes must be an array');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.create_token('{"name": "  ", "scopes": ["read"]}')$$),
          'TM422 [name] name is required', 'a name is required');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.create_token('{"name": "x", "scopes": ["read"], "expires_in_days": 0}')$$),
          'TM422 [expires_in_days] expires_in_days must be a whole number of days from 1 to 3650', 'expires_in_days from 1');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.create_token('{"name": "x", "scopes": ["read"], "expires_in_days": 1.5}')$$),
          'TM422 [expires_in_days] expires_in_days must be a whole number of days from 1 to 3650', 'whole days');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.create_token('{"name": "x", "scopes": ["read"], "owner": 1}')$$),
          'TM422 [owner] owner is not a known field', 'unknown fields are refused');

-- ---- authenticate() with a token ----
SELECT is(taskmgmt.authenticate(:'write_token'), :ann::bigint, 'authenticate() takes a write token');
SELECT is(taskmgmt._current_token_id(), :write_id::bigint, '_current_token_id() names it');
SELECT is((taskmgmt.create_task('{"title": "made with a token"}') ->> 'creator_id')::bigint, :ann::bigint,
          'a write token writes as its user');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.create_token('{"name": "x", "scopes": ["read"]}')$$),
          '42501 a personal access token cannot create tokens', 'a token cannot make tokens');
SELECT ok((SELECT last_used_at IS NOT NULL FROM taskmgmt.personal_tokens WHERE id = :write_id), 'last_used_at is recorded');

-- ---- others' tokens: invisible ----
SELECT pg_temp.wf_as('bob') IS NOT NULL AS signed_in \gset
SELECT is(taskmgmt.list_tokens(), '[]', 'bob lists none of ann''s tokens');
SELECT is((SELECT count(*)::int FROM taskmgmt.personal_tokens), 0, 'nor sees them in the table');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.revoke_token(%s)', :read_id)), 'P0002 token not found',
          'nor revokes them: not found');
SELECT is(pg_temp.wf_err('SELECT taskmgmt.authenticate(''tmpat_' || repeat('A', 43) || ''')'), '28000 invalid access token',
          'an unknown token: 28000');

-- ---- revoking, expiry, disabling, password change ----
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT taskmgmt.create_token('{"name": "short-lived", "scopes": ["read"]}') AS st \gset
SELECT lives_ok(format('SELECT taskmgmt.revoke_token(%s)', :'st'::jsonb ->> 'id'), 'ann revokes a token');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.authenticate(%L)', :'st'::jsonb ->> 'token')), '28000 invalid access token',
          'a revoked token stops working at once');
RESET ROLE;
UPDATE taskmgmt.personal_tokens SET expires_at = now() - interval '1 second' WHERE id = :write_id;
SET ROLE tap_workflow;
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.authenticate(%L)', :'write_token')), '28000 access token expired',
          'an expired token: 28000 access token expired');
RESET ROLE;
UPDATE taskmgmt.personal_tokens SET expires_at = NULL WHERE id = :write_id;
SET ROLE tap_workflow;
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT lives_ok($$SELECT taskmgmt.change_password('ann password 1', 'ann password 2')$$, 'ann changes her password');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.authenticate(%L)', :'write_token')), '28000 invalid access token',
          'changing the password revoked her tokens');
SELECT is(taskmgmt.list_tokens(), '[]', 'all of them');
SELECT taskmgmt.create_token('{"name": "reader", "scopes": ["read"]}') ->> 'token' AS read_token \gset
SELECT pg_temp.wf_as('bob') IS NOT NULL AS signed_in \gset
SELECT taskmgmt.create_token('{"name": "bob", "scopes": ["write"]}') ->> 'token' AS bob_token \gset
RESET ROLE;
UPDATE taskmgmt.users SET disabled = true WHERE id = :bob;
SELECT is((SELECT count(*)::int FROM taskmgmt.personal_tokens WHERE user_id = :bob), 0, 'disabling an account revokes its tokens');
SET ROLE tap_workflow;

-- ---- the read scope (last: once signed in with a read token, this
-- transaction writes nothing more, not even a sign-in) ----
SELECT is(taskmgmt.authenticate(:'read_token'), :ann::bigint, 'authenticate() takes a read token');
SELECT is((taskmgmt.get_task(:task) ->> 'title'), 'ann task', 'a read token reads');
SELECT is(jsonb_array_length(taskmgmt.list_tasks() -> 'items'), 2, 'and lists');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.create_task('{"title": "nope"}')$$), 'TM403 this token may only read',
          'a read token cannot create a task (TM403)');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.update_task(%s, '{"title": "nope"}')$$, :task)), 'TM403 this token may only read',
          'nor update one');
SELECT is(pg_temp.wf_err(format('UPDATE taskmgmt.tasks SET title = ''nope'' WHERE id = %s', :task)), 'TM403 this token may only read',
          'nor write a table directly');
SELECT is(pg_temp.wf_err(format('SELECT 1 FROM taskmgmt.tasks WHERE id = %s FOR UPDATE', :task)), 'TM403 this token may only read',
          'nor lock rows');
SELECT is(pg_temp.wf_err(format('WITH d AS (DELETE FROM taskmgmt.tasks WHERE id = %s RETURNING 1) SELECT 1', :task)),
          'TM403 this token may only read', 'nor write in a CTE');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.revoke_token(%s)', :write_id)), 'TM403 this token may only read',
          'nor revoke tokens');
SAVEPOINT s;
SET LOCAL transaction_read_only = off;
ROLLBACK TO SAVEPOINT s;
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.create_task('{"title": "nope"}')$$), 'TM403 this token may only read',
          'the scope outlives a rolled-back savepoint');
SELECT is(taskmgmt.get_task(:task) ->> 'title', 'ann task', 'nothing was written');


SELECT * FROM finish();
ROLLBACK;
