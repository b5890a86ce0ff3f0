-- Listing tasks: filter, sort, keyset pagination.
--
-- _filter_normalize() validates a filter (HTTP query parameters arrive as
-- JSON strings; psql users may also pass arrays, numbers and booleans) into
-- a canonical jsonb; _filter_where() / _order_sql() turn it into SQL that
-- reads the filter's values from parameter $1 (the normalized filter) and a
-- cursor's from $2, so its text depends only on the filter's shape and its
-- plan can be kept (_query_cached); the query runs as the caller, so
-- row-level security decides what is visible.
--
-- Sort keys are index-friendly expressions without NULLs (a missing due
-- date sorts as +infinity ascending and -infinity descending: NULLS LAST
-- both ways), so the keyset condition is a plain row comparison that a
-- btree can start from: page 100 costs what page 1 costs.  The final
-- tiebreak is id, in the direction of the last sort key.

-- The due date as a sort key: a missing date sorts last both ways.  Written
-- as CASE (inlined; no function call, so the planner counts it as
-- leakproof) so that a keyset condition on it may be an index condition
-- under row-level security; coalesce() counts as leaky to the planner.
CREATE FUNCTION @extschema@._due_asc(d date) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN d IS NULL THEN 'infinity'::date ELSE d END
$$;
CREATE FUNCTION @extschema@._due_desc(d date) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN d IS NULL THEN '-infinity'::date ELSE d END
$$;

CREATE INDEX tasks_assignee_due_idx ON @extschema@.tasks
  (assignee_user_id, @extschema@._due_asc(due_date), id) WHERE assignee_user_id IS NOT NULL;
CREATE INDEX tasks_assignee_team_due_idx ON @extschema@.tasks
  (assignee_team_id, @extschema@._due_asc(due_date), id) WHERE assignee_team_id IS NOT NULL;
CREATE INDEX tasks_created_at_idx ON @extschema@.tasks (created_at, id);
-- assignee=me in the default order (newest first) reads just one page; it
-- also serves lookups by assignee alone (there is no single-column index)
CREATE INDEX tasks_assignee_created_idx ON @extschema@.tasks
  (assignee_user_id, created_at, id) WHERE assignee_user_id IS NOT NULL;

-- Words (status, priority, tag, sort) as a comma-separated string or a
-- JSON array of strings; trimmed, without empties or duplicates.
CREATE FUNCTION @extschema@._list_param(v jsonb, param text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  items text[];
  result text[] := '{}';
  s text;
BEGIN
  IF jsonb_typeof(v) = 'string' THEN
    items := string_to_array(v #>> '{}', ',');
  ELSIF jsonb_typeof(v) = 'array' AND NOT EXISTS (
          SELECT FROM jsonb_array_elements(v) e WHERE jsonb_typeof(e) <> 'string') THEN
    SELECT coalesce(array_agg(e ORDER BY n), '{}') INTO items FROM jsonb_array_elements_text(v) WITH ORDINALITY AS x(e, n);
  ELSE
    PERFORM @extschema@._bad_parameter(param, 'must be a comma-separated list');
  END IF;
  FOREACH s IN ARRAY coalesce(items, '{}') LOOP
    s := btrim(s);
    IF s = '' THEN PERFORM @extschema@._bad_parameter(param, 'must not contain empty items'); END IF;
    IF NOT s = ANY (result) THEN result := result || s; END IF;
  END LOOP;
  IF cardinality(result) = 0 THEN PERFORM @extschema@._bad_parameter(param, 'must not be empty'); END IF;
  RETURN result;
END
$$;

CREATE FUNCTION @extschema@._id_param(v jsonb, param text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  IF jsonb_typeof(v) NOT IN ('number', 'string') OR (v #>> '{}') !~ '^[0-9]{1,18}$' THEN
    PERFORM @extschema@._bad_parameter(param, 'must be a positive integer id');
  END IF;
  RETURN (v #>> '{}')::bigint;
END
$$;

CREATE FUNCTION @extschema@._date_param(v jsonb, param text) RETURNS date
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  IF jsonb_typeof(v) <> 'string' OR (v #>> '{}') !~ '^\d{4}-\d{2}-\d{2}$' THEN
    PERFORM @extschema@._bad_parameter(param, 'must be a date in the form YYYY-MM-DD');
  END IF;
  BEGIN
    RETURN (v #>> '{}')::date;
  EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
    PERFORM @extschema@._bad_parameter(param, 'is not a valid date');
  END;
  RETURN NULL;
END
$$;

CREATE FUNCTION @extschema@._bool_param(v jsonb, param text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  IF jsonb_typeof(v) = 'boolean' THEN RETURN v::text::boolean; END IF;
  IF jsonb_typeof(v) = 'string' AND lower(v #>> '{}') IN ('true', 'false') THEN
    RETURN lower(v #>> '{}')::boolean;
  END IF;
  PERFORM @extschema@._bad_parameter(param, 'must be true or false');
  RETURN NULL;
END
$$;

-- The sortable fields and their SQL (ascending, descending) and type.
CREATE FUNCTION @extschema@._sort_field(field text, descending boolean, OUT expr text, OUT typ text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE field
           WHEN 'due_date' THEN CASE WHEN descending THEN '@extschema@._due_desc(t.due_date)'
                                     ELSE '@extschema@._due_asc(t.due_date)' END
           ELSE 't.' || field END,
         CASE field
           WHEN 'priority' THEN '@extschema@.task_priority' WHEN 'status' THEN '@extschema@.task_status'
           WHEN 'due_date' THEN 'date' WHEN 'title' THEN 'text' ELSE 'timestamptz' END
$$;

-- Validates a list filter into canonical form:
--   {status: [..], assignee: "me"|"none"|"user:N"|"team:N", team: N,
--    priority: [..], tag: [..], tag_mode: "any"|"all", due_before, due_after,
--    overdue: bool, q: text, sort: [[field, "asc"|"desc"], ..], limit: N,
--    cursor: text}
-- {"view": NAME} (or "default") starts from a saved view; keys given next
-- to it override the view's.  Errors: TM400 with COLUMN = the parameter.
CREATE FUNCTION @extschema@._filter_normalize(filter jsonb, extra_keys text[] DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  known constant text[] := '{status,assignee,team,priority,tag,tag_mode,due_before,due_after,overdue,q,sort,limit,cursor,view}';
  f jsonb := '{}';
  k text;
  v jsonb;
  items text[];
  s text;
  m text[];
  sorts jsonb := '[]';
  seen text[] := '{}';
BEGIN
  IF filter IS NULL OR filter = 'null' THEN filter := '{}'; END IF;
  IF jsonb_typeof(filter) <> 'object' THEN
    PERFORM @extschema@._bad_parameter('filter', 'must be a JSON object');
  END IF;
  IF filter ? 'view' AND filter -> 'view' <> 'null' THEN
    IF jsonb_typeof(filter -> 'view') <> 'string' THEN
      PERFORM @extschema@._bad_parameter('view', 'must be the name of a saved view');
    END IF;
    filter := @extschema@._view_filter(filter ->> 'view') || (filter - 'view');
  END IF;
  filter := filter - 'view';
  FOR k, v IN SELECT * FROM jsonb_each(filter) ORDER BY 1 LOOP
    IF NOT (k = ANY (known) OR k = ANY (extra_keys)) THEN
      PERFORM @extschema@._bad_parameter(k, 'is not a known parameter');
    END IF;
    CONTINUE WHEN v = 'null' OR (jsonb_typeof(v) = 'string' AND btrim(v #>> '{}') = '');
    CASE k
      WHEN 'status' THEN
        items := @extschema@._list_param(v, k);
        IF NOT items <@ enum_range(NULL::@extschema@.task_status)::text[] THEN
          PERFORM @extschema@._bad_parameter(k, 'must be a list of todo, in_progress, done, canceled');
        END IF;
        f := f || jsonb_build_object(k, (SELECT jsonb_agg(x ORDER BY x) FROM unnest(items) x));
      WHEN 'priority' THEN
        items := @extschema@._list_param(v, k);
        IF NOT items <@ enum_range(NULL::@extschema@.task_priority)::text[] THEN
          PERFORM @extschema@._bad_parameter(k, 'must be a list of none, low, medium, high, urgent');
        END IF;
        f := f || jsonb_build_object(k, (SELECT jsonb_agg(x ORDER BY x) FROM unnest(items) x));
      WHEN 'tag' THEN
        items := @extschema@._list_param(v, k);
        IF EXISTS (SELECT FROM unnest(items) x WHERE length(x) > 50) OR cardinality(items) > 20 THEN
          PERFORM @extschema@._bad_parameter(k, 'must be at most 20 tags of at most 50 characters');
        END IF;
        f := f || jsonb_build_object(k, (SELECT jsonb_agg(DISTINCT lower(x)) FROM unnest(items) x));
      WHEN 'tag_mode' THEN
        IF jsonb_typeof(v) <> 'string' OR lower(v #>> '{}') NOT IN ('any', 'all') THEN
          PERFORM @extschema@._bad_parameter(k, 'must be any or all');
        END IF;
        f := f || jsonb_build_object(k, lower(v #>> '{}'));
      WHEN 'assignee' THEN
        s := lower(btrim(v #>> '{}'));
        m := regexp_match(s, '^(user|team):([0-9]{1,18})$');
        IF jsonb_typeof(v) <> 'string' OR NOT (s IN ('me', 'none') OR m IS NOT NULL) THEN
          PERFORM @extschema@._bad_parameter(k, 'must be me, none, user:ID or team:ID');
        END IF;
        f := f || jsonb_build_object(k, CASE WHEN m IS NULL THEN s ELSE m[1] || ':' || m[2]::bigint END);
      WHEN 'team' THEN
        f := f || jsonb_build_object(k, @extschema@._id_param(v, k));
      WHEN 'due_before', 'due_after' THEN
        f := f || jsonb_build_object(k, @extschema@._date_param(v, k));
      WHEN 'overdue' THEN
        f := f || jsonb_build_object(k, @extschema@._bool_param(v, k));
      WHEN 'q' THEN
        IF jsonb_typeof(v) <> 'string' OR btrim(v #>> '{}') = '' THEN
          PERFORM @extschema@._bad_parameter(k, 'must be a non-empty search text');
        END IF;
        IF length(v #>> '{}') > 500 THEN
          PERFORM @extschema@._bad_parameter(k, 'must be at most 500 characters');
        END IF;
        f := f || jsonb_build_object(k, btrim(v #>> '{}'));
      WHEN 'sort' THEN
        FOREACH s IN ARRAY @extschema@._list_param(v, k) LOOP
          m := regexp_match(s, '^([-+]?)(priority|due_date|created_at|updated_at|title|status)$');
          IF m IS NULL THEN
            PERFORM @extschema@._bad_parameter(k,
              'must be a list of priority, due_date, created_at, updated_at, title, status, each optionally prefixed with - for descending');
          END IF;
          IF m[2] = ANY (seen) THEN
            PERFORM @extschema@._bad_parameter(k, 'names ' || m[2] || ' twice');
          END IF;
          seen := seen || m[2];
          sorts := sorts || jsonb_build_array(jsonb_build_array(m[2], CASE WHEN m[1] = '-' THEN 'desc' ELSE 'asc' END));
        END LOOP;
        f := f || jsonb_build_object(k, sorts);
      WHEN 'limit' THEN
        f := f || jsonb_build_object(k, @extschema@._limit_param(v));
      WHEN 'cursor' THEN
        IF jsonb_typeof(v) <> 'string' THEN
          PERFORM @extschema@._bad_parameter(k, 'must be a cursor string from next_cursor');
        END IF;
        f := f || jsonb_build_object(k, v);
      ELSE
        f := f || jsonb_build_object(k, v);  -- extra keys: validated by the caller
    END CASE;
  END LOOP;
  IF f ? 'tag_mode' AND NOT f ? 'tag' THEN
    f := f - 'tag_mode';
  END IF;
  RETURN f;
END
$$;

-- Identifies the meaning of a filter (not its page): what a cursor is bound to.
CREATE FUNCTION @extschema@._filter_hash(f jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT md5((f - 'limit' - 'cursor')::text)
$$;

-- The WHERE clause of a normalized filter.  Values are read from $1, the
-- normalized filter itself (enum lists, bounded in number, are literals),
-- so one shape of filter gives one text whoever runs it.
CREATE FUNCTION @extschema@._filter_where(f jsonb) RETURNS text
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

-- The sort of a normalized filter: [[field, dir], ...]; default newest first.
CREATE FUNCTION @extschema@._filter_sort(f jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(f -> 'sort', '[["created_at", "desc"]]')
$$;

-- ORDER BY, the keys of a row (for its cursor), and the keyset condition
-- "after this cursor" for a sort.
CREATE FUNCTION @extschema@._order_sql(sorts jsonb, OUT order_by text, OUT key_list text, OUT last_desc boolean)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  s jsonb;
  e text;
  parts text[] := '{}';
  keys text[] := '{}';
BEGIN
  FOR s IN SELECT * FROM jsonb_array_elements(sorts) LOOP
    e := (@extschema@._sort_field(s ->> 0, s ->> 1 = 'desc')).expr;
    parts := parts || (e || CASE WHEN s ->> 1 = 'desc' THEN ' DESC' ELSE '' END);
    keys := keys || e;
    last_desc := s ->> 1 = 'desc';
  END LOOP;
  order_by := array_to_string(parts || ('t.id' || CASE WHEN last_desc THEN ' DESC' ELSE '' END), ', ');
  key_list := array_to_string(keys, ', ');
END
$$;

-- The values come from $2, the verified cursor payload.
CREATE FUNCTION @extschema@._keyset_sql(sorts jsonb, cur jsonb) RETURNS text
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

-- Reads and checks the cursor of a normalized filter (NULL: first page).
CREATE FUNCTION @extschema@._filter_cursor(f jsonb, scope text) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT @extschema@._cursor_read(f -> 'cursor', scope, @extschema@._filter_hash(f))
$$;

-- Every visible task matching a list filter, in its sort order, without
-- pagination (limit and cursor are validated, then ignored).  Used by
-- list_tasks and by the export and reports.
CREATE FUNCTION @extschema@.filter_tasks(filter jsonb DEFAULT '{}') RETURNS SETOF @extschema@.tasks
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

-- The statement list_tasks runs for a normalized filter ($1), a verified
-- cursor ($2, or NULL) and a page size: one row, the whole answer
-- {items, next_cursor}.  One pass: the page's rows in index order, each
-- row's JSON built in the same query (_tasks_doc), one more row
-- fetched to know whether a next page exists.  Separate so that tests can
-- EXPLAIN exactly what runs.
CREATE FUNCTION @extschema@._list_sql(f jsonb, cur jsonb, n integer) RETURNS text
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

-- GET /tasks: {items: [task...], next_cursor}.
CREATE FUNCTION @extschema@.list_tasks(filter jsonb DEFAULT '{}') RETURNS jsonb
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
