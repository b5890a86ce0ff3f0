-- CSV export: export_tasks_csv(filter), the streamed export_tasks_csv_lines
-- and the tasks_export view.  RFC 4180 quoting, formula neutralisation,
-- the list filters, include_comments, and nothing the caller may not see.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET search_path = taskmgmt, public;

-- The cell helpers on their own.
SELECT csv_line(ARRAY['plain', 'a,b', 'say "hi"', E'two\nlines', E'cr\r', NULL, '']) AS quoting;
SELECT csv_line('{}'::text[]) = E'\r\n' AS empty_line,
       csv_line(ARRAY['x']) = E'x\r\n' AS one_cell;
SELECT c, csv_safe(c) AS neutralised
  FROM unnest(ARRAY['=1+2', '+1', '-2', '@SUM(A1)', E'\tTab', E'\rCR', 'ok', ' =spaced', '', 'a=b']) c;
SELECT err($$SELECT csv_line('{{a,b},{c,d}}'::text[])$$);

SET ROLE regress_client;
SELECT new_user('exa@example.com', 'Exa Exporter') AS exa,
       new_user('exb@example.com', 'Zoë Łukasiewicz') AS exb,
       new_user('exo@example.com', 'Outsider') AS exo \gset
SELECT as_user('exa@example.com');
SELECT (create_team('Export team') ->> 'id')::bigint AS xteam \gset
SELECT add_team_member(:xteam, :exb) IS NOT NULL AS exb_in_team;

SELECT (create_task(format('{"title": "Plain task", "priority": "high", "due_date": "2030-01-15",
                             "team_id": %s, "tags": ["ops", "q1"]}', :xteam)::jsonb) ->> 'id')::bigint AS x1,
       (create_task(format('{"title": "Comma, \"quotes\" and\na newline", "status": "done",
                             "assignee": {"type": "user", "id": %s}, "team_id": %s}', :exb, :xteam)::jsonb) ->> 'id')::bigint AS x2,
       (create_task('{"title": "=HYPERLINK(\"http://evil\")", "tags": ["-rm"]}') ->> 'id')::bigint AS x3,
       (create_task(format('{"title": "Für das Team — ünïcödé", "status": "in_progress",
                             "assignee": {"type": "team", "id": %s}}', :xteam)::jsonb) ->> 'id')::bigint AS x4 \gset
SELECT as_user('exo@example.com');
SELECT (create_task('{"title": "Outsider secret"}') ->> 'id')::bigint AS xsecret \gset

-- Fixed times, so the file is the same on every run (the trigger would
-- stamp now(); replica mode skips it for this set-up step only).
RESET ROLE;
SET session_replication_role = replica;
UPDATE tasks SET created_at = '2026-03-02 09:00:00+00', updated_at = '2026-03-03 10:30:00+00',
                 completed_at = CASE WHEN status = 'done' THEN timestamptz '2026-03-03 10:30:00+00' END
 WHERE id IN (:x1, :x2, :x3, :x4, :xsecret);
RESET session_replication_role;
SET ROLE regress_client;

-- Ids differ between runs of the whole suite; they are shown as ID.
CREATE FUNCTION pg_temp.masked(csv text) RETURNS text LANGUAGE sql AS $$
  SELECT regexp_replace(csv, '(^|\r\n)[0-9]+,', '\1ID,', 'g')
$$;

-- Every task the caller may see, in the list's default order, header first.
SELECT as_user('exa@example.com');
SELECT pg_temp.masked(export_tasks_csv()) AS exa_csv;
SELECT export_tasks_csv() LIKE E'%\r\n' AS ends_in_crlf,
       export_tasks_csv() NOT LIKE '%Outsider secret%' AS no_secret;

-- The streamed form: the same text, one line per row.
SELECT string_agg(line, '') = export_tasks_csv() AS lines_make_the_file,
       count(*) AS lines,
       bool_and(line LIKE E'%\r\n') AS each_ends_in_crlf
  FROM export_tasks_csv_lines() AS line;
SELECT line = csv_line(_export_header(false)) AS header_first
  FROM export_tasks_csv_lines() AS line LIMIT 1;

-- The list filters apply; the streamed form keeps their order.
SELECT pg_temp.masked(export_tasks_csv('{"status": "done,in_progress", "sort": "title"}')) AS filtered;
SELECT pg_temp.masked(export_tasks_csv(format('{"assignee": "user:%s"}', :exb)::jsonb)) AS by_assignee;
SELECT export_tasks_csv('{"status": "canceled"}') = csv_line(_export_header(false)) AS header_only_when_empty;

-- Comments: one more column, the thread oldest first, deleted ones left out.
SELECT add_comment(:x2, 'First, with "quotes"') IS NOT NULL AS c1;
SELECT as_user('exb@example.com');
SELECT (add_comment(:x2, '=looks good') ->> 'id')::bigint AS c2 \gset
SELECT (add_comment(:x2, 'to be deleted') ->> 'id')::bigint AS c3 \gset
SELECT count(*) AS c3_deleted FROM (SELECT delete_comment(:c3)) d;
RESET ROLE;
SET session_replication_role = replica;
UPDATE comments SET created_at = '2026-03-04 08:00:00+00' WHERE task_id = :x2;
RESET session_replication_role;
SET ROLE regress_client;
SELECT as_user('exa@example.com');
SELECT pg_temp.masked(export_tasks_csv(format('{"include_comments": true, "assignee": "user:%s"}', :exb)::jsonb)) AS with_comments;
SELECT export_tasks_csv('{"include_comments": "true", "status": "todo"}')
       = export_tasks_csv('{"include_comments": true, "status": "todo"}') AS string_true_too,
       export_tasks_csv('{"include_comments": false}') = export_tasks_csv() AS false_is_default;

-- Bad options: 400 naming the parameter; the list's own checks still apply.
SELECT err($$SELECT export_tasks_csv('{"include_comments": "yes"}')$$);
SELECT err($$SELECT export_tasks_csv('{"include_comments": 1}')$$);
SELECT err($$SELECT export_tasks_csv('{"colour": "red"}')$$);
SELECT err($$SELECT export_tasks_csv('{"status": "sleeping"}')$$);
SELECT err($$SELECT export_tasks_csv('[1, 2]')$$);
SELECT err($$SELECT count(*) FROM export_tasks_csv_lines('{"include_comments": "maybe"}')$$);
SELECT export_tasks_csv(NULL) = export_tasks_csv() AS null_is_no_filter;

-- psql users: the view gives the same cells (COPY ends lines with LF).
SELECT array_agg(csv_line(ARRAY[e.id, e.title, e.status, e.priority, e.due_date, e.assignee_type,
                                e.assignee_name, e.team, e.tags, e.creator, e.created_at,
                                e.updated_at, e.completed_at]) ORDER BY e.id::bigint)
       = (SELECT array_agg(line ORDER BY split_part(line, ',', 1)::bigint)
            FROM export_tasks_csv_lines() AS line WHERE line ~ '^[0-9]')
       AS view_matches_export
  FROM tasks_export e;
SELECT title FROM tasks_export WHERE id::bigint IN (:x1, :x2, :x3, :x4, :xsecret) ORDER BY id::bigint;
-- (the id column is left out here only because ids differ between runs)
COPY (SELECT title, status, priority, due_date, tags, creator, created_at FROM tasks_export
       WHERE id::bigint IN (:x1, :x3) ORDER BY id::bigint) TO STDOUT WITH CSV HEADER;

-- Another user sees another file: the secret task only for its creator,
-- and nothing at all signed out.
SELECT as_user('exo@example.com');
SELECT pg_temp.masked(export_tasks_csv()) AS exo_csv;
SELECT sign_out();
SELECT err($$SELECT export_tasks_csv()$$);
SELECT err($$SELECT count(*) FROM export_tasks_csv_lines()$$);
SELECT count(*) AS rows_signed_out FROM tasks_export;

RESET ROLE;
