-- History: the trigger records every change whatever the door, in the same
-- transaction, with readable descriptions; progress updates; task_history
-- paging; history is visible exactly when the task is.
\ir 7_workflow_helpers.psql
BEGIN;
SET ROLE tap_workflow;
SELECT pg_temp.wf_user('ann') AS ann, pg_temp.wf_user('bob') AS bob, pg_temp.wf_user('carol') AS carol \gset
SELECT plan(44);

SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.create_team('Design') ->> 'id')::bigint AS team \gset
SELECT taskmgmt.add_team_member(:team, :bob, 'member') IS NOT NULL AS added \gset
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'Draft the spec', 'priority', 'high',
          'assignee', jsonb_build_object('type', 'user', 'id', :bob))) ->> 'id')::bigint AS task \gset

-- created
SELECT is((SELECT count(*)::int FROM taskmgmt.task_events WHERE task_id = :task), 1, 'creating a task writes one event');
SELECT results_eq(format($$SELECT kind, actor_id, description, changes -> 'title', changes -> 'assignee'
                            FROM taskmgmt.task_events WHERE task_id = %s$$, :task),
  format($$VALUES ('created', %s::bigint, 'created "Draft the spec"', '[null, "Draft the spec"]'::jsonb,
                   jsonb_build_array(NULL, jsonb_build_object('type', 'user', 'id', %s)))$$, :ann, :bob),
  'the created event names the actor and the initial values');

-- an update through the API: readable description, {field: [old, new]}
SELECT taskmgmt.update_task(:task, jsonb_build_object('status', 'in_progress',
         'assignee', jsonb_build_object('type', 'team', 'id', :team))) IS NOT NULL AS updated \gset
SELECT is((SELECT description FROM taskmgmt.task_events WHERE task_id = :task ORDER BY id DESC LIMIT 1),
          'status: To Do → In Progress; assignee: Bob → Design team', 'description reads "status: To Do → In Progress; assignee: Bob → Design team"');
SELECT is((SELECT changes - 'started_at' FROM taskmgmt.task_events WHERE task_id = :task ORDER BY id DESC LIMIT 1),
          jsonb_build_object('status', '["todo", "in_progress"]'::jsonb,
                             'assignee', jsonb_build_array(jsonb_build_object('type', 'user', 'id', :bob),
                                                           jsonb_build_object('type', 'team', 'id', :team))),
          'changes hold [old, new] per field');
SELECT ok((SELECT changes -> 'started_at' ->> 0 IS NULL AND changes -> 'started_at' ->> 1 IS NOT NULL
           FROM taskmgmt.task_events WHERE task_id = :task ORDER BY id DESC LIMIT 1),
          'starting work records started_at');
SELECT is((SELECT source FROM taskmgmt.task_events WHERE task_id = :task ORDER BY id DESC LIMIT 1), 'api',
          'a signed-in SQL API change has source api');

-- application_name is the client's to set: it does not make a change 'http' (#12.3)
SET application_name = 'taskmgmt-shim';
SELECT taskmgmt.update_task(:task, '{"priority": "medium"}') IS NOT NULL AS spoofed \gset
RESET application_name;
SELECT is((SELECT source || ' ' || description FROM taskmgmt.task_events WHERE task_id = :task ORDER BY id DESC LIMIT 1),
          'api priority: High → Medium', 'application_name taskmgmt-shim does not change the source: still api');
SELECT taskmgmt.update_task(:task, '{"priority": "high"}') IS NOT NULL AS back \gset

-- nothing changed: no event
SELECT taskmgmt.update_task(:task, '{"status": "in_progress"}') IS NOT NULL AS same \gset
SELECT is((SELECT count(*)::int FROM taskmgmt.task_events WHERE task_id = :task), 4, 'an update that changes nothing writes no event');

-- done, then reopened: completed_at cleared on the task, kept by history
SELECT taskmgmt.update_task(:task, '{"status": "done"}') ->> 'completed_at' AS completed_at \gset
SELECT isnt(:'completed_at'::text, NULL, 'done sets completed_at');
SELECT is(taskmgmt.update_task(:task, '{"status": "todo"}') ->> 'completed_at', NULL, 'reopening clears completed_at');
SELECT is((SELECT changes -> 'completed_at' ->> 0 FROM taskmgmt.task_events WHERE task_id = :task ORDER BY id DESC LIMIT 1)::timestamptz,
          :'completed_at'::timestamptz, 'history keeps the completed_at that reopening cleared');
SELECT is((SELECT description FROM taskmgmt.task_events WHERE task_id = :task ORDER BY id DESC LIMIT 1),
          'status: Done → To Do', 'reopening reads "status: Done → To Do"');

-- other fields
SELECT taskmgmt.update_task(:task, '{"title": "Final spec", "priority": "urgent", "due_date": "2030-01-15", "tags": ["a", "b"], "description": "more"}') IS NOT NULL AS upd \gset
SELECT is((SELECT description FROM taskmgmt.task_events WHERE task_id = :task ORDER BY id DESC LIMIT 1),
          'title: "Draft the spec" → "Final spec"; description edited; priority: High → Urgent; due date: none → 2030-01-15; tags: none → a, b',
          'title, description, priority, due date and tags are described');
SELECT taskmgmt.update_task(:task, jsonb_build_object('team_id', :team, 'assignee', NULL)) IS NOT NULL AS upd \gset
SELECT is((SELECT description FROM taskmgmt.task_events WHERE task_id = :task ORDER BY id DESC LIMIT 1),
          'team: none → Design; assignee: Design team → nobody', 'team and unassignment are described');

-- progress updates
SELECT is(taskmgmt.add_update(:task, '  halfway there  ') - 'id' - 'at' - 'task_id' - 'actor_id',
          '{"kind": "progress", "source": "api", "changes": {}, "actor_name": "Ann", "actor_role": null, "description": "halfway there"}'::jsonb,
          'add_update writes a progress event in the same stream');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.add_update(%s, '  ')$$, :task)), 'TM422 [description] description must not be empty',
          'an empty progress update is refused naming description');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.add_update(%s, repeat('x', 10001))$$, :task)),
          'TM422 [description] description must be at most 10000 characters', 'an oversized progress update is refused');
SELECT is(pg_temp.wf_err('SELECT taskmgmt.add_update(-1, ''x'')'), 'P0002 task not found', 'progress on a missing task: not found');
-- a plain INSERT is the same door as add_update, but only for progress, as oneself
SELECT lives_ok(format($$INSERT INTO taskmgmt.task_events (task_id, kind, description) VALUES (%s, 'progress', 'by insert')$$, :task),
                'a client may insert a progress update with plain SQL');
SELECT is((SELECT actor_id FROM taskmgmt.task_events WHERE description = 'by insert'), :ann::bigint, '... recorded as the signed-in user');
SELECT throws_ok(format($$INSERT INTO taskmgmt.task_events (task_id, kind, description) VALUES (%s, 'updated', 'forged')$$, :task),
                 '42501', NULL, 'a client cannot forge a change event');
SELECT throws_ok(format($$INSERT INTO taskmgmt.task_events (task_id, kind, description, actor_id) VALUES (%s, 'progress', 'x', %s)$$, :task, :bob),
                 '42501', NULL, 'a client cannot write history as someone else');
SELECT throws_ok(format('UPDATE taskmgmt.task_events SET description = ''x'' WHERE task_id = %s', :task), '42501', NULL,
                 'history cannot be edited by clients');
SELECT throws_ok(format('DELETE FROM taskmgmt.task_events WHERE task_id = %s', :task), '42501', NULL,
                 'history cannot be deleted by clients');

-- task_history: newest first, paged with a cursor
SELECT is(jsonb_array_length(taskmgmt.task_history(:task) -> 'items'),
          (SELECT count(*)::int FROM taskmgmt.task_events WHERE task_id = :task), 'task_history returns all events');
SELECT is((SELECT array_agg((e ->> 'id')::bigint) FROM jsonb_array_elements(taskmgmt.task_history(:task) -> 'items') e),
          (SELECT array_agg(id ORDER BY id DESC) FROM taskmgmt.task_events WHERE task_id = :task), 'newest first');
SELECT taskmgmt.task_history(:task, '{"limit": 3}') AS p1 \gset
SELECT taskmgmt.task_history(:task, jsonb_build_object('limit', 3, 'cursor', :'p1'::jsonb -> 'next_cursor')) AS p2 \gset
SELECT taskmgmt.task_history(:task, jsonb_build_object('limit', '10', 'cursor', :'p2'::jsonb -> 'next_cursor')) AS p3 \gset
SELECT is((SELECT array_agg((e ->> 'id')::bigint ORDER BY n) FROM (
             SELECT e, 1 * 100 + o AS n FROM jsonb_array_elements(:'p1'::jsonb -> 'items') WITH ORDINALITY x(e, o)
             UNION ALL SELECT e, 2 * 100 + o FROM jsonb_array_elements(:'p2'::jsonb -> 'items') WITH ORDINALITY x(e, o)
             UNION ALL SELECT e, 3 * 100 + o FROM jsonb_array_elements(:'p3'::jsonb -> 'items') WITH ORDINALITY x(e, o)) y),
          (SELECT array_agg(id ORDER BY id DESC) FROM taskmgmt.task_events WHERE task_id = :task),
          'pages of 3, 3 and 10 visit every event once, newest first');
SELECT is(:'p3'::jsonb -> 'next_cursor', 'null'::jsonb, 'the last page has no next_cursor');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.task_history(%s, '{"cursor": "abc.def"}')$$, :task)),
          'TM400 [cursor] cursor: is not a valid cursor', 'a forged cursor is refused naming cursor');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.task_history(%s, %L)$$, :task,
            jsonb_build_object('cursor', taskmgmt._b64url_encode(convert_to('{"f": "x", "i": 1, "s": "history"}', 'UTF8')) || '.'
                                         || split_part(:'p1'::jsonb ->> 'next_cursor', '.', 2)))),
          'TM400 [cursor] cursor: is not a valid cursor', 'a cursor with a changed payload is refused');
SELECT (taskmgmt.create_task('{"title": "other"}') ->> 'id')::bigint AS other \gset
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.task_history(%s, %L)$$, :other, jsonb_build_object('cursor', :'p1'::jsonb -> 'next_cursor'))),
          'TM400 [cursor] cursor: does not belong to this request (the filter or sort changed); start again without a cursor',
          'a cursor of another task''s history is refused');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.task_history(%s, '{"limit": 0}')$$, :task)),
          'TM400 [limit] limit: must be an integer between 1 and 200', 'limit 0 is refused naming limit');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.task_history(%s, '{"page": 2}')$$, :task)),
          'TM400 [page] page: is not a known parameter (limit, cursor)', 'unknown keys are refused naming the key');

-- carol cannot reach the task through history, nor reuse ann's cursor
SELECT pg_temp.wf_as('carol') IS NOT NULL AS signed_in \gset
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.task_history(%s)', :task)), 'P0002 task not found', 'an outsider: task_history says not found');
SELECT is((SELECT count(*)::int FROM taskmgmt.task_events WHERE task_id = :task), 0, 'an outsider sees no event of the task in the table');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.add_update(%s, 'x')$$, :task)), 'P0002 task not found', 'an outsider cannot post a progress update');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.task_history(%s, %L)$$, :task, jsonb_build_object('cursor', :'p1'::jsonb -> 'next_cursor'))),
          'TM400 [cursor] cursor: is not a valid cursor', 'another user''s cursor is refused (cursors are bound to the user)');

-- a DBA's plain UPDATE in psql, as superuser and signed out
SELECT taskmgmt.sign_out() IS NULL AS signed_out \gset
RESET ROLE;
UPDATE taskmgmt.tasks SET status = 'in_progress', priority = 'low' WHERE id = :task;
SELECT is((SELECT row(kind, actor_id, actor_role, source, description)::text FROM taskmgmt.task_events
            WHERE task_id = :task ORDER BY id DESC LIMIT 1),
          row('updated', NULL::bigint, current_user::text, 'sql', 'status: To Do → In Progress; priority: Urgent → Low')::text,
  'a superuser''s plain UPDATE without sign-in is recorded with the database role');

-- same transaction: a rolled-back change leaves no history
SAVEPOINT before_change;
UPDATE taskmgmt.tasks SET title = 'rolled back' WHERE id = :task;
ROLLBACK TO SAVEPOINT before_change;
SELECT is((SELECT count(*)::int FROM taskmgmt.task_events WHERE description LIKE '%rolled back%'), 0,
          'a rolled-back change leaves no event (written in the same transaction)');

-- a signed-in client's plain UPDATE (not through the API)
SET ROLE tap_workflow;
SELECT pg_temp.wf_as('bob') IS NOT NULL AS signed_in \gset
UPDATE taskmgmt.tasks SET due_date = NULL WHERE id = :task;
SELECT results_eq(format($$SELECT actor_id, source, description FROM taskmgmt.task_events WHERE task_id = %s ORDER BY id DESC LIMIT 1$$, :task),
  format($$VALUES (%s::bigint, 'api', 'due date: 2030-01-15 → none')$$, :bob), 'a signed-in plain UPDATE is recorded with its user');

-- deletion: recorded; the history then goes with the task (admins keep it)
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT taskmgmt.delete_task(:task) IS NULL AS deleted \gset
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.task_history(%s)', :task)), 'P0002 task not found', 'a deleted task has no history for its users');
RESET ROLE;
SELECT is((SELECT kind || ' ' || actor_id FROM taskmgmt.task_events WHERE task_id = :task ORDER BY id DESC LIMIT 1),
          'deleted ' || :ann, 'deleting writes a deleted event with the actor');
SELECT taskmgmt.make_admin('carol@wf.test') IS NOT NULL AS admin \gset
SET ROLE tap_workflow;
SELECT pg_temp.wf_as('carol') IS NOT NULL AS signed_in \gset
SELECT cmp_ok((SELECT count(*)::int FROM taskmgmt.task_events WHERE task_id = :task), '>', 5, 'an admin still reads the history of a deleted task');

-- 'http': the identity came from an access token for this transaction
-- (authenticate(), what the shim does for every request), whatever the
-- application_name says.  Last: the token identity lasts until ROLLBACK.
SELECT (taskmgmt.create_task('{"title": "by token"}') ->> 'id')::bigint AS token_task \gset
SELECT taskmgmt.authenticate(taskmgmt.password_grant('carol@wf.test', 'carol password 1') ->> 'access_token') IS NOT NULL AS by_token \gset
SET application_name = 'psql';
SELECT taskmgmt.update_task(:token_task, '{"priority": "low"}') IS NOT NULL AS via_token \gset
RESET application_name;
SELECT is((SELECT source FROM taskmgmt.task_events WHERE task_id = :token_task ORDER BY id DESC LIMIT 1),
          'http', 'a change made with an access token (authenticate) has source http');

SELECT * FROM finish();
ROLLBACK;
