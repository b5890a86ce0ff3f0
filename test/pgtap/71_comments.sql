-- Comments: tree order and depth of a branching thread, replies only to
-- visible comments of the same task, validation, edit (edited_at), delete
-- (tombstone keeps replies), @mentions, visibility and permissions.
\ir 7_workflow_helpers.psql
BEGIN;
SET ROLE tap_workflow;
SELECT pg_temp.wf_user('ann') AS ann, pg_temp.wf_user('bob') AS bob, pg_temp.wf_user('carol') AS carol,
       pg_temp.wf_user('dave') AS dave \gset
SELECT plan(46);

SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.create_team('Design') ->> 'id')::bigint AS team \gset
SELECT taskmgmt.add_team_member(:team, :bob, 'member') IS NOT NULL AS added \gset
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'Thread', 'team_id', :team)) ->> 'id')::bigint AS task \gset
SELECT (taskmgmt.create_task('{"title": "Another"}') ->> 'id')::bigint AS task2 \gset

-- A branching thread, written out of display order:
--   c1                 (ann)
--     c2  reply to c1  (bob)
--       c4 reply to c2 (ann)
--     c5  reply to c1  (bob)
--   c3                 (bob)
--     c6  reply to c3  (ann)
SELECT (taskmgmt.add_comment(:task, 'first') ->> 'id')::bigint AS c1 \gset
SELECT pg_temp.wf_as('bob') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.add_comment(:task, 'reply to first', :c1) ->> 'id')::bigint AS c2 \gset
SELECT (taskmgmt.add_comment(:task, 'second') ->> 'id')::bigint AS c3 \gset
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.add_comment(:task, 'reply to reply', :c2) ->> 'id')::bigint AS c4 \gset
SELECT pg_temp.wf_as('bob') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.add_comment(:task, 'another reply to first', :c1) ->> 'id')::bigint AS c5 \gset
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.add_comment(:task, 'reply to second', :c3) ->> 'id')::bigint AS c6 \gset

SELECT is((SELECT array_agg((c ->> 'id')::bigint ORDER BY o) FROM jsonb_array_elements(taskmgmt.comment_thread(:task)) WITH ORDINALITY x(c, o)),
          ARRAY[:c1, :c2, :c4, :c5, :c3, :c6]::bigint[], 'comment_thread: each reply under its parent, siblings by time');
SELECT is((SELECT array_agg((c ->> 'depth')::int ORDER BY o) FROM jsonb_array_elements(taskmgmt.comment_thread(:task)) WITH ORDINALITY x(c, o)),
          ARRAY[0, 1, 2, 1, 0, 1], 'comment_thread: depths');
SELECT is((SELECT array_agg((c ->> 'parent_id')::bigint ORDER BY o) FROM jsonb_array_elements(taskmgmt.comment_thread(:task)) WITH ORDINALITY x(c, o)),
          ARRAY[NULL, :c1, :c2, :c1, NULL, :c3]::bigint[], 'comment_thread: parent ids');
SELECT is((SELECT array_agg((c ->> 'author_id')::bigint ORDER BY o) FROM jsonb_array_elements(taskmgmt.comment_thread(:task)) WITH ORDINALITY x(c, o)),
          ARRAY[:ann, :bob, :ann, :bob, :bob, :ann]::bigint[], 'the author is whoever was signed in');
SELECT is(taskmgmt.comment_thread(:task2), '[]'::jsonb, 'a task without comments has an empty thread');

-- siblings by time, not by id: same-time siblings fall back to id
SELECT taskmgmt.sign_out() IS NULL AS signed_out \gset
RESET ROLE;
UPDATE taskmgmt.comments SET created_at = created_at - interval '1 hour' WHERE id = :c5;
SET ROLE tap_workflow;
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT is((SELECT array_agg((c ->> 'id')::bigint ORDER BY o) FROM jsonb_array_elements(taskmgmt.comment_thread(:task)) WITH ORDINALITY x(c, o)),
          ARRAY[:c1, :c5, :c2, :c4, :c3, :c6]::bigint[], 'siblings are ordered by created_at (then id)');

-- a thread of thousands stays in order (deep chain + wide fan-out)
SELECT count(taskmgmt.add_comment(:task2, 'top ' || g)) AS n FROM generate_series(1, 50) g \gset
INSERT INTO taskmgmt.comments (task_id, parent_id, body)
SELECT :task2, c.id, 'reply ' || g FROM taskmgmt.comments c, generate_series(1, 40) g WHERE c.task_id = :task2;
SELECT is(jsonb_array_length(taskmgmt.comment_thread(:task2)), 2050, 'a thread of 2050 comments comes back whole');
SELECT ok((WITH t AS (SELECT c, o FROM jsonb_array_elements(taskmgmt.comment_thread(:task2)) WITH ORDINALITY x(c, o))
           SELECT bool_and(
             CASE WHEN (c ->> 'depth')::int = 0 THEN c ->> 'parent_id' IS NULL
                  ELSE (SELECT p.c ->> 'id' FROM t p WHERE p.o < t.o AND (p.c ->> 'depth')::int = 0 ORDER BY p.o DESC LIMIT 1) = c ->> 'parent_id' END)
           FROM t), 'every reply comes after its parent and before the next top-level comment');

-- validation
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.add_comment(%s, '   ')$$, :task)), 'TM422 [body] body must not be empty', 'an empty body is refused');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.add_comment(%s, repeat('x', 10001))$$, :task)),
          'TM422 [body] body must be at most 10000 characters', 'an oversized body is refused');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.add_comment(%s, 'x', %s)$$, :task2, :c1)),
          'TM422 [parent_id] parent_id is not a comment on this task', 'a reply must belong to the same task as its parent');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.add_comment(%s, 'x', -5)$$, :task)),
          'TM422 [parent_id] parent_id is not a comment on this task', 'a reply to a missing comment is refused');
SELECT is(pg_temp.wf_err(format($$INSERT INTO taskmgmt.comments (task_id, parent_id, body) VALUES (%s, %s, 'x')$$, :task2, :c1)),
          'TM422 [parent_id] parent_id is not a comment on this task', 'plain SQL is held to the same rule');
SELECT is((SELECT count(*)::int FROM taskmgmt.comments WHERE body = 'x'), 0, 'nothing half-written');

-- edit and delete
SELECT pg_temp.wf_as('bob') IS NOT NULL AS signed_in \gset
SELECT taskmgmt.update_comment(:c2, 'edited reply') AS e \gset
SELECT is(:'e'::jsonb ->> 'body', 'edited reply', 'the author edits a comment');
SELECT isnt(:'e'::jsonb ->> 'edited_at', NULL, 'an edit sets edited_at');
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.update_comment(%s, 'hijack')$$, :c2)),
          '42501 only the author or an admin can change this comment', 'someone else cannot edit it');
SELECT is(pg_temp.wf_err(format($$UPDATE taskmgmt.comments SET body = 'hijack' WHERE id = %s$$, :c2)) ||
          (SELECT body FROM taskmgmt.comments WHERE id = :c2), 'okedited reply', 'nor through plain SQL (RLS: no row to update)');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.delete_comment(%s)$$, :c2)),
          '42501 only the author or an admin can change this comment', 'someone else cannot delete it');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.update_comment(%s, ' ')$$, :c1)), 'TM422 [body] body must not be empty',
          'an edit to an empty body is refused');
SELECT lives_ok(format('SELECT taskmgmt.delete_comment(%s)', :c1), 'the author deletes a comment');
SELECT is((SELECT c - 'created_at' - 'task_id' - 'author_name' - 'mentions' FROM jsonb_array_elements(taskmgmt.comment_thread(:task)) c WHERE (c ->> 'id')::bigint = :c1),
          jsonb_build_object('id', :c1, 'body', NULL, 'depth', 0, 'deleted', true, 'author_id', :ann, 'edited_at', NULL, 'parent_id', NULL),
          'a deleted comment stays as a tombstone without its body');
SELECT is(jsonb_array_length(taskmgmt.comment_thread(:task)), 6, 'its replies survive');
SELECT is((SELECT body FROM taskmgmt.comments WHERE id = :c1), '', 'the body is gone from the table too');
SELECT lives_ok(format('SELECT taskmgmt.delete_comment(%s)', :c1), 'deleting again changes nothing');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.update_comment(%s, 'back')$$, :c1)),
          'TM422 [body] body cannot be changed on a deleted comment', 'a tombstone cannot be edited');
SELECT is(pg_temp.wf_err(format($$UPDATE taskmgmt.comments SET deleted_at = NULL, body = 'back' WHERE id = %s$$, :c1)),
          'TM422 [body] body cannot be changed on a deleted comment', 'nor revived through plain SQL');
SELECT lives_ok(format($$SELECT taskmgmt.add_comment(%s, 'reply to a tombstone', %s)$$, :task, :c1), 'one may still reply under a tombstone');

-- mentions: by email or by handle (the part before @), only people who see the task
SELECT taskmgmt.add_comment(:task, 'ping @bob and @CAROL@wf.test and @dave, thanks @ann.') AS m \gset
SELECT is(:'m'::jsonb -> 'mentions', jsonb_build_array(:ann, :bob), 'mentions of users who see the task are stored (handle, email)');
SELECT is((SELECT array_agg(user_id ORDER BY user_id) FROM taskmgmt.comment_mentions WHERE comment_id = (:'m'::jsonb ->> 'id')::bigint),
          ARRAY[:ann, :bob]::bigint[], '... in comment_mentions; carol and dave, who cannot see the task, are left out');
SELECT is(taskmgmt.update_comment((:'m'::jsonb ->> 'id')::bigint, 'only @bob now') -> 'mentions', jsonb_build_array(:bob),
          'editing a comment keeps its mentions in step');
SELECT is(taskmgmt._mentioned_user_ids('mail ann@wf.test, @nobody, @ann@wf.test'), ARRAY[:ann]::bigint[],
          'an address without a leading @ or an unknown handle is not a mention');

-- bounded work per comment (#12.7): at most 20 people mentioned, replies
-- at most 100 deep (comment_thread sorts by a path as long as the depth)
RESET ROLE;
SELECT count(*) AS made FROM (SELECT pg_temp.wf_user('m' || g) FROM generate_series(1, 21) g) x \gset
SET ROLE tap_workflow;
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.add_comment(%s, %L)$$, :task,
            (SELECT string_agg('@m' || g, ' ') FROM generate_series(1, 21) g))),
          'TM422 [body] body mentions more than 20 people', '21 people mentioned: refused');
SELECT is(cardinality(taskmgmt._mentioned_user_ids((SELECT string_agg('@m' || g, ' ') FROM generate_series(1, 20) g))), 20,
          '(20 are found)');
SELECT lives_ok(format($$SELECT taskmgmt.add_comment(%s, %L)$$, :task, (SELECT string_agg('@m' || g, ' ') FROM generate_series(1, 20) g)),
                '20 people mentioned: accepted');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.update_comment(%s, %L)$$, (:'m'::jsonb ->> 'id')::bigint,
            (SELECT string_agg('@m' || g || '@wf.test', ', ') FROM generate_series(1, 21) g))),
          'TM422 [body] body mentions more than 20 people', 'an edit is held to the same cap (mentions by email too)');
-- the lookup is indexed: no scan of users per token (3000 users here)
RESET ROLE;
INSERT INTO taskmgmt.users (email, display_name)
SELECT 'bulk' || g || '@wf.test', 'Bulk ' || g FROM generate_series(1, 3000) g;
ANALYZE taskmgmt.users;
SELECT seq_scan AS seq0, idx_scan AS idx0 FROM pg_stat_xact_user_tables WHERE relid = 'taskmgmt.users'::regclass \gset
SELECT cardinality(taskmgmt._mentioned_user_ids((SELECT string_agg('@m' || g || ' @bulk' || g || '@wf.test', ' ')
                                                 FROM generate_series(1, 10) g))) AS found \gset
SELECT is(:found, 20, '(10 handles and 10 emails found)');
SELECT is((SELECT seq_scan - :seq0 FROM pg_stat_xact_user_tables WHERE relid = 'taskmgmt.users'::regclass), 0::bigint,
          'resolving 20 mentions among 3000 users scans no table: index lookups only');
SET ROLE tap_workflow;
SELECT (taskmgmt.add_comment(:task, 'depth 0') ->> 'id')::bigint AS deep \gset
SELECT count(*) AS chained FROM generate_series(1, 100) g,
  LATERAL (SELECT set_config('wf.deep', (taskmgmt.add_comment(:task, 'depth ' || g,
             coalesce(nullif(current_setting('wf.deep', true), ''), :'deep')::bigint) ->> 'id'), false)) x \gset
SELECT is((SELECT max((c ->> 'depth')::int) FROM jsonb_array_elements(taskmgmt.comment_thread(:task)) c), 100,
          'a reply 100 deep is accepted and shown at depth 100');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.add_comment(%s, 'too deep', %s)$$, :task, current_setting('wf.deep'))),
          'TM422 [parent_id] parent_id is too deep: replies nest at most 100 levels', 'a reply 101 deep is refused');
SELECT is(pg_temp.wf_err(format($$INSERT INTO taskmgmt.comments (task_id, parent_id, body) VALUES (%s, %s, 'too deep')$$,
                                :task, current_setting('wf.deep'))),
          'TM422 [parent_id] parent_id is too deep: replies nest at most 100 levels', 'plain SQL too');

-- outsiders and admins
SELECT pg_temp.wf_as('carol') IS NOT NULL AS signed_in \gset
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.comment_thread(%s)', :task)), 'P0002 task not found', 'an outsider cannot read the thread');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.add_comment(%s, 'hi')$$, :task)), 'P0002 task not found', 'nor comment on the task');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.update_comment(%s, 'hi')$$, :c2)), 'P0002 comment not found', 'nor edit a comment of it');
SELECT is((SELECT count(*)::int FROM taskmgmt.comments WHERE task_id = :task) + (SELECT count(*)::int FROM taskmgmt.comment_mentions), 0,
          'nor see its comments or mentions in the tables');
RESET ROLE;
SELECT taskmgmt.make_admin('dave@wf.test') IS NOT NULL AS admin \gset
SET ROLE tap_workflow;
SELECT pg_temp.wf_as('dave') IS NOT NULL AS signed_in \gset
SELECT lives_ok(format('SELECT taskmgmt.delete_comment(%s)', :c2), 'an admin may delete any comment');

SELECT * FROM finish();
ROLLBACK;
