-- The task object that _task_jsonb (C) builds for every door: its pairs are
-- written in jsonb's own key order (learnt once per backend, not sorted per
-- object), so the binary value must be exactly what parsing its text gives;
-- and it must equal the object built in SQL from the same row.  For each
-- kind of assignee (none, a user, a team), through get_task and a list page.
\ir 7_workflow_helpers.psql
BEGIN;
SET ROLE tap_workflow;
SELECT pg_temp.wf_user('ann') AS ann, pg_temp.wf_user('bob') AS bob \gset
SELECT plan(9);

SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT (taskmgmt.create_team('Object') ->> 'id')::bigint AS team \gset
SELECT (taskmgmt.create_task('{"title": "nobody''s", "tags": ["b", "a"], "due_date": "2030-01-02"}') ->> 'id')::bigint AS t_none \gset
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'ann''s', 'assignee', jsonb_build_object('type', 'user', 'id', :ann),
                                                'status', 'done', 'priority', 'high')) ->> 'id')::bigint AS t_user \gset
SELECT (taskmgmt.create_task(jsonb_build_object('title', 'the team''s', 'team_id', :team, 'parent_id', :t_none,
                                                'assignee', jsonb_build_object('type', 'team', 'id', :team))) ->> 'id')::bigint AS t_team \gset

-- the object as SQL would build it from the row (task_json of 0.1.0 plus #14's keys)
CREATE FUNCTION pg_temp.sql_object(id bigint) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'id', t.id, 'title', t.title, 'description', t.description, 'status', t.status, 'priority', t.priority,
    'due_date', t.due_date, 'team_id', t.team_id,
    'assignee', CASE WHEN t.assignee_user_id IS NOT NULL
                     THEN jsonb_build_object('type', 'user', 'id', t.assignee_user_id,
                                             'name', (SELECT u.display_name FROM taskmgmt.users u WHERE u.id = t.assignee_user_id))
                     WHEN t.assignee_team_id IS NOT NULL
                     THEN jsonb_build_object('type', 'team', 'id', t.assignee_team_id,
                                             'name', (SELECT m.name FROM taskmgmt.teams m WHERE m.id = t.assignee_team_id)) END,
    'tags', to_jsonb(t.tags), 'creator_id', t.creator_id, 'created_at', t.created_at, 'updated_at', t.updated_at,
    'started_at', t.started_at, 'completed_at', t.completed_at, 'version', t.version,
    'parent_id', t.parent_id, 'recurrence', t.recurrence,
    'subtasks', jsonb_build_object('total', (SELECT count(*) FROM taskmgmt.tasks s WHERE s.parent_id = t.id),
                                   'done', (SELECT count(*) FROM taskmgmt.tasks s WHERE s.parent_id = t.id AND s.status = 'done')),
    'blocked_by_open', 0)
  FROM taskmgmt.tasks t WHERE t.id = sql_object.id
$$;

SELECT is(jsonb_send(taskmgmt.get_task(id)), jsonb_send(taskmgmt.get_task(id)::text::jsonb),
          format('get_task, %s: the binary value is in jsonb''s key order', kind))
  FROM (VALUES (:t_none, 'no assignee'), (:t_user, 'a user assignee'), (:t_team, 'a team assignee')) v(id, kind);
SELECT is(taskmgmt.get_task(id), pg_temp.sql_object(id), format('get_task, %s: the object SQL builds', kind))
  FROM (VALUES (:t_none, 'no assignee'), (:t_user, 'a user assignee'), (:t_team, 'a team assignee')) v(id, kind);
SELECT is((SELECT count(*) FROM jsonb_array_elements(taskmgmt.list_tasks('{}') -> 'items') i
            WHERE jsonb_send(i) <> jsonb_send(i::text::jsonb)), 0::bigint,
          'list_tasks: every item in jsonb''s key order');
SELECT is((SELECT count(*) FROM jsonb_array_elements(taskmgmt.list_tasks('{}') -> 'items') i
            WHERE i <> pg_temp.sql_object((i ->> 'id')::bigint)), 0::bigint,
          'list_tasks: every item the object SQL builds');
SELECT is(jsonb_array_length(taskmgmt.list_tasks('{}') -> 'items'), 3, '... all three tasks listed');

SELECT * FROM finish();
ROLLBACK;
