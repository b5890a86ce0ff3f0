-- Schema, row-level security and privileges: what must be true of every
-- table, view and function in the schema (including those added later), and
-- the policies and grants of the foundation tables.
BEGIN;
SELECT plan(126);

-- Tables of the foundation.
SELECT has_table('taskmgmt', t, 'table taskmgmt.' || t || ' exists')
  FROM unnest('{users,credentials,login_failures,sessions,refresh_tokens,signing_keys,teams,team_members,tasks}'::text[]) t;

-- Every table in the schema: RLS enabled AND forced, nothing granted to PUBLIC.
SELECT is(array(SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = 'taskmgmt'::regnamespace AND c.relkind IN ('r', 'p')
                   AND NOT c.relrowsecurity ORDER BY 1),
          '{}'::text[], 'every table has row-level security enabled');
SELECT is(array(SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = 'taskmgmt'::regnamespace AND c.relkind IN ('r', 'p')
                   AND NOT c.relforcerowsecurity ORDER BY 1),
          '{}'::text[], 'every table has row-level security forced (the owner obeys it too)');
SELECT is(array(SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = 'taskmgmt'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
                   AND (has_table_privilege('public', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                        OR (c.relkind = 'S' AND has_sequence_privilege('public', c.oid, 'USAGE, SELECT, UPDATE')))
                 ORDER BY 1),
          '{}'::text[], 'no table, view or sequence grants anything to PUBLIC');
SELECT is(array(SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = 'taskmgmt'::regnamespace AND c.relkind IN ('r', 'p')
                   AND has_table_privilege('taskmgmt_client', c.oid, 'TRUNCATE, REFERENCES, TRIGGER')
                 ORDER BY 1),
          '{}'::text[], 'taskmgmt_client may not TRUNCATE, REFERENCE or add triggers to any table');

-- Every view runs with the caller's rights, so RLS of the tables behind it applies.
SELECT is(array(SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = 'taskmgmt'::regnamespace AND c.relkind = 'v'
                   AND NOT coalesce('security_invoker=true' = ANY (c.reloptions)
                                    OR 'security_invoker=on' = ANY (c.reloptions), false)
                 ORDER BY 1),
          '{}'::text[], 'every view is security_invoker');
SELECT is(array(SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = 'taskmgmt'::regnamespace AND c.relkind = 'm'
                   AND has_table_privilege('taskmgmt_client', c.oid, 'SELECT') ORDER BY 1),
          '{}'::text[], 'no materialized view (which RLS cannot filter) is readable by clients');

-- Every SQL and PL/pgSQL function body parses.  CREATE EXTENSION does not
-- check bodies, so a broken one would only fail when first called: run
-- PostgreSQL's own validators on each.
CREATE FUNCTION pg_temp.body_error(f oid) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  SET LOCAL check_function_bodies = on;
  IF (SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.oid = f) = 'sql' THEN
    PERFORM fmgr_sql_validator(f);
  ELSE
    PERFORM plpgsql_validator(f);
  END IF;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  RETURN SQLERRM;
END
$$;
SELECT is(array(SELECT p.oid::regprocedure::text || ': ' || pg_temp.body_error(p.oid) FROM pg_proc p
                  JOIN pg_language l ON l.oid = p.prolang
                 WHERE p.pronamespace = 'taskmgmt'::regnamespace AND l.lanname IN ('sql', 'plpgsql')
                   AND pg_temp.body_error(p.oid) IS NOT NULL ORDER BY 1),
          '{}'::text[], 'every SQL and PL/pgSQL function body parses');

-- Functions: nothing executable by PUBLIC; every SECURITY DEFINER function
-- pins a search_path that no client can write to, pg_temp explicitly last.
SELECT is(array(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'taskmgmt'::regnamespace
                   AND has_function_privilege('public', p.oid, 'EXECUTE') ORDER BY 1),
          '{}'::text[], 'no function in the schema is executable by PUBLIC');
SELECT ok((SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'taskmgmt'::regnamespace AND p.prosecdef) > 0,
          'there are SECURITY DEFINER functions to check');
SELECT is(array(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'taskmgmt'::regnamespace AND p.prosecdef
                   AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
                 ORDER BY 1),
          '{}'::text[], 'every SECURITY DEFINER function has a fixed search_path');
SELECT is(array(SELECT p.oid::regprocedure::text FROM pg_proc p, unnest(p.proconfig) c
                 WHERE p.pronamespace = 'taskmgmt'::regnamespace AND p.prosecdef AND c LIKE 'search_path=%'
                   AND (btrim(split_part(c, '=', 2)) !~ 'pg_temp$'
                        OR EXISTS (SELECT FROM unnest(string_to_array(split_part(c, '=', 2), ',')) s
                                    WHERE btrim(s) NOT IN ('pg_catalog', 'pg_temp')
                                      AND (to_regnamespace(btrim(btrim(s), '"')) IS NULL
                                           OR has_schema_privilege('taskmgmt_client', to_regnamespace(btrim(btrim(s), '"')), 'CREATE')
                                           OR has_schema_privilege('public', to_regnamespace(btrim(btrim(s), '"')), 'CREATE'))))
                 ORDER BY 1),
          '{}'::text[], 'SECURITY DEFINER search_paths hold only schemas clients cannot create in, pg_temp last');
SELECT is(array(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'taskmgmt'::regnamespace AND p.prosecdef
                   AND has_function_privilege('public', p.oid, 'EXECUTE') ORDER BY 1),
          '{}'::text[], 'no SECURITY DEFINER function is executable by PUBLIC');
SELECT ok(NOT has_function_privilege('taskmgmt_client', 'taskmgmt.rotate_signing_key()', 'EXECUTE'),
          'clients cannot rotate the signing key');
SELECT ok(NOT has_function_privilege('taskmgmt_client', 'taskmgmt.make_admin(text)', 'EXECUTE'),
          'clients cannot make admins');
SELECT ok(NOT has_function_privilege('taskmgmt_client', 'taskmgmt._notification_key(bigint)', 'EXECUTE'),
          'clients cannot compute anyone''s notification key');
SELECT ok(has_function_privilege('taskmgmt_client', f, 'EXECUTE'), 'clients may call ' || f)
  FROM unnest(ARRAY['taskmgmt.register(text,text,text)', 'taskmgmt.sign_in(text,text)', 'taskmgmt.sign_out()',
                     'taskmgmt.me()', 'taskmgmt.update_me(jsonb)', 'taskmgmt.create_team(text)',
                     'taskmgmt.add_team_member(bigint,bigint,text)', 'taskmgmt.remove_team_member(bigint,bigint)',
                     'taskmgmt.create_task(jsonb)', 'taskmgmt.get_task(bigint)',
                     'taskmgmt.update_task(bigint,jsonb,integer)', 'taskmgmt.delete_task(bigint,boolean)',
                     'taskmgmt.notification_key()']) f;

-- Every SQLSTATE that SQL code in the schema raises is one doc/sql-api.md
-- documents: the table under "Errors", plus 0A000 from schedule_jobs()
-- (documented under "Scheduled jobs").  A RAISE without ERRCODE would be
-- P0001, which is not documented.
SELECT is(array(SELECT DISTINCT p.proname || ': ' || m[1]
                  FROM pg_proc p, regexp_matches(p.prosrc, 'ERRCODE\s*=\s*''([^'']+)''', 'gi') m
                 WHERE p.pronamespace = 'taskmgmt'::regnamespace
                   AND m[1] !~ '^(28000|28P01|TM429|TM409|42501|P0002|23505|TM412|TM422|TM400|22...|57014|08...|57P0.)$'
                   AND NOT (p.proname = 'schedule_jobs' AND m[1] = '0A000')
                 ORDER BY 1),
          '{}'::text[], 'every SQLSTATE raised by the schema''s SQL functions is documented');
SELECT is(array(SELECT p.proname::text FROM pg_proc p
                 WHERE p.pronamespace = 'taskmgmt'::regnamespace AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')
                   AND p.prosrc ~* '\mRAISE\s+(EXCEPTION\s+)?'''
                   AND NOT p.prosrc ~* '\mRAISE\s+(EXCEPTION\s+)?''[^;]*\mUSING\M[^;]*\mERRCODE\M'
                 ORDER BY 1),
          '{}'::text[], 'no function raises an error without an ERRCODE (that would be P0001)');
-- Trigger functions fire whatever the caller's rights; with EXECUTE a client
-- could attach one (SECURITY DEFINER: history, tallies) to a temporary table
-- of its own and have it write.
SELECT is(array(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'taskmgmt'::regnamespace AND p.prorettype = 'trigger'::regtype
                   AND has_function_privilege('taskmgmt_client', p.oid, 'EXECUTE')
                 ORDER BY 1),
          '{}'::text[], 'no trigger function is executable by the client role');

-- The client role cannot get around RLS.
SELECT ok(NOT r.rolbypassrls AND NOT r.rolsuper AND NOT r.rolcreaterole AND NOT r.rolcanlogin,
          'taskmgmt_client: NOBYPASSRLS, not superuser, cannot create roles, cannot log in')
  FROM pg_roles r WHERE r.rolname = 'taskmgmt_client';
SELECT is(array(SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = 'taskmgmt'::regnamespace AND pg_has_role('taskmgmt_client', c.relowner, 'USAGE')
                 ORDER BY 1),
          '{}'::text[], 'taskmgmt_client owns nothing in the schema (owners could disable RLS)');
SELECT ok(NOT has_schema_privilege('taskmgmt_client', 'taskmgmt', 'CREATE'), 'clients cannot create objects in the schema');
SELECT ok(NOT has_schema_privilege('public', 'taskmgmt', 'USAGE'), 'PUBLIC has no access to the schema');

-- Policies of the foundation tables.
SELECT policy_cmd_is('taskmgmt', tbl, pol, cmd, format('policy %s on %s is for %s', pol, tbl, upper(cmd)))
  FROM (VALUES ('users', 'users_select', 'select'), ('users', 'users_update', 'update'),
               ('teams', 'teams_select', 'select'), ('teams', 'teams_insert', 'insert'),
               ('teams', 'teams_update', 'update'), ('teams', 'teams_delete', 'delete'),
               ('team_members', 'team_members_select', 'select'), ('team_members', 'team_members_insert', 'insert'),
               ('team_members', 'team_members_update', 'update'), ('team_members', 'team_members_delete', 'delete'),
               ('tasks', 'tasks_select', 'select'), ('tasks', 'tasks_insert', 'insert'),
               ('tasks', 'tasks_update', 'update'), ('tasks', 'tasks_delete', 'delete')) AS p(tbl, pol, cmd);
SELECT is(array(SELECT p.tablename || '.' || p.policyname FROM pg_policies p
                 WHERE p.schemaname = 'taskmgmt' AND p.permissive = 'PERMISSIVE'
                   AND p.tablename IN ('credentials', 'login_failures', 'sessions', 'refresh_tokens', 'signing_keys')
                 ORDER BY 1),
          '{}'::text[], 'secret tables have no permissive policy');
SELECT ok(NOT has_table_privilege('taskmgmt_client', 'taskmgmt.' || t, 'SELECT, INSERT, UPDATE, DELETE'),
          'clients have no privilege on ' || t)
  FROM unnest('{credentials,login_failures,sessions,refresh_tokens,signing_keys}'::text[]) t;
SELECT has_trigger('taskmgmt', 'tasks', 'tasks_before_write', 'tasks: the trigger that enforces assignment and bookkeeping');

-- Column privileges: what a client may write with plain SQL.
SELECT is(has_column_privilege('taskmgmt_client', 'taskmgmt.' || tbl, col, priv), allowed,
          format('client %s on %s.%s: %s', priv, tbl, col, CASE WHEN allowed THEN 'yes' ELSE 'no' END))
  FROM (VALUES ('users', 'role', 'UPDATE', false), ('users', 'disabled', 'UPDATE', false),
               ('users', 'email', 'UPDATE', false), ('users', 'id', 'UPDATE', false),
               ('users', 'created_at', 'UPDATE', false), ('users', 'display_name', 'UPDATE', true),
               ('users', 'preferences', 'SELECT', false),
               ('tasks', 'version', 'UPDATE', false), ('tasks', 'creator_id', 'UPDATE', false),
               ('tasks', 'id', 'UPDATE', false), ('tasks', 'created_at', 'UPDATE', false),
               ('tasks', 'updated_at', 'UPDATE', false), ('tasks', 'started_at', 'UPDATE', false),
               ('tasks', 'completed_at', 'UPDATE', false), ('tasks', 'title', 'UPDATE', true),
               ('tasks', 'id', 'INSERT', false), ('tasks', 'version', 'INSERT', false),
               ('tasks', 'created_at', 'INSERT', false), ('tasks', 'title', 'INSERT', true),
               ('teams', 'id', 'INSERT', false), ('teams', 'created_at', 'INSERT', false),
               ('teams', 'created_by', 'UPDATE', false),
               ('team_members', 'team_id', 'UPDATE', false), ('team_members', 'user_id', 'UPDATE', false),
               -- server-set: times, versions, ids and actors (#17)
               ('users', 'updated_at', 'UPDATE', false), ('users', 'timezone', 'UPDATE', true),
               ('tasks', 'creator_id', 'INSERT', false), ('tasks', 'updated_at', 'INSERT', false),
               ('tasks', 'started_at', 'INSERT', false), ('tasks', 'completed_at', 'INSERT', false),
               ('teams', 'created_by', 'INSERT', false), ('teams', 'name', 'INSERT', true),
               ('team_members', 'added_at', 'INSERT', false), ('team_members', 'added_at', 'UPDATE', false),
               ('team_members', 'role', 'INSERT', true),
               ('saved_views', 'updated_at', 'UPDATE', false), ('saved_views', 'updated_at', 'INSERT', false),
               ('saved_views', 'created_at', 'INSERT', false), ('saved_views', 'user_id', 'INSERT', false),
               ('saved_views', 'user_id', 'UPDATE', false), ('saved_views', 'name', 'UPDATE', true),
               ('comments', 'author_id', 'INSERT', false), ('comments', 'author_id', 'UPDATE', false),
               ('comments', 'created_at', 'INSERT', false), ('comments', 'edited_at', 'UPDATE', false),
               ('comments', 'body', 'UPDATE', true),
               ('task_events', 'actor_id', 'INSERT', false), ('task_events', 'actor_role', 'INSERT', false),
               ('task_events', 'at', 'INSERT', false), ('task_events', 'source', 'INSERT', false),
               ('task_events', 'changes', 'INSERT', false), ('task_events', 'description', 'INSERT', true),
               ('notifications', 'user_id', 'UPDATE', false), ('notifications', 'created_at', 'UPDATE', false),
               ('notifications', 'id', 'UPDATE', false), ('notifications', 'read_at', 'UPDATE', true))
       AS c(tbl, col, priv, allowed);

-- And for every table, including those added later: no column with a
-- server-set name (ids, times, versions, who did it) is writable by clients.
-- Values clients do choose (deleted_at, read_at) are normalised by trigger.
SELECT is(array(SELECT c.relname || '.' || a.attname || ' ' || p.priv
                  FROM pg_class c
                  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                  CROSS JOIN unnest('{INSERT,UPDATE}'::text[]) p(priv)
                 WHERE c.relnamespace = 'taskmgmt'::regnamespace AND c.relkind IN ('r', 'p')
                   AND a.attname IN ('id', 'created_at', 'updated_at', 'added_at', 'edited_at', 'started_at',
                                     'completed_at', 'version', 'creator_id', 'created_by', 'author_id',
                                     'actor_id', 'actor_role', 'at', 'source', 'sent_at')
                   AND has_column_privilege('taskmgmt_client', c.oid, a.attnum, p.priv)
                 ORDER BY 1),
          '{}'::text[], 'no server-set column (id, times, version, actor) of any table is writable by clients');
SELECT has_trigger('taskmgmt', tbl, trg, format('%s: trigger %s keeps server-set values', tbl, trg))
  FROM (VALUES ('users', 'users_touch_updated_at'), ('saved_views', 'saved_views_touch_updated_at'),
               ('notifications', 'notifications_read_at'), ('comments', 'comments_before_write')) AS t(tbl, trg);

SELECT * FROM finish();
ROLLBACK;
