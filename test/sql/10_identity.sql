-- Identity: register, sign_in, me, sign_out, and their errors.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET search_path = taskmgmt, public;
SET ROLE regress_client;

-- Signed out: no identity, and every API function but register/sign_in says so.
SELECT current_user_id() IS NULL AS signed_out;
SELECT me();
SELECT err($$SELECT me()$$);
SELECT err($$SELECT update_me('{}')$$);
SELECT err($$SELECT create_team('x')$$);
SELECT err($$SELECT get_task(1)$$);
SELECT err($$SELECT sign_out()$$);

-- register returns the new user (no password, no hash anywhere).
SELECT register('  Ada@Example.com ', 'correct horse battery', 'Ada Lovelace')
       - '{id,created_at}'::text[] AS ada;
SELECT (register('grace@example.com', 'another long password', NULL)) ->> 'display_name'
       AS default_display_name;
SELECT register('max72@example.com', repeat('x', 72), 'Max') ->> 'email' AS seventy_two_bytes_ok;

-- register: each bad field is named.
SELECT err($$SELECT register(NULL, 'correct horse battery', 'A')$$);
SELECT err($$SELECT register('not-an-email', 'correct horse battery', 'A')$$);
SELECT err($$SELECT register('a@b', 'correct horse battery', 'A')$$);
SELECT err($$SELECT register('two@at@example.com', 'correct horse battery', 'A')$$);
SELECT err($$SELECT register('x@example.com', NULL, 'A')$$);
SELECT err($$SELECT register('x@example.com', 'short pass1', 'A')$$);   -- 11 bytes
SELECT err($$SELECT register('x@example.com', repeat('x', 73), 'A')$$);
SELECT err($$SELECT register('x@example.com', 'correct horse battery', '   ')$$);
SELECT err($$SELECT register('x@example.com', 'correct horse battery', repeat('n', 101))$$);
-- the same address in another case is the same account: conflict
SELECT err($$SELECT register('ADA@example.COM', 'some other password', 'Imposter')$$);
-- nothing was half-written by the failed attempts
RESET ROLE;
SELECT count(*) AS users, count(*) FILTER (WHERE lower(email) = 'ada@example.com') AS ada_rows,
       (SELECT count(*) FROM taskmgmt.credentials) AS credentials
  FROM taskmgmt.users;
SET ROLE regress_client;

-- sign_in: the same answer for a wrong password and an unknown address.
SELECT err($$SELECT sign_in('ada@example.com', 'wrong password!!')$$);
SELECT err($$SELECT sign_in('nobody@example.com', 'correct horse battery')$$);
SELECT err($$SELECT sign_in(NULL, NULL)$$);
SELECT current_user_id() IS NULL AS still_signed_out;

-- sign_in is case-insensitive on the address and signs this connection in.
SELECT s ->> 'token_type' AS token_type, (s ->> 'expires_in')::int AS expires_in,
       s ? 'access_token' AS has_access, s ? 'refresh_token' AS has_refresh,
       (s ->> 'user_id')::bigint = current_user_id() AS user_id_matches
  FROM sign_in('ADA@EXAMPLE.COM', 'correct horse battery') s;
SELECT me() - '{id,created_at}'::text[] AS me;
SELECT (me() ->> 'id')::bigint = current_user_id() AS me_is_current_user;
SELECT current_user_is_admin() AS is_admin;

-- SET cannot forge an identity: there is no setting behind it.
SELECT current_user_id() AS before_set \gset
SELECT err($$SET taskmgmt.user_id = '999'$$) AS set_attempt;
SELECT current_user_id() = :before_set AS unchanged;

-- password_grant gives tokens without changing who this connection is.
SELECT (password_grant('grace@example.com', 'another long password') ->> 'user_id')::bigint
       <> current_user_id() AS other_user_tokens;
SELECT me() ->> 'email' AS still_ada;

-- signing in as someone else replaces the identity
SELECT sign_in('grace@example.com', 'another long password') ->> 'token_type';
SELECT me() ->> 'email' AS now_grace;

-- The once-per-transaction check of the signed-in session runs inside
-- whatever statement first asks who is signed in, a parallel query that
-- writes included (where a fresh snapshot could not be taken).
SET force_parallel_mode = on;
CREATE TEMP TABLE who AS SELECT current_user_id() AS uid;
RESET force_parallel_mode;
SELECT uid = current_user_id() AS parallel_write_sees_identity FROM who;
DROP TABLE who;

-- sign_out ends it.
SELECT sign_out();
SELECT current_user_id() IS NULL AS signed_out_again;
SELECT err($$SELECT me()$$);
SELECT err($$SELECT sign_out()$$);

-- A disabled account cannot sign in (same answer as a wrong password).
RESET ROLE;
UPDATE taskmgmt.users SET disabled = true WHERE email = 'max72@example.com';
SET ROLE regress_client;
SELECT err(format('SELECT sign_in(%L, %L)', 'max72@example.com', repeat('x', 72)));
