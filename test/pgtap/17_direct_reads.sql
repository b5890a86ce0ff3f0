-- The reads every request makes without SPI (extension/direct_read.c): the
-- caller's teams (membership.c) and the session behind a token
-- (session_lookup.c) give the answers of the queries they replace, also
-- when the index they read through is not valid (a failed CREATE INDEX
-- CONCURRENTLY leaves one so): then the table is read instead, as the
-- planner would.  One transaction, rolled back.
\ir 1_identity_helpers.psql

BEGIN;
SELECT plan(13);

-- scans of a relation in this transaction so far
CREATE FUNCTION pg_temp.scans(rel regclass) RETURNS bigint LANGUAGE sql AS $$
  SELECT pg_catalog.pg_stat_get_xact_numscans(rel)
$$;

SET ROLE tap_identity;
SELECT count(taskmgmt.register(e || '@t17.identity.test', e || ' password 1')) AS registered
  FROM unnest(ARRAY['ann', 'bob']) e \gset
SELECT p->>'access_token' AS ann_tok, p->>'user_id' AS ann_uid,
       pg_temp.jwt_part(p->>'access_token', 2)::jsonb->>'sid' AS ann_sid
  FROM (SELECT taskmgmt.password_grant('ann@t17.identity.test', 'ann password 1') p) x \gset
SELECT p->>'access_token' AS bob_tok, p->>'user_id' AS bob_uid
  FROM (SELECT taskmgmt.password_grant('bob@t17.identity.test', 'bob password 1') p) x \gset

-- bob owns three teams; ann is a member of the first, lead of the second,
-- owner (with bob) of the third, in an order unlike the teams' ids
SELECT taskmgmt.authenticate(:'bob_tok') IS NOT NULL AS bob_in \gset
SELECT (taskmgmt.create_team('t17 one') ->> 'id')::bigint AS t1,
       (taskmgmt.create_team('t17 two') ->> 'id')::bigint AS t2,
       (taskmgmt.create_team('t17 three') ->> 'id')::bigint AS t3 \gset
SELECT taskmgmt.add_team_member(:t3, :ann_uid, 'owner') IS NOT NULL AS a3,
       taskmgmt.add_team_member(:t1, :ann_uid, 'member') IS NOT NULL AS a1,
       taskmgmt.add_team_member(:t2, :ann_uid, 'lead') IS NOT NULL AS a2 \gset

SELECT pg_temp.scans('taskmgmt.team_members') AS table_scans,
       pg_temp.scans('taskmgmt.team_members_user_id_idx') AS index_scans \gset
SELECT taskmgmt.authenticate(:'ann_tok') IS NOT NULL AS ann_in \gset
SELECT is(taskmgmt.my_team_ids(), ARRAY[:t1, :t2, :t3]::bigint[], 'my_team_ids(): every team, in id order');
SELECT is(taskmgmt.my_led_team_ids(), ARRAY[:t2, :t3]::bigint[], 'my_led_team_ids(): lead or owner');
SELECT is(taskmgmt.my_owned_team_ids(), ARRAY[:t3]::bigint[], 'my_owned_team_ids(): owner');
SELECT ok(pg_temp.scans('taskmgmt.team_members_user_id_idx') > :index_scans
          AND pg_temp.scans('taskmgmt.team_members') = :table_scans,
          'they were read through the index by user');

-- that index, not valid: the same answers, read from the table
RESET ROLE;
UPDATE pg_index SET indisvalid = false
 WHERE indexrelid = 'taskmgmt.team_members_user_id_idx'::regclass;
SET ROLE tap_identity;
SELECT pg_temp.scans('taskmgmt.team_members') AS table_scans,
       pg_temp.scans('taskmgmt.team_members_user_id_idx') AS index_scans \gset
SELECT taskmgmt.authenticate(:'ann_tok') IS NOT NULL AS ann_in \gset
SELECT is(taskmgmt.my_team_ids(), ARRAY[:t1, :t2, :t3]::bigint[],
          'an index that is not valid is not read: the same teams, in id order');
SELECT is(taskmgmt.my_led_team_ids(), ARRAY[:t2, :t3]::bigint[], 'the same led teams');
SELECT ok(pg_temp.scans('taskmgmt.team_members_user_id_idx') = :index_scans
          AND pg_temp.scans('taskmgmt.team_members') > :table_scans,
          'read from the table, not through the index');
RESET ROLE;
UPDATE pg_index SET indisvalid = true
 WHERE indexrelid = 'taskmgmt.team_members_user_id_idx'::regclass;

-- a primary key index that is not valid: the session is read from the table
UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'taskmgmt.sessions_pkey'::regclass;
SET ROLE tap_identity;
SELECT pg_temp.scans('taskmgmt.sessions') AS table_scans,
       pg_temp.scans('taskmgmt.sessions_pkey') AS index_scans \gset
SELECT is(taskmgmt.authenticate(:'ann_tok'), :ann_uid::bigint,
          'sessions_pkey not valid: the token still signs ann in');
SELECT ok(pg_temp.scans('taskmgmt.sessions_pkey') = :index_scans
          AND pg_temp.scans('taskmgmt.sessions') > :table_scans,
          'her session was read from the table');
RESET ROLE;
UPDATE pg_index SET indisvalid = true WHERE indexrelid = 'taskmgmt.sessions_pkey'::regclass;

-- a session ended earlier in the same statement counts (a fresh snapshot)
SET ROLE tap_identity;
SELECT is(taskmgmt.authenticate(:'ann_tok'), :ann_uid::bigint, 'ann''s token signs her in');
SELECT is(taskmgmt.current_user_is_admin(), false, 'not an admin');
RESET ROLE;
UPDATE taskmgmt.users SET role = 'admin' WHERE id = :ann_uid;
SET ROLE tap_identity;
SELECT is((SELECT taskmgmt.current_user_is_admin() FROM (SELECT taskmgmt.authenticate(:'ann_tok')) a), true,
          'her role is read again at each authenticate()');
SELECT throws_ok(format($$SELECT taskmgmt.authenticate(%L)
                          FROM (SELECT taskmgmt.sign_out()) s$$, :'ann_tok'),
                 '28000', 'session has ended', 'a sign-out earlier in the same statement ends the session');

SELECT * FROM finish();
ROLLBACK;
