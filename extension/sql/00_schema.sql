-- Roles, schema-wide defaults and types.

-- taskmgmt_client is how a DBA lets a login role use the system:
--   GRANT taskmgmt_client TO some_login_role;
-- Roles are cluster-wide, so another database may have created it already.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'taskmgmt_client') THEN
    CREATE ROLE taskmgmt_client NOLOGIN NOINHERIT NOBYPASSRLS;
  END IF;
END
$$;

REVOKE ALL ON SCHEMA @extschema@ FROM PUBLIC;
GRANT USAGE ON SCHEMA @extschema@ TO taskmgmt_client;

CREATE TYPE @extschema@.task_status AS ENUM ('todo', 'in_progress', 'done', 'canceled');
-- Declared in sort order: ORDER BY priority sorts none < low < ... < urgent.
CREATE TYPE @extschema@.task_priority AS ENUM ('none', 'low', 'medium', 'high', 'urgent');
CREATE TYPE @extschema@.team_role AS ENUM ('member', 'lead', 'owner');
