-- Who sees and does what with tasks.  A user sees a task when they created
-- it, are its assignee, belong to its assignee team or its owning team, or
-- are an admin; whoever sees it may edit it; deleting is for the creator,
-- leads/owners of its team or assignee team, and admins.  A task you may not
-- see does not exist for you: the API says "not found", plain SQL sees no row,
-- and no error message, foreign key or unique key gives it away.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET search_path = taskmgmt, public;
SET ROLE regress_client;

SELECT new_user('ann@example.com', 'Ann (Alpha owner)') AS ann,
       new_user('lee@example.com', 'Lee (Alpha lead)') AS lee,
       new_user('meg@example.com', 'Meg (Alpha member)') AS meg,
       new_user('bob@example.com', 'Bob (Beta owner)') AS bob,
       new_user('out@example.com', 'Out (no team)') AS out,
       new_user('adm@example.com', 'Adm (admin)') AS adm \gset
RESET ROLE;
SELECT make_admin('adm@example.com') ->> 'role' AS adm_role;
SET ROLE regress_client;

SELECT as_user('ann@example.com');
SELECT (create_team('Alpha') ->> 'id')::bigint AS alpha \gset
SELECT add_team_member(:alpha, :lee, 'lead') IS NOT NULL AND add_team_member(:alpha, :meg) IS NOT NULL AS alpha_ready;
SELECT as_user('bob@example.com');
SELECT (create_team('Beta') ->> 'id')::bigint AS beta \gset

-- The tasks.
SELECT as_user('ann@example.com');
SELECT (create_task(format('{"title": "Alpha team task", "team_id": %s}', :alpha)::jsonb) ->> 'id')::bigint AS t_team \gset
SELECT as_user('lee@example.com');
SELECT (create_task(format('{"title": "Lee assigns Meg", "assignee": {"type": "user", "id": %s}}', :meg)::jsonb) ->> 'id')::bigint AS t_meg \gset
SELECT as_user('meg@example.com');
SELECT (create_task(format('{"title": "For all of Alpha", "assignee": {"type": "team", "id": %s}}', :alpha)::jsonb) ->> 'id')::bigint AS t_alpha_assigned \gset
SELECT as_user('bob@example.com');
SELECT (create_task(format('{"title": "Beta secret", "team_id": %s}', :beta)::jsonb) ->> 'id')::bigint AS t_beta \gset
SELECT as_user('out@example.com');
SELECT (create_task('{"title": "Out private"}') ->> 'id')::bigint AS t_out \gset

-- Each user's view, through the table and through get_task.
CREATE TEMP TABLE v (who text, title text);
GRANT ALL ON v TO PUBLIC;
SELECT as_user('ann@example.com');
INSERT INTO v SELECT 'ann', title FROM tasks;
SELECT as_user('lee@example.com');
INSERT INTO v SELECT 'lee', title FROM tasks;
SELECT as_user('meg@example.com');
INSERT INTO v SELECT 'meg', title FROM tasks;
SELECT as_user('bob@example.com');
INSERT INTO v SELECT 'bob', title FROM tasks;
SELECT as_user('out@example.com');
INSERT INTO v SELECT 'out', title FROM tasks;
SELECT as_user('adm@example.com');
INSERT INTO v SELECT 'adm', title FROM tasks WHERE id IN (:t_team, :t_meg, :t_alpha_assigned, :t_beta, :t_out);
SELECT sign_out();
INSERT INTO v SELECT 'anonymous', title FROM tasks;
SELECT title, string_agg(who, ', ' ORDER BY who) AS seen_by FROM v GROUP BY title ORDER BY title;

-- Invisible is the same as nonexistent, for every function and statement.
SELECT as_user('out@example.com');
SELECT err(format('SELECT get_task(%s)', :t_team)) AS invisible, err('SELECT get_task(999999)') AS nonexistent;
SELECT err(format('SELECT update_task(%s, %L)', :t_team, '{"title": "x"}')) AS invisible,
       err('SELECT update_task(999999, ''{"title": "x"}'')') AS nonexistent;
SELECT err(format('SELECT update_task(%s, %L, 1)', :t_team, '{"title": "x"}')) AS invisible_with_version;
SELECT err(format('SELECT delete_task(%s)', :t_team)) AS invisible,
       err('SELECT delete_task(999999)') AS nonexistent;
-- plain SQL: no rows, no errors, nothing changed
UPDATE tasks SET title = 'Taken over' WHERE id = :t_team;
DELETE FROM tasks WHERE id = :t_team;
SELECT count(*) AS rows_seen FROM tasks WHERE id = :t_team;
-- a team one is not in is refused exactly like a team that does not exist
SELECT err(format('SELECT create_task(%L)', jsonb_build_object('title', 'x', 'team_id', :beta))) AS invisible_team,
       err('SELECT create_task(''{"title": "x", "team_id": 999999}'')') AS no_such_team;
SELECT err(format('SELECT create_task(%L)', jsonb_build_object('title', 'x', 'assignee', jsonb_build_object('type', 'team', 'id', :beta)))) AS invisible_team,
       err('SELECT create_task(''{"title": "x", "assignee": {"type": "team", "id": 999999}}'')') AS no_such_team;
SELECT err(format('INSERT INTO tasks (title, team_id) VALUES (%L, %s)', 'x', :beta)) AS invisible_team,
       err(format('INSERT INTO tasks (title, team_id) VALUES (%L, 999999)', 'x')) AS no_such_team;
SELECT err(format('UPDATE tasks SET assignee_team_id = %s WHERE id = %s', :beta, :t_out)) AS invisible_team,
       err(format('UPDATE tasks SET assignee_team_id = 999999 WHERE id = %s', :t_out)) AS no_such_team;
-- ids cannot be chosen, so a unique violation cannot reveal a row
SELECT err(format('INSERT INTO tasks (id, title) OVERRIDING SYSTEM VALUE VALUES (%s, %L)', :t_team, 'x')) AS existing_id,
       err(format('INSERT INTO tasks (id, title) OVERRIDING SYSTEM VALUE VALUES (999999, %L)', 'x')) AS free_id;
SELECT err(format('INSERT INTO teams (id, name) OVERRIDING SYSTEM VALUE VALUES (%s, %L)', :beta, 'x')) AS existing_id;
-- helpers callable by clients say nothing about invisible teams either
SELECT _team_name(:beta) AS invisible_team_name, _owner_count(:beta) AS invisible_owner_count;
SELECT _team_name(:alpha) AS not_my_team_name;

-- Members edit what they see; the assignee team's name is shown to those who see the task.
SELECT as_user('meg@example.com');
SELECT update_task(:t_team, '{"status": "in_progress"}', 1) ->> 'status' AS meg_edits_team_task;
UPDATE tasks SET priority = 'high' WHERE id = :t_meg;
SELECT priority, version FROM tasks WHERE id = :t_meg;
SELECT get_task(:t_alpha_assigned) -> 'assignee' ->> 'name' AS team_name;

-- Assignment rules: to oneself, to a team one belongs to, to a member of a
-- team one leads; anything else is forbidden (42501), through every door.
SELECT (create_task(format('{"title": "Mine", "assignee": {"type": "user", "id": %s}}', :meg)::jsonb) -> 'assignee' ->> 'name') AS to_self;
SELECT err(format('SELECT create_task(%L)', jsonb_build_object('title', 'x', 'assignee', jsonb_build_object('type', 'user', 'id', :lee)))) AS member_to_lead;
SELECT err(format('SELECT update_task(%s, %L)', :t_team, jsonb_build_object('assignee', jsonb_build_object('type', 'user', 'id', :ann)))) AS member_to_owner;
SELECT err(format('UPDATE tasks SET assignee_user_id = %s WHERE id = %s', :out, :t_team)) AS plain_sql;
SELECT as_user('lee@example.com');
SELECT update_task(:t_team, jsonb_build_object('assignee', jsonb_build_object('type', 'user', 'id', :meg))) -> 'assignee' ->> 'name' AS lead_to_member;
SELECT update_task(:t_team, jsonb_build_object('assignee', jsonb_build_object('type', 'team', 'id', :alpha))) -> 'assignee' ->> 'name' AS to_own_team;
SELECT err(format('SELECT update_task(%s, %L)', :t_team, jsonb_build_object('assignee', jsonb_build_object('type', 'team', 'id', :beta)))) AS to_other_team;
SELECT err(format('SELECT update_task(%s, %L)', :t_team, jsonb_build_object('assignee', jsonb_build_object('type', 'user', 'id', :bob)))) AS lead_to_outsider;
SELECT update_task(:t_team, jsonb_build_object('assignee', jsonb_build_object('type', 'user', 'id', :ann))) -> 'assignee' ->> 'name' AS lead_to_owner;
-- an edit that leaves the assignee alone is not an assignment: Meg could not
-- have assigned Ann, but may edit the task Lee assigned to her
SELECT as_user('meg@example.com');
SELECT update_task(:t_team, '{"title": "Alpha team task, edited"}') -> 'assignee' ->> 'name' AS assignee_kept;
UPDATE tasks SET description = 'by psql' WHERE id = :t_team;
SELECT description, assignee_user_id = :ann AS still_ann FROM tasks WHERE id = :t_team;
SELECT as_user('adm@example.com');
SELECT update_task(:t_out, jsonb_build_object('assignee', jsonb_build_object('type', 'user', 'id', :bob))) -> 'assignee' ->> 'name' AS admin_to_anyone;
SELECT update_task(:t_out, jsonb_build_object('assignee', jsonb_build_object('type', 'team', 'id', :beta), 'team_id', :alpha)) -> 'assignee' ->> 'name' AS admin_to_any_team;
-- admins see every team, so a missing one is simply named as such (never a foreign key error)
SELECT err('SELECT create_task(''{"title": "x", "team_id": 999999}'')') AS admin_no_such_team,
       err('SELECT create_task(''{"title": "x", "assignee": {"type": "team", "id": 999999}}'')') AS admin_no_such_assignee_team;
SELECT err(format('UPDATE tasks SET team_id = 999999 WHERE id = %s', :t_out)) AS admin_plain_sql;
-- now Bob sees Out's task (assignee team Beta), and so does Alpha (owning team)
SELECT as_user('bob@example.com');
SELECT get_task(:t_out) ->> 'title' AS bob_sees;
SELECT as_user('meg@example.com');
SELECT get_task(:t_out) -> 'assignee' ->> 'name' AS meg_sees_beta_name_on_it;

-- Leaving a team takes its tasks out of view at once.
SELECT count(*) AS meg_sees_before FROM tasks WHERE id = :t_out;
SELECT remove_team_member(:alpha, :meg);
SELECT count(*) AS meg_sees_after FROM tasks WHERE id = :t_out;
SELECT err(format('SELECT get_task(%s)', :t_out));
SELECT as_user('ann@example.com');
SELECT add_team_member(:alpha, :meg) IS NOT NULL AS meg_back;

-- Deleting: the creator, a lead/owner of the task's team or assignee team, an admin.
SELECT as_user('meg@example.com');
SELECT err(format('SELECT delete_task(%s)', :t_team)) AS member_not_creator;
DELETE FROM tasks WHERE id = :t_team;
SELECT count(*) AS still_there FROM tasks WHERE id = :t_team;
SELECT err(format('SELECT delete_task(%s)', :t_out)) AS member_of_owning_team;
SELECT delete_task(:t_alpha_assigned) AS creator_deletes;
SELECT as_user('ann@example.com');
SELECT err(format('SELECT delete_task(%s)', :t_meg)) AS owner_does_not_see_lees_private_task;
SELECT as_user('lee@example.com');
SELECT delete_task(:t_team) AS lead_deletes_team_task;
SELECT as_user('bob@example.com');
SELECT delete_task(:t_out) AS assignee_team_owner_deletes;
SELECT as_user('adm@example.com');
SELECT delete_task(:t_beta) AS admin_deletes;
SELECT count(*) AS left_over FROM tasks WHERE id IN (:t_team, :t_alpha_assigned, :t_beta, :t_out);
SELECT sign_out();
