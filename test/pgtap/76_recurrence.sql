-- Recurring tasks (#14): RRULE validation (TM422 naming recurrence), the
-- next occurrence on completion (due date, copied fields, history links),
-- COUNT and UNTIL ending the series, editing the rule, the assignment of a
-- series continued by someone who could not assign it, and the rule
-- expansion itself (DAILY/WEEKLY/MONTHLY/YEARLY, INTERVAL, BYDAY,
-- BYMONTHDAY), and the user's time zone (today for a task without a due
-- date; an UNTIL with a time ends the series on the user's date).
\ir 7_workflow_helpers.psql
BEGIN;
SET ROLE tap_workflow;
SELECT pg_temp.wf_user('ann') AS ann, pg_temp.wf_user('bob') AS bob \gset
SELECT plan(48);

-- ---- the expansion ----
SELECT is(taskmgmt._rrule_next('FREQ=DAILY', '2030-01-01', '2030-01-01'), '2030-01-02'::date, 'DAILY');
SELECT is(taskmgmt._rrule_next('FREQ=DAILY;INTERVAL=3', '2030-01-01', '2030-01-01'), '2030-01-04'::date, 'DAILY, INTERVAL=3');
SELECT is(taskmgmt._rrule_next('FREQ=WEEKLY;BYDAY=MO,FR', '2030-01-07', '2030-01-07'), '2030-01-11'::date, 'WEEKLY on Monday and Friday: Monday → Friday');
SELECT is(taskmgmt._rrule_next('FREQ=WEEKLY;BYDAY=MO,FR', '2030-01-07', '2030-01-11'), '2030-01-14'::date, '... Friday → Monday');
SELECT is(taskmgmt._rrule_next('FREQ=WEEKLY;INTERVAL=2', '2030-01-01', '2030-01-01'), '2030-01-15'::date, 'every other week');
SELECT is(taskmgmt._rrule_next('FREQ=MONTHLY;BYMONTHDAY=31', '2030-01-31', '2030-01-31'), '2030-03-31'::date, 'BYMONTHDAY=31 skips months without a 31st');
SELECT is(taskmgmt._rrule_next('FREQ=MONTHLY;BYDAY=-1FR', '2030-01-01', '2030-01-31'), '2030-02-22'::date, 'the last Friday of the month');
SELECT is(taskmgmt._rrule_next('FREQ=YEARLY', '2028-02-29', '2028-02-29'), '2032-02-29'::date, 'YEARLY from 29 February: the next leap year');
SELECT is(taskmgmt._rrule_next('FREQ=DAILY;COUNT=3', '2030-01-01', '2030-01-02'), '2030-01-03'::date, 'COUNT=3: the third');
SELECT is(taskmgmt._rrule_next('FREQ=DAILY;COUNT=3', '2030-01-01', '2030-01-03'), NULL::date, '... and no fourth');
SELECT is(taskmgmt._rrule_next('FREQ=DAILY;UNTIL=20300105', '2030-01-01', '2030-01-04'), '2030-01-05'::date, 'UNTIL is inclusive');
SELECT is(taskmgmt._rrule_next('FREQ=DAILY;UNTIL=20300105', '2030-01-01', '2030-01-05'), NULL::date, '... and ends the series');

-- UNTIL with a time: the date it falls on in the user's time zone
SELECT is(taskmgmt._rrule_next('FREQ=DAILY;UNTIL=20300105T030000Z', '2030-01-01', '2030-01-04'), '2030-01-05'::date,
          'UNTIL 03:00Z on the 5th, in UTC: the 5th occurs');
SELECT is(taskmgmt._rrule_next('FREQ=DAILY;UNTIL=20300105T030000Z', '2030-01-01', '2030-01-04', 'America/Los_Angeles'), NULL::date,
          '... in Los Angeles it is still the 4th: the series ended');
SELECT is(taskmgmt._rrule_next('FREQ=DAILY;UNTIL=20300104T230000Z', '2030-01-01', '2030-01-04', 'Asia/Tokyo'), '2030-01-05'::date,
          'UNTIL 23:00Z on the 4th is the 5th in Tokyo: the 5th occurs');
SELECT is(taskmgmt._rrule_next('FREQ=DAILY;UNTIL=20300104T230000Z', '2030-01-01', '2030-01-04', 'UTC'), NULL::date,
          '... and not in UTC');
SELECT is(taskmgmt._rrule_next('FREQ=DAILY;UNTIL=20300105T000000', '2030-01-01', '2030-01-04', 'America/Los_Angeles'), '2030-01-05'::date,
          'a floating UNTIL is its own date');

-- ---- validation ----
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT is(pg_temp.wf_err('SELECT taskmgmt.create_task(''{"title": "x", "recurrence": "FREQ=HOURLY"}'')'),
          'TM422 [recurrence] recurrence must have FREQ DAILY, WEEKLY, MONTHLY or YEARLY (due dates are days)', 'FREQ=HOURLY is refused');
SELECT is(pg_temp.wf_err('SELECT taskmgmt.create_task(''{"title": "x", "recurrence": "every monday"}'')'),
          'TM422 [recurrence] recurrence is not a valid RRULE (RFC 5545), e.g. FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR', 'not a rule');
SELECT is(pg_temp.wf_err('SELECT taskmgmt.create_task(''{"title": "x", "recurrence": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}'')'),
          'TM422 [recurrence] recurrence never occurs', 'a rule that never occurs');
SELECT is(pg_temp.wf_err('SELECT taskmgmt.create_task(''{"title": "x", "recurrence": "FREQ=DAILY;UNTIL=20300105T256199Z"}'')'),
          'TM422 [recurrence] recurrence must have an UNTIL with a valid time of day', 'an UNTIL at 25:61:99 (libical would roll it over)');
SELECT is(pg_temp.wf_err('SELECT taskmgmt.create_task(''{"title": "x", "recurrence": "RRULE:FREQ=DAILY"}'')'),
          'TM422 [recurrence] recurrence must be the rule without the RRULE: prefix, e.g. FREQ=WEEKLY;BYDAY=MO', 'the RRULE: prefix');
SELECT is(pg_temp.wf_err('SELECT taskmgmt.create_task(''{"title": "x", "recurrence": 7}'')'),
          'TM422 [recurrence] recurrence must be a string', 'a string');
SELECT is(pg_temp.wf_err('INSERT INTO taskmgmt.tasks (title, recurrence) VALUES (''x'', ''FREQ=SECONDLY'')'),
          'TM422 [recurrence] recurrence must have FREQ DAILY, WEEKLY, MONTHLY or YEARLY (due dates are days)', 'plain SQL obeys it too');

-- ---- the series ----
SELECT (taskmgmt.create_team('Ops') ->> 'id')::bigint AS team \gset
SELECT taskmgmt.add_team_member(:team, :bob, 'member') IS NOT NULL AS added \gset
SELECT taskmgmt.create_task(jsonb_build_object('title', 'standup notes', 'due_date', '2030-01-07', 'team_id', :team,
         'recurrence', 'FREQ=WEEKLY;BYDAY=MO,FR;COUNT=3', 'tags', '["ops"]'::jsonb, 'priority', 'high',
         'assignee', jsonb_build_object('type', 'user', 'id', :ann))) AS t1j \gset
SELECT (:'t1j'::jsonb ->> 'id')::bigint AS t1 \gset
SELECT is(:'t1j'::jsonb ->> 'recurrence', 'FREQ=WEEKLY;BYDAY=MO,FR;COUNT=3', 'the task shows its rule');
-- bob (a member, who may not assign ann) completes it: the series keeps its assignee
SELECT pg_temp.wf_as('bob') IS NOT NULL AS signed_in \gset
SELECT ok(taskmgmt.update_task(:t1, '{"status": "done"}') IS NOT NULL, 'bob completes the first occurrence');
SELECT pg_temp.wf_as('ann') IS NOT NULL AS signed_in \gset
SELECT id AS t2 FROM taskmgmt.tasks WHERE recurrence_of = :t1 \gset
SELECT is(taskmgmt.get_task(:t2) - '{id,created_at,updated_at,version,subtasks,blocked_by_open,started_at,completed_at,creator_id,assignee,team_id}'::text[],
          jsonb_build_object('title', 'standup notes', 'description', '', 'status', 'todo', 'priority', 'high',
                             'due_date', '2030-01-11', 'tags', '["ops"]'::jsonb, 'parent_id', NULL,
                             'recurrence', 'FREQ=WEEKLY;BYDAY=MO,FR;COUNT=3'),
          'the next occurrence: due the next Friday, the same fields, to do');
SELECT is((taskmgmt.get_task(:t2) -> 'assignee' ->> 'id')::bigint, :ann::bigint, '... the same assignee, though bob completed it');
SELECT is((SELECT creator_id FROM taskmgmt.tasks WHERE id = :t2), :ann::bigint, '... the same creator');
SELECT is((SELECT description FROM taskmgmt.task_events WHERE task_id = :t1 ORDER BY id DESC LIMIT 1),
          format('next occurrence: #%s, due 2030-01-11', :t2), 'the history of the completed one names the next');
SELECT is((SELECT changes FROM taskmgmt.task_events WHERE task_id = :t2 AND changes ? 'previous_occurrence'),
          jsonb_build_object('previous_occurrence', jsonb_build_array(NULL, :t1)), '... and the next one names it');
SELECT ok(taskmgmt.update_task(:t2, '{"status": "done"}') IS NOT NULL, 'second done');
SELECT id AS t3 FROM taskmgmt.tasks WHERE recurrence_of = :t2 \gset
SELECT is(taskmgmt.get_task(:t3) ->> 'due_date', '2030-01-14', 'the third occurrence: Monday');
SELECT ok(taskmgmt.update_task(:t3, '{"status": "done"}') IS NOT NULL, 'third done');
SELECT is((SELECT count(*)::int FROM taskmgmt.tasks WHERE recurrence_of = :t3), 0, 'COUNT=3 ended the series');
SELECT ok(taskmgmt.update_task(:t1, '{"status": "todo"}') IS NOT NULL AND taskmgmt.update_task(:t1, '{"status": "done"}') IS NOT NULL,
          'reopening and completing again ...');
SELECT is((SELECT count(*)::int FROM taskmgmt.tasks WHERE recurrence_of = :t1), 1, '... does not make a second next occurrence');

-- editing the rule applies from the next occurrence on
SELECT (taskmgmt.create_task('{"title": "water plants", "due_date": "2030-01-01", "recurrence": "FREQ=DAILY;COUNT=2"}') ->> 'id')::bigint AS w1 \gset
SELECT ok(taskmgmt.update_task(:w1, '{"recurrence": "FREQ=WEEKLY;INTERVAL=2"}') IS NOT NULL, 'the rule is edited');
SELECT ok(taskmgmt.update_task(:w1, '{"status": "done"}') IS NOT NULL, 'done');
SELECT is((SELECT due_date FROM taskmgmt.tasks WHERE recurrence_of = :w1), '2030-01-15'::date, 'the next occurrence follows the new rule');
SELECT is((SELECT description FROM taskmgmt.task_events WHERE task_id = :w1 AND changes ? 'recurrence' ORDER BY id DESC LIMIT 1),
          'recurrence: FREQ=DAILY;COUNT=2 → FREQ=WEEKLY;INTERVAL=2', 'the history records the edit');

-- the user's time zone: today for a task without a due date, UNTIL at completion
SELECT ok(taskmgmt.update_me('{"timezone": "Pacific/Kiritimati"}') IS NOT NULL, 'ann lives at UTC+14');
SELECT (taskmgmt.create_task('{"title": "journal", "recurrence": "FREQ=DAILY"}') ->> 'id')::bigint AS j1 \gset
SELECT is((SELECT recurrence_start FROM taskmgmt.tasks WHERE id = :j1), (now() AT TIME ZONE 'Pacific/Kiritimati')::date,
          'without a due date the series starts today in her time zone');
SELECT ok(taskmgmt.update_task(:j1, '{"status": "done"}') IS NOT NULL, 'done');
SELECT is((SELECT due_date FROM taskmgmt.tasks WHERE recurrence_of = :j1), (now() AT TIME ZONE 'Pacific/Kiritimati')::date + 1,
          '... the next one is due tomorrow, her tomorrow');
SELECT ok(taskmgmt.update_me('{"timezone": "America/Los_Angeles"}') IS NOT NULL, 'ann moves to Los Angeles');
SELECT (taskmgmt.create_task('{"title": "sprint", "due_date": "2030-01-04", "recurrence": "FREQ=DAILY;UNTIL=20300105T030000Z"}') ->> 'id')::bigint AS s1 \gset
SELECT ok(taskmgmt.update_task(:s1, '{"status": "done"}') IS NOT NULL, 'the occurrence of the 4th is done');
SELECT is((SELECT count(*)::int FROM taskmgmt.tasks WHERE recurrence_of = :s1), 0,
          'UNTIL 03:00Z on the 5th is the 4th in Los Angeles: no occurrence on the 5th');

SELECT * FROM finish();
ROLLBACK;
