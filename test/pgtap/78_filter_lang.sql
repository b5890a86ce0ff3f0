-- The filter language (#14): every field, operator, AND/OR/NOT and
-- parentheses, relative dates, history predicates, is:/has:, the same
-- answers as the structured list filters, values that cannot inject,
-- syntax errors naming the position and what was expected, saved views,
-- visibility, and index-backed plans for the common shapes.
\ir 7_workflow_helpers.psql
BEGIN;
SET ROLE tap_workflow;
SELECT pg_temp.wf_user('ann') AS ann, pg_temp.wf_user('bob') AS bob, pg_temp.wf_user('carol') AS carol \gset
SELECT plan(67);
\set fields 'a field (status, priority, assignee, team, tag, due, created, updated, text, is, has, changed, was)'

-- the ids a filter text lists, in id order
CREATE FUNCTION pg_temp.fl(txt text) RETURNS bigint[] LANGUAGE sql AS $$
  SELECT coalesce(array_agg((e ->> 'id')::bigint ORDER BY (e ->> 'id')::bigint), '{}')
    FROM jsonb_array_elements(taskmgmt.list_tasks(jsonb_build_object('filter', txt, 'limit', 200)) -> 'items') e
$$;
-- the same for a structured filter
CREATE FUNCTION pg_temp.ls(f jsonb) RETURNS bigint[] LANGUAGE sql AS $$
  SELECT coalesce(array_agg((e ->> 'id')::bigint ORDER BY (e ->> 'id')::bigint), '{}')
    FROM jsonb_array_elements(taskmgmt.list_tasks(f || '{"limit": 200}') -> 'items') e
$$;

SELECT pg_temp.wf_as('carol') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.create_task('{"title": "carol launch plan", "status": "todo", "priority": "high"}') ->> 'id')::bigint AS secret \gset
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.create_team('Design') ->> 'id')::bigint AS team \gset
SELECT taskmgmt.add_team_member(:team, :bob, 'member') IS NOT NULL AS added \gset
SELECT count(taskmgmt.create_task(jsonb_build_object(
    'title', CASE WHEN g % 5 = 0 THEN 'launch plan ' ELSE 'chore ' END || g,
    'status', (ARRAY['todo', 'in_progress', 'done', 'canceled'])[g % 4 + 1],
    'priority', (ARRAY['none', 'low', 'medium', 'high', 'urgent'])[g % 5 + 1],
    'due_date', CASE WHEN g % 3 = 0 THEN NULL ELSE ('2026-12-20'::date + g)::text END,
    'tags', CASE WHEN g % 2 = 0 THEN '["blocked"]'::jsonb ELSE '["ok"]' END,
    'team_id', CASE WHEN g % 4 = 0 THEN :team END,
    'assignee', CASE g % 3 WHEN 0 THEN jsonb_build_object('type', 'user', 'id', :ann)
                           WHEN 1 THEN jsonb_build_object('type', 'user', 'id', :bob) END)))
  AS n FROM generate_series(1, 40) g \gset

-- ---- the same answers as the structured filters ----
SELECT is(pg_temp.fl('status:todo'), pg_temp.ls('{"status": "todo"}'), 'status:');
SELECT is(pg_temp.fl('priority>=high'), pg_temp.ls('{"priority": "high,urgent"}'), 'priority>=');
SELECT is(pg_temp.fl('priority<low'), pg_temp.ls('{"priority": "none"}'), 'priority<');
SELECT is(pg_temp.fl('assignee:me'), pg_temp.ls('{"assignee": "me"}'), 'assignee:me');
SELECT is(pg_temp.fl('assignee:none'), pg_temp.ls('{"assignee": "none"}'), 'assignee:none');
SELECT is(pg_temp.fl('assignee:' || :bob), pg_temp.ls(jsonb_build_object('assignee', 'user:' || :bob)), 'assignee:ID');
SELECT is(pg_temp.fl('team:"design"'), pg_temp.ls(jsonb_build_object('team', :team)), 'team:"name" (any case)');
SELECT is(pg_temp.fl('team:' || :team), pg_temp.ls(jsonb_build_object('team', :team)), 'team:ID');
SELECT is(pg_temp.fl('tag:BLOCKED'), pg_temp.ls('{"tag": "blocked"}'), 'tag: (any case)');
SELECT is(pg_temp.fl('due<2027-01-01'), pg_temp.ls('{"due_before": "2027-01-01"}'), 'due<date');
SELECT is(pg_temp.fl('due>2027-01-01'), pg_temp.ls('{"due_after": "2027-01-01"}'), 'due>date');
SELECT is(pg_temp.fl('text:"launch plan"'), pg_temp.ls('{"q": "launch plan"}'), 'text:"..."');
SELECT is(pg_temp.fl('launch'), pg_temp.ls('{"q": "launch"}'), 'a bare word is text');
SELECT is(pg_temp.fl('is:overdue'), pg_temp.ls('{"overdue": true}'), 'is:overdue');
SELECT is(pg_temp.fl('is:ready'), pg_temp.ls('{"ready": true}'), 'is:ready');
SELECT is(pg_temp.fl('status:todo -tag:blocked'), pg_temp.ls('{"status": "todo", "tag": "ok"}'), 'implicit AND and - for NOT');
SELECT is(pg_temp.fl('status:todo OR status:done'), pg_temp.ls('{"status": "todo,done"}'), 'OR');
SELECT is(pg_temp.fl('NOT (status:todo OR status:done) AND priority:none'),
          pg_temp.ls('{"status": "in_progress,canceled", "priority": "none"}'), 'NOT, parentheses, explicit AND');
SELECT is(pg_temp.fl('status:todo (assignee:me OR team:"Design") due<2027-01-01 -tag:blocked priority>=high'),
          ARRAY(SELECT id FROM taskmgmt.tasks WHERE creator_id = :ann AND status = 'todo'
                  AND (assignee_user_id = :ann OR team_id = :team) AND due_date < '2027-01-01'
                  AND NOT tags @> '{blocked}' AND priority >= 'high' ORDER BY id), 'the issue''s example');
SELECT is(pg_temp.fl('due<+30d due>=today'),
          ARRAY(SELECT id FROM taskmgmt.tasks WHERE creator_id = :ann AND due_date < current_date + 30
                  AND due_date >= current_date ORDER BY id), 'relative dates: today, +30d');
SELECT is(pg_temp.fl('created:today'), pg_temp.ls('{}'), 'created:today (all were)');
SELECT is(pg_temp.fl('created<today'), '{}', 'created<today (none were)');

-- ---- history, subtasks ----
SELECT (SELECT min(id) FROM taskmgmt.tasks WHERE creator_id = :ann AND status = 'todo') AS moved \gset
SELECT ok(taskmgmt.update_task(:moved, '{"status": "in_progress"}') IS NOT NULL, 'one task moves to in_progress');
SELECT ok(taskmgmt.create_task(jsonb_build_object('title', 'sub', 'parent_id', :moved)) IS NOT NULL, '... and gets a subtask');
SELECT is(pg_temp.fl('changed:status:7d'), ARRAY[:moved]::bigint[], 'changed:status:7d');
SELECT is(pg_temp.fl('changed:priority'), '{}', 'changed:priority: none changed');
SELECT is(pg_temp.fl('was:status:todo status:in_progress'), ARRAY[:moved]::bigint[], 'was:status:todo');
SELECT is(pg_temp.fl('has:subtasks'), ARRAY[:moved]::bigint[], 'has:subtasks');

-- ---- every operator, the other date words, is:/has: ----
SELECT is(pg_temp.fl('priority=high'), pg_temp.ls('{"priority": "high"}'), 'priority= (the same as :)');
SELECT is(pg_temp.fl('priority<=low'), pg_temp.ls('{"priority": "none,low"}'), 'priority<=');
SELECT is(pg_temp.fl('priority>medium'), pg_temp.ls('{"priority": "high,urgent"}'), 'priority>');
SELECT is(pg_temp.fl('due<=2027-01-01'),
          ARRAY(SELECT id FROM taskmgmt.tasks WHERE creator_id = :ann AND due_date <= '2027-01-01' ORDER BY id), 'due<=date');
SELECT is(pg_temp.fl('due:2027-01-01'),
          ARRAY(SELECT id FROM taskmgmt.tasks WHERE creator_id = :ann AND due_date = '2027-01-01' ORDER BY id), 'due:date is that day');
SELECT is(pg_temp.fl('due>=2w due<tomorrow'),
          ARRAY(SELECT id FROM taskmgmt.tasks WHERE creator_id = :ann AND due_date >= current_date - 14
                  AND due_date < current_date + 1 ORDER BY id), 'relative dates: 2w (ago), tomorrow');
SELECT is(pg_temp.fl('due>+7d due<=+5w'),
          ARRAY(SELECT id FROM taskmgmt.tasks WHERE creator_id = :ann AND due_date > current_date + 7
                  AND due_date <= current_date + 35 ORDER BY id), 'relative dates: +7d, +5w');
SELECT is(pg_temp.fl('updated:today'), pg_temp.ls('{}'), 'updated:today (all were)');
SELECT is(pg_temp.fl('updated>yesterday updated<tomorrow'), pg_temp.ls('{}'), 'updated> and < with yesterday and tomorrow');
SELECT is(pg_temp.fl('updated<7d'), '{}', 'updated<7d (none was)');
SELECT is(pg_temp.fl('assignee:"BOB"'), pg_temp.ls(jsonb_build_object('assignee', 'user:' || :bob)), 'assignee:"display name" (any case)');
SELECT is(pg_temp.fl('is:open'), pg_temp.ls('{"status": "todo,in_progress"}'), 'is:open');
SELECT is(pg_temp.fl('has:due'),
          ARRAY(SELECT id FROM taskmgmt.tasks WHERE creator_id = :ann AND due_date IS NOT NULL ORDER BY id), 'has:due');
SELECT (taskmgmt.create_task('{"title": "weekly review", "recurrence": "FREQ=WEEKLY"}') ->> 'id')::bigint AS weekly \gset
SELECT is(pg_temp.fl('is:recurring'), ARRAY[:weekly]::bigint[], 'is:recurring');
SELECT (SELECT id FROM taskmgmt.tasks WHERE parent_id = :moved) AS sub \gset
SELECT is(pg_temp.fl('has:parent'), ARRAY[:sub]::bigint[], 'has:parent');
SELECT ok(taskmgmt.add_relation(:weekly, jsonb_build_object('type', 'blocks', 'task_id', :sub)) IS NOT NULL, 'the recurring task blocks the subtask');
SELECT is(pg_temp.fl('has:blockers'), ARRAY[:sub]::bigint[], 'has:blockers');
SELECT ok(NOT :sub = ANY (pg_temp.fl('is:ready')), 'is:ready leaves the blocked subtask out');
SELECT is(pg_temp.fl('changed:status:12h'), ARRAY[:moved]::bigint[], 'changed:status:12h');
SELECT is(pg_temp.fl('changed:parent:2w -changed:status'), '{}', 'changed:parent (none moved), NOT changed:status');

-- ---- values are bind values: quotes and SQL are just text ----
SELECT is(pg_temp.fl('text:"''); DROP TABLE taskmgmt.tasks; --"'), '{}', 'SQL in a value is only a search text');
SELECT is(pg_temp.fl('team:"x'') OR true OR (''"'), '{}', 'a quote in a team name cannot widen the filter');

-- ---- visibility ----
SELECT ok(NOT :secret = ANY (pg_temp.fl('launch OR status:todo OR priority:high')), 'another user''s task never matches');

-- ---- errors: TM400, field filter, position and what was expected ----
SELECT is(pg_temp.wf_err('SELECT taskmgmt.list_tasks(''{"filter": "status:todo due<"}'')'),
          'TM400 [filter] filter: expected a value after ''<'' at position 17', 'a missing value');
SELECT is(pg_temp.wf_err('SELECT taskmgmt.list_tasks(''{"filter": "status:later"}'')'),
          'TM400 [filter] filter: expected a status (todo, in_progress, done, canceled) at position 8', 'an unknown status');
SELECT is(pg_temp.wf_err('SELECT taskmgmt.list_tasks(''{"filter": "(status:todo"}'')'),
          'TM400 [filter] filter: expected '')'' (to close the ''('' at position 1) at position 13', 'an unclosed parenthesis');
SELECT is(pg_temp.wf_err('SELECT taskmgmt.list_tasks(''{"filter": "colour:red"}'')'),
          'TM400 [filter] filter: expected a field (status, priority, assignee, team, tag, due, created, updated, text, is, has, changed, was) at position 1',
          'an unknown field');
SELECT is(pg_temp.wf_err('SELECT taskmgmt.list_tasks(''{"filter": "é due<soon"}'')'),
          'TM400 [filter] filter: expected a date (YYYY-MM-DD, today, yesterday, tomorrow, 7d, +7d, 2w) at position 7',
          'positions count characters, not bytes');

-- ---- errors: each part in a field of its own, as the HTTP shim reads them ----
-- SQLSTATE, COLUMN, SCHEMA (marked for clients), DETAIL "Expected <what>.",
-- no HINT; the position is the error's internal position (not readable in
-- PL/pgSQL: test/sql/79_filter_lang.sql shows psql's marker) and in the message
CREATE FUNCTION pg_temp.fl_err(txt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  st text; col text; sch text; msg text; det text; hin text;
BEGIN
  PERFORM taskmgmt.list_tasks(jsonb_build_object('filter', txt));
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, col = COLUMN_NAME, sch = SCHEMA_NAME,
                          msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
  RETURN concat_ws(' | ', st, col, sch, msg, det, coalesce(nullif(hin, ''), 'no hint'));
END
$$;
SELECT is(pg_temp.fl_err('status:todo due: tag:x'),
          'TM400 | filter | taskmgmt | filter: expected a value after '':'' at position 17 | Expected a value after '':''. | no hint',
          'the issue''s example: position 17, a value after '':''');
SELECT is(pg_temp.fl_err(':todo'),
          'TM400 | filter | taskmgmt | filter: expected a field name before the operator at position 1 | Expected a field name before the operator. | no hint',
          'an error at the start');
SELECT is(pg_temp.fl_err('status:todo AND'),
          'TM400 | filter | taskmgmt | filter: expected a condition at position 16 | Expected a condition. | no hint',
          'an error at the end: one past the last character');
SELECT is(pg_temp.fl_err('text:"launch plan'),
          'TM400 | filter | taskmgmt | filter: expected a closing ''"'' for the quote opened here at position 6 | Expected a closing ''"'' for the quote opened here. | no hint',
          'an unterminated quote: where it opened');
SELECT is(pg_temp.fl_err('status>todo'),
          'TM400 | filter | taskmgmt | filter: expected '':'' after status at position 7 | Expected '':'' after status. | no hint',
          'a bad operator');
SELECT is(pg_temp.fl_err('tag:x colour>red'),
          'TM400 | filter | taskmgmt | filter: expected ' || :'fields' || ' at position 7 | Expected ' || :'fields' || '. | no hint',
          'an unknown field, before its operator (the message never repeats the user''s text)');
SELECT is(pg_temp.fl_err('status:todo)'),
          'TM400 | filter | taskmgmt | filter: expected a condition or the end of the filter (this '')'' has no ''('') at position 12 | Expected a condition or the end of the filter (this '')'' has no ''(''). | no hint',
          'a '')'' without ''(''');
SELECT is(pg_temp.fl_err('(tag:a OR (tag:b) '),
          'TM400 | filter | taskmgmt | filter: expected '')'' (to close the ''('' at position 1) at position 19 | Expected '')'' (to close the ''('' at position 1). | no hint',
          'a ''('' never closed');
SELECT is(pg_temp.fl_err(repeat('x', 2001)),
          'TM400 | filter | taskmgmt | filter: expected a filter of at most 2000 characters at position 1 | Expected a filter of at most 2000 characters. | no hint',
          'too long');

-- ---- saved views keep a filter text ----
SELECT ok(taskmgmt.save_view('todo text', '{"filter": "status:todo -tag:blocked"}') IS NOT NULL, 'a view stores a filter text');
SELECT is(pg_temp.ls('{"view": "todo text"}'), pg_temp.fl('status:todo -tag:blocked'), '... and lists with it');

SELECT * FROM finish();
ROLLBACK;
