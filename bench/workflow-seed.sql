-- Seeds the workflow benchmark database (run by bench/workflow.sh as a
-- superuser, set-based).  psql variables: tasks, users, teams.
-- Skew: assignees and creators follow floor(users * random()^2) + 1, so
-- user 1 (the "heavy" user) holds about 1% of all tasks and the next few
-- thousands each; words follow a power law so a few are common.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET taskmgmt.bcrypt_cost = 10;
SELECT setseed(0.42) \gset

-- the heavy user signs in with a password; the others never do
SELECT taskmgmt.register('heavy@bench.example', 'bench password 123', 'Heavy User') IS NOT NULL AS registered \gset

-- bulk load: triggers (history, bookkeeping, FK checks) off, history rows
-- are written set-based below instead
SET session_replication_role = replica;

INSERT INTO taskmgmt.users (email, display_name, created_at, updated_at)
SELECT 'user' || g || '@bench.example', 'User ' || g, now() - interval '800 days', now() - interval '800 days'
FROM generate_series(2, :users) g;

INSERT INTO taskmgmt.teams (name, created_by, created_at)
SELECT 'Team ' || g, (g * 7) % :users + 1, now() - interval '800 days' FROM generate_series(1, :teams) g;

-- every user in one team, every other in two, every fifth in three;
-- the heavy user owns teams 1..3
INSERT INTO taskmgmt.team_members (team_id, user_id, role)
SELECT DISTINCT ON (t, u) t, u, CASE WHEN u % 17 = 0 THEN 'lead' ELSE 'member' END::taskmgmt.team_role
FROM (SELECT u, unnest(ARRAY[(u * 37) % :teams + 1,
                             CASE WHEN u % 2 = 0 THEN (u * 101) % :teams + 1 END,
                             CASE WHEN u % 5 = 0 THEN (u * 211) % :teams + 1 END]) AS t
      FROM generate_series(2, :users) u) x
WHERE t IS NOT NULL
ON CONFLICT DO NOTHING;
INSERT INTO taskmgmt.team_members (team_id, user_id, role)
SELECT g, 1, 'owner' FROM generate_series(1, 3) g ON CONFLICT DO NOTHING;

-- 2,000 pseudo-words from syllables: word(i) for i in 0..1999, computed
-- (an array column would be detoasted at every subscript)
CREATE FUNCTION pg_temp.word(i int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT (ARRAY['ka','lo','mi','ne','ru','sa','to','vi','de','po','ga','fe','ju','ba','zo','wi','ha','ce','qu','ye'])[1 + i % 20]
      || (ARRAY['ran','lek','mot','sil','dur','pen','gav','tor','bix','nul','cam','fid','hov','jes','kup','lom','rav','sut','wen','zik'])[1 + (i / 20) % 20]
      || (ARRAY['a','o','i','um','el'])[1 + (i / 400) % 5]
$$;

INSERT INTO taskmgmt.tasks (title, description, status, priority, due_date, team_id, assignee_user_id,
                            assignee_team_id, tags, creator_id, created_at, updated_at, started_at,
                            completed_at, version)
SELECT title, descr, status::taskmgmt.task_status, priority::taskmgmt.task_priority, due, team,
       CASE WHEN ra >= 0.25 THEN floor(:users * random() ^ 2)::bigint + 1 END,
       CASE WHEN ra >= 0.15 AND ra < 0.25 THEN floor(:teams * random())::bigint + 1 END,
       tags, floor(:users * random() ^ 2)::bigint + 1, created, created + interval '1 day',
       CASE WHEN status IN ('in_progress', 'done') THEN created + interval '2 hours' END,
       CASE WHEN status = 'done' THEN created + interval '1 day' END,
       CASE WHEN status = 'todo' THEN 1 ELSE 2 END
FROM (
  SELECT g,
    (SELECT string_agg(pg_temp.word(w), ' ') FROM (SELECT floor(2000 * random() ^ 1.5)::int + 0 * i AS w FROM generate_series(1, 3 + g % 4) i) x) AS title,
    (SELECT string_agg(pg_temp.word(w), ' ') FROM (SELECT floor(2000 * random() ^ 1.5)::int + 0 * i AS w FROM generate_series(1, 8 + g % 8) i) x) AS descr,
    CASE WHEN rs < 0.35 THEN 'todo' WHEN rs < 0.55 THEN 'in_progress' WHEN rs < 0.95 THEN 'done' ELSE 'canceled' END AS status,
    (ARRAY['none','low','medium','high','urgent'])[1 + floor(5 * random())::int] AS priority,
    CASE WHEN random() < 0.8 THEN current_date + floor(730 * random() - 365)::int END AS due,
    CASE WHEN random() < 0.3 THEN floor(:teams * random())::bigint + 1 END AS team,
    ra,
    ARRAY(SELECT DISTINCT pg_temp.word(w) FROM (SELECT floor(50 * random() ^ 2)::int + 0 * i AS w FROM generate_series(1, g % 4) i) x) AS tags,
    now() - interval '700 days' * random() AS created
  FROM generate_series(1, :tasks) g,
       LATERAL (SELECT random() AS rs, random() AS ra, g AS dep) r
) s;

-- history: a 'created' event for every task, an 'updated' one for every
-- task that moved on from todo
INSERT INTO taskmgmt.task_events (task_id, at, actor_id, actor_role, source, kind, changes, description)
SELECT id, created_at, creator_id, 'bench', 'sql', 'created',
       jsonb_build_object('title', jsonb_build_array(NULL, title), 'status', jsonb_build_array(NULL, 'todo')),
       'created "' || title || '"'
FROM taskmgmt.tasks;
INSERT INTO taskmgmt.task_events (task_id, at, actor_id, actor_role, source, kind, changes, description)
SELECT id, updated_at, coalesce(assignee_user_id, creator_id), 'bench', 'sql', 'updated',
       jsonb_build_object('status', jsonb_build_array('todo', status)),
       'status: To Do → ' || taskmgmt._status_label(status)
FROM taskmgmt.tasks WHERE status <> 'todo';

-- comments: top-level ones on skewed tasks, then replies to them
INSERT INTO taskmgmt.comments (task_id, author_id, body, created_at)
SELECT floor(:tasks * random() ^ 2)::bigint + 1, floor(:users * random() ^ 2)::bigint + 1,
       'Looks good, see the notes ' || g, now() - interval '300 days' * random()
FROM generate_series(1, :tasks / 5) g;
INSERT INTO taskmgmt.comments (task_id, parent_id, author_id, body, created_at)
SELECT c.task_id, c.id, floor(:users * random() ^ 2)::bigint + 1, 'Agreed ' || g, c.created_at + interval '1 hour'
FROM generate_series(1, :tasks / 10) g
JOIN taskmgmt.comments c ON c.id = (g * 7919) % (:tasks / 5) + 1;

RESET session_replication_role;
-- the triggers did not count the tasks: an admin's report reads the tallies
SELECT taskmgmt.rebuild_task_tallies() > 0 AS tallied;
SELECT (SELECT count(*) FROM taskmgmt.tasks) AS tasks, (SELECT count(*) FROM taskmgmt.task_events) AS events,
       (SELECT count(*) FROM taskmgmt.comments) AS comments,
       (SELECT count(*) FROM taskmgmt.tasks WHERE assignee_user_id = 1) AS heavy_user_assigned;
