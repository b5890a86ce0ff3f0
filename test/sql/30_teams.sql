-- Teams and memberships: create_team, list_teams, get_team, add_team_member,
-- remove_team_member, and admin_update_user.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET search_path = taskmgmt, public;
SET ROLE regress_client;

SELECT new_user('olive@example.com', 'Olive Owner') AS olive,
       new_user('leo@example.com', 'Leo Lead') AS leo,
       new_user('mia@example.com', 'Mia Member') AS mia,
       new_user('otto@example.com', 'Otto Outsider') AS otto,
       new_user('adam@example.com', 'Adam Admin') AS adam \gset
RESET ROLE;
SELECT make_admin('ADAM@example.com') ->> 'role' AS adam_role;
SET ROLE regress_client;

-- create_team: the creator is its first owner.
SELECT as_user('olive@example.com');
SELECT t ->> 'name' AS name, t #- '{members,0,user_id}' -> 'members' AS members,
       (t -> 'members' -> 0 ->> 'user_id')::bigint = :olive AS owner_is_olive
  FROM create_team('  Platform ') t;
SELECT (create_team('Platform') ->> 'id')::bigint <> (SELECT min(id) FROM teams) AS names_need_not_be_unique;
SELECT id AS platform FROM teams WHERE name = 'Platform' ORDER BY id LIMIT 1 \gset
SELECT err($$SELECT create_team('')$$);
SELECT err($$SELECT create_team('   ')$$);
SELECT err($$SELECT create_team(NULL)$$);
SELECT err(format('SELECT create_team(%L)', repeat('t', 101)));

-- The owner adds a lead and a member; the answer is the team with members.
SELECT jsonb_path_query_array(add_team_member(:platform, :leo, 'lead'), '$.members[*].role') AS roles;
SELECT jsonb_path_query_array(add_team_member(:platform, :mia), '$.members[*].display_name') AS names_default_role_member;
SELECT err(format('SELECT add_team_member(%s, %s, %L)', :platform, :mia, 'boss'));
SELECT err(format('SELECT add_team_member(%s, %s, NULL)', :platform, :mia));
SELECT err(format('SELECT add_team_member(%s, 999999, %L)', :platform, 'member'));
SELECT err(format('SELECT add_team_member(%s, NULL, %L)', :platform, 'member'));
-- the last owner cannot step down or leave
SELECT err(format('SELECT add_team_member(%s, %s, %L)', :platform, :olive, 'lead'));
SELECT err(format('SELECT remove_team_member(%s, %s)', :platform, :olive));

-- A member may not manage members.
SELECT as_user('mia@example.com');
SELECT jsonb_path_query_array(get_team(:platform), '$.members[*] ? (@.role != "member").display_name') AS leads_and_owners;
SELECT err(format('SELECT add_team_member(%s, %s, %L)', :platform, :otto, 'member'));
SELECT err(format('SELECT remove_team_member(%s, %s)', :platform, :leo));
SELECT err(format('UPDATE team_members SET role = %L WHERE team_id = %s AND user_id = %s', 'owner', :platform, :mia));
SELECT role FROM team_members WHERE team_id = :platform AND user_id = :mia;
SELECT err(format('INSERT INTO team_members (team_id, user_id, role) VALUES (%s, %s, %L)', :platform, :otto, 'member'));

-- An outsider does not see the team at all: not found, never forbidden,
-- and the same answer as for a team that does not exist.
SELECT as_user('otto@example.com');
SELECT list_teams() AS otto_teams;
SELECT count(*) AS visible_teams, (SELECT count(*) FROM team_members) AS visible_memberships FROM teams;
SELECT err(format('SELECT get_team(%s)', :platform));
SELECT err('SELECT get_team(999999)');
SELECT err(format('SELECT add_team_member(%s, %s, %L)', :platform, :otto, 'owner'));
SELECT err('SELECT add_team_member(999999, 1, ''owner'')');
SELECT err(format('SELECT remove_team_member(%s, %s)', :platform, :mia));
SELECT err('SELECT remove_team_member(999999, 1)');
-- plain SQL: no way in either
SELECT err(format('INSERT INTO team_members (team_id, user_id, role) VALUES (%s, %s, %L)', :platform, :otto, 'owner'));
UPDATE teams SET name = 'Mine now' WHERE id = :platform;
DELETE FROM teams WHERE id = :platform;
SELECT err(format('INSERT INTO teams (name, created_by) VALUES (%L, %s)', 'Forged', :olive));
SELECT err(format('INSERT INTO team_members (team_id, user_id, role, added_at) VALUES (%s, %s, %L, %L)', :platform, :otto, 'member', '2000-01-01'));

-- A lead manages members and leads, but not owners.
SELECT as_user('leo@example.com');
SELECT jsonb_path_query_array(add_team_member(:platform, :otto, 'member'), '$.members[*].display_name') AS with_otto;
SELECT add_team_member(:platform, :otto, 'lead') -> 'members' @> jsonb_build_array(jsonb_build_object('user_id', :otto, 'role', 'lead')) AS otto_promoted;
SELECT add_team_member(:platform, :otto, 'member') -> 'members' @> jsonb_build_array(jsonb_build_object('user_id', :otto, 'role', 'member')) AS otto_demoted;
SELECT err(format('SELECT add_team_member(%s, %s, %L)', :platform, :mia, 'owner'));
SELECT err(format('SELECT add_team_member(%s, %s, %L)', :platform, :olive, 'member'));
SELECT err(format('SELECT remove_team_member(%s, %s)', :platform, :olive));
SELECT remove_team_member(:platform, :otto);
SELECT err(format('SELECT remove_team_member(%s, %s)', :platform, :otto));
-- the same rules hold for plain SQL on team_members
SELECT err(format('UPDATE team_members SET role = %L WHERE team_id = %s AND user_id = %s', 'owner', :platform, :leo)) AS lead_self_promotes;
SELECT err(format('INSERT INTO team_members (team_id, user_id, role) VALUES (%s, %s, %L)', :platform, :otto, 'owner')) AS lead_adds_owner;
DELETE FROM team_members WHERE team_id = :platform AND user_id = :olive;
UPDATE team_members SET role = 'member' WHERE team_id = :platform AND user_id = :olive;
SELECT role AS olive_still FROM team_members WHERE team_id = :platform AND user_id = :olive;
INSERT INTO team_members (team_id, user_id) VALUES (:platform, :otto);
UPDATE team_members SET role = 'lead' WHERE team_id = :platform AND user_id = :otto;
DELETE FROM team_members WHERE team_id = :platform AND user_id = :otto;
SELECT count(*) AS otto_rows FROM team_members WHERE team_id = :platform AND user_id = :otto;

-- The last owner cannot leave through plain SQL either.
SELECT as_user('olive@example.com');
SELECT err(format('DELETE FROM team_members WHERE team_id = %s AND user_id = %s', :platform, :olive)) AS last_owner_leaves;
SELECT err(format('UPDATE team_members SET role = %L WHERE team_id = %s AND user_id = %s', 'lead', :platform, :olive)) AS last_owner_steps_down;

-- The owner makes another owner; then either may step down.
SELECT as_user('olive@example.com');
SELECT add_team_member(:platform, :leo, 'owner') -> 'members' -> 0 ->> 'display_name' AS first_listed;
SELECT jsonb_path_query_array(add_team_member(:platform, :olive, 'member'), '$.members[*].role') AS olive_stepped_down;

-- Anyone may leave a team.
SELECT as_user('mia@example.com');
SELECT remove_team_member(:platform, :mia);
SELECT err(format('SELECT get_team(%s)', :platform));
SELECT list_teams() AS mia_teams;

-- An admin sees and manages every team.
SELECT as_user('adam@example.com');
SELECT count(*) > 0 AS sees_all FROM jsonb_array_elements(list_teams()) t WHERE (t ->> 'id')::bigint = :platform;
SELECT jsonb_path_query_array(add_team_member(:platform, :mia, 'owner'), '$.members[*].display_name') AS admin_added_owner;
SELECT remove_team_member(:platform, :mia);

-- admin_update_user: admins only.
SELECT admin_update_user(:otto, '{"role": "admin"}') ->> 'role' AS otto_role;
SELECT admin_update_user(:otto, '{"role": "user", "disabled": false}') - '{id,created_at}'::text[] AS otto;
SELECT err(format('SELECT admin_update_user(%s, %L)', :otto, '{"role": "root"}'));
SELECT err(format('SELECT admin_update_user(%s, %L)', :otto, '{"disabled": "yes"}'));
SELECT err(format('SELECT admin_update_user(%s, %L)', :otto, '{"email": "x@example.com"}'));
SELECT err(format('SELECT admin_update_user(%s, %L)', :otto, '{"display_name": "X"}'));
SELECT err('SELECT admin_update_user(999999, ''{"role": "admin"}'')');
SELECT as_user('leo@example.com');
SELECT err(format('SELECT admin_update_user(%s, %L)', :leo, '{"role": "admin"}'));
SELECT err(format('UPDATE users SET role = %L WHERE id = %s', 'admin', :leo));
SELECT me() ->> 'role' AS leo_role;

-- Disabling an account ends its sessions at once and keeps it out.
SELECT password_grant('otto@example.com', 'otto@example.com password') ->> 'access_token' AS otto_token \gset
SELECT authenticate(:'otto_token') = :otto AS otto_token_works;
SELECT as_user('adam@example.com');
SELECT admin_update_user(:otto, '{"disabled": true}') ->> 'disabled' AS otto_disabled;
SELECT err(format('SELECT authenticate(%L)', :'otto_token'));
SELECT err('SELECT as_user(''otto@example.com'')');
SELECT jsonb_path_query_array(list_users('Otto', 10), '$[*].display_name') AS directory_hides_disabled;
SELECT err(format('SELECT add_team_member(%s, %s, %L)', :platform, :otto, 'member'));
SELECT admin_update_user(:otto, '{"disabled": false}') ->> 'disabled' AS otto_enabled;
SELECT as_user('otto@example.com');

-- list_users: the directory for signed-in users; limit checked.
SELECT list_users('OUTSIDER', 10) = jsonb_build_array(jsonb_build_object(
         'id', :otto, 'display_name', 'Otto Outsider', 'email', 'otto@example.com')) AS by_name;
SELECT jsonb_path_query_array(list_users('olive@', 10), '$[*].display_name') AS by_email;
SELECT jsonb_array_length(list_users(NULL, 2)) AS limited;
SELECT list_users('%', 10) AS percent_is_literal;
SELECT err('SELECT list_users(NULL, 0)');
SELECT err('SELECT list_users(NULL, 201)');
SELECT sign_out();
SELECT err('SELECT list_users(NULL, 10)');
SELECT err('SELECT list_teams()');
