-- task_as_of (a task rebuilt from its history) and report_summary's
-- time_in_status_hours (#14), with visibility: another user's task does
-- not exist for either.
\ir 7_workflow_helpers.psql
BEGIN;
SET ROLE tap_workflow;
SELECT pg_temp.wf_user('ann') AS ann, pg_temp.wf_user('bob') AS bob \gset
SELECT plan(20);

SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.create_task('{"title": "v1", "tags": ["a"], "due_date": "2030-02-01"}') ->> 'id')::bigint AS t \gset
SELECT ok(taskmgmt.update_task(:t, jsonb_build_object('title', 'v2', 'status', 'in_progress', 'assignee', jsonb_build_object('type', 'user', 'id', :ann))) IS NOT NULL, 'edited');
SELECT ok(taskmgmt.update_task(:t, '{"status": "done", "tags": []}') IS NOT NULL, 'done');
SELECT (taskmgmt.create_task('{"title": "other"}') ->> 'id')::bigint AS u \gset
SELECT ok(taskmgmt.update_task(:u, '{"status": "in_progress"}') IS NOT NULL, 'another task started');
-- spread the history over days (one transaction would give every event one time)
RESET ROLE;
UPDATE taskmgmt.task_events e SET at = x.at
  FROM (SELECT id, '2030-01-01 00:00Z'::timestamptz + (row_number() OVER (ORDER BY id) - 1) * interval '1 day' * 2 AS at
          FROM taskmgmt.task_events WHERE task_id = :t) x
 WHERE e.id = x.id;
UPDATE taskmgmt.task_events SET at = '2030-01-01 00:00Z' WHERE task_id = :u AND kind = 'created';
UPDATE taskmgmt.task_events SET at = '2030-01-01 06:00Z' WHERE task_id = :u AND kind = 'updated';
SET ROLE tap_workflow;
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset

SELECT is(taskmgmt.task_as_of(:t, '2030-01-01 12:00Z') - 'as_of',
          jsonb_build_object('id', :t, 'title', 'v1', 'description', '', 'status', 'todo', 'priority', 'none',
                             'due_date', '2030-02-01', 'team_id', NULL, 'assignee', NULL, 'tags', '["a"]'::jsonb,
                             'parent_id', NULL, 'recurrence', NULL, 'started_at', NULL, 'completed_at', NULL),
          'as created');
SELECT is(taskmgmt.task_as_of(:t, '2030-01-03 00:00Z') -> 'title', '"v2"', 'after the first edit: the new title');
SELECT is(taskmgmt.task_as_of(:t, '2030-01-03 00:00Z') ->> 'status', 'in_progress', '... the new status');
SELECT is(taskmgmt.task_as_of(:t, '2030-01-03 00:00Z') -> 'assignee', jsonb_build_object('type', 'user', 'id', :ann), '... the assignee');
SELECT ok(taskmgmt.task_as_of(:t, '2030-01-03 00:00Z') ->> 'started_at' IS NOT NULL, '... started');
SELECT is(taskmgmt.task_as_of(:t, '2030-01-06 00:00Z') -> 'tags', '[]', 'after the last: no tags, ...');
SELECT is(taskmgmt.task_as_of(:t, '2030-01-06 00:00Z') ->> 'status', 'done', '... done');
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.task_as_of(%s, ''2029-12-31'')', :t)), 'P0002 task did not exist at that time', 'before it was created');
SELECT is(taskmgmt._as_of_param('{"at": "2030-01-03T00:00:00Z"}'), '2030-01-03 00:00Z'::timestamptz, 'the HTTP parameter at');
SELECT is(pg_temp.wf_err('SELECT taskmgmt._as_of_param(''{"at": "yesterday"}'')'),
          'TM400 [at] at: must be a timestamp such as 2030-01-31T12:00:00Z', 'at must be a timestamp');

-- time in status: t was todo 2 days, in_progress 2 days; u todo 6 hours
SELECT is(taskmgmt._time_in_status(NULL, :ann, taskmgmt.my_team_ids(), '2030-01-01', '2030-01-10'),
          '{"done": {"p85": null, "mean": null, "count": 0}, "todo": {"p85": 41.70, "mean": 27.00, "count": 2},
            "canceled": {"p85": null, "mean": null, "count": 0}, "in_progress": {"p85": 48.00, "mean": 48.00, "count": 1}}',
          'mean and p85 hours per status, of the stays that ended');
SELECT is(taskmgmt._time_in_status(NULL, NULL, NULL, '2030-01-01', '2030-01-10'),
          taskmgmt._time_in_status(NULL, :ann, taskmgmt.my_team_ids(), '2030-01-01', '2030-01-10'),
          'the path of a report of everything (by time, as for an admin) gives the same, under row-level security');
SELECT ok(taskmgmt.report_summary() ? 'time_in_status_hours', 'report_summary carries time_in_status_hours');
SELECT is(taskmgmt.report_summary('{"from": "2030-01-01", "to": "2030-01-09"}') -> 'time_in_status_hours',
          taskmgmt._time_in_status(NULL, :ann, taskmgmt.my_team_ids(), '2030-01-01', '2030-01-10'),
          'report_summary over the period: the same mean and p85 (its days are the caller''s, UTC here)');
SELECT is(taskmgmt.report_summary('{"from": "2030-01-04", "to": "2030-01-09"}') #> '{time_in_status_hours,todo}',
          '{"p85": null, "mean": null, "count": 0}', '... only stays that ended in the period count');

SELECT pg_temp.wf_as('bob') IS NOT NULL AS signed_in \gset
SELECT is(pg_temp.wf_err(format('SELECT taskmgmt.task_as_of(%s, now())', :t)), 'P0002 task not found', 'bob: ann''s task does not exist');
SELECT is(taskmgmt.report_summary('{"from": "2030-01-01", "to": "2030-01-09"}') #> '{time_in_status_hours,todo,count}', '0',
          'bob: ann''s stays do not count in his report');

SELECT * FROM finish();
ROLLBACK;
