-- list_tasks / filter_tasks: every filter parameter, sorting with NULLS
-- LAST and the id tiebreak, keyset pages that visit every row exactly once
-- (also with rows inserted between pages), tamper-evident cursors, and
-- errors naming the parameter.
\ir 7_workflow_helpers.psql
BEGIN;
SET ROLE tap_workflow;
SELECT pg_temp.wf_user('ann') AS ann, pg_temp.wf_user('bob') AS bob, pg_temp.wf_user('carol') AS carol \gset
SELECT plan(78);

SELECT pg_temp.wf_as('carol') IS NOT NULL AS signed_in \gset
SELECT count(taskmgmt.create_task(jsonb_build_object('title', 'carol alpha secret ' || g, 'tags', '["red"]'::jsonb, 'priority', 'urgent')))
  AS n FROM generate_series(1, 5) g \gset
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.create_team('Design') ->> 'id')::bigint AS team \gset
SELECT taskmgmt.add_team_member(:team, :bob, 'member') IS NOT NULL AS added \gset
SELECT count(taskmgmt.create_task(jsonb_build_object(
    'title', CASE WHEN g % 6 = 0 THEN 'alpha report ' ELSE 'Task ' END || lpad(g::text, 2, '0'),
    'status', (ARRAY['todo', 'in_progress', 'done', 'canceled'])[g % 4 + 1],
    'priority', (ARRAY['none', 'low', 'medium', 'high', 'urgent'])[g % 5 + 1],
    'due_date', CASE WHEN g % 3 = 0 THEN NULL WHEN g % 8 = 1 THEN (current_date - 3)::text
                     ELSE ('2030-01-01'::date + g % 7)::text END,
    'tags', CASE WHEN g % 2 = 0 THEN '["red"]'::jsonb ELSE '[]' END || CASE WHEN g % 3 = 0 THEN '["blue"]'::jsonb ELSE '[]' END,
    'team_id', CASE WHEN g % 5 = 0 THEN :team END,
    'assignee', CASE g % 4 WHEN 0 THEN jsonb_build_object('type', 'user', 'id', :ann)
                           WHEN 1 THEN jsonb_build_object('type', 'user', 'id', :bob)
                           WHEN 2 THEN jsonb_build_object('type', 'team', 'id', :team) END)))
  AS n FROM generate_series(1, 40) g \gset
-- spread creation times, with ties (same transaction otherwise)
SELECT taskmgmt.sign_out() IS NULL AS signed_out \gset
RESET ROLE;
UPDATE taskmgmt.tasks SET created_at = created_at - (id % 5) * interval '1 minute', updated_at = updated_at - (id % 3) * interval '1 minute'
 WHERE creator_id = :ann;
SET ROLE tap_workflow;
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
CREATE TEMP VIEW mine AS SELECT * FROM taskmgmt.tasks WHERE creator_id = :ann;

-- ---- filters ----
SELECT is(jsonb_array_length(taskmgmt.list_tasks() -> 'items'), 40, 'no parameters: every visible task, none of another user''s');
SELECT is(taskmgmt.list_tasks() -> 'next_cursor', 'null'::jsonb, 'one page: no next_cursor');
SELECT is(pg_temp.wf_ids(taskmgmt.list_tasks('{"limit": 200}')), (SELECT array_agg(id ORDER BY created_at DESC, id DESC) FROM mine),
          'default order: newest first, id as tiebreak');
SELECT set_eq($$SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.list_tasks('{"status": "todo,in_progress"}') -> 'items') e$$,
              $$SELECT id FROM mine WHERE status IN ('todo', 'in_progress')$$, 'status: several, comma-separated');
SELECT set_eq($$SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.list_tasks('{"status": ["done"]}') -> 'items') e$$,
              $$SELECT id FROM mine WHERE status = 'done'$$, 'status: a JSON array works too');
SELECT set_eq($$SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.list_tasks('{"assignee": "me"}') -> 'items') e$$,
              format('SELECT id FROM mine WHERE assignee_user_id = %s', :ann), 'assignee=me');
SELECT set_eq($$SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.list_tasks('{"assignee": "none"}') -> 'items') e$$,
              'SELECT id FROM mine WHERE assignee_user_id IS NULL AND assignee_team_id IS NULL', 'assignee=none');
SELECT set_eq(format($$SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.list_tasks('{"assignee": "user:%s"}') -> 'items') e$$, :bob),
              format('SELECT id FROM mine WHERE assignee_user_id = %s', :bob), 'assignee=user:ID');
SELECT set_eq(format($$SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.list_tasks('{"assignee": "team:%s"}') -> 'items') e$$, :team),
              format('SELECT id FROM mine WHERE assignee_team_id = %s', :team), 'assignee=team:ID');
SELECT set_eq(format($$SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.list_tasks('{"team": "%s"}') -> 'items') e$$, :team),
              format('SELECT id FROM mine WHERE team_id = %s', :team), 'team=ID (string)');
SELECT is(jsonb_array_length(taskmgmt.list_tasks(jsonb_build_object('team', :team)) -> 'items'), 8, 'team=ID (number)');
SELECT set_eq($$SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.list_tasks('{"priority": "high,urgent"}') -> 'items') e$$,
              $$SELECT id FROM mine WHERE priority IN ('high', 'urgent')$$, 'priority: several');
SELECT set_eq($$SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.list_tasks('{"tag": "red,blue"}') -> 'items') e$$,
              $$SELECT id FROM mine WHERE tags && '{red,blue}'$$, 'tag: any of several (default)');
SELECT set_eq($$SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.list_tasks('{"tag": "RED,blue", "tag_mode": "all"}') -> 'items') e$$,
              $$SELECT id FROM mine WHERE tags @> '{red,blue}'$$, 'tag_mode=all, tags matched case-insensitively');
SELECT set_eq($$SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.list_tasks('{"due_before": "2030-01-03"}') -> 'items') e$$,
              $$SELECT id FROM mine WHERE due_date < '2030-01-03'$$, 'due_before is strict and skips tasks without a date');
SELECT set_eq($$SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.list_tasks('{"due_after": "2030-01-03", "due_before": "2030-01-06"}') -> 'items') e$$,
              $$SELECT id FROM mine WHERE due_date > '2030-01-03' AND due_date < '2030-01-06'$$, 'due_after and due_before combine');
SELECT set_eq($$SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.list_tasks('{"overdue": "true"}') -> 'items') e$$,
              $$SELECT id FROM mine WHERE due_date < current_date AND status IN ('todo', 'in_progress')$$, 'overdue=true: past due and still open');
SELECT ok((SELECT count(*) FROM mine WHERE due_date < current_date AND status IN ('todo', 'in_progress')) > 0, '(the data has overdue tasks)');
SELECT set_eq($$SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.list_tasks('{"overdue": false}') -> 'items') e$$,
              $$SELECT id FROM mine WHERE NOT coalesce(due_date < current_date AND status IN ('todo', 'in_progress'), false)$$, 'overdue=false (boolean)');
-- "today" is the user's, in their time zone, not the session's (as is:overdue)
SELECT taskmgmt.update_me('{"timezone": "Etc/GMT+12"}') IS NOT NULL AS ok \gset
SET LOCAL TimeZone = 'Pacific/Kiritimati';   -- 26 hours ahead: always another date
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'due today, far west',
          'due_date', taskmgmt._user_today(taskmgmt.current_user_id()))) ->> 'id')::bigint AS west \gset
SELECT ok(current_date > taskmgmt._user_today(taskmgmt.current_user_id()), '(the session''s date is ahead of the user''s)');
SELECT ok(NOT EXISTS (SELECT FROM jsonb_array_elements(taskmgmt.list_tasks('{"overdue": true, "limit": 200}') -> 'items') e
                       WHERE (e ->> 'id')::bigint = :west)
          AND NOT EXISTS (SELECT FROM jsonb_array_elements(taskmgmt.list_tasks('{"filter": "is:overdue", "limit": 200}') -> 'items') e
                           WHERE (e ->> 'id')::bigint = :west),
          'overdue=true and is:overdue agree: due on the user''s today is not overdue, whatever the session''s time zone');
SELECT taskmgmt.delete_task(:west) IS NULL AS ok \gset
RESET TimeZone;
SELECT taskmgmt.update_me('{"timezone": "UTC"}') IS NOT NULL AS ok \gset
SELECT set_eq($$SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.list_tasks('{"q": "alpha"}') -> 'items') e$$,
              $$SELECT id FROM mine WHERE title LIKE 'alpha%'$$, 'q: full text, only visible tasks (carol''s alpha tasks are not there)');
SELECT set_eq($$SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.list_tasks('{"q": "alpha", "status": "todo", "tag": "red"}') -> 'items') e$$,
              $$SELECT id FROM mine WHERE title LIKE 'alpha%' AND status = 'todo' AND 'red' = ANY (tags)$$, 'parameters combine');
SELECT is(jsonb_array_length(taskmgmt.list_tasks('{"status": "", "tag": "", "cursor": ""}') -> 'items'), 40, 'empty parameters (as from ?status=) are ignored');

-- ---- sorting ----
SELECT is(pg_temp.wf_ids(taskmgmt.list_tasks('{"sort": "due_date", "limit": 200}')),
          (SELECT array_agg(id ORDER BY due_date NULLS LAST, id) FROM mine), 'sort=due_date: NULLS LAST, id tiebreak');
SELECT is(pg_temp.wf_ids(taskmgmt.list_tasks('{"sort": "-due_date", "limit": 200}')),
          (SELECT array_agg(id ORDER BY due_date DESC NULLS LAST, id DESC) FROM mine), 'sort=-due_date: NULLS LAST too');
SELECT is(pg_temp.wf_ids(taskmgmt.list_tasks('{"sort": "priority,-due_date", "limit": 200}')),
          (SELECT array_agg(id ORDER BY priority, due_date DESC NULLS LAST, id DESC) FROM mine), 'sort=priority,-due_date');
SELECT is(pg_temp.wf_ids(taskmgmt.list_tasks('{"sort": ["-priority", "title"], "limit": 200}')),
          (SELECT array_agg(id ORDER BY priority DESC, title, id) FROM mine), 'sort as a JSON array; priority in its declared order');
SELECT is(pg_temp.wf_ids(taskmgmt.list_tasks('{"sort": "status,-updated_at,created_at", "limit": 200}')),
          (SELECT array_agg(id ORDER BY status, updated_at DESC, created_at, id) FROM mine), 'sort on three keys');

-- ---- pagination: every row exactly once, in order ----
SELECT is(pg_temp.wf_pages(f, 7), ARRAY(SELECT id FROM taskmgmt.filter_tasks(f)), 'pages of 7 = the whole list, sort ' || coalesce(f ->> 'sort', 'default'))
  FROM (VALUES ('{}'::jsonb), ('{"sort": "due_date"}'), ('{"sort": "-due_date"}'), ('{"sort": "title"}'), ('{"sort": "-priority,due_date"}'),
               ('{"sort": "status,-created_at"}'), ('{"sort": "updated_at,-title"}')) v(f);
SELECT is(ARRAY(SELECT id FROM taskmgmt.filter_tasks('{"sort": "priority,-due_date"}')),
          (SELECT array_agg(id ORDER BY priority, due_date DESC NULLS LAST, id DESC) FROM mine), 'filter_tasks: the same order');
SELECT is((SELECT count(*)::int FROM taskmgmt.filter_tasks('{"limit": 3}')), 40, 'filter_tasks does not paginate');
SELECT is(pg_temp.wf_pages('{"status": "todo,in_progress", "sort": "due_date"}', 4),
          (SELECT array_agg(id ORDER BY due_date NULLS LAST, id) FROM mine WHERE status IN ('todo', 'in_progress')), 'filtered pages');
SELECT taskmgmt.list_tasks('{"limit": "5", "sort": "due_date"}') AS p1 \gset
SELECT is(jsonb_array_length(:'p1'::jsonb -> 'items'), 5, 'limit as a numeric string');
SELECT is(jsonb_array_length(taskmgmt.list_tasks('{}') -> 'items'), 40, 'default limit 50');

-- rows inserted between pages (by someone else) do not disturb the walk
SELECT pg_temp.wf_as('bob') IS NOT NULL AS signed_in \gset
CREATE TEMP TABLE walked (id bigint, pass int);
GRANT ALL ON walked TO PUBLIC;
DO $$
DECLARE
  c jsonb := 'null';
  page jsonb;
  k int := 0;
BEGIN
  LOOP
    page := taskmgmt.list_tasks(jsonb_build_object('sort', 'due_date', 'limit', 3, 'cursor', c));
    INSERT INTO walked SELECT (e ->> 'id')::bigint, 1 FROM jsonb_array_elements(page -> 'items') e;
    -- new visible tasks before, inside and after the part already seen
    PERFORM taskmgmt.create_task(jsonb_build_object('title', 'inserted ' || k, 'team_id', (SELECT min(team_id) FROM taskmgmt.tasks WHERE team_id IS NOT NULL),
                                                    'due_date', ('2030-01-01'::date + (k % 9) - 1)::text));
    k := k + 1;
    c := page -> 'next_cursor';
    EXIT WHEN c = 'null' OR k > 100;
  END LOOP;
END $$;
SELECT is((SELECT count(*)::int FROM walked w JOIN taskmgmt.tasks t USING (id) WHERE t.title NOT LIKE 'inserted%'),
          (SELECT count(*)::int FROM taskmgmt.tasks WHERE title NOT LIKE 'inserted%'),
          'with inserts between pages, every row that existed is visited');
SELECT is((SELECT count(*)::int FROM (SELECT id FROM walked GROUP BY id HAVING count(*) > 1) d), 0, '... and no row twice');
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset

-- ---- errors name the parameter ----
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.list_tasks(%L)', f)), e, 'refused: ' || f)
  FROM (VALUES
    ('{"colour": "red"}', 'TM400 [colour] colour: is not a known parameter'),
    ('{"status": "todo,later"}', 'TM400 [status] status: must be a list of todo, in_progress, done, canceled'),
    ('{"status": "todo,,done"}', 'TM400 [status] status: must not contain empty items'),
    ('{"status": 5}', 'TM400 [status] status: must be a comma-separated list'),
    ('{"priority": "highest"}', 'TM400 [priority] priority: must be a list of none, low, medium, high, urgent'),
    ('{"assignee": "you"}', 'TM400 [assignee] assignee: must be me, none, user:ID or team:ID'),
    ('{"assignee": "user:x"}', 'TM400 [assignee] assignee: must be me, none, user:ID or team:ID'),
    ('{"team": "design"}', 'TM400 [team] team: must be a positive integer id'),
    ('{"tag_mode": "some", "tag": "a"}', 'TM400 [tag_mode] tag_mode: must be any or all'),
    ('{"due_before": "15/01/2030"}', 'TM400 [due_before] due_before: must be a date in the form YYYY-MM-DD'),
    ('{"due_after": "2030-02-30"}', 'TM400 [due_after] due_after: is not a valid date'),
    ('{"overdue": "yes"}', 'TM400 [overdue] overdue: must be true or false'),
    ('{"sort": "colour"}', 'TM400 [sort] sort: must be a list of priority, due_date, created_at, updated_at, title, status, each optionally prefixed with - for descending'),
    ('{"sort": "title,-title"}', 'TM400 [sort] sort: names title twice'),
    ('{"limit": 0}', 'TM400 [limit] limit: must be an integer between 1 and 200'),
    ('{"limit": "201"}', 'TM400 [limit] limit: must be an integer between 1 and 200'),
    ('{"limit": 2.5}', 'TM400 [limit] limit: must be an integer between 1 and 200'),
    ('{"cursor": 7}', 'TM400 [cursor] cursor: must be a cursor string from next_cursor'),
    ('{"cursor": "garbage"}', 'TM400 [cursor] cursor: is not a valid cursor'),
    ('{"view": "nope"}', 'TM400 [view] view: is not one of your saved views'),
    ('[1]', 'TM400 [filter] filter: must be a JSON object')) v(f, e);
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.filter_tasks('{"due_before": "soon"}')$$),
          'TM400 [due_before] due_before: must be a date in the form YYYY-MM-DD', 'filter_tasks validates the same way');

-- ---- cursors are tamper-evident and bound to filter and user ----
SELECT :'p1'::jsonb ->> 'next_cursor' AS cur \gset
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.list_tasks(%L)', jsonb_build_object('sort', 'due_date', 'limit', 5, 'cursor', :'cur'))), 'ok',
          'the genuine cursor works');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.list_tasks(%L)', jsonb_build_object('sort', 'due_date', 'limit', 10, 'cursor', :'cur'))), 'ok',
          'a different limit keeps the cursor valid');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.list_tasks(%L)', jsonb_build_object('sort', '-due_date', 'cursor', :'cur'))),
          'TM400 [cursor] cursor: does not belong to this request (the filter or sort changed); start again without a cursor',
          'a cursor with another sort is refused');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.list_tasks(%L)', jsonb_build_object('sort', 'due_date', 'status', 'done', 'cursor', :'cur'))),
          'TM400 [cursor] cursor: does not belong to this request (the filter or sort changed); start again without a cursor',
          'a cursor with another filter is refused');
-- forge: same MAC, payload pointing elsewhere
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.list_tasks(%L)', jsonb_build_object('sort', 'due_date', 'cursor',
            taskmgmt._b64url_encode(convert_to(replace(convert_from(taskmgmt._b64url_decode(split_part(:'cur', '.', 1)), 'UTF8'), '"i": ', '"i": 1'), 'UTF8'))
            || '.' || split_part(:'cur', '.', 2)))),
          'TM400 [cursor] cursor: is not a valid cursor', 'a cursor with an edited payload is refused');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.list_tasks(%L)', jsonb_build_object('sort', 'due_date', 'cursor',
            split_part(:'cur', '.', 1) || '.' || taskmgmt._b64url_encode('\x00112233445566778899aabbccddeeff'::bytea)))),
          'TM400 [cursor] cursor: is not a valid cursor', 'a cursor with a made-up MAC is refused');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.list_tasks(%L)', jsonb_build_object('sort', 'due_date', 'cursor', :'cur' || 'x'))),
          'TM400 [cursor] cursor: is not a valid cursor', 'a truncated or extended cursor is refused');
SELECT pg_temp.wf_as('carol') IS NOT NULL AS signed_in \gset
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.list_tasks(%L)', jsonb_build_object('sort', 'due_date', 'limit', 5, 'cursor', :'cur'))),
          'TM400 [cursor] cursor: is not a valid cursor', 'another user cannot use the cursor');
SELECT is((SELECT count(*)::int FROM jsonb_array_elements(taskmgmt.list_tasks('{"limit": 200}') -> 'items') e
           WHERE (e ->> 'creator_id')::bigint <> :carol), 0, 'an outsider lists none of ann''s tasks');
-- the MAC helper is callable (every function is): a cursor carol signs
-- herself may point anywhere, yet every page is still read under RLS
SELECT is((SELECT count(*)::int FROM jsonb_array_elements(taskmgmt.list_tasks(jsonb_build_object('sort', 'due_date', 'limit', 200,
             'cursor', taskmgmt._cursor_make(jsonb_build_object('s', 'list', 'f', taskmgmt._filter_hash(taskmgmt._filter_normalize('{"sort": "due_date"}')),
                                                                 'k', jsonb_build_array('-infinity'), 'i', 0)))) -> 'items') e
           WHERE (e ->> 'creator_id')::bigint <> :carol), 0, 'a self-signed cursor reaches none of ann''s tasks either');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.list_tasks(%L)', jsonb_build_object('sort', 'due_date', 'cursor',
            taskmgmt._cursor_make(jsonb_build_object('s', 'list', 'f', taskmgmt._filter_hash(taskmgmt._filter_normalize('{"sort": "due_date"}')),
                                                     'k', jsonb_build_array('soon'), 'i', 0))))),
          'TM400 [cursor] cursor: is not a valid cursor', 'a well-signed cursor with a malformed position is refused, not misread');
SELECT is((SELECT count(*)::int FROM taskmgmt.filter_tasks('{"q": "alpha"}')), 5, 'nor finds them with q');
SELECT taskmgmt.sign_out() IS NULL AS signed_out \gset
SELECT is(pg_temp.wf_err('SELECT taskmgmt.list_tasks()'), '28000 not signed in', 'signed out: 28000');

SELECT * FROM finish();
ROLLBACK;
