BEGIN;
SELECT plan(3);
SELECT has_schema('taskmgmt');
SELECT has_role('taskmgmt_client');
SELECT is((SELECT count(*)::int FROM pg_class c WHERE c.relnamespace = 'taskmgmt'::regnamespace
           AND c.relkind = 'r' AND NOT (c.relrowsecurity AND c.relforcerowsecurity)), 0,
          'every table has RLS enabled and forced');
SELECT * FROM finish();
ROLLBACK;
