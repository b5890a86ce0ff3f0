-- commented and mentioned (comments and comment_mentions: 72_comments.sql).
--
-- mentioned: to each user recorded in comment_mentions, when the mention is
--   recorded (a new comment, or an edit that adds a mention).  72 records
--   only users who can see the task; _deliver checks again anyway.
-- commented: to the task's creator, its assignees and everyone who wrote
--   an earlier comment on it, except those this comment mentions (they get
--   'mentioned' instead) and its author.

CREATE FUNCTION @extschema@._comment_excerpt(body text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN length(b) > 80 THEN left(b, 79) || '…' ELSE b END
  FROM (SELECT regexp_replace(btrim(body), '\s+', ' ', 'g') AS b) x
$$;

-- "Ada mentioned you on "Title"" / "Ada commented on "Title"": what
-- happened, without the comment.  The notification adds an excerpt; an
-- email takes this as its subject and puts the whole comment in its body.
CREATE FUNCTION @extschema@._comment_headline(ev text, actor bigint, title text) RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT format(CASE ev WHEN 'mentioned' THEN '%s mentioned you on %s' ELSE '%s commented on %s' END,
                @extschema@._actor_name(actor), @extschema@._short_title(title))
$$;

CREATE FUNCTION @extschema@._comment_mentions_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  c @extschema@.comments;
  t @extschema@.tasks;
  actor bigint;
BEGIN
  SELECT * INTO c FROM @extschema@.comments WHERE id = NEW.comment_id;
  IF NOT FOUND OR c.deleted_at IS NOT NULL THEN
    RETURN NULL;
  END IF;
  SELECT * INTO t FROM @extschema@.tasks WHERE id = c.task_id;
  actor := coalesce(@extschema@.current_user_id(), c.author_id);
  PERFORM @extschema@._deliver(NEW.user_id, 'mentioned', t, actor,
    @extschema@._comment_headline('mentioned', actor, t.title) || ': ' || @extschema@._comment_excerpt(c.body),
    c.id);
  RETURN NULL;
END
$$;

CREATE TRIGGER comment_mentions_notify AFTER INSERT ON @extschema@.comment_mentions
  FOR EACH ROW EXECUTE FUNCTION @extschema@._comment_mentions_notify();

CREATE FUNCTION @extschema@._comments_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t @extschema@.tasks;
  actor bigint := coalesce(@extschema@.current_user_id(), NEW.author_id);
  msg text;
  r bigint;
BEGIN
  IF NEW.deleted_at IS NOT NULL THEN
    RETURN NULL;
  END IF;
  SELECT * INTO t FROM @extschema@.tasks WHERE id = NEW.task_id;
  msg := @extschema@._comment_headline('commented', actor, t.title) || ': ' || @extschema@._comment_excerpt(NEW.body);
  FOR r IN
    SELECT DISTINCT x FROM unnest(ARRAY[t.creator_id]
                                  || @extschema@._assignees(t.assignee_user_id, t.assignee_team_id)
                                  || ARRAY(SELECT c.author_id FROM @extschema@.comments c
                                           WHERE c.task_id = NEW.task_id AND c.id < NEW.id
                                             AND c.author_id IS NOT NULL)) x
    WHERE NOT EXISTS (SELECT FROM @extschema@.comment_mentions m
                      WHERE m.comment_id = NEW.id AND m.user_id = x)
    ORDER BY 1
  LOOP
    PERFORM @extschema@._deliver(r, 'commented', t, actor, msg, NEW.id);
  END LOOP;
  RETURN NULL;
END
$$;

-- AFTER triggers of one event fire in name order: this one must run after
-- comments_sync_mentions (72), so that this comment's mentions are known.
CREATE TRIGGER comments_then_notify AFTER INSERT ON @extschema@.comments
  FOR EACH ROW EXECUTE FUNCTION @extschema@._comments_notify();
