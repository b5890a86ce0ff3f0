BEGIN;
SELECT plan(5);
SELECT has_schema('taskmgmt');
SELECT has_role('taskmgmt_client');
SELECT is((SELECT count(*)::int FROM pg_class c WHERE c.relnamespace = 'taskmgmt'::regnamespace
           AND c.relkind = 'r' AND NOT (c.relrowsecurity AND c.relforcerowsecurity)), 0,
          'every table has RLS enabled and forced');
-- pg_trgm (typo-tolerant search) is required, not optional: CREATE EXTENSION
-- taskmgmt CASCADE brings it, and it cannot be dropped from under taskmgmt
SELECT is((SELECT array_agg(r.extname::text ORDER BY r.extname) FROM pg_depend d
             JOIN pg_extension e ON d.classid = 'pg_extension'::regclass AND d.objid = e.oid
             JOIN pg_extension r ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = r.oid
            WHERE e.extname = 'taskmgmt'),
          '{pg_trgm,pgcrypto}'::text[], 'taskmgmt requires pgcrypto and pg_trgm');
SELECT throws_ok('DROP EXTENSION pg_trgm', '2BP01', NULL, 'pg_trgm cannot be dropped while taskmgmt needs it');
SELECT * FROM finish();
ROLLBACK;
