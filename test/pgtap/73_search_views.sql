-- search_tasks: weighted ranking, web-search syntax, snippets, tag filter,
-- paging, only visible tasks; saved views and the default view.
\ir 7_workflow_helpers.psql
BEGIN;
SET ROLE tap_workflow;
SELECT pg_temp.wf_user('ann') AS ann, pg_temp.wf_user('carol') AS carol \gset
SELECT plan(48);

SELECT pg_temp.wf_as('carol') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.create_task('{"title": "Database migration secret", "description": "carol only <b>", "tags": ["db"]}') ->> 'id')::bigint AS secret \gset
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.create_task('{"title": "Database migration plan", "description": "Move the orders table", "tags": ["db"]}') ->> 'id')::bigint AS t_title \gset
SELECT (taskmgmt.create_task('{"title": "Quarterly report", "description": "the database numbers for the migration (5 < 7 & more)", "tags": ["finance"]}') ->> 'id')::bigint AS t_desc \gset
SELECT (taskmgmt.create_task('{"title": "Backups", "description": "nightly dumps", "tags": ["database", "migration"]}') ->> 'id')::bigint AS t_tags \gset
SELECT (taskmgmt.create_task('{"title": "Unrelated chore", "description": "water the plants"}') ->> 'id')::bigint AS t_none \gset
SELECT count(taskmgmt.create_task(jsonb_build_object('title', 'Filler migration ' || g, 'description', 'database work item ' || g)))
  AS n FROM generate_series(1, 12) g \gset

-- ---- search ----
SELECT taskmgmt.search_tasks('database migration') AS r \gset
SELECT is((:'r'::jsonb -> 'items' -> 0 -> 'task' ->> 'id')::bigint, :t_title::bigint, 'both words in the title (A) rank first');
SELECT ok((SELECT (i ->> 'rank')::numeric FROM jsonb_array_elements(:'r'::jsonb -> 'items') i WHERE (i -> 'task' ->> 'id')::bigint = :t_tags)
          > (SELECT (i ->> 'rank')::numeric FROM jsonb_array_elements(:'r'::jsonb -> 'items') i WHERE (i -> 'task' ->> 'id')::bigint = :t_desc),
          'tag matches (B) rank above description matches (C)');
SELECT ok((SELECT bool_and((a ->> 'rank')::numeric >= (b ->> 'rank')::numeric)
           FROM jsonb_array_elements(:'r'::jsonb -> 'items') WITH ORDINALITY x(a, o)
           JOIN jsonb_array_elements(:'r'::jsonb -> 'items') WITH ORDINALITY y(b, p) ON p = o + 1), 'results are ordered by rank');
SELECT is(jsonb_array_length(:'r'::jsonb -> 'items'), 15, 'every visible match is found');
SELECT ok(NOT (:'r'::jsonb @> jsonb_build_object('items', jsonb_build_array(jsonb_build_object('task', jsonb_build_object('id', :secret))))),
          'another user''s matching task is never returned');
SELECT (SELECT i ->> 'snippet' FROM jsonb_array_elements(:'r'::jsonb -> 'items') i WHERE (i -> 'task' ->> 'id')::bigint = :t_desc) AS snip \gset
SELECT matches(:'snip'::text, '<mark>database</mark> numbers for the <mark>migration</mark>', 'snippets highlight the matches with <mark>');
SELECT ok(:'snip'::text LIKE '%5 &lt; 7 &amp; more%' AND replace(replace(:'snip'::text, '<mark>', ''), '</mark>', '') !~ '[<>]',
          'snippets escape the text for HTML');
SELECT set_eq($$SELECT (i -> 'task' ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.search_tasks('"migration plan"') -> 'items') i$$,
              ARRAY[:t_title]::bigint[], 'a quoted phrase');
SELECT set_eq($$SELECT (i -> 'task' ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.search_tasks('database -migration') -> 'items') i$$,
              ARRAY[]::bigint[], '-word excludes');
SELECT set_eq($$SELECT (i -> 'task' ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.search_tasks('plants or backups') -> 'items') i$$,
              ARRAY[:t_none, :t_tags]::bigint[], 'or');
SELECT set_eq($$SELECT (i -> 'task' ->> 'id')::bigint FROM jsonb_array_elements(taskmgmt.search_tasks('migrations', '{"tag": "db"}') -> 'items') i$$,
              ARRAY[:t_title]::bigint[], 'stemming, and the exact tag filter');
SELECT is(taskmgmt.search_tasks('the of and'), '{"items": [], "next_cursor": null}'::jsonb, 'only stop words: nothing');
SELECT is(taskmgmt.search_tasks('secret'), '{"items": [], "next_cursor": null}'::jsonb, 'a word only in an invisible task: nothing');
-- paging through ranked results
SELECT taskmgmt.search_tasks('database migration', '{"limit": 4}') AS s1 \gset
SELECT taskmgmt.search_tasks('database migration', jsonb_build_object('limit', 4, 'cursor', :'s1'::jsonb -> 'next_cursor')) AS s2 \gset
SELECT taskmgmt.search_tasks('database migration', jsonb_build_object('limit', 10, 'cursor', :'s2'::jsonb -> 'next_cursor')) AS s3 \gset
SELECT is((SELECT array_agg(i -> 'task' -> 'id' ORDER BY n) FROM (
             SELECT i, o AS n FROM jsonb_array_elements(:'s1'::jsonb -> 'items') WITH ORDINALITY x(i, o)
             UNION ALL SELECT i, 100 + o FROM jsonb_array_elements(:'s2'::jsonb -> 'items') WITH ORDINALITY x(i, o)
             UNION ALL SELECT i, 200 + o FROM jsonb_array_elements(:'s3'::jsonb -> 'items') WITH ORDINALITY x(i, o)) y),
          (SELECT array_agg(i -> 'task' -> 'id' ORDER BY o) FROM jsonb_array_elements(:'r'::jsonb -> 'items') WITH ORDINALITY x(i, o)),
          'search pages visit the ranked list exactly once');
SELECT is(:'s3'::jsonb -> 'next_cursor', 'null'::jsonb, 'the last search page has no next_cursor');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.search_tasks('database', %L)$$, jsonb_build_object('cursor', :'s1'::jsonb -> 'next_cursor'))),
          'TM400 [cursor] cursor: does not belong to this request (the filter or sort changed); start again without a cursor',
          'a search cursor for other words is refused');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.list_tasks(%L)$$, jsonb_build_object('q', 'database migration', 'cursor', :'s1'::jsonb -> 'next_cursor'))),
          'TM400 [cursor] cursor: does not belong to this request (the filter or sort changed); start again without a cursor',
          'a search cursor is no list cursor');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.search_tasks('  ')$$), 'TM400 [q] q: must be a non-empty search text', 'empty q is refused');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.search_tasks('x', '{"sort": "title"}')$$), 'TM400 [sort] sort: is not supported by search (results are ranked)', 'sort is refused');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.search_tasks('x', '{"tags": "db"}')$$), 'TM400 [tags] tags: is not a known parameter', 'unknown keys are refused');
SELECT pg_temp.wf_as('carol') IS NOT NULL AS signed_in \gset
SELECT is((SELECT array_agg((i -> 'task' ->> 'id')::bigint) FROM jsonb_array_elements(taskmgmt.search_tasks('database migration') -> 'items') i),
          ARRAY[:secret]::bigint[], 'an outsider finds only their own task');
SELECT is(pg_temp.wf_err(format($$SELECT taskmgmt.search_tasks('database migration', %L)$$, jsonb_build_object('limit', 4, 'cursor', :'s1'::jsonb -> 'next_cursor'))),
          'TM400 [cursor] cursor: is not a valid cursor', 'and cannot use ann''s search cursor');
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT is((SELECT count(*)::int FROM taskmgmt.tasks WHERE search_vector @@ to_tsquery('english', 'secret')), 0,
          'the search vector of an invisible task is not readable either');

-- ---- typo-tolerant fallback (pg_trgm is required by the extension) ----
SELECT taskmgmt.search_tasks('databse migraton') AS fz \gset
SELECT is(:'fz'::jsonb -> 'fuzzy', 'true'::jsonb, 'a typo falls back to similar titles (fuzzy: true)');
SELECT is((:'fz'::jsonb -> 'items' -> 0 -> 'task' ->> 'id')::bigint, :t_title::bigint, '... the closest title first');
SELECT ok(NOT (:'fz'::jsonb @> jsonb_build_object('items', jsonb_build_array(jsonb_build_object('task', jsonb_build_object('id', :secret))))),
          '... never another user''s task (carol''s similar title is not there)');
SELECT is(taskmgmt.search_tasks('database migration') -> 'fuzzy', NULL, 'full-text hits are not fuzzy');
SELECT is(taskmgmt.search_tasks('"databse migraton" or databse -migraton'), '{"items": [], "next_cursor": null}'::jsonb,
          'no fuzzy fallback for a query with a phrase, or, -word: it says exactly what it wants');

-- ---- saved views ----
SELECT is(taskmgmt.save_view('Open work', '{"status": "todo,in_progress", "sort": "-priority"}') - 'id' - 'created_at' - 'updated_at',
          '{"name": "Open work", "filter": {"sort": "-priority", "status": "todo,in_progress"}, "is_default": false}'::jsonb, 'save_view');
SELECT lives_ok($$SELECT taskmgmt.save_view('Finance', '{"tag": "finance"}', true)$$, 'save a view as the default');
SELECT is(pg_temp.wf_ids(taskmgmt.list_tasks('{"view": "open work", "limit": 200}')),
          pg_temp.wf_ids(taskmgmt.list_tasks('{"status": "todo,in_progress", "sort": "-priority", "limit": 200}')), 'view by name (case-insensitive)');
SELECT is(pg_temp.wf_ids(taskmgmt.list_tasks('{"view": "Open work", "sort": "title", "limit": 200}')),
          pg_temp.wf_ids(taskmgmt.list_tasks('{"status": "todo,in_progress", "sort": "title", "limit": 200}')), 'keys next to the view override it');
SELECT is(pg_temp.wf_ids(taskmgmt.list_tasks('{"view": "default"}')), ARRAY[:t_desc]::bigint[], 'view=default applies the default view');
SELECT is(pg_temp.wf_pages('{"view": "Open work"}', 3), pg_temp.wf_ids(taskmgmt.list_tasks('{"view": "Open work", "limit": 200}')),
          'a view pages with its cursor');
SELECT is((SELECT array_agg(v ->> 'name' || ':' || (v ->> 'is_default')) FROM jsonb_array_elements(taskmgmt.list_views()) v),
          ARRAY['Finance:true', 'Open work:false'], 'list_views');
SELECT is(taskmgmt.set_default_view('Open work') ->> 'is_default', 'true', 'set_default_view moves the default');
SELECT is((SELECT array_agg(v ->> 'name') FROM jsonb_array_elements(taskmgmt.list_views()) v WHERE (v ->> 'is_default')::boolean),
          ARRAY['Open work'], 'one default at a time');
SELECT is(taskmgmt.save_view('open WORK', '{"tag": "db"}') ->> 'name', 'open WORK', 'saving under an existing name replaces that view');
SELECT is(jsonb_array_length(taskmgmt.list_views()), 2, '... without adding one');
SELECT is(taskmgmt.set_default_view(NULL), NULL, 'set_default_view(NULL) clears the default');
SELECT taskmgmt.update_me('{"preferences": {"default_view": {"filter": {"tag": "finance"}, "sort": "title"}}}') IS NOT NULL AS prefs \gset
SELECT is(pg_temp.wf_ids(taskmgmt.list_tasks('{"view": "default"}')), ARRAY[:t_desc]::bigint[], 'without a saved default, preferences.default_view applies');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.save_view('bad', '{"status": "later"}')$$),
          'TM400 [status] status: must be a list of todo, in_progress, done, canceled', 'a view''s filter is validated like a list filter');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.save_view('Default', '{}')$$), 'TM422 [name] name default is reserved (it names the default view)', 'default is reserved');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.save_view(' ', '{}')$$), 'TM422 [name] name must not be empty', 'a name is required');
SELECT lives_ok($$SELECT taskmgmt.delete_view('Finance')$$, 'delete_view');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.delete_view('Finance')$$), 'P0002 view not found', 'deleting a missing view: not found');
SELECT pg_temp.wf_as('carol') IS NOT NULL AS signed_in \gset
SELECT is(taskmgmt.list_views(), '[]'::jsonb, 'views are private');
SELECT is(pg_temp.wf_err($$SELECT taskmgmt.list_tasks('{"view": "Open work"}')$$), 'TM400 [view] view: is not one of your saved views',
          'another user''s view cannot be applied');

SELECT * FROM finish();
ROLLBACK;
