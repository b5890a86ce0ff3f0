-- Row-level security: the single source of truth for who sees what.
-- Every table: RLS enabled and forced.  Tables without a policy here are
-- closed to every client role (credentials, sessions, tokens, keys, failures).
-- Calls to current_user_id() & co. are wrapped in (SELECT ...) so they are
-- evaluated once per statement, not once per row.

DO $$
DECLARE
  t text;
BEGIN
  FOR t IN SELECT c.relname FROM pg_catalog.pg_class c
           WHERE c.relnamespace = '@extschema@'::regnamespace AND c.relkind = 'r'
  LOOP
    EXECUTE format('ALTER TABLE @extschema@.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE @extschema@.%I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('REVOKE ALL ON @extschema@.%I FROM PUBLIC', t);
  END LOOP;
END
$$;

-- users: a directory every signed-in user may read; one edits oneself.
CREATE POLICY users_select ON @extschema@.users FOR SELECT
  USING ((SELECT @extschema@.current_user_id()) IS NOT NULL);
CREATE POLICY users_update ON @extschema@.users FOR UPDATE
  USING (id = (SELECT @extschema@.current_user_id()) OR (SELECT @extschema@.current_user_is_admin()));

-- teams: those one belongs to; admins see all.  The creator sees a team
-- with no member yet (create_team() reads it back before adding its owner),
-- not one they have left.  Deleting a team: its owners and admins (not its
-- leads: that would drop the owners' memberships), and only while no task
-- refers to it (trigger in 50_users_teams.sql).
CREATE POLICY teams_select ON @extschema@.teams FOR SELECT
  USING (id = ANY ((SELECT @extschema@.my_team_ids())::bigint[])
         OR (SELECT @extschema@.current_user_is_admin())
         OR (created_by = (SELECT @extschema@.current_user_id()) AND NOT @extschema@._team_has_members(id)));
CREATE POLICY teams_insert ON @extschema@.teams FOR INSERT
  WITH CHECK (created_by = (SELECT @extschema@.current_user_id()));
CREATE POLICY teams_update ON @extschema@.teams FOR UPDATE
  USING (id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[]) OR (SELECT @extschema@.current_user_is_admin()));
CREATE POLICY teams_delete ON @extschema@.teams FOR DELETE
  USING (id = ANY ((SELECT @extschema@.my_owned_team_ids())::bigint[]) OR (SELECT @extschema@.current_user_is_admin()));

-- team_members: visible within one's teams; managed by leads/owners/admins,
-- as add_team_member()/remove_team_member() do it: only owners and admins
-- touch an owner's row or make someone an owner; anyone may leave.  The
-- creator of a team may add themselves as its first owner.  (That a team
-- keeps an owner is checked by trigger, see 50_users_teams.sql.)
CREATE POLICY team_members_select ON @extschema@.team_members FOR SELECT
  USING (team_id = ANY ((SELECT @extschema@.my_team_ids())::bigint[]) OR (SELECT @extschema@.current_user_is_admin()));
CREATE POLICY team_members_insert ON @extschema@.team_members FOR INSERT
  WITH CHECK ((team_id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[])
               AND (role <> 'owner' OR team_id = ANY ((SELECT @extschema@.my_owned_team_ids())::bigint[])))
              OR (SELECT @extschema@.current_user_is_admin())
              OR (user_id = (SELECT @extschema@.current_user_id()) AND role = 'owner'
                  AND @extschema@._team_is_new_and_mine(team_id)));
CREATE POLICY team_members_update ON @extschema@.team_members FOR UPDATE
  USING ((team_id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[])
          AND (role <> 'owner' OR team_id = ANY ((SELECT @extschema@.my_owned_team_ids())::bigint[])))
         OR (SELECT @extschema@.current_user_is_admin()))
  WITH CHECK ((team_id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[])
               AND (role <> 'owner' OR team_id = ANY ((SELECT @extschema@.my_owned_team_ids())::bigint[])))
              OR (SELECT @extschema@.current_user_is_admin()));
CREATE POLICY team_members_delete ON @extschema@.team_members FOR DELETE
  USING ((team_id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[])
          AND (role <> 'owner' OR team_id = ANY ((SELECT @extschema@.my_owned_team_ids())::bigint[])))
         OR (SELECT @extschema@.current_user_is_admin())
         OR user_id = (SELECT @extschema@.current_user_id()));

-- tasks: visible to the creator, the assignee, members of the assignee team
-- or the owning team, and admins.  Whoever sees a task may edit it (the
-- assignment rules are enforced by trigger, see 60_tasks.sql); deleting is
-- for the creator, leads/owners of its teams, and admins.
CREATE POLICY tasks_select ON @extschema@.tasks FOR SELECT
  USING (creator_id = (SELECT @extschema@.current_user_id())
         OR assignee_user_id = (SELECT @extschema@.current_user_id())
         OR assignee_team_id = ANY ((SELECT @extschema@.my_team_ids())::bigint[])
         OR team_id = ANY ((SELECT @extschema@.my_team_ids())::bigint[])
         OR (SELECT @extschema@.current_user_is_admin()));
CREATE POLICY tasks_insert ON @extschema@.tasks FOR INSERT
  WITH CHECK (creator_id = (SELECT @extschema@.current_user_id()));
CREATE POLICY tasks_update ON @extschema@.tasks FOR UPDATE
  USING (creator_id = (SELECT @extschema@.current_user_id())
         OR assignee_user_id = (SELECT @extschema@.current_user_id())
         OR assignee_team_id = ANY ((SELECT @extschema@.my_team_ids())::bigint[])
         OR team_id = ANY ((SELECT @extschema@.my_team_ids())::bigint[])
         OR (SELECT @extschema@.current_user_is_admin()));
CREATE POLICY tasks_delete ON @extschema@.tasks FOR DELETE
  USING (creator_id = (SELECT @extschema@.current_user_id())
         OR team_id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[])
         OR assignee_team_id = ANY ((SELECT @extschema@.my_led_team_ids())::bigint[])
         OR (SELECT @extschema@.current_user_is_admin()));

-- Client grants.  Column lists keep role/disabled/email out of reach of a
-- plain UPDATE; admin changes go through admin_update_user().
-- Others' preferences are private: they are read through me() only.  Who
-- is an admin and whose account is disabled is not readable either (one's
-- own role: me()).  Server-set columns (ids, times, versions, who did it)
-- are granted to no client, for INSERT or UPDATE: the server fills them in,
-- by default or by trigger (users.updated_at: _touch_updated_at, 30_helpers.sql).
GRANT SELECT (id, email, display_name, timezone, created_at, updated_at)
  ON @extschema@.users TO taskmgmt_client;
GRANT UPDATE (display_name, timezone, preferences) ON @extschema@.users TO taskmgmt_client;
-- INSERT is granted per column: a client choosing an id could probe for rows
-- it may not see through unique violations, and bookkeeping is not its to set.
GRANT SELECT, INSERT (name), UPDATE (name), DELETE ON @extschema@.teams TO taskmgmt_client;
GRANT SELECT, INSERT (team_id, user_id, role), UPDATE (role), DELETE ON @extschema@.team_members TO taskmgmt_client;
GRANT SELECT, DELETE ON @extschema@.tasks TO taskmgmt_client;
GRANT INSERT (title, description, status, priority, due_date, team_id, assignee_user_id,
              assignee_team_id, tags)
  ON @extschema@.tasks TO taskmgmt_client;
GRANT UPDATE (title, description, status, priority, due_date, team_id, assignee_user_id,
              assignee_team_id, tags)
  ON @extschema@.tasks TO taskmgmt_client;

-- The creator of a task or team is whoever is signed in: filled in by
-- default, and no client may name another (the policies above check it too).
-- A DBA working without signing in names one.
ALTER TABLE @extschema@.tasks ALTER COLUMN creator_id SET DEFAULT @extschema@.current_user_id();
ALTER TABLE @extschema@.teams ALTER COLUMN created_by SET DEFAULT @extschema@.current_user_id();
