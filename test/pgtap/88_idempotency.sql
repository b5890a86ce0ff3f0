-- Idempotency-Key storage (#12.10): per user, 24 hours, in the transaction
-- of the write; the same key and request give the stored answer, another
-- request under the same key is TM422.  The concurrent case (a retry that
-- arrives while the first attempt is still running) is
-- test/isolation/specs/88_idempotency.spec; the HTTP route, where the shim
-- wraps each POST in idempotency_begin/finish, is test/http.
\ir 7_workflow_helpers.psql
BEGIN;
SET ROLE tap_workflow;
SELECT pg_temp.wf_user('ida') AS ida, pg_temp.wf_user('ivo') AS ivo \gset
SELECT plan(15);

-- the write as the shim does it: begin, the write when begin says so, finish
CREATE FUNCTION pg_temp.post_task(k text, body jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT coalesce(p.prior, jsonb_build_object('status', 201, 'body',
           taskmgmt.idempotency_finish(k, 201, taskmgmt.create_task(body))))
    FROM (SELECT taskmgmt.idempotency_begin(k, 'POST /api/v1/tasks ' || body::text) AS prior) p
$$;

SELECT pg_temp.wf_as('ida') IS NOT NULL AS signed_in \gset
SELECT is(taskmgmt.idempotency_begin(NULL, 'POST /api/v1/tasks {}'), NULL, 'no key: nothing to remember');
SELECT pg_temp.post_task('k-1', '{"title": "once", "priority": "high"}') AS first \gset
SELECT is((:'first'::jsonb -> 'body' ->> 'title'), 'once', 'the first request with a key writes');
SELECT is(pg_temp.post_task('k-1', '{"priority": "high", "title": "once"}'), :'first'::jsonb,
          'the same key and the same JSON (other key order): the stored status and body');
SELECT is((SELECT count(*)::int FROM taskmgmt.tasks WHERE title = 'once'), 1, '... and no second task');
SELECT is(pg_temp.wf_err($$SELECT pg_temp.post_task('k-1', '{"title": "twice"}')$$),
          'TM422 [Idempotency-Key] Idempotency-Key was already used with another request',
          'the same key with another body: TM422 (HTTP 422)');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.idempotency_begin('k-1', 'POST /api/v1/teams {"title": "once", "priority": "high"}')$$),
          'TM422 [Idempotency-Key] Idempotency-Key was already used with another request',
          '... or another route');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.idempotency_begin('', 'x')$$),
          'TM400 [Idempotency-Key] Idempotency-Key: must be 1 to 255 visible ASCII characters', 'an empty key: TM400');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.idempotency_begin('a b', 'x')$$),
          'TM400 [Idempotency-Key] Idempotency-Key: must be 1 to 255 visible ASCII characters', 'a key with a space: TM400');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.idempotency_begin(%L, %L)', repeat('k', 256), 'x')),
          'TM400 [Idempotency-Key] Idempotency-Key: must be 1 to 255 visible ASCII characters', 'a key of 256 characters: TM400');

-- a failed write leaves no key: its retry runs
SAVEPOINT failing;
SELECT is(pg_temp.wf_err($$SELECT pg_temp.post_task('k-2', '{"title": ""}')$$), 'TM422 [title] title must not be empty',
          'a request that fails ...');
ROLLBACK TO SAVEPOINT failing;
SELECT is((pg_temp.post_task('k-2', '{"title": "second try"}') -> 'body' ->> 'title'), 'second try',
          '... left nothing behind: the key is free for the corrected request');

-- keys are per user
SELECT pg_temp.wf_as('ivo') IS NOT NULL AS signed_in \gset
SELECT is((pg_temp.post_task('k-1', '{"title": "ivo''s"}') -> 'body' ->> 'title'), 'ivo''s',
          'another user''s k-1 is another key');
SELECT is((SELECT count(*)::int FROM taskmgmt.tasks WHERE title = 'once'), 0, '(ivo does not see ida''s task)');

-- 24 hours
RESET ROLE;
UPDATE taskmgmt.idempotency_keys SET created_at = now() - interval '25 hours' WHERE user_id = :ida AND key = 'k-1';
SET ROLE tap_workflow;
SELECT pg_temp.wf_as('ida') IS NOT NULL AS signed_in \gset
SELECT is((pg_temp.post_task('k-1', '{"title": "a day later"}') -> 'body' ->> 'title'), 'a day later',
          'after 24 hours a key can be used again');
SELECT throws_ok('SELECT * FROM taskmgmt.idempotency_keys', '42501', NULL, 'clients cannot read the stored keys');

SELECT * FROM finish();
ROLLBACK;
