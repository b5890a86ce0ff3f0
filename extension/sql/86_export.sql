-- Export: the tasks a user may see as CSV.
--   export_tasks_csv_lines(filter)  header then one line per task (CRLF each),
--                                   streamed: GET /tasks/export.csv sends rows
--                                   as they come
--   export_tasks_csv(filter)        the same as one text value
--   VIEW tasks_export               the same cells for COPY ... WITH CSV HEADER
-- The filter takes the list's keys (taskmgmt.filter_tasks) plus
-- include_comments.  Visibility is the tasks' row-level security, nothing else.

CREATE FUNCTION @extschema@.csv_safe(cell text) RETURNS text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'tm_csv_safe';
COMMENT ON FUNCTION @extschema@.csv_safe(text) IS
  'The cell with a leading single quote when it starts with =, +, -, @, tab or CR (OWASP CSV injection).';

CREATE FUNCTION @extschema@.csv_line(cells text[]) RETURNS text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'tm_csv_line';
COMMENT ON FUNCTION @extschema@.csv_line(text[]) IS
  'One RFC 4180 record ending in CRLF; cells quoted when they hold a comma, quote, CR or LF.';

-- RFC 3339 in UTC, whatever the session's TimeZone, so files compare equal.
CREATE FUNCTION @extschema@._csv_time(ts timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- _team_name(), remembered per team for the rest of the statement (C).
CREATE FUNCTION @extschema@._export_team_name(team_id bigint) RETURNS text
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'tm_export_team_name';

-- The cells of one task, neutralised.  A set-returning SQL function so that
-- the planner inlines it into the calling query (one row, no call overhead).
CREATE FUNCTION @extschema@._export_fields(t @extschema@.tasks)
RETURNS TABLE (id text, title text, status text, priority text, due_date text,
               assignee_type text, assignee_name text, team text, tags text,
               creator text, created_at text, updated_at text, completed_at text)
LANGUAGE sql STABLE ROWS 1 AS $$
  SELECT t.id::text,
         @extschema@.csv_safe(t.title),
         t.status::text,
         t.priority::text,
         to_char(t.due_date, 'YYYY-MM-DD'),
         CASE WHEN t.assignee_user_id IS NOT NULL THEN 'user'
              WHEN t.assignee_team_id IS NOT NULL THEN 'team' END,
         @extschema@.csv_safe(CASE
           WHEN t.assignee_user_id IS NOT NULL THEN
             (SELECT u.display_name FROM @extschema@.users u WHERE u.id = t.assignee_user_id)
           WHEN t.assignee_team_id IS NOT NULL THEN @extschema@._export_team_name(t.assignee_team_id) END),
         @extschema@.csv_safe(@extschema@._export_team_name(t.team_id)),
         @extschema@.csv_safe(array_to_string(t.tags, ', ')),
         @extschema@.csv_safe((SELECT u.display_name FROM @extschema@.users u WHERE u.id = t.creator_id)),
         @extschema@._csv_time(t.created_at),
         @extschema@._csv_time(t.updated_at),
         @extschema@._csv_time(t.completed_at)
$$;

CREATE FUNCTION @extschema@._export_header(include_comments boolean) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '{id,title,status,priority,due_date,assignee_type,assignee_name,team,tags,creator,created_at,updated_at,completed_at}'::text[]
         || CASE WHEN include_comments THEN '{comments}'::text[] ELSE '{}' END
$$;

-- Checks the export options (the list keys are filter_tasks' business) and
-- returns include_comments.  Raises 28000 when not signed in.
CREATE FUNCTION @extschema@._export_include_comments(filter jsonb) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v jsonb := filter -> 'include_comments';
BEGIN
  PERFORM @extschema@._require_user();
  IF filter IS NULL THEN RETURN false; END IF;
  IF jsonb_typeof(filter) <> 'object' THEN
    PERFORM @extschema@._bad_parameter('filter', 'must be a JSON object');
  END IF;
  IF v IS NULL OR v = 'null' THEN RETURN false; END IF;
  IF v IN ('true', '"true"') THEN RETURN true; END IF;
  IF v IN ('false', '"false"') THEN RETURN false; END IF;
  PERFORM @extschema@._bad_parameter('include_comments', 'must be true or false');
  RETURN NULL;
END
$$;

-- The list part of the filter.
CREATE FUNCTION @extschema@._export_list_filter(filter jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
  PERFORM @extschema@._export_include_comments(filter);
  RETURN coalesce(filter, '{}') - 'include_comments';
END
$$;

-- The comment thread of a task in one cell: "author (time): body" per
-- comment, oldest first, deleted ones left out.  Only called for tasks the
-- caller may see; comments obey their own row-level security as well.
CREATE FUNCTION @extschema@._export_comments(task_id bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  cell text;
BEGIN
  SELECT string_agg(format('%s (%s): %s',
                           coalesce((SELECT u.display_name FROM @extschema@.users u WHERE u.id = c.author_id), '?'),
                           @extschema@._csv_time(c.created_at), c.body),
                    E'\n' ORDER BY c.created_at, c.id)
    INTO cell
    FROM @extschema@.comments c
   WHERE c.task_id = _export_comments.task_id AND c.deleted_at IS NULL;
  RETURN @extschema@.csv_safe(cell);
END
$$;

-- What export_tasks_csv_lines runs: checks the filter (the export options
-- and the list keys, with the list's errors) and returns the statement
-- that gives the cells (text columns, in the header's order) of each
-- visible matching task in the list's order, its parameters ($1 params,
-- the values of a filter text; $2 f, the normalized list filter), and the
-- header line.
CREATE FUNCTION @extschema@._export_statement(filter jsonb, OUT sql text, OUT params text[], OUT f jsonb,
                                              OUT header text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  inc boolean := @extschema@._export_include_comments(filter);
BEGIN
  f := @extschema@._filter_normalize(@extschema@._export_list_filter(filter));
  PERFORM @extschema@._filter_cursor(f, 'list');
  params := @extschema@._filter_params(f);
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

-- C (extension/export_stream.c): the header line, then one line per row of
-- _export_statement's statement, read from a cursor a batch at a time and
-- returned one per call.  Called in a select list, the rows flow to the
-- client as they are made (in FROM, a function scan would collect them).
CREATE FUNCTION @extschema@._export_csv_lines(filter jsonb) RETURNS SETOF text
  AS 'MODULE_PATHNAME', 'tm_export_tasks_csv_lines'
  LANGUAGE C STABLE PARALLEL UNSAFE;

-- A plain SQL function (STABLE, not STRICT, no SET clause), which the
-- planner inlines where it is used in FROM, so that the C function above
-- is in a select list wherever this one is called; the HTTP shim calls it
-- in a select list and sends the rows on with single-row mode.
CREATE FUNCTION @extschema@.export_tasks_csv_lines(filter jsonb DEFAULT '{}') RETURNS SETOF text
LANGUAGE sql STABLE AS $$
  SELECT @extschema@._export_csv_lines(filter)
$$;
COMMENT ON FUNCTION @extschema@.export_tasks_csv_lines(jsonb) IS
  'CSV export, streamed: the header line, then one line per visible task matching the list filter.';

CREATE FUNCTION @extschema@.export_tasks_csv(filter jsonb DEFAULT '{}') RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT string_agg(l.line, '' ORDER BY l.n)
    FROM @extschema@.export_tasks_csv_lines(filter) WITH ORDINALITY AS l (line, n)
$$;
COMMENT ON FUNCTION @extschema@.export_tasks_csv(jsonb) IS
  'CSV export (RFC 4180, UTF-8, header row) of every visible task matching the list filter.';

-- For psql: COPY (SELECT * FROM taskmgmt.tasks_export) TO STDOUT WITH CSV HEADER
-- gives the same cells as export_tasks_csv('{}') (COPY ends lines with LF).
-- security_invoker: the caller's row-level security applies, not the owner's.
CREATE VIEW @extschema@.tasks_export WITH (security_invoker = true) AS
  SELECT e.*
    FROM @extschema@.tasks t
    CROSS JOIN LATERAL @extschema@._export_fields(t) e
   ORDER BY t.id;
COMMENT ON VIEW @extschema@.tasks_export IS
  'Visible tasks as CSV-ready text cells: COPY (SELECT * FROM taskmgmt.tasks_export) TO STDOUT WITH CSV HEADER';
REVOKE ALL ON @extschema@.tasks_export FROM PUBLIC;
GRANT SELECT ON @extschema@.tasks_export TO taskmgmt_client;
