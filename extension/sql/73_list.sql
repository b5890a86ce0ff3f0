-- Listing tasks: filter, sort, keyset pagination.
--
-- _filter_normalize() validates a filter (HTTP query parameters arrive as
-- JSON strings; psql users may also pass arrays, numbers and booleans) into
-- a canonical jsonb; _filter_where() / _order_sql() turn it into SQL that
-- reads its values from parameters: $1 the values of a filter text
-- (_filter_params, 79_filter_lang.sql), $2 the normalized filter and $3 a
-- cursor's payload, so its text depends only on the filter's shape and its
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
-- INCLUDE: the columns of the visibility rule and the status, so that
-- counting the tasks created in a period (an admin's report) reads the
-- index alone
CREATE INDEX tasks_created_at_idx ON @extschema@.tasks (created_at, id)
  INCLUDE (status, creator_id, assignee_user_id, assignee_team_id, team_id);
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
-- PL/pgSQL, like the other helpers that build a statement's text: a SQL
-- function with OUT parameters is never inlined, so it would be parsed and
-- planned again at every call (~50 us of a ~0.7 ms list call).
CREATE FUNCTION @extschema@._sort_field(field text, descending boolean, OUT expr text, OUT typ text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  expr := CASE field
            WHEN 'due_date' THEN CASE WHEN descending THEN '@extschema@._due_desc(t.due_date)'
                                      ELSE '@extschema@._due_asc(t.due_date)' END
            ELSE 't.' || field END;
  typ := CASE field
           WHEN 'priority' THEN '@extschema@.task_priority' WHEN 'status' THEN '@extschema@.task_status'
           WHEN 'due_date' THEN 'date' WHEN 'title' THEN 'text' ELSE 'timestamptz' END;
END
$$;

-- The keys that the filter argument of an API function accepts (NULL for a
-- function without one; mail_unsubscribe's is the link's query string).  The functions check their filters against these
-- lists, and the HTTP suite compares them with shim/openapi.json, so the
-- documented query parameters cannot drift from what the SQL accepts.
-- search_tasks takes q as its first argument and ranks instead of sorting;
-- the export takes the list's keys (limit and cursor are ignored: it has
-- every matching task) plus include_comments.
CREATE FUNCTION @extschema@.filter_keys(api_function text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE api_function
           WHEN 'list_tasks' THEN l
           WHEN 'filter_tasks' THEN l
           WHEN 'save_view' THEN array_remove(array_remove(l, 'cursor'), 'view')
           WHEN 'task_rows' THEN array_remove(array_remove(l, 'limit'), 'cursor')
           WHEN 'search_tasks' THEN array_remove(array_remove(l, 'sort'), 'q')
           WHEN 'export_tasks_csv' THEN l || '{include_comments}'::text[]
           WHEN 'export_tasks_csv_lines' THEN l || '{include_comments}'::text[]
           WHEN '_export_csv_lines' THEN l || '{include_comments}'::text[]  -- what the shim calls for it
           WHEN 'task_history' THEN '{limit,cursor}'
           WHEN 'notifications' THEN '{unread,cursor,limit,since}'
           WHEN 'report_summary' THEN '{team,from,to}'
           WHEN 'report_summary_pdf' THEN '{team,from,to}'
           WHEN 'mail_unsubscribe' THEN '{token}'
           WHEN 'delete_task' THEN '{cascade}'
           WHEN 'task_as_of' THEN '{at}'
         END
    FROM (SELECT '{status,assignee,team,priority,tag,tag_mode,due_before,due_after,overdue,q,sort,limit,cursor,view,ready,filter}'::text[] AS l) k
$$;
COMMENT ON FUNCTION @extschema@.filter_keys(text) IS
  'The keys the filter argument of an API function accepts, e.g. filter_keys(''list_tasks'').';

-- Refuses a filter that is not a JSON object or has a key that
-- filter_keys(api_function) does not list: TM400 naming it, with the keys
-- there are.
CREATE FUNCTION @extschema@._check_filter_keys(api_function text, filter jsonb) RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  k text;
BEGIN
  IF filter IS NULL OR jsonb_typeof(filter) <> 'object' THEN
    PERFORM @extschema@._bad_parameter('filter', 'must be a JSON object');
  END IF;
  FOR k IN SELECT jsonb_object_keys(filter) ORDER BY 1 LOOP
    IF NOT k = ANY (@extschema@.filter_keys(api_function)) THEN
      PERFORM @extschema@._bad_parameter(k, format('is not a known parameter (%s)',
                                                    array_to_string(@extschema@.filter_keys(api_function), ', ')));
    END IF;
  END LOOP;
END
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
  known constant text[] := @extschema@.filter_keys('list_tasks');
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
      WHEN 'ready' THEN  -- planning (#14, 77_relations.sql)
        f := f || jsonb_build_object(k, @extschema@._bool_param(v, k));
      WHEN 'filter' THEN  -- the filter language (#14, 79_filter_lang.sql)
        IF jsonb_typeof(v) <> 'string' THEN
          PERFORM @extschema@._bad_parameter(k, 'must be a filter text such as status:todo due<7d');
        END IF;
        f := f || jsonb_build_object(k, v #>> '{}')
               || (SELECT jsonb_build_object('filter_sql', c -> 'sql', 'filter_params', c -> 'params',
                                             'filter_narrows', c -> 'narrows')
                     FROM @extschema@._filter_compile(v #>> '{}') c);
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

-- The WHERE clause of a normalized filter.  Values are read from $2, the
-- normalized filter itself (enum lists, bounded in number, are literals),
-- and a filter text's from $1, so one shape of filter gives one text
-- whoever runs it.
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
    conds := conds || $q$t.assignee_user_id = split_part($2 ->> 'assignee', ':', 2)::bigint$q$::text;
  ELSIF a LIKE 'team:%' THEN
    conds := conds || $q$t.assignee_team_id = split_part($2 ->> 'assignee', ':', 2)::bigint$q$::text;
  END IF;
  IF f ? 'team' THEN
    conds := conds || $q$t.team_id = ($2 ->> 'team')::bigint$q$::text;
  END IF;
  IF f ? 'tag' THEN
    conds := conds || CASE WHEN f ->> 'tag_mode' = 'all'
                           THEN $q$t.tags @> ARRAY(SELECT jsonb_array_elements_text($2 -> 'tag'))$q$::text
                           ELSE $q$t.tags && ARRAY(SELECT jsonb_array_elements_text($2 -> 'tag'))$q$::text END;
  END IF;
  IF f ? 'due_before' THEN
    conds := conds || $q$t.due_date < ($2 ->> 'due_before')::date$q$::text;
  END IF;
  IF f ? 'due_after' THEN
    conds := conds || $q$t.due_date > ($2 ->> 'due_after')::date$q$::text;
  END IF;
  IF f ? 'overdue' THEN
    conds := conds || format(CASE WHEN (f ->> 'overdue')::boolean THEN '%s' ELSE 'NOT coalesce(%s, false)' END,
      -- "today" in the user's time zone, as is:overdue and the reports
      '(t.due_date < @extschema@._user_today(@extschema@.current_user_id()) AND t.status NOT IN (''done'', ''canceled''))');
  END IF;
  IF f ? 'ready' THEN  -- planning (#14, 77_relations.sql)
    conds := conds || @extschema@._ready_sql((f ->> 'ready')::boolean);
  END IF;
  IF f ? 'filter_sql' THEN  -- the filter language (#14): values in $1, see _filter_params
    conds := conds || (f ->> 'filter_sql');
  END IF;
  IF f ? 'q' THEN
    conds := conds || $q$t.search_vector OPERATOR(@extschema@.@@) websearch_to_tsquery('english', $2 ->> 'q')$q$::text;
  END IF;
  -- Index paths for the visibility rule.  RLS stays the authority (its
  -- policy is applied on top); this restates the policy's own arms so the
  -- planner can combine the per-arm indexes instead of scanning every task
  -- and filtering by the policy.  Not for admins (who see everything), and
  -- not when an assignee (user or team) or team filter already narrows the
  -- scan through its own index.
  -- With search words (q, or a text: term of the filter language, which
  -- compiles to a match on t.search_vector), the same rule as one condition
  -- on the visibility keys, which the search index holds next to the words
  -- (see 74_search.sql).
  IF uid IS NOT NULL AND coalesce(a, 'none') = 'none' AND NOT f ? 'team'
     AND NOT coalesce((f ->> 'filter_narrows')::boolean, false)  -- the filter language (#14)
     AND NOT @extschema@.current_user_is_admin() THEN
    conds := conds || CASE
      WHEN f ? 'q' OR strpos(f ->> 'filter_sql', 't.search_vector') > 0
      THEN '@extschema@._visibility_keys(t.creator_id, t.assignee_user_id, t.assignee_team_id, t.team_id) '
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

-- The values come from $3, the verified cursor payload.
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
    vals := vals || format('($3 -> ''k'' ->> %s)::%s', i, f.typ);
    ops := ops || CASE WHEN sorts -> i ->> 1 = 'desc' THEN '<' ELSE '>' END;
    last_desc := sorts -> i ->> 1 = 'desc';
  END LOOP;
  exprs := exprs || 't.id'::text;
  vals := vals || '($3 ->> ''i'')::bigint'::text;
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
               USING @extschema@._filter_params(f), f;
END
$$;

-- The columns of a task that a page statement's rows carry (_page_sql).
CREATE FUNCTION @extschema@._page_columns() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 't.id, t.title, t.description, t.status, t.priority, t.due_date, t.team_id, '
         't.assignee_user_id, t.assignee_team_id, t.tags, t.creator_id, t.created_at, '
         't.updated_at, t.started_at, t.completed_at, t.version, t.parent_id, t.recurrence'
$$;

-- A page statement (list_tasks, search_tasks): one row, the whole answer
-- {items, next_cursor}.  rows: the page's rows, one more than n (to know
-- whether a next page exists), with the _page_columns, their position n
-- (1, 2, ...) and whatever item and next_cursor read; item: an item's JSON,
-- where d.task is the task object; next_cursor: the jsonb payload of the
-- cursor after row n.  Both read the page's rows as t.  The task objects
-- are those of task_json(): the names of the page's few assignee users,
-- read by their ids (joined to users as such, a kept generic plan hashed
-- every user: 15 ms at 10,000 users; a subquery per row scanned a small
-- users table once per row), a team's name from _task_team_name, and the
-- planning counts (#14) for the whole page from
-- _page_planning (77_relations.sql), which costs one index probe each when
-- the page has nothing to count: planned in here, the count queries and
-- their policies cost a fifth of a plain page even then.  PL/pgSQL: format()
-- is not immutable, so a SQL function of it is never inlined (_sort_field).
CREATE FUNCTION @extschema@._page_sql(rows text, n integer, item text, next_cursor text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RETURN format(
      'WITH t AS MATERIALIZED (%1$s) '
      'SELECT @extschema@._jsonb_page(array_agg(%3$s ORDER BY t.n) FILTER (WHERE t.n <= %2$s), '
      '  CASE WHEN max(t.n) > %2$s THEN @extschema@._cursor_make(%4$s) END) '
      'FROM t '
      'LEFT JOIN (SELECT u.id, u.display_name FROM @extschema@.users u '
      '            WHERE u.id = ANY (ARRAY(SELECT DISTINCT t.assignee_user_id FROM t))) u ON u.id = t.assignee_user_id '
      'LEFT JOIN (SELECT p.id, sum(p.subtasks_total)::bigint AS total, sum(p.subtasks_done)::bigint AS done, '
      '                  sum(p.blocked_by_open)::bigint AS blocked '
      '             FROM @extschema@._page_planning(ARRAY(SELECT t.id FROM t)) p GROUP BY p.id) pl ON pl.id = t.id '
      'CROSS JOIN LATERAL (SELECT @extschema@._task_jsonb(t.id, t.title, t.description, t.status, '
      '  t.priority, t.due_date, t.team_id, t.assignee_user_id, t.assignee_team_id, '
      '  CASE WHEN t.assignee_user_id IS NOT NULL THEN u.display_name '
      '       WHEN t.assignee_team_id IS NOT NULL THEN @extschema@._task_team_name(t.id, t.assignee_team_id) END, '
      '  t.tags, t.creator_id, t.created_at, t.updated_at, t.started_at, t.completed_at, t.version, '
      '  t.parent_id, t.recurrence, pl.total, pl.done, pl.blocked) AS task) d',
      rows, n, item, next_cursor);
END
$$;

-- The statement list_tasks runs for a normalized filter, a verified cursor
-- (or NULL) and a page size, with the parameters $1 (the filter text's
-- values), $2 (the filter) and $3 (the cursor): one row, the whole answer
-- {items, next_cursor}.  One pass: the page's rows in index order, their
-- JSON built in the same statement (_page_sql).  Separate so that tests
-- can EXPLAIN exactly what runs.
CREATE FUNCTION @extschema@._list_sql(f jsonb, cur jsonb, n integer) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  sorts jsonb := @extschema@._filter_sort(f);
  o record := @extschema@._order_sql(sorts);
BEGIN
  RETURN @extschema@._page_sql(
    format('SELECT q.*, row_number() OVER () AS n FROM ('
           '  SELECT %s FROM @extschema@.tasks t WHERE %s AND %s ORDER BY %s LIMIT %s) q',
           @extschema@._page_columns(), @extschema@._filter_where(f), @extschema@._keyset_sql(sorts, cur),
           o.order_by, n + 1),
    n, 'd.task',
    format('jsonb_build_object(''s'', ''list'', ''f'', @extschema@._filter_hash($2), '
           '''k'', (array_agg(jsonb_build_array(%1$s)) FILTER (WHERE t.n = %2$s))[1], '
           '''i'', max(t.id) FILTER (WHERE t.n = %2$s))',
           o.key_list, n));
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
  RETURN @extschema@._query_cached(@extschema@._list_sql(f, cur, coalesce((f ->> 'limit')::integer, 50)),
                                   @extschema@._filter_params(f), f, cur);
END
$$;
