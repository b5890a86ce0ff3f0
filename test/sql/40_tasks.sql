-- Tasks: create_task, get_task, update_task (optimistic concurrency with
-- expected_version), delete_task; the JSON shape and every validation error.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET search_path = taskmgmt, public;
SET ROLE regress_client;

SELECT new_user('tina@example.com', 'Tina Tasks') AS tina,
       new_user('tom@example.com', 'Tom Teammate') AS tom \gset
SELECT as_user('tina@example.com');
SELECT (create_team('Ops') ->> 'id')::bigint AS ops \gset
SELECT add_team_member(:ops, :tom) IS NOT NULL AS tom_in_ops;

-- The smallest task: defaults filled in, title trimmed.
SELECT create_task('{"title": "  Write the tests \n"}') AS t \gset
SELECT :'t'::jsonb - '{id,created_at,updated_at,creator_id}'::text[] AS minimal;
SELECT (:'t'::jsonb ->> 'creator_id')::bigint = :tina AS creator_is_me,
       :'t'::jsonb ->> 'created_at' = :'t'::jsonb ->> 'updated_at' AS created_is_updated,
       array(SELECT jsonb_object_keys(:'t'::jsonb) ORDER BY 1) AS fields;

-- Every field at once; tags are trimmed, lower-cased and de-duplicated.
SELECT create_task(format('{"title": "Ship it", "description": "All of it.", "status": "in_progress",
                            "priority": "urgent", "due_date": "2030-02-28", "team_id": %s,
                            "assignee": {"type": "user", "id": %s}, "tags": [" Release", "release", "Q1"]}',
                          :ops, :tom)::jsonb) AS full \gset
SELECT (:'full'::jsonb #- '{assignee,id}') - '{id,created_at,updated_at,creator_id,started_at,team_id}'::text[] AS full_task,
       (:'full'::jsonb -> 'assignee' ->> 'id')::bigint = :tom AS assignee_ok,
       (:'full'::jsonb ->> 'team_id')::bigint = :ops AS team_ok,
       :'full'::jsonb ->> 'started_at' IS NOT NULL AS started;
SELECT (create_task(format('{"title": "For the team", "assignee": {"type": "team", "id": %s, "name": "ignored"}}', :ops)::jsonb)
        -> 'assignee') - 'id' AS team_assignee;
SELECT create_task('{"title": "Done already", "status": "done"}') ?& '{started_at,completed_at}' AS has_times,
       create_task('{"title": "Nulls", "due_date": null, "team_id": null, "assignee": null, "tags": null,
                     "description": null}') - '{id,created_at,updated_at,creator_id}'::text[] AS nulls_mean_empty;

-- Validation: the field is named, nothing is written.
SELECT count(*) AS tasks_before FROM tasks \gset
SELECT err($$SELECT create_task('{}')$$);
SELECT err($$SELECT create_task('{"title": ""}')$$);
SELECT err($$SELECT create_task('{"title": "   "}')$$);
SELECT err($$SELECT create_task('{"title": null}')$$);
SELECT err($$SELECT create_task('{"title": 7}')$$);
SELECT err(format('SELECT create_task(%L)', jsonb_build_object('title', repeat('t', 201))));
SELECT length(create_task(jsonb_build_object('title', repeat('t', 200))) ->> 'title') AS max_title;
SELECT err($$SELECT create_task('{"title": "x", "description": ["a"]}')$$);
SELECT err($$SELECT create_task('{"title": "x", "status": "blocked"}')$$);
SELECT err($$SELECT create_task('{"title": "x", "status": null}')$$);
SELECT err($$SELECT create_task('{"title": "x", "priority": "critical"}')$$);
SELECT err($$SELECT create_task('{"title": "x", "priority": 3}')$$);
SELECT err($$SELECT create_task('{"title": "x", "due_date": "2030-1-5"}')$$);
SELECT err($$SELECT create_task('{"title": "x", "due_date": "2030-02-30"}')$$);
SELECT err($$SELECT create_task('{"title": "x", "due_date": "tomorrow"}')$$);
SELECT err($$SELECT create_task('{"title": "x", "due_date": 20300101}')$$);
SELECT err($$SELECT create_task('{"title": "x", "team_id": "1"}')$$);
SELECT err($$SELECT create_task('{"title": "x", "team_id": -1}')$$);
SELECT err($$SELECT create_task('{"title": "x", "team_id": 1.5}')$$);
SELECT err($$SELECT create_task('{"title": "x", "assignee": "me"}')$$);
SELECT err($$SELECT create_task('{"title": "x", "assignee": {"type": "user"}}')$$);
SELECT err($$SELECT create_task('{"title": "x", "assignee": {"type": "group", "id": 1}}')$$);
SELECT err($$SELECT create_task('{"title": "x", "assignee": {"id": 1}}')$$);
SELECT err($$SELECT create_task('{"title": "x", "assignee": {}}')$$);
SELECT err($$SELECT create_task('{"title": "x", "assignee": {"type": "user", "id": "1"}}')$$);
SELECT err($$SELECT create_task('{"title": "x", "assignee": {"type": "team", "id": 0.5}}')$$);
SELECT err($$SELECT create_task('{"title": "x", "assignee": {"type": "user", "id": 1, "email": "a"}}')$$);
SELECT err($$SELECT create_task('{"title": "x", "assignee": {"type": "user", "id": 999999}}')$$);
SELECT err($$SELECT create_task('{"title": "x", "tags": "a,b"}')$$);
SELECT err($$SELECT create_task('{"title": "x", "tags": ["a", 1]}')$$);
SELECT err($$SELECT create_task('{"title": "x", "tags": ["a", " "]}')$$);
SELECT err(format('SELECT create_task(%L)', jsonb_build_object('title', 'x', 'tags', jsonb_build_array(repeat('t', 51)))));
SELECT err(format('SELECT create_task(%L)', jsonb_build_object('title', 'x', 'tags',
               (SELECT jsonb_agg('t' || i) FROM generate_series(1, 21) i))));
SELECT err($$SELECT create_task('[]')$$);
SELECT err($$SELECT create_task(NULL)$$);
-- unknown and read-only fields are refused, not ignored
SELECT err($$SELECT create_task('{"title": "x", "owner": 1}')$$);
SELECT err($$SELECT create_task('{"title": "x", "id": 1}')$$);
SELECT err($$SELECT create_task('{"title": "x", "creator_id": 1}')$$);
SELECT err($$SELECT create_task('{"title": "x", "version": 5}')$$);
SELECT err($$SELECT create_task('{"title": "x", "created_at": "2020-01-01T00:00:00Z"}')$$);
SELECT err($$SELECT create_task('{"title": "x", "updated_at": "2020-01-01T00:00:00Z"}')$$);
SELECT err($$SELECT create_task('{"title": "x", "started_at": null}')$$);
SELECT err($$SELECT create_task('{"title": "x", "completed_at": null}')$$);
SELECT count(*) - :tasks_before AS tasks_written_by_failures FROM tasks WHERE title <> repeat('t', 200);

-- get_task
SELECT (:'t'::jsonb ->> 'id')::bigint AS tid \gset
SELECT get_task(:tid) = :'t'::jsonb AS get_equals_create;
SELECT err('SELECT get_task(999999)');
SELECT err('SELECT get_task(NULL)');

-- update_task: PATCH semantics, the version moves by one per real change.
SELECT update_task(:tid, '{"description": "with pg_regress", "priority": "low"}', 1)
       - '{id,created_at,updated_at,creator_id}'::text[] AS updated;
SELECT (update_task(:tid, '{"priority": "low"}', 2) ->> 'version')::int AS same_value_same_version;
SELECT (update_task(:tid, '{}') ->> 'version')::int AS empty_patch_same_version;
SELECT (update_task(:tid, '{"title": "Write the tests"}') ->> 'version')::int AS no_expected_version_no_check;
-- a stale version: TM412, nothing changed
SELECT err(format('SELECT update_task(%s, %L, 1)', :tid, '{"title": "Stale"}'));
SELECT title, version FROM tasks WHERE id = :tid;
-- status bookkeeping: started_at once, completed_at while done
SELECT t ->> 'status' AS status, t ->> 'started_at' IS NOT NULL AS started, t ->> 'completed_at' IS NOT NULL AS completed
  FROM update_task(:tid, '{"status": "in_progress"}', 2) t;
SELECT t ->> 'status' AS status, t ->> 'started_at' IS NOT NULL AS started, t ->> 'completed_at' IS NOT NULL AS completed
  FROM update_task(:tid, '{"status": "done"}', 3) t;
SELECT t ->> 'status' AS status, t ->> 'started_at' IS NOT NULL AS started, t ->> 'completed_at' IS NOT NULL AS completed,
       (t ->> 'version')::int AS version
  FROM update_task(:tid, '{"status": "todo"}', 4) t;
-- assignee and team can be set and cleared
SELECT update_task(:tid, format('{"assignee": {"type": "user", "id": %s}, "team_id": %s}', :tom, :ops)::jsonb)
       -> 'assignee' ->> 'name' AS assignee_name;
SELECT t -> 'assignee' AS assignee, t -> 'team_id' AS team_id, t -> 'tags' AS tags, t -> 'due_date' AS due
  FROM update_task(:tid, '{"assignee": null, "team_id": null, "tags": ["x"], "due_date": "2031-12-31"}') t;
-- validation and read-only fields, as for create; a refused patch changes nothing
SELECT version AS v FROM tasks WHERE id = :tid \gset
SELECT err(format('SELECT update_task(%s, %L)', :tid, '{"title": ""}'));
SELECT err(format('SELECT update_task(%s, %L)', :tid, '{"status": "finished"}'));
SELECT err(format('SELECT update_task(%s, %L)', :tid, '{"description": "ok", "due_date": "31/12/2031"}'));
SELECT err(format('SELECT update_task(%s, %L)', :tid, '{"version": 99}'));
SELECT err(format('SELECT update_task(%s, %L)', :tid, '{"creator_id": 1}'));
SELECT err(format('SELECT update_task(%s, %L)', :tid, '{"id": 1}'));
SELECT err(format('SELECT update_task(%s, %L)', :tid, '{"created_at": "2020-01-01T00:00:00Z"}'));
SELECT err(format('SELECT update_task(%s, %L)', :tid, '{"completed_at": null}'));
SELECT err(format('SELECT update_task(%s, %L)', :tid, '{"color": "red"}'));
SELECT err(format('SELECT update_task(%s, NULL)', :tid));
SELECT description <> 'ok' AS description_kept, version = :v AS version_kept FROM tasks WHERE id = :tid;
SELECT err('SELECT update_task(999999, ''{"title": "x"}'')');
SELECT err('SELECT update_task(999999, ''{"title": "x"}'', 1)');

-- Plain SQL obeys the same rules: bookkeeping columns are not the client's.
SELECT err(format('UPDATE tasks SET version = 1 WHERE id = %s', :tid));
SELECT err(format('UPDATE tasks SET creator_id = %s WHERE id = %s', :tom, :tid));
SELECT err(format('UPDATE tasks SET created_at = now() WHERE id = %s', :tid));
SELECT err(format('INSERT INTO tasks (title, creator_id) VALUES (%L, %s)', 'Forged', :tom));
SELECT err(format('INSERT INTO tasks (title, creator_id) VALUES (%L, %s)', 'Own id', :tina));
UPDATE tasks SET title = 'Renamed in psql' WHERE id = :tid;
SELECT title, version = :v + 1 AS version_moved FROM tasks WHERE id = :tid;
-- the creator is whoever is signed in
INSERT INTO tasks (title) VALUES ('Inserted in psql') RETURNING creator_id = :tina AS created_by_tina;
SELECT (get_task(id) - '{id,created_at,updated_at,creator_id}'::text[]) AS inserted
  FROM tasks WHERE title = 'Inserted in psql';

-- delete_task
SELECT delete_task(:tid);
SELECT err(format('SELECT get_task(%s)', :tid));
SELECT err(format('SELECT delete_task(%s)', :tid));
SELECT err(format('SELECT update_task(%s, %L)', :tid, '{"title": "x"}'));
SELECT err('SELECT delete_task(999999)');
SELECT sign_out();
SELECT err('SELECT create_task(''{"title": "x"}'')');
SELECT err(format('SELECT delete_task(%s)', (:'full'::jsonb ->> 'id')));
SELECT count(*) AS tasks_visible_signed_out FROM tasks;
