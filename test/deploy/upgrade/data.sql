-- Data made through the SQL API of the OLD version, before ALTER EXTENSION
-- UPDATE (uses only functions that exist since 0.1.0).  Prints the ids and
-- the access token that verify.sql needs, as psql variable assignments.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET search_path = taskmgmt, public;
SET ROLE deploy_upgrade_client;
SELECT register('up-owner@example.com', 'correct horse battery staple', 'Owner') ->> 'id' AS owner_id \gset
SELECT register('up-member@example.com', 'correct horse battery staple', 'Member') ->> 'id' AS member_id \gset
SELECT register('up-outsider@example.com', 'correct horse battery staple', 'Outsider') IS NOT NULL AS registered \gset
-- a token pair that is not tied to this connection: still valid after the update
SELECT password_grant('up-owner@example.com', 'correct horse battery staple') ->> 'access_token' AS token \gset
SELECT sign_in('up-owner@example.com', 'correct horse battery staple') IS NOT NULL AS signed_in \gset
SELECT create_team('Upgraders') ->> 'id' AS team_id \gset
SELECT add_team_member(:team_id, :member_id, 'member') IS NOT NULL AS added \gset
SELECT create_task(jsonb_build_object(
         'title', 'Survive the upgrade', 'priority', 'high', 'team_id', :team_id,
         'tags', jsonb_build_array('upgrade'),
         'assignee', jsonb_build_object('type', 'user', 'id', :member_id))) ->> 'id' AS task_id \gset
SELECT update_task(:task_id, '{"status": "in_progress"}', 1) ->> 'version' AS task_version \gset
SELECT sign_out() IS NULL AS signed_out \gset
\echo owner_id=:owner_id member_id=:member_id team_id=:team_id task_id=:task_id task_version=:task_version
\echo token=:token
