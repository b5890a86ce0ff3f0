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

CREATE FUNCTION @extschema@._task_document(title text, tags text[], description text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
      || setweight(to_tsvector('english'::regconfig, coalesce(array_to_string(tags, ' '), '')), 'B')
      || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')
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

CREATE INDEX tasks_search_idx ON @extschema@.tasks USING gin (search_vector @extschema@.tsvector_rls_ops);

-- A snippet safe to put into HTML: the text is escaped and the matches are
-- wrapped in <mark>...</mark>.
CREATE FUNCTION @extschema@._snippet(t @extschema@.tasks, query tsquery) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT replace(replace(replace(replace(replace(
           ts_headline('english', t.title || E'\n' || t.description, query,
                       'StartSel=' || chr(2) || ', StopSel=' || chr(3)
                       || ', MaxWords=30, MinWords=10, MaxFragments=2, FragmentDelimiter=" … "'),
           '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), chr(2), '<mark>'), chr(3), '</mark>')
$$;

-- The statement search_tasks runs: rows (task, rank), best first, after
-- the cursor position (or from the start).  Ranks are rounded to 6 digits
-- so that a cursor compares them exactly.
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
    after := format('(y.rank < %1$s OR (y.rank = %1$s AND y.id > %2$s))', (cur ->> 'r')::numeric, (cur ->> 'i')::bigint);
  END IF;
  -- ranks are computed from the search vector alone; whole rows are read
  -- for the page only
  RETURN format(
      'SELECT t AS task, x.rank FROM ('
      '  SELECT y.id, y.rank FROM ('
      '    SELECT t.id, round(ts_rank(t.search_vector, websearch_to_tsquery(''english'', %1$L))::numeric, 6) AS rank'
      '    FROM @extschema@.tasks t WHERE %2$s) y'
      '  WHERE %3$s ORDER BY y.rank DESC, y.id LIMIT %4$s) x'
      ' JOIN @extschema@.tasks t ON t.id = x.id ORDER BY x.rank DESC, x.id',
      f ->> 'q', @extschema@._filter_where(f), after, n);
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
  last_rank numeric;
  last_id bigint;
  more boolean := false;
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
    FOR rec IN EXECUTE @extschema@._search_sql(f, cur, lim + 1) USING @extschema@._filter_params(f) LOOP
      IF cardinality(items) = lim THEN
        more := true;
        EXIT;
      END IF;
      items := items || jsonb_build_object('task', @extschema@.task_json(rec.task), 'rank', rec.rank,
                                           'snippet', @extschema@._snippet(rec.task, query));
      last_rank := rec.rank;
      last_id := (rec.task).id;
    END LOOP;
  END IF;
  IF cardinality(items) = 0 AND cur IS NULL AND @extschema@._search_fuzzy_sql(f, lim) IS NOT NULL THEN
    FOR rec IN EXECUTE @extschema@._search_fuzzy_sql(f, lim) USING @extschema@._filter_params(f) LOOP
      items := items || jsonb_build_object('task', @extschema@.task_json(rec.task), 'rank', rec.rank,
        'snippet', replace(replace(replace((rec.task).title, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'));
    END LOOP;
    IF cardinality(items) > 0 THEN
      RETURN jsonb_build_object('items', to_jsonb(items), 'next_cursor', NULL, 'fuzzy', true);
    END IF;
  END IF;
  RETURN jsonb_build_object(
    'items', to_jsonb(items),
    'next_cursor', CASE WHEN more THEN @extschema@._cursor_make(jsonb_build_object(
      's', 'search', 'f', @extschema@._filter_hash(f), 'r', last_rank, 'i', last_id)) END);
END
$$;
