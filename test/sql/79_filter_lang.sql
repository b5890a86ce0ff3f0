-- The filter language's syntax errors as psql shows them (#14): TM400, the
-- message, DETAIL "Expected <what>." and the filter with a marker under the
-- position (the error's internal position, characters from 1), the same
-- numbers the HTTP shim reports as errors[0].position and .expected.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET search_path = taskmgmt, public;
SET ROLE regress_client;

SELECT new_user('fil@fl.example', 'Fil') AS fil \gset
SELECT as_user('fil@fl.example');
SELECT create_task('{"title": "launch plan", "status": "todo", "tags": ["web"]}') ->> 'title' AS created;

-- a filter that parses
SELECT jsonb_path_query_array(list_tasks('{"filter": "status:todo tag:web"}'), '$.items[*].title') AS titles;

-- the issue's example: a value missing after ':' at position 17
SELECT list_tasks('{"filter": "status:todo due: tag:x"}');
-- at the start, at the end (one past the last character)
SELECT list_tasks('{"filter": ":todo"}');
SELECT list_tasks('{"filter": "status:todo due:"}');
-- an unterminated quote: where it opened
SELECT list_tasks('{"filter": "text:\"launch plan"}');
-- a bad operator, an unknown field
SELECT list_tasks('{"filter": "status>todo"}');
SELECT list_tasks('{"filter": "tag:x colour>red"}');
-- unbalanced parentheses
SELECT list_tasks('{"filter": "(status:todo"}');
SELECT list_tasks('{"filter": "status:todo)"}');
-- characters, not bytes; a filter over two lines
SELECT list_tasks('{"filter": "text:\"café\" due:soon"}');
SELECT list_tasks(jsonb_build_object('filter', E'status:todo\ndue<later'));
-- the same through search, the export and a saved view
SELECT search_tasks('plan', '{"filter": "priority>"}');
SELECT export_tasks_csv('{"filter": "is:"}');
SELECT save_view('broken', '{"filter": "has:children"}');
-- the fields a client reads: SQLSTATE, COLUMN, message, DETAIL
SELECT err($$SELECT list_tasks('{"filter": "status:todo due: tag:x"}')$$);
