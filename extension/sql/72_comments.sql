-- Threaded comments: a tree per task through parent_id, edits keep
-- edited_at, deletes leave a tombstone (replies survive), @mentions parsed
-- and stored in comment_mentions (the notifications hang off both tables).

CREATE TABLE @extschema@.comments (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  task_id    bigint NOT NULL REFERENCES @extschema@.tasks ON DELETE CASCADE,
  parent_id  bigint,
  author_id  bigint DEFAULT @extschema@.current_user_id() REFERENCES @extschema@.users ON DELETE SET NULL,
  body       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  edited_at  timestamptz,
  deleted_at timestamptz,
  CONSTRAINT comments_task_id_id_key UNIQUE (task_id, id),
  -- a reply belongs to the same task as its parent, for every door
  CONSTRAINT comments_parent_fkey FOREIGN KEY (task_id, parent_id)
    REFERENCES @extschema@.comments (task_id, id) ON DELETE CASCADE,
  CONSTRAINT comments_body_check CHECK (
    (deleted_at IS NULL AND length(btrim(body)) BETWEEN 1 AND 10000) OR (deleted_at IS NOT NULL AND body = ''))
);
CREATE INDEX comments_thread_idx ON @extschema@.comments (task_id, parent_id, created_at, id);
CREATE INDEX comments_author_id_idx ON @extschema@.comments (author_id);
COMMENT ON TABLE @extschema@.comments IS 'Comments on tasks, threaded through parent_id; deleted ones stay as tombstones.';

CREATE TABLE @extschema@.comment_mentions (
  comment_id bigint NOT NULL REFERENCES @extschema@.comments ON DELETE CASCADE,
  user_id    bigint NOT NULL REFERENCES @extschema@.users ON DELETE CASCADE,
  PRIMARY KEY (comment_id, user_id)
);
CREATE INDEX comment_mentions_user_id_idx ON @extschema@.comment_mentions (user_id);
COMMENT ON TABLE @extschema@.comment_mentions IS
  'Users @mentioned in a comment (only users who can see the task), kept in step with edits.';

ALTER TABLE @extschema@.comments ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.comments FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.comment_mentions ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.comment_mentions FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.comments, @extschema@.comment_mentions FROM PUBLIC;

-- Visible exactly when the task is (the subquery runs under the tasks policy).
CREATE POLICY comments_select ON @extschema@.comments FOR SELECT
  USING (EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = comments.task_id));
CREATE POLICY comments_insert ON @extschema@.comments FOR INSERT
  WITH CHECK (author_id = (SELECT @extschema@.current_user_id())
              AND EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = comments.task_id));
-- Editing and deleting (a tombstone is an UPDATE): the author or an admin.
CREATE POLICY comments_update ON @extschema@.comments FOR UPDATE
  USING ((author_id = (SELECT @extschema@.current_user_id()) OR (SELECT @extschema@.current_user_is_admin()))
         AND EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = comments.task_id));
CREATE POLICY comment_mentions_select ON @extschema@.comment_mentions FOR SELECT
  USING (EXISTS (SELECT FROM @extschema@.comments c WHERE c.id = comment_mentions.comment_id));
GRANT SELECT ON @extschema@.comments, @extschema@.comment_mentions TO taskmgmt_client;
GRANT INSERT (task_id, parent_id, body), UPDATE (body, deleted_at) ON @extschema@.comments TO taskmgmt_client;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.comments', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.comments_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.comment_mentions', '');

-- Bookkeeping for every door: the author is whoever is signed in (a DBA
-- without sign-in may name one), times are the server's, a tombstone loses
-- its body and stays a tombstone, the parent must be visible to the writer.
CREATE FUNCTION @extschema@._comments_before_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  uid bigint := @extschema@.current_user_id();
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF uid IS NOT NULL THEN
      NEW.author_id := uid;
      -- the parent must be a comment the writer can see (RLS applies here)
      IF NEW.parent_id IS NOT NULL AND NOT EXISTS (
           SELECT FROM @extschema@.comments c WHERE c.id = NEW.parent_id AND c.task_id = NEW.task_id) THEN
        PERFORM @extschema@._invalid('parent_id', 'is not a comment on this task');
      END IF;
    END IF;
    NEW.created_at := now();
    NEW.edited_at := NULL;
    NEW.deleted_at := NULL;
    NEW.body := btrim(NEW.body, E' \t\r\n');
    RETURN NEW;
  END IF;
  -- a DBA without sign-in is trusted (as for tasks)
  IF uid IS NOT NULL AND (NEW.task_id, NEW.parent_id, NEW.author_id, NEW.created_at)
     IS DISTINCT FROM (OLD.task_id, OLD.parent_id, OLD.author_id, OLD.created_at) THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'a comment''s task, parent, author and time cannot change';
  END IF;
  IF OLD.deleted_at IS NOT NULL THEN
    IF NEW.deleted_at IS NULL OR NEW.body <> '' THEN
      PERFORM @extschema@._invalid('body', 'cannot be changed on a deleted comment');
    END IF;
    NEW := OLD;
    RETURN NEW;
  END IF;
  IF NEW.deleted_at IS NOT NULL THEN
    NEW.deleted_at := now();
    NEW.body := '';
    NEW.edited_at := OLD.edited_at;
    RETURN NEW;
  END IF;
  NEW.body := btrim(NEW.body, E' \t\r\n');
  IF NEW.body IS DISTINCT FROM OLD.body THEN
    NEW.edited_at := now();
  ELSE
    NEW.edited_at := OLD.edited_at;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER comments_before_write BEFORE INSERT OR UPDATE ON @extschema@.comments
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._comments_before_write();

-- @mentions in a text: '@ada@example.com' (an email, case-insensitive) or
-- '@ada' (the part of an email before '@', when exactly one active user has
-- it).  Returns the user ids, each once.  One index lookup per distinct
-- token (users_email_lower_key, users_handle_idx), never a scan of users.
-- SECURITY DEFINER: clients cannot read users.disabled; the answer (active
-- users' ids by handle or email) is what list_users() shows anyway.
CREATE FUNCTION @extschema@._mentioned_user_ids(body text) RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  WITH tokens AS (
    SELECT DISTINCT lower(rtrim(m[1], '.-')) AS tok
    FROM regexp_matches(body, '(?:^|[^A-Za-z0-9_.@])@([A-Za-z0-9._%+-]+(?:@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)?)', 'g') AS m
  ), found AS (
    SELECT x.id FROM tokens JOIN @extschema@.users x ON lower(x.email) = tokens.tok
     WHERE tokens.tok LIKE '%@%' AND NOT x.disabled
    UNION
    SELECT min(x.id) FROM tokens JOIN @extschema@.users x ON lower(split_part(x.email, '@', 1)) = tokens.tok
     WHERE tokens.tok NOT LIKE '%@%' AND NOT x.disabled
     GROUP BY tokens.tok HAVING count(*) = 1
  )
  SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM found
$$;

-- Keeps comment_mentions in step with the body.  Only users who can see
-- the task are recorded (a mention must not announce a task to an outsider);
-- this mirrors the tasks_select policy for another user, which RLS itself
-- cannot evaluate.  SECURITY DEFINER: clients never write mentions directly.
CREATE FUNCTION @extschema@._comments_sync_mentions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  mentioned bigint[] := @extschema@._mentioned_user_ids(NEW.body);
  wanted bigint[];
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.body IS NOT DISTINCT FROM OLD.body THEN
    RETURN NULL;
  END IF;
  -- bounded work (and notifications) per comment, whoever is mentioned
  IF cardinality(mentioned) > 20 THEN
    PERFORM @extschema@._invalid('body', 'mentions more than 20 people');
  END IF;
  SELECT coalesce(array_agg(u), '{}') INTO wanted
  FROM unnest(mentioned) u
  JOIN @extschema@.tasks t ON t.id = NEW.task_id
  WHERE t.creator_id = u OR t.assignee_user_id = u
     OR EXISTS (SELECT FROM @extschema@.team_members m
                WHERE m.user_id = u AND m.team_id IN (t.team_id, t.assignee_team_id))
     OR EXISTS (SELECT FROM @extschema@.users x WHERE x.id = u AND x.role = 'admin');
  DELETE FROM @extschema@.comment_mentions cm WHERE cm.comment_id = NEW.id AND NOT cm.user_id = ANY (wanted);
  INSERT INTO @extschema@.comment_mentions (comment_id, user_id)
  SELECT NEW.id, u FROM unnest(wanted) u
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$$;
CREATE TRIGGER comments_sync_mentions AFTER INSERT OR UPDATE OF body ON @extschema@.comments
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._comments_sync_mentions();

-- Handles ('ada' of ada@example.com) of active users, for mentions.
CREATE INDEX users_handle_idx ON @extschema@.users (lower(split_part(email, '@', 1))) WHERE NOT disabled;

-- Replies nest at most 100 levels deep, whatever the door: the thread's
-- display order sorts by a path as long as the depth (comment_thread()),
-- and a chain of replies must not make that unbounded.  The walk up stops
-- after 101 steps.
CREATE FUNCTION @extschema@._comments_reply_depth() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  depth integer;
BEGIN
  WITH RECURSIVE up AS (
    SELECT c.parent_id, 1 AS d FROM @extschema@.comments c WHERE c.id = NEW.parent_id
    UNION ALL
    SELECT c.parent_id, up.d + 1 FROM up JOIN @extschema@.comments c ON c.id = up.parent_id
     WHERE up.d <= 100
  )
  SELECT max(d) INTO depth FROM up;
  IF depth > 100 THEN
    PERFORM @extschema@._invalid('parent_id', 'is too deep: replies nest at most 100 levels');
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER comments_reply_depth BEFORE INSERT ON @extschema@.comments
  FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL AND NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._comments_reply_depth();

CREATE FUNCTION @extschema@.comment_json(c @extschema@.comments, depth integer DEFAULT NULL) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object('depth', depth)) || jsonb_build_object(
    'id', c.id, 'task_id', c.task_id, 'parent_id', c.parent_id, 'author_id', c.author_id,
    'author_name', (SELECT u.display_name FROM @extschema@.users u WHERE u.id = c.author_id),
    'body', CASE WHEN c.deleted_at IS NULL THEN c.body END,
    'created_at', c.created_at, 'edited_at', c.edited_at,
    'deleted', c.deleted_at IS NOT NULL,
    'mentions', coalesce((SELECT jsonb_agg(m.user_id ORDER BY m.user_id)
                          FROM @extschema@.comment_mentions m WHERE m.comment_id = c.id), '[]'))
$$;

CREATE FUNCTION @extschema@._comment_body(body text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  b text := btrim(body, E' \t\r\n');
BEGIN
  IF b IS NULL OR b = '' THEN PERFORM @extschema@._invalid('body', 'must not be empty'); END IF;
  IF length(b) > 10000 THEN PERFORM @extschema@._invalid('body', 'must be at most 10000 characters'); END IF;
  RETURN b;
END
$$;

CREATE FUNCTION @extschema@.add_comment(task_id bigint, body text, parent_id bigint DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  c @extschema@.comments;
BEGIN
  PERFORM @extschema@._require_user();
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = add_comment.task_id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  INSERT INTO @extschema@.comments (task_id, parent_id, body)
  VALUES (add_comment.task_id, add_comment.parent_id, @extschema@._comment_body(body))
  RETURNING * INTO c;
  RETURN @extschema@.comment_json(c);
END
$$;

-- Author or admin; others who see the comment get 42501, others 404.
CREATE FUNCTION @extschema@._comment_for_change(id bigint) RETURNS @extschema@.comments
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  c @extschema@.comments;
BEGIN
  PERFORM @extschema@._require_user();
  SELECT * INTO c FROM @extschema@.comments x WHERE x.id = _comment_for_change.id;
  IF NOT FOUND THEN PERFORM @extschema@._not_found('comment'); END IF;
  IF c.author_id IS DISTINCT FROM @extschema@.current_user_id() AND NOT @extschema@.current_user_is_admin() THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'only the author or an admin can change this comment';
  END IF;
  RETURN c;
END
$$;

CREATE FUNCTION @extschema@.update_comment(id bigint, body text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  c @extschema@.comments := @extschema@._comment_for_change(id);
BEGIN
  IF c.deleted_at IS NOT NULL THEN
    PERFORM @extschema@._invalid('body', 'cannot be changed on a deleted comment');
  END IF;
  UPDATE @extschema@.comments x SET body = @extschema@._comment_body(update_comment.body)
   WHERE x.id = c.id RETURNING * INTO c;
  RETURN @extschema@.comment_json(c);
END
$$;

-- Leaves a tombstone (deleted, no body) so that replies stay in place.
-- Deleting a deleted comment changes nothing.
CREATE FUNCTION @extschema@.delete_comment(id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  c @extschema@.comments := @extschema@._comment_for_change(id);
BEGIN
  IF c.deleted_at IS NULL THEN
    UPDATE @extschema@.comments x SET deleted_at = now(), body = '' WHERE x.id = c.id;
  END IF;
END
$$;

-- The thread in display order: each reply right under its parent, siblings
-- by time, with depth (0 for top-level comments).  One pass over the task's
-- comments (index comments_thread_idx), sorted by a path of sibling ranks.
CREATE FUNCTION @extschema@.comment_thread(task_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
DECLARE
  result jsonb;
BEGIN
  PERFORM @extschema@._require_user();
  IF NOT EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = comment_thread.task_id) THEN
    PERFORM @extschema@._not_found('task');
  END IF;
  WITH RECURSIVE ranked AS (
    SELECT c.*, row_number() OVER (PARTITION BY c.parent_id ORDER BY c.created_at, c.id)::int AS rn
    FROM @extschema@.comments c WHERE c.task_id = comment_thread.task_id
  ), tree AS (
    SELECT r.id, ARRAY[r.rn] AS path, 0 AS depth FROM ranked r WHERE r.parent_id IS NULL
    UNION ALL
    SELECT r.id, tree.path || r.rn, tree.depth + 1
    FROM tree JOIN ranked r ON r.parent_id = tree.id
  )
  SELECT coalesce(jsonb_agg(@extschema@.comment_json(c, tree.depth) ORDER BY tree.path), '[]')
    INTO result
    FROM tree JOIN @extschema@.comments c ON c.id = tree.id;
  RETURN result;
END
$$;
