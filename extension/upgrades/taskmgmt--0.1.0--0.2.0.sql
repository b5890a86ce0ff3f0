-- taskmgmt 0.1.0 → 0.2.0.  Every change made to extension/sql/ since 0.1.0
-- goes here too, so that ALTER EXTENSION taskmgmt UPDATE gives exactly the
-- schema of a fresh CREATE EXTENSION (the suite deploy-upgrade compares them).
-- New columns go at the end of their table in extension/sql/ as well.
\echo Use "ALTER EXTENSION taskmgmt UPDATE TO '0.2.0'" to load this file. \quit

-- ==== Hot paths at the cost of plain SQL (#11) ====
-- The caller's team ids in C, cached per snapshot; one-pass task JSON
-- (_task_doc, _task_team_names); list_tasks as one statement with a kept
-- plan (_query_cached); an index for assignee=me, newest first.

CREATE OR REPLACE FUNCTION @extschema@.my_team_ids() RETURNS bigint[]
  AS 'MODULE_PATHNAME', 'tm_my_team_ids'
  LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE OR REPLACE FUNCTION @extschema@.my_led_team_ids() RETURNS bigint[]
  AS 'MODULE_PATHNAME', 'tm_my_led_team_ids'
  LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE OR REPLACE FUNCTION @extschema@.my_owned_team_ids() RETURNS bigint[]
  AS 'MODULE_PATHNAME', 'tm_my_owned_team_ids'
  LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE OR REPLACE FUNCTION @extschema@._cursor_mac(message text) RETURNS bytea
  AS 'MODULE_PATHNAME', 'tm_cursor_mac'
  LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@._query_cached(sql text, p1 jsonb, p2 jsonb) RETURNS jsonb
  AS 'MODULE_PATHNAME', 'tm_query_cached'
  LANGUAGE C STABLE PARALLEL RESTRICTED;
REVOKE ALL ON FUNCTION @extschema@._query_cached(text, jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._query_cached(text, jsonb, jsonb) TO taskmgmt_client;

CREATE FUNCTION @extschema@._task_team_name(task_id bigint, team_id bigint) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  name text;
BEGIN
  SELECT tm.name INTO name
    FROM @extschema@.tasks t JOIN @extschema@.teams tm ON tm.id = t.assignee_team_id
   WHERE t.id = _task_team_name.task_id AND tm.id = _task_team_name.team_id
     AND (t.creator_id = @extschema@.current_user_id()
          OR tm.id = ANY (@extschema@.my_team_ids())
          OR t.team_id = ANY (@extschema@.my_team_ids())
          OR @extschema@.current_user_is_admin());
  RETURN name;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._task_team_name(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._task_team_name(bigint, bigint) TO taskmgmt_client;

CREATE FUNCTION @extschema@._task_jsonb(
    id bigint, title text, description text, status @extschema@.task_status,
    priority @extschema@.task_priority, due_date date, team_id bigint, assignee_user_id bigint,
    assignee_team_id bigint, assignee_name text, tags text[], creator_id bigint,
    created_at timestamptz, updated_at timestamptz, started_at timestamptz,
    completed_at timestamptz, version integer) RETURNS jsonb
  AS 'MODULE_PATHNAME', 'tm_task_jsonb'
  LANGUAGE C STABLE PARALLEL SAFE;
REVOKE ALL ON FUNCTION @extschema@._task_jsonb(bigint, text, text, @extschema@.task_status, @extschema@.task_priority, date, bigint, bigint, bigint, text, text[], bigint, timestamptz, timestamptz, timestamptz, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._task_jsonb(bigint, text, text, @extschema@.task_status, @extschema@.task_priority, date, bigint, bigint, bigint, text, text[], bigint, timestamptz, timestamptz, timestamptz, timestamptz, integer) TO taskmgmt_client;

CREATE FUNCTION @extschema@._jsonb_page(items jsonb[], next_cursor text) RETURNS jsonb
  AS 'MODULE_PATHNAME', 'tm_jsonb_page'
  LANGUAGE C IMMUTABLE PARALLEL SAFE;
REVOKE ALL ON FUNCTION @extschema@._jsonb_page(jsonb[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._jsonb_page(jsonb[], text) TO taskmgmt_client;

CREATE OR REPLACE FUNCTION @extschema@.task_json(t @extschema@.tasks) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  name text;
BEGIN
  IF t.assignee_user_id IS NOT NULL THEN
    SELECT u.display_name INTO name FROM @extschema@.users u WHERE u.id = t.assignee_user_id;
  ELSIF t.assignee_team_id IS NOT NULL THEN
    name := @extschema@._task_team_name(t.id, t.assignee_team_id);
  END IF;
  RETURN @extschema@._task_jsonb(t.id, t.title, t.description, t.status, t.priority, t.due_date,
    t.team_id, t.assignee_user_id, t.assignee_team_id, name, t.tags, t.creator_id, t.created_at,
    t.updated_at, t.started_at, t.completed_at, t.version);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.get_task(id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  r @extschema@.tasks;
BEGIN
  PERFORM @extschema@._require_user();
  SELECT * INTO r FROM @extschema@.tasks t WHERE t.id = get_task.id;
  IF NOT FOUND THEN PERFORM @extschema@._not_found('task'); END IF;
  RETURN @extschema@.task_json(r);
END
$$;

CREATE INDEX tasks_assignee_created_idx ON @extschema@.tasks
  (assignee_user_id, created_at, id) WHERE assignee_user_id IS NOT NULL;
DROP INDEX @extschema@.tasks_assignee_user_id_idx;

CREATE OR REPLACE FUNCTION @extschema@._filter_where(f jsonb) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  conds text[] := '{true}';
  uid bigint := @extschema@.current_user_id();
  a text := f ->> 'assignee';
BEGIN
  IF f ? 'status' THEN
    conds := conds || format('t.status = ANY (%L::@extschema@.task_status[])',
                             ARRAY(SELECT jsonb_array_elements_text(f -> 'status')));
  END IF;
  IF f ? 'priority' THEN
    conds := conds || format('t.priority = ANY (%L::@extschema@.task_priority[])',
                             ARRAY(SELECT jsonb_array_elements_text(f -> 'priority')));
  END IF;
  IF a = 'me' THEN
    conds := conds || 't.assignee_user_id = @extschema@.current_user_id()'::text;
  ELSIF a = 'none' THEN
    conds := conds || 't.assignee_user_id IS NULL AND t.assignee_team_id IS NULL'::text;
  ELSIF a LIKE 'user:%' THEN
    conds := conds || $q$t.assignee_user_id = split_part($1 ->> 'assignee', ':', 2)::bigint$q$::text;
  ELSIF a LIKE 'team:%' THEN
    conds := conds || $q$t.assignee_team_id = split_part($1 ->> 'assignee', ':', 2)::bigint$q$::text;
  END IF;
  IF f ? 'team' THEN
    conds := conds || $q$t.team_id = ($1 ->> 'team')::bigint$q$::text;
  END IF;
  IF f ? 'tag' THEN
    conds := conds || CASE WHEN f ->> 'tag_mode' = 'all'
                           THEN $q$t.tags @> ARRAY(SELECT jsonb_array_elements_text($1 -> 'tag'))$q$::text
                           ELSE $q$t.tags && ARRAY(SELECT jsonb_array_elements_text($1 -> 'tag'))$q$::text END;
  END IF;
  IF f ? 'due_before' THEN
    conds := conds || $q$t.due_date < ($1 ->> 'due_before')::date$q$::text;
  END IF;
  IF f ? 'due_after' THEN
    conds := conds || $q$t.due_date > ($1 ->> 'due_after')::date$q$::text;
  END IF;
  IF f ? 'overdue' THEN
    conds := conds || format(CASE WHEN (f ->> 'overdue')::boolean THEN '%s' ELSE 'NOT coalesce(%s, false)' END,
      '(t.due_date < current_date AND t.status NOT IN (''done'', ''canceled''))');
  END IF;
  IF f ? 'q' THEN
    conds := conds || $q$t.search_vector OPERATOR(@extschema@.@@) websearch_to_tsquery('english', $1 ->> 'q')$q$::text;
  END IF;
  -- Index paths for the visibility rule.  RLS stays the authority (its
  -- policy is applied on top); this restates the policy's own arms so the
  -- planner can combine the per-arm indexes instead of scanning every task
  -- and filtering by the policy.  Not for admins (who see everything), and
  -- not when an assignee (user or team) or team filter already narrows the
  -- scan through its own index.
  -- With search words, the same rule as one condition on the visibility
  -- keys, which the search index holds next to the words (see 74_search.sql).
  IF uid IS NOT NULL AND coalesce(a, 'none') = 'none' AND NOT f ? 'team' AND NOT @extschema@.current_user_is_admin() THEN
    conds := conds || CASE
      WHEN f ? 'q' THEN '@extschema@._visibility_keys(t.creator_id, t.assignee_user_id, t.assignee_team_id, t.team_id) '
                        'OPERATOR(@extschema@.&&) (SELECT @extschema@._my_visibility_keys())'
      WHEN cardinality(@extschema@.my_team_ids()) = 0
      THEN '(t.creator_id = (SELECT @extschema@.current_user_id()) OR t.assignee_user_id = (SELECT @extschema@.current_user_id()))'
      ELSE '(t.creator_id = (SELECT @extschema@.current_user_id()) OR t.assignee_user_id = (SELECT @extschema@.current_user_id()) '
           'OR t.assignee_team_id = ANY ((SELECT @extschema@.my_team_ids())::bigint[]) '
           'OR t.team_id = ANY ((SELECT @extschema@.my_team_ids())::bigint[]))' END;
  END IF;
  RETURN array_to_string(conds, ' AND ');
END
$$;

CREATE OR REPLACE FUNCTION @extschema@._keyset_sql(sorts jsonb, cur jsonb) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  n integer := jsonb_array_length(sorts);
  exprs text[] := '{}';
  vals text[] := '{}';
  ops text[] := '{}';
  f record;
  i integer;
  j integer;
  ors text[] := '{}';
  ands text[];
  last_desc boolean;
BEGIN
  IF cur IS NULL THEN RETURN 'true'; END IF;
  IF jsonb_typeof(cur -> 'k') IS DISTINCT FROM 'array' OR jsonb_array_length(cur -> 'k') <> n THEN
    PERFORM @extschema@._bad_parameter('cursor', 'is not a valid cursor');
  END IF;
  IF jsonb_typeof(cur -> 'i') IS DISTINCT FROM 'number' OR (cur ->> 'i') !~ '^[0-9]{1,18}$' THEN
    PERFORM @extschema@._bad_parameter('cursor', 'is not a valid cursor');
  END IF;
  FOR i IN 0 .. n - 1 LOOP
    f := @extschema@._sort_field(sorts -> i ->> 0, sorts -> i ->> 1 = 'desc');
    -- a cursor is signed, but make sure each value has its key's type
    BEGIN
      CASE f.typ
        WHEN 'date' THEN PERFORM (cur -> 'k' ->> i)::date;
        WHEN 'timestamptz' THEN PERFORM (cur -> 'k' ->> i)::timestamptz;
        WHEN 'text' THEN NULL;
        WHEN '@extschema@.task_priority' THEN PERFORM (cur -> 'k' ->> i)::@extschema@.task_priority;
        ELSE PERFORM (cur -> 'k' ->> i)::@extschema@.task_status;
      END CASE;
      IF cur -> 'k' ->> i IS NULL THEN RAISE invalid_text_representation; END IF;
    EXCEPTION WHEN data_exception THEN
      PERFORM @extschema@._bad_parameter('cursor', 'is not a valid cursor');
    END;
    exprs := exprs || f.expr;
    vals := vals || format('($2 -> ''k'' ->> %s)::%s', i, f.typ);
    ops := ops || CASE WHEN sorts -> i ->> 1 = 'desc' THEN '<' ELSE '>' END;
    last_desc := sorts -> i ->> 1 = 'desc';
  END LOOP;
  exprs := exprs || 't.id'::text;
  vals := vals || '($2 ->> ''i'')::bigint'::text;
  ops := ops || CASE WHEN last_desc THEN '<' ELSE '>' END;
  IF (SELECT count(DISTINCT o) FROM unnest(ops) o) = 1 THEN
    -- one direction: a row comparison, which a btree index can start from
    RETURN format('(%s) %s (%s)', array_to_string(exprs, ', '), ops[1], array_to_string(vals, ', '));
  END IF;
  FOR i IN 1 .. n + 1 LOOP
    ands := '{}';
    FOR j IN 1 .. i - 1 LOOP
      ands := ands || format('%s = %s', exprs[j], vals[j]);
    END LOOP;
    ands := ands || format('%s %s %s', exprs[i], ops[i], vals[i]);
    ors := ors || ('(' || array_to_string(ands, ' AND ') || ')');
  END LOOP;
  RETURN '(' || array_to_string(ors, ' OR ') || ')';
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.filter_tasks(filter jsonb DEFAULT '{}') RETURNS SETOF @extschema@.tasks
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  f jsonb;
BEGIN
  PERFORM @extschema@._require_user();
  f := @extschema@._filter_normalize(filter);
  PERFORM @extschema@._filter_cursor(f, 'list');
  RETURN QUERY EXECUTE format('SELECT t.* FROM @extschema@.tasks t WHERE %s ORDER BY %s',
                              @extschema@._filter_where(f),
                              (@extschema@._order_sql(@extschema@._filter_sort(f))).order_by)
    USING f;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@._list_sql(f jsonb, cur jsonb, n integer) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  sorts jsonb := @extschema@._filter_sort(f);
  o record := @extschema@._order_sql(sorts);
BEGIN
  RETURN format(
      'SELECT @extschema@._jsonb_page(array_agg(p.doc) FILTER (WHERE p.n <= %1$s), '
      '  CASE WHEN count(*) > %1$s THEN @extschema@._cursor_make(jsonb_build_object('
      '    ''s'', ''list'', ''f'', @extschema@._filter_hash($1), '
      '    ''k'', (array_agg(p.keys) FILTER (WHERE p.n = %1$s))[1], ''i'', (array_agg(p.id) FILTER (WHERE p.n = %1$s))[1])) END) '
      'FROM (SELECT q.doc, q.keys, q.id, row_number() OVER () AS n FROM ('
      '  SELECT t.doc, jsonb_build_array(%2$s) AS keys, t.id FROM @extschema@._tasks_doc t'
      '  WHERE %3$s AND %4$s ORDER BY %5$s LIMIT %6$s) q) p',
      n, o.key_list, @extschema@._filter_where(f), @extschema@._keyset_sql(sorts, cur), o.order_by, n + 1);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.list_tasks(filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  f jsonb;
  cur jsonb;
BEGIN
  PERFORM @extschema@._require_user();
  f := @extschema@._filter_normalize(filter);
  cur := @extschema@._filter_cursor(f, 'list');
  RETURN @extschema@._query_cached(@extschema@._list_sql(f, cur, coalesce((f ->> 'limit')::integer, 50)), f, cur);
END
$$;

CREATE FUNCTION @extschema@._visibility_keys(creator_id bigint, assignee_user_id bigint,
                                              assignee_team_id bigint, team_id bigint) RETURNS bigint[]
  AS 'MODULE_PATHNAME', 'tm_visibility_keys'
  LANGUAGE C IMMUTABLE PARALLEL SAFE LEAKPROOF;
REVOKE ALL ON FUNCTION @extschema@._visibility_keys(bigint, bigint, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._visibility_keys(bigint, bigint, bigint, bigint) TO taskmgmt_client;

CREATE FUNCTION @extschema@._my_visibility_keys() RETURNS bigint[]
  AS 'MODULE_PATHNAME', 'tm_my_visibility_keys'
  LANGUAGE C STABLE PARALLEL RESTRICTED;
REVOKE ALL ON FUNCTION @extschema@._my_visibility_keys() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._my_visibility_keys() TO taskmgmt_client;

CREATE FUNCTION @extschema@._keys_overlap(bigint[], bigint[]) RETURNS boolean
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'arrayoverlap';
REVOKE ALL ON FUNCTION @extschema@._keys_overlap(bigint[], bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._keys_overlap(bigint[], bigint[]) TO taskmgmt_client;

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

DROP INDEX @extschema@.tasks_search_idx;

CREATE INDEX tasks_search_idx ON @extschema@.tasks USING gin (
  @extschema@._visibility_keys(creator_id, assignee_user_id, assignee_team_id, team_id) @extschema@.visibility_keys_ops,
  search_vector @extschema@.tsvector_rls_ops);

-- The tasks with their JSON (doc), under the caller's row-level security:
-- what the API functions read (FROM _tasks_doc t WHERE ...; here, after
-- the search vector exists).  One pass: the
-- planner flattens the view into the caller's query, so doc is computed for
-- the rows the query returns, by the formatter, with the assignee user's
-- name joined (a page often names the same few people: the planner can
-- memoize or hash them) and a team's name from _task_team_name.
CREATE VIEW @extschema@._tasks_doc WITH (security_invoker = true) AS
  SELECT t.id, t.title, t.description, t.status, t.priority, t.due_date, t.team_id,
         t.assignee_user_id, t.assignee_team_id, t.tags, t.creator_id, t.created_at,
         t.updated_at, t.started_at, t.completed_at, t.version, t.search_vector,
         @extschema@._task_jsonb(t.id, t.title, t.description, t.status, t.priority, t.due_date,
           t.team_id, t.assignee_user_id, t.assignee_team_id,
           CASE WHEN t.assignee_user_id IS NOT NULL THEN u.display_name
                WHEN t.assignee_team_id IS NOT NULL THEN @extschema@._task_team_name(t.id, t.assignee_team_id) END,
           t.tags, t.creator_id, t.created_at, t.updated_at, t.started_at, t.completed_at,
           t.version) AS doc
    FROM @extschema@.tasks t
    LEFT JOIN @extschema@.users u ON u.id = t.assignee_user_id;
REVOKE ALL ON @extschema@._tasks_doc FROM PUBLIC;
GRANT SELECT ON @extschema@._tasks_doc TO taskmgmt_client;

CREATE FUNCTION @extschema@._snippet(title text, description text, query tsquery) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT replace(replace(replace(replace(replace(
           ts_headline('english', title || E'\n' || description, query,
                       'StartSel=' || chr(2) || ', StopSel=' || chr(3)
                       || ', MaxWords=30, MinWords=10, MaxFragments=2, FragmentDelimiter=" … "'),
           '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), chr(2), '<mark>'), chr(3), '</mark>')
$$;
REVOKE ALL ON FUNCTION @extschema@._snippet(text, text, tsquery) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._snippet(text, text, tsquery) TO taskmgmt_client;

CREATE OR REPLACE FUNCTION @extschema@._snippet(t @extschema@.tasks, query tsquery) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT @extschema@._snippet(t.title, t.description, query)
$$;

CREATE OR REPLACE FUNCTION @extschema@._search_sql(f jsonb, cur jsonb, n integer) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  after text := 'true';
BEGIN
  IF cur IS NOT NULL THEN
    IF jsonb_typeof(cur -> 'r') IS DISTINCT FROM 'number' OR jsonb_typeof(cur -> 'i') IS DISTINCT FROM 'number'
       OR (cur ->> 'i') !~ '^[0-9]{1,18}$' THEN
      PERFORM @extschema@._bad_parameter('cursor', 'is not a valid cursor');
    END IF;
    after := '(y.rank < ($2 ->> ''r'')::numeric OR (y.rank = ($2 ->> ''r'')::numeric AND y.id > ($2 ->> ''i'')::bigint))';
  END IF;
  RETURN format(
      'SELECT @extschema@._jsonb_page('
      '  array_agg(jsonb_build_object(''task'', d.doc, ''rank'', x.rank, '
      '                               ''snippet'', @extschema@._snippet(d.title, d.description, x.query))'
      '            ORDER BY x.rank DESC, x.id) FILTER (WHERE x.n <= %1$s), '
      '  CASE WHEN count(*) > %1$s THEN @extschema@._cursor_make(jsonb_build_object('
      '    ''s'', ''search'', ''f'', @extschema@._filter_hash($1), '
      '    ''r'', max(x.rank) FILTER (WHERE x.n = %1$s), ''i'', max(x.id) FILTER (WHERE x.n = %1$s))) END) '
      'FROM (SELECT y.id, y.rank, y.query, row_number() OVER (ORDER BY y.rank DESC, y.id) AS n FROM ('
      '  SELECT t.id, round(ts_rank(t.search_vector, q.query)::numeric, 6) AS rank, q.query'
      '  FROM @extschema@.tasks t, (SELECT (SELECT websearch_to_tsquery(''english'', $1 ->> ''q'')) AS query OFFSET 0) q'
      '  WHERE %2$s) y'
      ' WHERE %3$s ORDER BY y.rank DESC, y.id LIMIT %4$s) x '
      'JOIN @extschema@._tasks_doc d ON d.id = x.id',
      n, @extschema@._filter_where(f), after, n + 1);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.search_tasks(q text, filter jsonb DEFAULT '{}') RETURNS jsonb
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
    result := @extschema@._query_cached(@extschema@._search_sql(f, cur, lim), f, cur);
    IF result -> 'items' <> '[]' OR cur IS NOT NULL THEN
      RETURN result;
    END IF;
  END IF;
  IF cur IS NULL AND @extschema@._search_fuzzy_sql(f, lim) IS NOT NULL THEN
    FOR rec IN EXECUTE @extschema@._search_fuzzy_sql(f, lim) USING f LOOP
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

CREATE OR REPLACE FUNCTION @extschema@._task_document(title text, tags text[], description text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RETURN setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
      || setweight(to_tsvector('english'::regconfig, coalesce(array_to_string(tags, ' '), '')), 'B')
      || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C');
END
$$;

DROP TRIGGER tasks_notify ON @extschema@.tasks;

-- Only where the function has something to do (a WHEN clause costs no
-- function call): a new task with an assignee; an update that reassigns or
-- changes what users see (the version moves).  An INSERT trigger cannot
-- look at OLD, hence two triggers.
CREATE TRIGGER tasks_notify AFTER UPDATE ON @extschema@.tasks
  FOR EACH ROW
  WHEN (NEW.version <> OLD.version
        OR (NEW.assignee_user_id, NEW.assignee_team_id) IS DISTINCT FROM (OLD.assignee_user_id, OLD.assignee_team_id))
  EXECUTE FUNCTION @extschema@._tasks_notify();
CREATE TRIGGER tasks_notify_assigned AFTER INSERT ON @extschema@.tasks
  FOR EACH ROW WHEN (NEW.assignee_user_id IS NOT NULL OR NEW.assignee_team_id IS NOT NULL)
  EXECUTE FUNCTION @extschema@._tasks_notify();

CREATE FUNCTION @extschema@._export_statement(filter jsonb, OUT sql text, OUT f jsonb, OUT header text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  inc boolean := @extschema@._export_include_comments(filter);
BEGIN
  f := @extschema@._filter_normalize(@extschema@._export_list_filter(filter));
  PERFORM @extschema@._filter_cursor(f, 'list');
  header := @extschema@.csv_line(@extschema@._export_header(inc));
  sql := format(
      'SELECT e.id, e.title, e.status, e.priority, e.due_date, e.assignee_type,'
      ' e.assignee_name, e.team, e.tags, e.creator, e.created_at, e.updated_at, e.completed_at%s'
      ' FROM @extschema@.tasks t CROSS JOIN LATERAL @extschema@._export_fields(t) e'
      ' WHERE %s ORDER BY %s',
      CASE WHEN inc THEN ', @extschema@._export_comments(t.id)' ELSE '' END,
      @extschema@._filter_where(f), (@extschema@._order_sql(@extschema@._filter_sort(f))).order_by);
END
$$;
REVOKE ALL ON FUNCTION @extschema@._export_statement(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._export_statement(jsonb) TO taskmgmt_client;

CREATE FUNCTION @extschema@._export_csv_lines(filter jsonb) RETURNS SETOF text
  AS 'MODULE_PATHNAME', 'tm_export_tasks_csv_lines'
  LANGUAGE C STABLE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION @extschema@._export_csv_lines(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._export_csv_lines(jsonb) TO taskmgmt_client;

CREATE OR REPLACE FUNCTION @extschema@.export_tasks_csv_lines(filter jsonb DEFAULT '{}') RETURNS SETOF text
LANGUAGE sql STABLE AS $$
  SELECT @extschema@._export_csv_lines(filter)
$$;

-- The completed tasks of a period, for the reports: with the columns the
-- report and the tasks_select rule read, so that an index-only scan serves
-- them; only done tasks are in it, so creating and editing open tasks never
-- touches it.
CREATE INDEX tasks_completed_at_idx ON @extschema@.tasks (completed_at)
  INCLUDE (created_at, started_at, creator_id, assignee_user_id, assignee_team_id, team_id)
  WHERE status = 'done';

CREATE FUNCTION @extschema@._report_figures(team bigint, team_name text, tz text, today date,
                                             d_from date, d_to date, t_from timestamptz,
                                             t_to timestamptz, me bigint, my_teams bigint[])
RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan AS $$
BEGIN
  RETURN QUERY
  -- One pass over the tasks in scope, grouped by assignee and status: every
  -- figure that is a count, a sum or a maximum adds up over the groups, and
  -- they make the per-assignee table.  The completed tasks of the period
  -- (lead and cycle times, weekly throughput) come from the index on
  -- completed_at.  A team's tasks are those it owns or is assigned.
  WITH g AS (
    SELECT t.assignee_user_id, t.assignee_team_id, t.status,
           count(*) AS total,
           count(*) FILTER (WHERE t.completed_at >= t_from AND t.completed_at < t_to) AS completed,
           count(*) FILTER (WHERE t.created_at >= t_from AND t.created_at < t_to) AS created,
           count(*) FILTER (WHERE t.due_date < today) AS late,
           sum(today - t.due_date) FILTER (WHERE t.due_date < today) AS late_days,
           max(today - t.due_date) FILTER (WHERE t.due_date < today) AS late_max
      FROM @extschema@.tasks t
     WHERE (team IS NULL OR t.team_id = team OR t.assignee_team_id = team)
       AND (me IS NULL OR t.creator_id = me OR t.assignee_user_id = me
            OR t.assignee_team_id = ANY (my_teams) OR t.team_id = ANY (my_teams))
     GROUP BY 1, 2, 3
  ),
  x AS (
    SELECT coalesce(sum(g.total), 0) AS total,
           coalesce(sum(g.total) FILTER (WHERE g.status = 'todo'), 0) AS todo,
           coalesce(sum(g.total) FILTER (WHERE g.status = 'in_progress'), 0) AS in_progress,
           coalesce(sum(g.total) FILTER (WHERE g.status = 'done'), 0) AS done,
           coalesce(sum(g.total) FILTER (WHERE g.status = 'canceled'), 0) AS canceled,
           coalesce(sum(g.created), 0) AS created,
           coalesce(sum(g.created) FILTER (WHERE g.status = 'done'), 0) AS created_done,
           coalesce(sum(g.late) FILTER (WHERE g.status IN ('todo', 'in_progress')), 0) AS overdue,
           sum(g.late_days) FILTER (WHERE g.status IN ('todo', 'in_progress')) AS overdue_days,
           max(g.late_max) FILTER (WHERE g.status IN ('todo', 'in_progress')) AS overdue_max
      FROM g
  ),
  a AS (
    SELECT CASE WHEN g.assignee_user_id IS NOT NULL THEN 'user'
                WHEN g.assignee_team_id IS NOT NULL THEN 'team' END AS kind,
           coalesce(g.assignee_user_id, g.assignee_team_id) AS aid,
           coalesce(sum(g.completed) FILTER (WHERE g.status = 'done'), 0) AS completed,
           coalesce(sum(g.total) FILTER (WHERE g.status IN ('todo', 'in_progress')), 0) AS open
      FROM g GROUP BY 1, 2
  ),
  done AS (
    SELECT extract(epoch FROM t.completed_at - t.created_at) / 3600 AS lead_h,
           extract(epoch FROM t.completed_at - t.started_at) / 3600 AS cycle_h,
           (t.completed_at AT TIME ZONE tz)::date AS day
      FROM @extschema@.tasks t
     WHERE t.status = 'done' AND t.completed_at >= t_from AND t.completed_at < t_to
       AND (team IS NULL OR t.team_id = team OR t.assignee_team_id = team)
       AND (me IS NULL OR t.creator_id = me OR t.assignee_user_id = me
            OR t.assignee_team_id = ANY (my_teams) OR t.team_id = ANY (my_teams))
  ),
  weeks AS (
    SELECT w::date AS week_start
      FROM generate_series(date_trunc('week', d_from::timestamp), d_to::timestamp, interval '1 week') w
  ),
  named AS (
    SELECT a.kind, a.aid, a.completed, a.open, CASE a.kind
             WHEN 'user' THEN (SELECT u.display_name FROM @extschema@.users u WHERE u.id = a.aid)
             WHEN 'team' THEN @extschema@._team_name(a.aid) END AS name
      FROM a
     WHERE a.completed > 0 OR a.open > 0
  )
  SELECT jsonb_build_object(
    'team', CASE WHEN team IS NOT NULL THEN jsonb_build_object('id', team, 'name', team_name) END,
    'from', d_from, 'to', d_to, 'timezone', tz, 'as_of', today, 'generated_at', now(),
    'total', x.total,
    'counts_by_status', jsonb_build_object('canceled', x.canceled, 'done', x.done,
                                           'in_progress', x.in_progress, 'todo', x.todo),
    'created_in_period', x.created,
    'completed_in_period', (SELECT count(*) FROM done),
    -- of the tasks created in the period, the share that is done now
    'completion_rate', round(x.created_done::numeric / nullif(x.created, 0), 4),
    'overdue', jsonb_build_object('count', x.overdue,
                                  'mean_age_days', round(x.overdue_days::numeric / nullif(x.overdue, 0), 1),
                                  'max_age_days', x.overdue_max),
    'lead_time_hours', (
      SELECT jsonb_build_object('count', count(*),
               'p50', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY done.lead_h)::numeric, 2),
               'p85', round(percentile_cont(0.85) WITHIN GROUP (ORDER BY done.lead_h)::numeric, 2))
        FROM done),
    'cycle_time_hours', (
      SELECT jsonb_build_object('count', count(done.cycle_h),
               'p50', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY done.cycle_h)::numeric, 2),
               'p85', round(percentile_cont(0.85) WITHIN GROUP (ORDER BY done.cycle_h)::numeric, 2))
        FROM done WHERE done.cycle_h IS NOT NULL),
    -- weeks start on Monday; the first and last may be cut by the period
    'weekly_throughput', (
      SELECT jsonb_agg(jsonb_build_object('week_start', w.week_start, 'completed', coalesce(c.n, 0))
                       ORDER BY w.week_start)
        FROM weeks w
        LEFT JOIN (SELECT date_trunc('week', done.day::timestamp)::date AS week_start, count(*) AS n
                     FROM done GROUP BY 1) c ON c.week_start = w.week_start),
    'assignees', coalesce((
      SELECT jsonb_agg(jsonb_build_object('type', n.kind, 'id', n.aid, 'name', n.name,
                                          'completed', n.completed, 'open', n.open)
                       ORDER BY n.completed DESC, n.open DESC, n.name NULLS LAST, n.aid)
        FROM named n), '[]'))
    FROM x;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._report_figures(bigint, text, text, date, date, date, timestamptz, timestamptz, bigint, bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._report_figures(bigint, text, text, date, date, date, timestamptz, timestamptz, bigint, bigint[]) TO taskmgmt_client;

CREATE OR REPLACE FUNCTION @extschema@.report_summary(filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE SET jit = off AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  f jsonb := coalesce(filter, '{}');
  k text;
  v jsonb;
  tz text;
  today date;
  team bigint;
  team_name text;
  d_from date;
  d_to date;
  t_from timestamptz;
  t_to timestamptz;
BEGIN
  IF jsonb_typeof(f) <> 'object' THEN
    PERFORM @extschema@._bad_parameter('filter', 'must be a JSON object');
  END IF;
  FOR k IN SELECT jsonb_object_keys(f) ORDER BY 1 LOOP
    IF NOT k = ANY ('{team,from,to}') THEN
      PERFORM @extschema@._bad_parameter(k, 'is not a known parameter');
    END IF;
  END LOOP;

  v := f -> 'team';
  IF v IS NOT NULL AND v <> 'null' THEN
    IF jsonb_typeof(v) NOT IN ('string', 'number') OR (v #>> '{}') !~ '^[0-9]{1,18}$' THEN
      PERFORM @extschema@._bad_parameter('team', 'must be a team id');
    END IF;
    team := (v #>> '{}')::bigint;
    -- a team one may not see does not exist (teams' row-level security)
    SELECT t.name INTO team_name FROM @extschema@.teams t WHERE t.id = team;
    IF NOT FOUND THEN PERFORM @extschema@._not_found('team'); END IF;
  END IF;

  -- days are the caller's days: periods and "overdue" use their time zone
  SELECT u.timezone INTO tz FROM @extschema@.users u WHERE u.id = uid;
  tz := coalesce(tz, 'UTC');
  today := (now() AT TIME ZONE tz)::date;
  d_to := coalesce(@extschema@._report_date_param(f, 'to'), today);
  d_from := coalesce(@extschema@._report_date_param(f, 'from'), d_to - 27);
  IF d_from > d_to THEN
    PERFORM @extschema@._bad_parameter('from', 'must not be after to');
  END IF;
  IF d_to - d_from > 731 THEN
    PERFORM @extschema@._bad_parameter('from', 'the period may span at most 732 days');
  END IF;
  t_from := d_from::timestamp AT TIME ZONE tz;
  t_to := (d_to + 1)::timestamp AT TIME ZONE tz;

  RETURN (SELECT r FROM @extschema@._report_figures(team, team_name, tz, today, d_from, d_to, t_from, t_to,
            CASE WHEN NOT @extschema@.current_user_is_admin() THEN uid END, @extschema@.my_team_ids()) r);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@._check_keys(obj jsonb, allowed text[], read_only text[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql STABLE AS $$
DECLARE
  k text;
BEGIN
  IF obj IS NULL OR jsonb_typeof(obj) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = 'TM422', MESSAGE = 'a JSON object is required';
  END IF;
  -- the usual case, without a query: nothing is left once the allowed keys go
  IF obj - allowed = '{}'::jsonb THEN
    RETURN;
  END IF;
  FOR k IN SELECT jsonb_object_keys(obj) ORDER BY 1 LOOP
    IF k = ANY (read_only) THEN
      PERFORM @extschema@._invalid(k, 'is read-only');
    ELSIF NOT k = ANY (allowed) THEN
      PERFORM @extschema@._invalid(k, 'is not a known field');
    END IF;
  END LOOP;
END
$$;
