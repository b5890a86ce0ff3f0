-- Comments: a thread per task (parent_id) returned in display order with
-- depth; edits keep edited_at; deletes leave a tombstone; @mentions of
-- people who see the task are stored.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET search_path = taskmgmt, public;
SET ROLE regress_client;

SELECT new_user('kim@wf.example', 'Kim') AS kim, new_user('lea@wf.example', 'Lea') AS lea,
       new_user('max@wf.example', 'Max') AS max \gset
SELECT as_user('kim@wf.example');
SELECT (create_team('Support') ->> 'id')::bigint AS support \gset
SELECT add_team_member(:support, :lea) IS NOT NULL AS lea_in_support;
SELECT (create_task(format('{"title": "Printer on fire", "team_id": %s}', :support)::jsonb) ->> 'id')::bigint AS task \gset
SELECT (create_task('{"title": "Other"}') ->> 'id')::bigint AS other \gset

SELECT (add_comment(:task, 'Is it really on fire?') ->> 'id')::bigint AS c1 \gset
SELECT as_user('lea@wf.example');
SELECT (add_comment(:task, 'Yes. @kim please look', :c1) ->> 'id')::bigint AS c2 \gset
SELECT (add_comment(:task, 'Ordering a new one') ->> 'id')::bigint AS c3 \gset
SELECT as_user('kim@wf.example');
SELECT (add_comment(:task, 'On my way', :c2) ->> 'id')::bigint AS c4 \gset
SELECT (add_comment(:task, 'Extinguisher is in room 2', :c1) ->> 'id')::bigint AS c5 \gset

-- Display order: each reply right under its parent, siblings by time.
SELECT repeat('  ', (c ->> 'depth')::int) || (c ->> 'body') AS thread, c ->> 'author_name' AS author, c -> 'mentions' = '[]' AS no_mentions
  FROM jsonb_array_elements(comment_thread(:task)) WITH ORDINALITY x(c, o) ORDER BY o;
SELECT array(SELECT jsonb_object_keys(comment_thread(:task) -> 0) ORDER BY 1) AS comment_fields;

-- Refused: empty or oversized bodies, replies across tasks or to unknown comments.
SELECT err(format($$SELECT add_comment(%s, '   ')$$, :task));
SELECT err(format($$SELECT add_comment(%s, repeat('x', 10001))$$, :task));
SELECT err(format($$SELECT add_comment(%s, 'wrong thread', %s)$$, :other, :c1));
SELECT err(format($$SELECT add_comment(%s, 'no parent', 0)$$, :task));

-- Edit (author or admin) and delete (a tombstone: the replies stay).
SELECT update_comment(:c1, 'Is it REALLY on fire?') ->> 'edited_at' IS NOT NULL AS edited;
SELECT as_user('lea@wf.example');
SELECT err(format($$SELECT update_comment(%s, 'no')$$, :c1));
SELECT err(format($$SELECT delete_comment(%s)$$, :c1));
SELECT as_user('kim@wf.example');
SELECT delete_comment(:c1);
SELECT repeat('  ', (c ->> 'depth')::int) || coalesce(c ->> 'body', '[deleted]') AS thread, (c ->> 'deleted')::boolean AS deleted,
       c ->> 'edited_at' IS NOT NULL AS edited
  FROM jsonb_array_elements(comment_thread(:task)) WITH ORDINALITY x(c, o) ORDER BY o;
SELECT err(format($$SELECT update_comment(%s, 'undo')$$, :c1));

-- Mentions: by handle (before the @ of the email) or by email; only people
-- who can see the task (Max cannot).
SELECT add_comment(:task, 'cc @lea, @max@wf.example and @kim@wf.example.') -> 'mentions' = jsonb_build_array(:kim, :lea) AS mentions_kim_and_lea;
SELECT count(*) AS mention_rows FROM comment_mentions m JOIN comments c ON c.id = m.comment_id WHERE c.task_id = :task;

-- Someone who cannot see the task cannot reach its comments.
SELECT as_user('max@wf.example');
SELECT err(format('SELECT comment_thread(%s)', :task));
SELECT err(format($$SELECT add_comment(%s, 'hello')$$, :task));
SELECT err(format($$SELECT update_comment(%s, 'hello')$$, :c2));
SELECT err(format($$SELECT delete_comment(%s)$$, :c2));
SELECT count(*) AS comments_max_sees FROM comments WHERE task_id = :task;
SELECT sign_out();
