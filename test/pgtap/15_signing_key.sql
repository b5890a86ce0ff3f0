-- The JWT signing secret: at least 32 random bytes, made at CREATE
-- EXTENSION, readable only by the extension's owner and superusers, never a
-- setting (so never in SHOW ALL / pg_settings), never in error messages or
-- the server log, and not dumped.  Client roles cannot read any identity
-- table.  One transaction, rolled back (the last part drops and re-creates
-- the extension inside it).
\ir 1_identity_helpers.psql

-- Top-level errors, as a psql user makes them, from a second connection: the
-- server logs each with its STATEMENT, except the identity functions' own,
-- whose statements hold passwords and tokens.
\setenv PGDATABASE :DBNAME
\! psql -X -q -c "SELECT 'tap-log-control-statement'::int" >/dev/null 2>&1
\! psql -X -q -c "SELECT taskmgmt.sign_in('nobody@t15.identity.test', 'tlcanary-password-1')" >/dev/null 2>&1
\! psql -X -q -c "SELECT taskmgmt.register('not-an-email', 'tlcanary-password-2')" >/dev/null 2>&1
\! psql -X -q -c "SELECT taskmgmt.register('short@t15.identity.test', 'tlcanary-3')" >/dev/null 2>&1
\! psql -X -q -c "SELECT taskmgmt.authenticate('tlcanary-token.x.y')" >/dev/null 2>&1
\! psql -X -q -c "SELECT taskmgmt.refresh('tlcanary-refresh-token')" >/dev/null 2>&1
\! psql -X -q -c "SELECT taskmgmt.change_password('tlcanary-password-5', 'tlcanary-password-6')" >/dev/null 2>&1

BEGIN;
SELECT plan(34);

-- ---- the key ----
SELECT is((SELECT count(*)::int FROM taskmgmt.signing_keys), 1, 'there is exactly one signing key');
SELECT ok((SELECT octet_length(secret) >= 32 FROM taskmgmt.signing_keys), 'it is at least 32 bytes');
SELECT ok((SELECT secret <> '\x'::bytea || decode(repeat('00', octet_length(secret)), 'hex')
                  AND (SELECT count(DISTINCT get_byte(secret, i)) FROM generate_series(0, octet_length(secret) - 1) i) > 8
           FROM taskmgmt.signing_keys), 'it looks random (not zeros, many distinct bytes)');
SELECT is((SELECT tableowner FROM pg_tables WHERE schemaname = 'taskmgmt' AND tablename = 'signing_keys'),
          (SELECT r.rolname FROM pg_extension e JOIN pg_roles r ON r.oid = e.extowner WHERE e.extname = 'taskmgmt')::name,
          'signing_keys is owned by the extension''s owner');
SELECT is((SELECT count(*)::int FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
           WHERE c.oid = 'taskmgmt.signing_keys'::regclass AND a.grantee <> c.relowner), 0,
          'nobody else holds any privilege on it');
SELECT ok(NOT (SELECT 'taskmgmt.signing_keys'::regclass::oid = ANY (extconfig) FROM pg_extension WHERE extname = 'taskmgmt'),
          'it is not registered for pg_dump');

-- ---- client roles cannot read it, or any other identity table ----
SET LOCAL ROLE tap_identity;
SELECT throws_ok(format('SELECT * FROM taskmgmt.%I', t), '42501', NULL, format('client: SELECT on %s is denied', t))
  FROM unnest(ARRAY['signing_keys', 'credentials', 'sessions', 'refresh_tokens', 'login_failures']) t;
SELECT ok(NOT has_table_privilege('taskmgmt_client', format('taskmgmt.%I', t), 'SELECT,INSERT,UPDATE,DELETE'),
          format('taskmgmt_client has no privilege on %s', t))
  FROM unnest(ARRAY['signing_keys', 'credentials', 'sessions', 'refresh_tokens', 'login_failures']) t;
SELECT throws_ok('SELECT taskmgmt.rotate_signing_key()', '42501', NULL, 'client: rotate_signing_key() is denied');
SELECT is((SELECT count(*)::int FROM pg_settings WHERE setting ILIKE '%' || :'signing_key' || '%'), 0,
          'client: no setting holds the key');

-- ---- not a setting: nothing in SHOW ALL / pg_settings ----
RESET ROLE;
SELECT ok((SELECT array_agg(name::text) FROM pg_settings WHERE name LIKE 'taskmgmt.%')
          @> ARRAY['taskmgmt.access_token_ttl', 'taskmgmt.bcrypt_cost', 'taskmgmt.login_failure_window',
                   'taskmgmt.login_lockout', 'taskmgmt.login_max_failures', 'taskmgmt.refresh_token_ttl'],
          'the identity settings are the policy knobs ...');
SELECT is((SELECT count(*)::int FROM pg_settings
           WHERE name LIKE 'taskmgmt.%' AND name ~* '(key|secret|user|uid|sub|session_id|identity|admin)'), 0,
          '... and no taskmgmt.* setting holds a key or an identity');
SELECT is((SELECT count(*)::int FROM pg_show_all_settings() s
           WHERE s.setting ILIKE '%' || :'signing_key' || '%'
              OR s.setting LIKE '%' || encode(decode(:'signing_key', 'hex'), 'base64') || '%'
              OR s.setting LIKE '%' || pg_temp.b64url(decode(:'signing_key', 'hex')) || '%'), 0,
          'SHOW ALL (pg_show_all_settings): no value holds the key, in hex or base64');
SELECT is((SELECT count(*)::int FROM pg_db_role_setting s, unnest(s.setconfig) c
           WHERE c ILIKE '%' || :'signing_key' || '%'), 0, 'nor any per-role or per-database setting');

-- ---- not in error messages ----
SET LOCAL ROLE tap_identity;
SELECT is((SELECT count(*)::int FROM unnest(ARRAY[
             pg_temp.auth_err('x.y.z'),
             pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), '{"sub":1}', pg_temp.key())),
             pg_temp.auth_err(pg_temp.jwt(pg_temp.hs256(), pg_temp.claims(1, 1, 0, 1), gen_random_bytes(32))),
             pg_temp.err('SELECT taskmgmt.rotate_signing_key()'),
             pg_temp.err('SELECT * FROM taskmgmt.signing_keys')]) m
           WHERE m IS NULL OR m ILIKE '%' || :'signing_key' || '%'
              OR strpos(m, pg_temp.b64url(decode(:'signing_key', 'hex'))) > 0), 0,
          'errors about tokens and the key never show the key');
RESET ROLE;

-- ---- not in the server log ----
SELECT coalesce(pg_current_logfile(),
                regexp_replace(current_setting('data_directory'), '/data/?$', '') || '/postgres.log') AS server_log \gset
SELECT ok((pg_stat_file(:'server_log', true)).size > 0, 'the server log can be read (' || :'server_log' || ')');
SELECT is(strpos(lower(pg_read_file(:'server_log')), :'signing_key'), 0, 'the server log does not contain the key in hex');
SELECT is(strpos(pg_read_file(:'server_log'), pg_temp.b64url(decode(:'signing_key', 'hex'))), 0,
          'nor in base64url');
SELECT ok(strpos(pg_read_file(:'server_log'), 'tap-log-control-statement') > 0,
          'the statement of an ordinary error is logged (so the next checks mean something)');
SELECT ok(strpos(pg_read_file(:'server_log'), 'invalid email or password') > 0, 'the failed sign-in is logged ...');
SELECT is(strpos(pg_read_file(:'server_log'), 'tlcanary'), 0,
          '... but no statement of a failed sign_in, register, authenticate, refresh or change_password: no password or token in the log');

-- ---- rotation and CREATE EXTENSION make new keys ----
SELECT taskmgmt.rotate_signing_key() IS NULL AS rotated \gset
SELECT isnt((SELECT encode(secret, 'hex') FROM taskmgmt.signing_keys), :'signing_key', 'rotate_signing_key() makes a new key');
SELECT ok((SELECT octet_length(secret) >= 32 FROM taskmgmt.signing_keys), 'of at least 32 bytes');
SELECT throws_ok($$INSERT INTO taskmgmt.signing_keys (id, secret) VALUES (1, '\x00') ON CONFLICT (id) DO UPDATE SET secret = EXCLUDED.secret$$,
                 '23514', NULL, 'a key shorter than 32 bytes cannot even be stored');
SELECT encode(secret, 'hex') AS rotated_key FROM taskmgmt.signing_keys \gset
SET LOCAL client_min_messages = error;
DROP EXTENSION taskmgmt CASCADE;
CREATE EXTENSION taskmgmt;
SELECT is((SELECT count(*)::int FROM taskmgmt.signing_keys), 1, 'CREATE EXTENSION made a key');
SELECT ok((SELECT octet_length(secret) >= 32 AND encode(secret, 'hex') NOT IN (:'signing_key', :'rotated_key')
           FROM taskmgmt.signing_keys), 'a fresh one, of at least 32 bytes');

SELECT * FROM finish();
ROLLBACK;
DELETE FROM taskmgmt.login_failures WHERE email_key = pg_temp.email_key('nobody@t15.identity.test');
