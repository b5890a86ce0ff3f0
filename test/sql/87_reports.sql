-- Reports: report_summary(filter) against a small hand-computed fixture,
-- and report_summary_pdf(filter) (the PDF's text is checked by the export
-- suite with pdftotext).  Only tasks the caller may see count.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET search_path = taskmgmt, public;
-- "today" below (overdue ages) is the users' day; they all use UTC
SET TIME ZONE 'UTC';
SET ROLE regress_client;

SELECT new_user('rita@example.com', 'Rita Reporter') AS rita,
       new_user('sam@example.com', 'Sam Sample') AS sam,
       new_user('olga@example.com', 'Ольга Шевченко') AS olga,
       new_user('xavier@example.com', 'Xavier Hidden') AS xavier \gset
SELECT as_user('rita@example.com');
SELECT (create_team('Reports') ->> 'id')::bigint AS reports \gset
SELECT add_team_member(:reports, :sam) IS NOT NULL AND add_team_member(:reports, :olga) IS NOT NULL AS team_ready;

-- The fixture; the times are set below.  Status and assignee:
--   R1 R2 done (Sam), R3 R4 done (Olga), R5 done (Rita), R6 in progress (Sam),
--   R7 to do (Olga), R8 to do (nobody), R9 canceled (Rita),
--   R10 done after the period (Sam): all owned by team Reports;
--   R13 done, Rita's own task without a team.
SELECT count(create_task(format('{"title": "%s", "status": "%s", "team_id": %s, "assignee": %s}',
                                v.title, v.status, :reports,
                                CASE WHEN v.who IS NULL THEN 'null'
                                     ELSE format('{"type": "user", "id": %s}', v.who) END)::jsonb)) AS created
  FROM (VALUES ('R1', 'done', :sam), ('R2', 'done', :sam), ('R3', 'done', :olga), ('R4', 'done', :olga),
               ('R5', 'done', :rita), ('R6', 'in_progress', :sam), ('R7', 'todo', :olga),
               ('R8', 'todo', NULL), ('R9', 'canceled', :rita), ('R10', 'done', :sam)) v (title, status, who);
SELECT create_task('{"title": "R13", "status": "done"}') IS NOT NULL AS personal;
-- Xavier's tasks: one private, one of his own team; Rita's team sees neither.
SELECT as_user('xavier@example.com');
SELECT (create_team('Hidden') ->> 'id')::bigint AS hidden \gset
SELECT create_task('{"title": "X1", "status": "done"}') IS NOT NULL AS x1,
       create_task(format('{"title": "X2", "status": "done", "team_id": %s, "assignee": {"type": "team", "id": %s}}',
                          :hidden, :hidden)::jsonb) IS NOT NULL AS x2;

-- Known creation, start and completion times (UTC), and due dates relative
-- to today for the overdue figures.  Replica mode keeps the trigger from
-- stamping now() during this set-up step.
RESET ROLE;
SET session_replication_role = replica;
UPDATE tasks t
   SET created_at = v.c, started_at = v.s, completed_at = v.d,
       updated_at = coalesce(v.d, v.s, v.c), due_date = current_date + v.due
  FROM (VALUES
    ('R1',  timestamptz '2026-03-02 09:00Z', timestamptz '2026-03-02 10:00Z', timestamptz '2026-03-03 10:00Z', NULL::int),
    ('R2',  '2026-03-02 09:00Z', '2026-03-04 09:00Z', '2026-03-06 09:00Z', NULL),
    ('R3',  '2026-03-09 12:00Z', '2026-03-09 12:00Z', '2026-03-10 00:00Z', NULL),
    ('R4',  '2026-03-10 00:00Z', '2026-03-12 00:00Z', '2026-03-20 00:00Z', NULL),
    ('R5',  '2026-02-20 00:00Z', '2026-02-25 00:00Z', '2026-03-16 00:00Z', NULL),
    ('R6',  '2026-03-05 00:00Z', '2026-03-06 00:00Z', NULL, -3),
    ('R7',  '2026-03-15 00:00Z', NULL, NULL, -10),
    ('R8',  '2026-03-20 00:00Z', NULL, NULL, 5),
    ('R9',  '2026-03-21 00:00Z', NULL, NULL, -20),
    ('R10', '2026-03-01 00:00Z', '2026-03-01 00:00Z', '2026-03-25 00:00Z', NULL),
    ('R13', '2026-03-03 00:00Z', '2026-03-03 00:00Z', '2026-03-04 00:00Z', NULL),
    ('X1',  '2026-03-09 00:00Z', '2026-03-09 00:00Z', '2026-03-10 00:00Z', -1),
    ('X2',  '2026-03-09 00:00Z', '2026-03-09 00:00Z', '2026-03-11 00:00Z', NULL)) v (title, c, s, d, due)
 WHERE t.title = v.title AND t.creator_id IN (:rita, :xavier);
RESET session_replication_role;
SET ROLE regress_client;

-- Report figures without what changes between runs (ids, today).
CREATE FUNCTION pg_temp.stable_part(r jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_set(r - '{generated_at,as_of}'::text[] #- '{team,id}', '{assignees}',
                   coalesce((SELECT jsonb_agg(a - 'id' ORDER BY n)
                               FROM jsonb_array_elements(r -> 'assignees') WITH ORDINALITY x (a, n)), '[]'))
$$;

-- Team Reports, 2026-03-02 (a Monday) to 2026-03-22, as its owner.  By hand:
--   in scope R1-R10; now: done 6 (R1-R5, R10), in progress 1, to do 2, canceled 1
--   created in the period: R1-R4, R6-R9 = 8; completed in it: R1-R5 = 5
--   completion rate: of those 8 created, done now R1-R4 = 4/8 = 0.5
--   overdue (open, due before today): R6 3 days, R7 10 days -> 2, mean 6.5, max 10
--     (R9 is past due but canceled, R8 is due later)
--   lead time (created -> done), hours: R1 25, R2 96, R3 12, R4 240, R5 576
--     sorted 12 25 96 240 576: p50 96; p85 at rank 0.85*4 = 3.4: 240 + 0.4*336 = 374.4
--   cycle time (started -> done), hours: R1 24, R2 48, R3 12, R4 192, R5 456
--     sorted 12 24 48 192 456: p50 48; p85 192 + 0.4*264 = 297.6
--   weeks: 03-02: R1 R2 = 2; 03-09: R3 = 1; 03-16: R4 R5 = 2
--   assignees: Sam done 2 open 1 (R6); Ольга done 2 open 1 (R7); Rita done 1;
--     nobody: open 1 (R8)
SELECT as_user('rita@example.com');
SELECT report_summary(format('{"team": %s, "from": "2026-03-02", "to": "2026-03-22"}', :reports)::jsonb) AS rep \gset
SELECT jsonb_pretty(pg_temp.stable_part(:'rep'::jsonb)) AS team_report;
SELECT (:'rep'::jsonb #>> '{team,id}')::bigint = :reports AS team_id_ok,
       (:'rep'::jsonb ->> 'as_of')::date = current_date AS as_of_today,
       array(SELECT (a ->> 'id')::bigint FROM jsonb_array_elements(:'rep'::jsonb -> 'assignees') a)
         = ARRAY[:sam, :olga, :rita, NULL]::bigint[] AS assignee_ids_ok;

-- The session's TimeZone plays no part: days are the user's.
SET TIME ZONE 'Pacific/Kiritimati';
SELECT pg_temp.stable_part(report_summary(format('{"team": %s, "from": "2026-03-02", "to": "2026-03-22"}', :reports)::jsonb))
       = pg_temp.stable_part(:'rep'::jsonb) AS session_time_zone_irrelevant;
SET TIME ZONE 'UTC';

-- The team as a string id (HTTP parameters are strings) gives the same.
SELECT pg_temp.stable_part(report_summary(format('{"team": "%s", "from": "2026-03-02", "to": "2026-03-22"}', :reports)::jsonb))
       = pg_temp.stable_part(:'rep'::jsonb) AS string_team_same;

-- A member of the team sees the same tasks, so the same report.
SELECT as_user('sam@example.com');
SELECT pg_temp.stable_part(report_summary(format('{"team": %s, "from": "2026-03-02", "to": "2026-03-22"}', :reports)::jsonb))
       = pg_temp.stable_part(:'rep'::jsonb) AS member_same;

-- Without a team: every task Rita may see, so R13 joins in (lead 24 h, cycle 24 h):
--   lead sorted 12 24 25 96 240 576: p50 (25+96)/2 = 60.5; p85 at 4.25: 240 + 0.25*336 = 324
--   cycle sorted 12 24 24 48 192 456: p50 36; p85 192 + 0.25*264 = 258
SELECT as_user('rita@example.com');
SELECT r -> 'total' AS total, r -> 'completed_in_period' AS completed, r -> 'created_in_period' AS created,
       r -> 'lead_time_hours' AS lead, r -> 'cycle_time_hours' AS cycle, r -> 'team' AS team
  FROM report_summary('{"from": "2026-03-02", "to": "2026-03-22"}') r;

-- A one-day period; days are the caller's days (Rita's time zone).
SELECT report_summary('{"from": "2026-03-10", "to": "2026-03-10"}') -> 'completed_in_period' AS utc_mar10,
       jsonb_array_length(report_summary('{"from": "2026-03-10", "to": "2026-03-10"}') -> 'weekly_throughput') AS weeks;
SELECT update_me('{"timezone": "America/New_York"}') ->> 'timezone' AS tz;
-- R3 was done at 2026-03-10 00:00 UTC, which is 20:00 on the 9th in New York
SELECT report_summary('{"from": "2026-03-10", "to": "2026-03-10"}') -> 'completed_in_period' AS ny_mar10,
       report_summary('{"from": "2026-03-09", "to": "2026-03-09"}') -> 'completed_in_period' AS ny_mar09,
       report_summary('{"from": "2026-03-09", "to": "2026-03-09"}') ->> 'timezone' AS timezone;
SELECT update_me('{"timezone": "UTC"}') ->> 'timezone' AS tz;

-- Defaults: the four weeks up to today.
SELECT (r ->> 'to')::date = current_date AS to_today,
       (r ->> 'from')::date = current_date - 27 AS from_27_days_back,
       (r #>> '{weekly_throughput,0,week_start}')::date = date_trunc('week', current_date - 27)::date AS first_week
  FROM report_summary() r;
SELECT report_summary(NULL) - '{generated_at}'::text[] = report_summary('{}') - '{generated_at}'::text[] AS null_is_empty;

-- Xavier sees only his own two tasks; Rita's team does not exist for him.
SELECT as_user('xavier@example.com');
SELECT jsonb_pretty(pg_temp.stable_part(report_summary('{"from": "2026-03-02", "to": "2026-03-22"}'))) AS xavier_report;
SELECT err(format($$SELECT report_summary('{"team": %s}')$$, :reports));
SELECT err($$SELECT report_summary('{"team": 999999999}')$$);

-- Bad parameters: 400 naming the parameter.
SELECT err($$SELECT report_summary('{"status": "done"}')$$);
SELECT err($$SELECT report_summary('{"team": "abc"}')$$);
SELECT err($$SELECT report_summary('{"team": -1}')$$);
SELECT err($$SELECT report_summary('{"from": "03/02/2026"}')$$);
SELECT err($$SELECT report_summary('{"to": "2026-02-30"}')$$);
SELECT err($$SELECT report_summary('{"from": 20260302}')$$);
SELECT err($$SELECT report_summary('{"from": "2026-03-10", "to": "2026-03-09"}')$$);
SELECT err($$SELECT report_summary('{"from": "2020-01-01", "to": "2026-01-01"}')$$);
SELECT err($$SELECT report_summary('"team"')$$);

-- The PDF: a whole document, from the same data and the same checks.
SELECT as_user('rita@example.com');
SELECT report_summary_pdf(format('{"team": %s, "from": "2026-03-02", "to": "2026-03-22"}', :reports)::jsonb) AS pdf \gset
SELECT substr(:'pdf'::bytea, 1, 5) = '%PDF-'::bytea AS pdf_header,
       position('%%EOF'::bytea IN substr(:'pdf'::bytea, length(:'pdf'::bytea) - 8)) > 0 AS pdf_trailer,
       length(:'pdf'::bytea) > 10000 AS has_embedded_font;
SELECT err($$SELECT report_summary_pdf('{"from": "yesterday"}')$$);
SELECT length(report_summary_pdf()) > 0 AS default_period_pdf;

-- The font: a clear error when it is missing or not a TrueType font; the
-- next report after a failure renders normally.
RESET ROLE;
SET taskmgmt.report_font = '/nonexistent/font.ttf';
SET ROLE regress_client;
SELECT err($$SELECT report_summary_pdf()$$);
RESET ROLE;
SELECT set_config('taskmgmt.report_font',
                  (SELECT setting FROM pg_config WHERE name = 'SHAREDIR') || '/extension/taskmgmt.control', false) IS NOT NULL AS not_a_font;
SET ROLE regress_client;
SELECT err($$SELECT report_summary_pdf()$$);
RESET ROLE;
RESET taskmgmt.report_font;
SET ROLE regress_client;
SELECT substr(report_summary_pdf(), 1, 5) = '%PDF-'::bytea AS renders_again;
SELECT err($$SET taskmgmt.report_font = '/etc/passwd'$$) AS clients_cannot_pick_the_font;

SELECT sign_out();
SELECT err($$SELECT report_summary()$$);
SELECT err($$SELECT report_summary_pdf()$$);
RESET ROLE;
