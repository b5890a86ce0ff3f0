-- list_tasks: filters, sort (NULLS LAST, id tiebreak), keyset pages with
-- an opaque tamper-evident cursor, errors naming the parameter; saved
-- views; search_tasks with ranks and snippets; only visible tasks.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET search_path = taskmgmt, public;
SET ROLE regress_client;

SELECT new_user('nia@wf.example', 'Nia') AS nia, new_user('oli@wf.example', 'Oli') AS oli \gset
SELECT as_user('oli@wf.example');
SELECT create_task('{"title": "Oli secret roadmap", "tags": ["roadmap"]}') IS NOT NULL AS oli_task;
SELECT as_user('nia@wf.example');
SELECT count(create_task(t::jsonb)) AS created FROM unnest(ARRAY[
  '{"title": "Write roadmap", "priority": "high", "due_date": "2030-03-01", "tags": ["roadmap", "q1"], "status": "in_progress"}',
  '{"title": "Review roadmap draft", "priority": "urgent", "due_date": "2030-02-01", "tags": ["roadmap"]}',
  '{"title": "Book venue", "priority": "low", "due_date": "2030-02-01", "tags": ["event"]}',
  '{"title": "Order badges", "priority": "medium", "tags": ["event", "q1"], "description": "Names for the roadmap meeting"}',
  '{"title": "Send invites", "priority": "high", "status": "done", "due_date": "2020-01-01"}',
  '{"title": "Pay invoice", "priority": "none", "due_date": "2020-01-01"}']) t;

-- Sorted by due date (missing dates last), ties by id.
SELECT string_agg(e ->> 'title', ' | ' ORDER BY o) AS by_due_date
  FROM jsonb_array_elements(list_tasks('{"sort": "due_date"}') -> 'items') WITH ORDINALITY x(e, o);
SELECT string_agg(e ->> 'title', ' | ' ORDER BY o) AS by_priority_desc_then_due_desc
  FROM jsonb_array_elements(list_tasks('{"sort": "-priority,-due_date"}') -> 'items') WITH ORDINALITY x(e, o);
-- Filters, as HTTP query parameters arrive (strings) or as JSON values.
SELECT f AS filter, (SELECT string_agg(e ->> 'title', ' | ' ORDER BY e ->> 'title') FROM jsonb_array_elements(list_tasks(f::jsonb) -> 'items') e) AS titles
  FROM unnest(ARRAY[
    '{"status": "todo,in_progress"}', '{"priority": ["high", "urgent"]}', '{"tag": "q1,event"}',
    '{"tag": "q1,event", "tag_mode": "all"}', '{"due_before": "2030-02-15"}', '{"due_after": "2030-02-01"}',
    '{"overdue": "true"}', '{"overdue": false, "status": "todo"}', '{"assignee": "none"}', '{"assignee": "me"}',
    '{"q": "roadmap"}', '{"q": "roadmap -draft", "tag": "roadmap"}']) f;

-- Pages: {items, next_cursor}; the last page has next_cursor null.
SELECT list_tasks('{"sort": "due_date", "limit": "4"}') AS p1 \gset
SELECT jsonb_array_length(:'p1'::jsonb -> 'items') AS page_1, :'p1'::jsonb ->> 'next_cursor' IS NOT NULL AS has_next;
SELECT list_tasks(jsonb_build_object('sort', 'due_date', 'limit', 4, 'cursor', :'p1'::jsonb -> 'next_cursor')) AS p2 \gset
SELECT string_agg(e ->> 'title', ' | ' ORDER BY o) AS page_2, :'p2'::jsonb -> 'next_cursor' AS next_cursor
  FROM jsonb_array_elements(:'p2'::jsonb -> 'items') WITH ORDINALITY x(e, o);

-- Errors name the parameter (TM400 -> HTTP 400).
SELECT err(format('SELECT list_tasks(%L)', f)) AS error FROM unnest(ARRAY[
  '{"colour": "red"}', '{"status": "todo,soon"}', '{"assignee": "everyone"}', '{"team": "x"}',
  '{"priority": "low,,high"}', '{"tag_mode": "most", "tag": "a"}', '{"due_before": "2030-13-01"}', '{"due_after": "tomorrow"}',
  '{"overdue": "maybe"}', '{"sort": "-colour"}', '{"sort": "title,-title"}', '{"limit": "0"}', '{"limit": 1000}',
  '{"cursor": "not-a-cursor"}', '{"view": "nope"}']) f;
-- A cursor only works for the filter and sort it came from, and for its user.
SELECT err(format('SELECT list_tasks(%L)', jsonb_build_object('sort', '-due_date', 'cursor', :'p1'::jsonb -> 'next_cursor')));
SELECT as_user('oli@wf.example');
SELECT err(format('SELECT list_tasks(%L)', jsonb_build_object('sort', 'due_date', 'limit', 4, 'cursor', :'p1'::jsonb -> 'next_cursor')));
SELECT jsonb_array_length(list_tasks() -> 'items') AS oli_sees, jsonb_array_length(search_tasks('roadmap') -> 'items') AS oli_finds;
SELECT as_user('nia@wf.example');

-- Saved views: named filter + sort; one may be the default.
SELECT save_view('Roadmap', '{"tag": "roadmap", "sort": "-priority"}', true) - '{id,created_at,updated_at}'::text[] AS saved;
SELECT save_view('Overdue', '{"overdue": "true"}') ->> 'name' AS saved;
SELECT string_agg(e ->> 'title', ' | ' ORDER BY o) AS default_view
  FROM jsonb_array_elements(list_tasks('{"view": "default"}') -> 'items') WITH ORDINALITY x(e, o);
SELECT string_agg(e ->> 'title', ' | ' ORDER BY o) AS roadmap_view_by_title
  FROM jsonb_array_elements(list_tasks('{"view": "roadmap", "sort": "title"}') -> 'items') WITH ORDINALITY x(e, o);
SELECT v ->> 'name' AS name, v -> 'is_default' AS is_default FROM jsonb_array_elements(list_views()) v;
SELECT set_default_view('Overdue') ->> 'name' AS new_default;
SELECT string_agg(e ->> 'title', ' | ') AS default_view FROM jsonb_array_elements(list_tasks('{"view": "default"}') -> 'items') e;
SELECT err($$SELECT save_view('Bad', '{"sort": "colour"}')$$);
SELECT err($$SELECT save_view('default', '{}')$$);
SELECT delete_view('Overdue');
SELECT err($$SELECT delete_view('Overdue')$$);

-- Search: ranked (title > tags > description), snippets with <mark>.
SELECT e -> 'task' ->> 'title' AS title, (e ->> 'rank')::numeric > 0 AS ranked, e ->> 'snippet' AS snippet
  FROM jsonb_array_elements(search_tasks('roadmap') -> 'items') WITH ORDINALITY x(e, o) ORDER BY o;
SELECT e -> 'task' ->> 'title' AS title FROM jsonb_array_elements(search_tasks('"review roadmap" or badges') -> 'items') e ORDER BY 1;
SELECT e -> 'task' ->> 'title' AS title FROM jsonb_array_elements(search_tasks('roadmap', '{"tag": "q1"}') -> 'items') e;
SELECT err($$SELECT search_tasks('')$$);
SELECT err($$SELECT search_tasks('roadmap', '{"sort": "title"}')$$);
SELECT sign_out();
SELECT err('SELECT list_tasks()');
