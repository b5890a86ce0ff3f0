-- Subtasks and relations (#14): parent_id rules (visibility, cycles, depth
-- 10), subtasks counts and listing, delete with cascade, relations of every
-- type, the blocks cycle, ready=true, blocked_by_open, the unblocked
-- notification, and visibility through every new door.
\ir 7_workflow_helpers.psql
BEGIN;
SET ROLE tap_workflow;
SELECT pg_temp.wf_user('ann') AS ann, pg_temp.wf_user('bob') AS bob, pg_temp.wf_user('carol') AS carol \gset
SELECT plan(66);

SELECT pg_temp.wf_as('carol') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.create_task('{"title": "carol secret"}') ->> 'id')::bigint AS secret \gset
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.create_team('Design') ->> 'id')::bigint AS team \gset
SELECT taskmgmt.add_team_member(:team, :bob, 'member') IS NOT NULL AS added \gset

-- ---- subtasks ----
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'parent', 'team_id', :team)) ->> 'id')::bigint AS p \gset
SELECT taskmgmt.create_task(jsonb_build_object('title', 'child 1', 'parent_id', :p, 'team_id', :team)) AS c1j \gset
SELECT (:'c1j'::jsonb ->> 'id')::bigint AS c1 \gset
SELECT is((:'c1j'::jsonb ->> 'parent_id')::bigint, :p::bigint, 'create_task takes parent_id and shows it');
SELECT is(:'c1j'::jsonb -> 'subtasks', '{"total": 0, "done": 0}', 'a task without subtasks: {total 0, done 0}');
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'child 2', 'parent_id', :p, 'status', 'done', 'team_id', :team)) ->> 'id')::bigint AS c2 \gset
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'ann only child', 'parent_id', :p)) ->> 'id')::bigint AS c3 \gset
SELECT is(taskmgmt.get_task(:p) -> 'subtasks', '{"total": 3, "done": 1}', 'subtasks {total, done} in the task JSON');
SELECT is((SELECT array_agg((e ->> 'id')::bigint ORDER BY o) FROM jsonb_array_elements(taskmgmt.task_subtasks(:p) -> 'items') WITH ORDINALITY x(e, o)),
          ARRAY[:c1, :c2, :c3]::bigint[], 'task_subtasks lists the children, oldest first');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.update_task(%s, ''{"parent_id": %s}'')', :p, :c1)),
          'TM422 [parent_id] parent_id would make the task a subtask of itself', 'a cycle is refused naming parent_id');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.update_task(%s, ''{"parent_id": %s}'')', :p, :p)),
          'TM422 [parent_id] parent_id would make the task a subtask of itself', 'a task is not its own parent');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.create_task(''{"title": "x", "parent_id": %s}'')', :secret)),
          'TM422 [parent_id] parent_id is not a task you can see', 'the parent must be visible');
SELECT is(pg_temp.wf_err('SELECT taskmgmt.create_task(''{"title": "x", "parent_id": 987654321}'')'),
          'TM422 [parent_id] parent_id is not a task you can see', '... the same answer for a task that does not exist');
SELECT is(pg_temp.wf_err('SELECT taskmgmt.create_task(''{"title": "x", "parent_id": "1"}'')'),
          'TM422 [parent_id] parent_id must be a positive integer id', 'parent_id must be an id');
SELECT is(pg_temp.wf_err(format('UPDATE taskmgmt.tasks SET parent_id = %s WHERE id = %s', :c1, :p)),
          'TM422 [parent_id] parent_id would make the task a subtask of itself', 'plain SQL obeys the same rule');

-- depth: a chain of 10 levels is fine, an 11th is refused, also by moving a subtree
CREATE TEMP TABLE chain (n int, id bigint);
DO $$
DECLARE
  prev bigint;
BEGIN
  FOR i IN 1..10 LOOP
    prev := (taskmgmt.create_task(jsonb_build_object('title', 'level ' || i, 'parent_id', prev)) ->> 'id')::bigint;
    INSERT INTO chain VALUES (i, prev);
  END LOOP;
END
$$;
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.create_task(''{"title": "level 11", "parent_id": %s}'')', (SELECT id FROM chain WHERE n = 10))),
          'TM422 [parent_id] parent_id would nest subtasks more than 10 levels deep', 'an 11th level is refused');
SELECT (taskmgmt.create_task('{"title": "m"}') ->> 'id')::bigint AS m \gset
SELECT ok(taskmgmt.create_task(jsonb_build_object('title', 'm2', 'parent_id', :m)) IS NOT NULL, 'a two-level subtree');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.update_task(%s, ''{"parent_id": %s}'')', :m, (SELECT id FROM chain WHERE n = 8))),
          'ok', 'moved under level 8 it ends at level 10');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.update_task(%s, ''{"parent_id": %s}'')', :m, (SELECT id FROM chain WHERE n = 9))),
          'TM422 [parent_id] parent_id would nest subtasks more than 10 levels deep', 'moved under level 9 it would reach 11');
SELECT is((SELECT description FROM taskmgmt.task_events WHERE task_id = :m ORDER BY id DESC LIMIT 1),
          format('parent: none → #%s', (SELECT id FROM chain WHERE n = 8)), 'the history records the move');
SELECT is((taskmgmt.update_task(:m, '{"parent_id": null}') -> 'parent_id'), 'null'::jsonb, 'parent_id null detaches');

-- visibility through the subtasks doors: bob sees the team's tasks only
SELECT pg_temp.wf_as('bob') IS NOT NULL AS signed_in \gset
SELECT is(taskmgmt.get_task(:p) -> 'subtasks', '{"total": 2, "done": 1}', 'bob''s count leaves out the subtask he cannot see');
SELECT is(jsonb_array_length(taskmgmt.task_subtasks(:p) -> 'items'), 2, '... and so does his list');
SELECT is((SELECT e -> 'subtasks' FROM jsonb_array_elements(taskmgmt.list_tasks('{"limit": 200}') -> 'items') e
            WHERE (e ->> 'id')::bigint = :p), '{"total": 2, "done": 1}', '... and his task list');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.task_subtasks(%s)', :c3)), 'P0002 task not found', 'subtasks of an invisible task: not found');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.delete_task(%s, true)', :p)),
          '42501 only the creator, a lead or owner of its team, or an admin can delete this task', 'a member cannot cascade-delete');
SELECT pg_temp.wf_as('carol') IS NOT NULL AS signed_in \gset
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.task_subtasks(%s)', :p)), 'P0002 task not found', 'carol: not found');

-- delete with and without cascade
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.delete_task(%s)', :p)),
          'TM422 [cascade] cascade must be true to delete a task with subtasks (this one has 3)', 'a parent is not deleted without cascade');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.delete_task(%s, true)', (SELECT id FROM chain WHERE n = 1))), 'ok', 'cascade deletes a whole chain');
SELECT is((SELECT count(*)::int FROM taskmgmt.tasks WHERE id IN (SELECT id FROM chain)), 0, '... every level of it');
SELECT is(taskmgmt._delete_cascade_param('{"cascade": "true"}'), true, 'cascade=true');
SELECT is(taskmgmt._delete_cascade_param('{}'), false, 'no cascade parameter: false');
SELECT is(pg_temp.wf_err('SELECT taskmgmt._delete_cascade_param(''{"cascade": "yes"}'')'),
          'TM400 [cascade] cascade: must be true or false', 'cascade must be a boolean');
SELECT is(pg_temp.wf_err('SELECT taskmgmt._delete_cascade_param(''{"force": "true"}'')'),
          'TM400 [force] force: is not a known parameter', 'unknown DELETE parameters are refused');

-- ---- relations ----
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'A', 'team_id', :team)) ->> 'id')::bigint AS a,
       (taskmgmt.create_task(jsonb_build_object('title', 'B', 'team_id', :team, 'assignee', jsonb_build_object('type', 'user', 'id', :bob))) ->> 'id')::bigint AS b,
       (taskmgmt.create_task(jsonb_build_object('title', 'C', 'team_id', :team)) ->> 'id')::bigint AS c,
       (taskmgmt.create_task('{"title": "D ann only"}') ->> 'id')::bigint AS d \gset
SELECT is(taskmgmt.add_relation(:a, jsonb_build_object('type', 'blocks', 'task_id', :b)) - 'created_at',
          jsonb_build_object('type', 'blocks', 'task_id', :b, 'title', 'B', 'status', 'todo'), 'A blocks B');
SELECT is(taskmgmt.add_relation(:c, jsonb_build_object('type', 'blocked_by', 'task_id', :b)) ->> 'type', 'blocked_by', 'C blocked_by B');
SELECT is((SELECT type FROM taskmgmt.task_relations WHERE task_id = :b AND other_id = :c), 'blocks', '... stored as B blocks C');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.add_relation(%s, ''{"type": "blocks", "task_id": %s}'')', :c, :a)),
          'TM422 [task_id] task_id would make a cycle of blocking tasks', 'a cycle of blocks is refused');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.add_relation(%s, ''{"type": "relates", "task_id": %s}'')', :b, :a)),
          '23505 these tasks are already related', 'one relation per pair');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.add_relation(%s, ''{"type": "parent", "task_id": %s}'')', :a, :d)),
          'TM422 [type] type must be one of blocks, blocked_by, relates, duplicates', 'unknown type');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.add_relation(%s, ''{"type": "relates"}'')', :a)),
          'TM422 [task_id] task_id is required', 'task_id is required');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.add_relation(%s, ''{"type": "relates", "task_id": %s}'')', :a, :a)),
          'TM422 [task_id] task_id must be another task', 'not to itself');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.add_relation(%s, ''{"type": "relates", "task_id": %s}'')', :a, :secret)),
          'TM422 [task_id] task_id is not a task you can see', 'the other task must be visible');
SELECT is(pg_temp.wf_err(format('INSERT INTO taskmgmt.task_relations (task_id, other_id, type) VALUES (%s, %s, ''relates'')', :a, :secret)),
          '42501 new row violates row-level security policy for table "task_relations"', '... also by plain SQL');
SELECT is(taskmgmt.add_relation(:d, jsonb_build_object('type', 'duplicates', 'task_id', :a)) ->> 'type', 'duplicates', 'D duplicates A');
SELECT is((SELECT jsonb_agg(e ->> 'type' ORDER BY e ->> 'type') FROM jsonb_array_elements(taskmgmt.list_relations(:a) -> 'items') e),
          '["blocks", "duplicated_by"]', 'list_relations from A: blocks B, duplicated by D');
SELECT is(taskmgmt.get_task(:b) ->> 'blocked_by_open', '1', 'blocked_by_open counts open blockers');
SELECT is(taskmgmt.get_task(:a) ->> 'blocked_by_open', '0', '... zero for an unblocked task');
-- a list page and search results carry the same counts as get_task
SELECT is((SELECT jsonb_object_agg(e ->> 'id', e -> 'blocked_by_open')
             FROM jsonb_array_elements(taskmgmt.list_tasks('{"limit": 200}') -> 'items') e
            WHERE (e ->> 'id')::bigint IN (:a, :b, :c)),
          jsonb_build_object(:a, 0, :b, 1, :c, 1), 'list items: blocked_by_open');
SELECT is((SELECT e -> 'subtasks' FROM jsonb_array_elements(taskmgmt.list_tasks('{"limit": 200}') -> 'items') e
            WHERE (e ->> 'id')::bigint = :p), '{"total": 3, "done": 1}', 'list items: subtasks {total, done}');
SELECT is((SELECT e #> '{task,subtasks}' FROM jsonb_array_elements(taskmgmt.search_tasks('parent') -> 'items') e
            WHERE (e #>> '{task,id}')::bigint = :p), '{"total": 3, "done": 1}', 'search results: subtasks {total, done}');
SELECT is((SELECT e -> 'task' -> 'blocked_by_open'
             FROM jsonb_array_elements(taskmgmt.search_tasks((SELECT title FROM taskmgmt.tasks WHERE id = :b)) -> 'items') e
            WHERE (e -> 'task' ->> 'id')::bigint = :b), '1'::jsonb, 'search results: blocked_by_open');
SELECT ok((SELECT bool_and(NOT (e ->> 'id')::bigint IN (:b, :c)) AND bool_or((e ->> 'id')::bigint = :a)
             FROM jsonb_array_elements(taskmgmt.list_tasks('{"ready": true, "limit": 100}') -> 'items') e),
          'ready=true: A, not the blocked B and C');
SELECT ok((SELECT bool_or((e ->> 'id')::bigint = :b) FROM jsonb_array_elements(taskmgmt.list_tasks('{"ready": "false", "limit": 100}') -> 'items') e),
          'ready=false: B is among the rest');
SELECT is(pg_temp.wf_err('SELECT taskmgmt.list_tasks(''{"ready": "maybe"}'')'), 'TM400 [ready] ready: must be true or false', 'ready must be a boolean');

-- visibility: bob does not see D, so not its relation either
SELECT pg_temp.wf_as('bob') IS NOT NULL AS signed_in \gset
SELECT is((SELECT jsonb_agg(e ->> 'type') FROM jsonb_array_elements(taskmgmt.list_relations(:a) -> 'items') e),
          '["blocks"]', 'bob: a relation to a task he cannot see is never shown');
SELECT is((SELECT count(*)::int FROM taskmgmt.task_relations WHERE :d IN (task_id, other_id)), 0, '... not even by plain SQL');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.remove_relation(%s, %s)', :a, :d)), 'P0002 relation not found', '... nor can he remove it');
SELECT pg_temp.wf_as('carol') IS NOT NULL AS signed_in \gset
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.list_relations(%s)', :a)), 'P0002 task not found', 'carol: not found');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.add_relation(%s, ''{"type": "relates", "task_id": %s}'')', :secret, :a)),
          'TM422 [task_id] task_id is not a task you can see', 'carol cannot relate her task to ann''s');

-- unblocked: when B's last open blocker is done, bob (B's assignee) is told
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'E', 'team_id', :team)) ->> 'id')::bigint AS e \gset
SELECT ok(taskmgmt.add_relation(:e, jsonb_build_object('type', 'blocks', 'task_id', :b)) IS NOT NULL, 'E blocks B too');
SELECT ok(taskmgmt.update_task(:a, '{"status": "done"}') IS NOT NULL, 'A done');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM taskmgmt.notifications WHERE event = 'unblocked'), 0, 'one blocker (E) still open: nobody is told');
SET ROLE tap_workflow;
-- bob also wants unblocked by email (in-app only by default)
SELECT pg_temp.wf_as('bob') IS NOT NULL AS signed_in \gset
SELECT is(taskmgmt.notification_preferences() -> 'unblocked', '{"in_app": true, "email": false}', 'unblocked: in-app only by default');
SELECT ok(taskmgmt.update_me('{"preferences": {"notifications": {"unblocked": {"in_app": true, "email": true}}}}') IS NOT NULL,
          'bob asks for unblocked by email too');
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT ok(taskmgmt.update_task(:e, '{"status": "canceled"}') IS NOT NULL, 'E canceled');
RESET ROLE;
SELECT is((SELECT string_agg(user_id || ' ' || task_id || ' ' || message, '; ') FROM taskmgmt.notifications WHERE event = 'unblocked'),
          format('%s %s "B" is no longer blocked', :bob, :b), 'the last blocker closed: bob hears B is unblocked');
SELECT is((SELECT string_agg(taskmgmt._outbox_subject(o.kind, o.items), '; ') FROM taskmgmt.email_outbox o
            WHERE o.user_id = :bob AND o.items @> jsonb_build_array(jsonb_build_object('event', 'unblocked', 'task_id', :b))),
          '[taskmgmt] "B" is no longer blocked', '... and by email');
SET ROLE tap_workflow;
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT is(taskmgmt.get_task(:b) ->> 'blocked_by_open', '0', 'B has no open blocker now');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.remove_relation(%s, %s)', :b, :a)), 'ok', 'remove_relation, either way round');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.remove_relation(%s, %s)', :b, :a)), 'P0002 relation not found', '... once');

SELECT * FROM finish();
ROLLBACK;
