-- Full-text search: a weighted tsvector (title A, tags B, description C)
-- kept by a generated column, a GIN index, websearch_to_tsquery syntax,
-- ranked results with highlighted snippets.
--
-- Row-level security and indexes: the planner only uses a condition as an
-- index condition ahead of the RLS policy when its operator is LEAKPROOF,
-- and the built-in tsvector @@ tsquery is not marked so.  Searching would
-- then read every task and filter.  The extension therefore defines its own
-- @@ over the same C function, marked LEAKPROOF (it returns a boolean and
-- raises no error that depends on the data), and a GIN operator class with
-- the built-in support functions, so searches start from the GIN index and
-- RLS still filters every candidate before anything else sees it (ranking
-- and snippets run on visible rows only).

-- PL/pgSQL, not SQL: the generated column calls it on every insert and
-- update, and a SQL function there is parsed again each time (inlined when
-- the statement starts, run through its own executor when it is not);
-- PL/pgSQL keeps the expression compiled for the session.
CREATE FUNCTION @extschema@._task_document(title text, tags text[], description text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RETURN setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
      || setweight(to_tsvector('english'::regconfig, coalesce(array_to_string(tags, ' '), '')), 'B')
      || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C');
END
$$;

ALTER TABLE @extschema@.tasks ADD COLUMN search_vector tsvector
  GENERATED ALWAYS AS (@extschema@._task_document(title, tags, description)) STORED;

CREATE FUNCTION @extschema@._ts_match(tsvector, tsquery) RETURNS boolean
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'ts_match_vq';

CREATE OPERATOR @extschema@.@@ (
  LEFTARG = tsvector, RIGHTARG = tsquery, FUNCTION = @extschema@._ts_match,
  RESTRICT = tsmatchsel, JOIN = tsmatchjoinsel);

CREATE OPERATOR CLASS @extschema@.tsvector_rls_ops FOR TYPE tsvector USING gin AS
  OPERATOR 1 @extschema@.@@ (tsvector, tsquery),
  FUNCTION 1 gin_cmp_tslexeme(text, text),
  FUNCTION 2 gin_extract_tsvector(tsvector, internal, internal),
  FUNCTION 3 gin_extract_tsquery(tsvector, internal, smallint, internal, internal, internal, internal),
  FUNCTION 4 gin_tsquery_consistent(internal, smallint, tsvector, integer, internal, internal, internal, internal),
  FUNCTION 5 gin_cmp_prefix(text, text, smallint, internal),
  FUNCTION 6 gin_tsquery_triconsistent(internal, smallint, tsvector, integer, internal, internal, internal),
  STORAGE text;

-- Visibility keys: the users and teams through which a task is visible
-- (creator, assignee user, assignee team, team) as one bigint array (C,
-- extension/membership.c; a team is ~id, a user its id).  The search index
-- holds them next to the search vector, so that "these words, visible to
-- me" is one GIN scan that intersects the caller's few thousand tasks with
-- the words' long posting lists, skipping through them, instead of reading
-- every match of two common words and then dropping the invisible ones.
-- The condition restates the tasks_select rule for the index: row-level
-- security still applies on top.  LEAKPROOF (neither can fail on any
-- value), so that the condition can be an index condition under RLS.
CREATE FUNCTION @extschema@._visibility_keys(creator_id bigint, assignee_user_id bigint,
                                              assignee_team_id bigint, team_id bigint) RETURNS bigint[]
  AS 'MODULE_PATHNAME', 'tm_visibility_keys'
  LANGUAGE C IMMUTABLE PARALLEL SAFE LEAKPROOF;
-- The keys a visible task shares with the signed-in user (admins aside).
CREATE FUNCTION @extschema@._my_visibility_keys() RETURNS bigint[]
  AS 'MODULE_PATHNAME', 'tm_my_visibility_keys'
  LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@._keys_overlap(bigint[], bigint[]) RETURNS boolean
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'arrayoverlap';
CREATE OPERATOR @extschema@.&& (
  LEFTARG = bigint[], RIGHTARG = bigint[], FUNCTION = @extschema@._keys_overlap,
  COMMUTATOR = OPERATOR(@extschema@.&&), RESTRICT = matchingsel, JOIN = matchingjoinsel);
CREATE OPERATOR CLASS @extschema@.visibility_keys_ops FOR TYPE bigint[] USING gin AS
  OPERATOR 1 @extschema@.&& (bigint[], bigint[]),
  FUNCTION 1 btint8cmp(bigint, bigint),
  FUNCTION 2 ginarrayextract(anyarray, internal, internal),
  FUNCTION 3 ginqueryarrayextract(anyarray, internal, smallint, internal, internal, internal, internal),
  FUNCTION 4 ginarrayconsistent(internal, smallint, anyarray, integer, internal, internal, internal, internal),
  FUNCTION 6 ginarraytriconsistent(internal, smallint, anyarray, integer, internal, internal, internal),
  STORAGE bigint;

-- Searches by anyone use it: an admin's (no visibility condition) reads
-- the search_vector column alone.
CREATE INDEX tasks_search_idx ON @extschema@.tasks USING gin (
  @extschema@._visibility_keys(creator_id, assignee_user_id, assignee_team_id, team_id) @extschema@.visibility_keys_ops,
  search_vector @extschema@.tsvector_rls_ops);

-- A snippet safe to put into HTML: the text is escaped and the matches are
-- wrapped in <mark>...</mark>.
CREATE FUNCTION @extschema@._snippet(title text, description text, query tsquery) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT replace(replace(replace(replace(replace(
           ts_headline('english', title || E'\n' || description, query,
                       'StartSel=' || chr(2) || ', StopSel=' || chr(3)
                       || ', MaxWords=30, MinWords=10, MaxFragments=2, FragmentDelimiter=" … "'),
           '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), chr(2), '<mark>'), chr(3), '</mark>')
$$;
CREATE FUNCTION @extschema@._snippet(t @extschema@.tasks, query tsquery) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT @extschema@._snippet(t.title, t.description, query)
$$;

-- The statement search_tasks runs for a normalized filter (with q), a
-- verified cursor (or NULL) and a page size, with the parameters of
-- _list_sql ($1 the filter text's values, $2 the filter, $3 the cursor):
-- one row, the answer {items: [{task, rank, snippet}], next_cursor}, best
-- first after the cursor position.  Ranks are computed from the search
-- vector alone and rounded to 6 digits so that a cursor compares them
-- exactly; whole rows, their JSON and the snippets are made for the page
-- only (_page_sql).  The query text is parsed once per execution (the
-- subqueries are evaluated once).
CREATE FUNCTION @extschema@._search_sql(f jsonb, cur jsonb, n integer) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  after text := 'true';
BEGIN
  IF cur IS NOT NULL THEN
    IF jsonb_typeof(cur -> 'r') IS DISTINCT FROM 'number' OR jsonb_typeof(cur -> 'i') IS DISTINCT FROM 'number'
       OR (cur ->> 'i') !~ '^[0-9]{1,18}$' THEN
      PERFORM @extschema@._bad_parameter('cursor', 'is not a valid cursor');
    END IF;
    after := '(y.rank < ($3 ->> ''r'')::numeric OR (y.rank = ($3 ->> ''r'')::numeric AND y.id > ($3 ->> ''i'')::bigint))';
  END IF;
  RETURN @extschema@._page_sql(
    format('SELECT %1$s, x.rank, x.query, x.n FROM ('
           '  SELECT y.id, y.rank, y.query, row_number() OVER (ORDER BY y.rank DESC, y.id) AS n FROM ('
           '    SELECT t.id, round(ts_rank(t.search_vector, q.query)::numeric, 6) AS rank, q.query'
           '    FROM @extschema@.tasks t, (SELECT (SELECT websearch_to_tsquery(''english'', $2 ->> ''q'')) AS query OFFSET 0) q'
           '    WHERE %2$s) y'
           '  WHERE %3$s ORDER BY y.rank DESC, y.id LIMIT %4$s) x '
           'JOIN @extschema@.tasks t ON t.id = x.id',
           @extschema@._page_columns(), @extschema@._filter_where(f), after, n + 1),
    n,
    'jsonb_build_object(''task'', d.task, ''rank'', t.rank, '
    '                   ''snippet'', @extschema@._snippet(t.title, t.description, t.query))',
    format('jsonb_build_object(''s'', ''search'', ''f'', @extschema@._filter_hash($2), '
           '''r'', max(t.rank) FILTER (WHERE t.n = %1$s), ''i'', max(t.id) FILTER (WHERE t.n = %1$s))', n));
END
$$;

-- Typo-tolerant fallback: when full text finds nothing (first page only),
-- titles similar to q by pg_trgm's word_similarity (>= 0.4) among the
-- visible tasks, best first, one page.  Only for plain words: a query with
-- -word, "a phrase" or "or" says exactly what it wants, which similar titles
-- would ignore (NULL then).  pg_trgm is required by the control file (since
-- 0.2.0) and found wherever the DBA put it; NULL without it.
CREATE FUNCTION @extschema@._search_fuzzy_sql(f jsonb, n integer) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  trgm text;
BEGIN
  IF websearch_to_tsquery('english', f ->> 'q')::text ~ '!|\||<(-|[0-9]+)>' THEN
    RETURN NULL;
  END IF;
  SELECT x.nspname INTO trgm FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace x ON x.oid = e.extnamespace
   WHERE e.extname = 'pg_trgm';
  IF trgm IS NULL THEN
    RETURN NULL;
  END IF;
  RETURN format(
      'SELECT x.t AS task, x.rank FROM ('
      '  SELECT t, round(%1$I.word_similarity(%2$L, t.title)::numeric, 6) AS rank'
      '  FROM @extschema@.tasks t WHERE %3$s) x'
      ' WHERE x.rank >= 0.4 ORDER BY x.rank DESC, (x.t).id LIMIT %4$s',
      trgm, f ->> 'q', @extschema@._filter_where(f - 'q'), n);
END
$$;

-- GET /search: {items: [{task, rank, snippet}], next_cursor}, best first.
-- q uses web-search syntax ("quoted phrase", -word, or).  filter takes the
-- list parameters (tag, tag_mode, status, assignee, ..., limit, cursor)
-- except sort and q.  Ranking and snippets only ever see visible rows: the
-- RLS policy filters the candidates first (ts_rank is not leakproof).
-- When nothing matches, titles close to q (pg_trgm) are returned instead,
-- marked "fuzzy": true (one page, no cursor).
CREATE FUNCTION @extschema@.search_tasks(q text, filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  f jsonb;
  query tsquery;
  cur jsonb;
  lim integer;
  rec record;
  items jsonb[] := '{}';
  result jsonb;
BEGIN
  PERFORM @extschema@._require_user();
  IF filter IS NULL OR filter = 'null' THEN filter := '{}'; END IF;
  IF jsonb_typeof(filter) = 'object' THEN
    IF filter ? 'sort' THEN
      PERFORM @extschema@._bad_parameter('sort', 'is not supported by search (results are ranked)');
    END IF;
    IF filter ? 'q' THEN
      PERFORM @extschema@._bad_parameter('q', 'is given as the first argument');
    END IF;
  END IF;
  IF q IS NULL OR btrim(q) = '' THEN
    PERFORM @extschema@._bad_parameter('q', 'must be a non-empty search text');
  END IF;
  f := @extschema@._filter_normalize(filter || jsonb_build_object('q', q));
  lim := coalesce((f ->> 'limit')::integer, 50);
  cur := @extschema@._filter_cursor(f, 'search');
  query := websearch_to_tsquery('english', f ->> 'q');
  IF numnode(query) > 0 THEN
    result := @extschema@._query_cached(@extschema@._search_sql(f, cur, lim), @extschema@._filter_params(f), f, cur);
    IF result -> 'items' <> '[]' OR cur IS NOT NULL THEN
      RETURN result;
    END IF;
  END IF;
  IF cur IS NULL AND @extschema@._search_fuzzy_sql(f, lim) IS NOT NULL THEN
    FOR rec IN EXECUTE @extschema@._search_fuzzy_sql(f, lim) USING @extschema@._filter_params(f), f LOOP
      items := items || jsonb_build_object('task', @extschema@.task_json(rec.task), 'rank', rec.rank,
        'snippet', replace(replace(replace((rec.task).title, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'));
    END LOOP;
    IF cardinality(items) > 0 THEN
      RETURN jsonb_build_object('items', to_jsonb(items), 'next_cursor', NULL, 'fuzzy', true);
    END IF;
  END IF;
  RETURN coalesce(result, @extschema@._jsonb_page(NULL, NULL));
END
$$;
