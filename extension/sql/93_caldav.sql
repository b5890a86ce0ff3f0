-- CalDAV and iCalendar (#13): every user's visible tasks as one VTODO
-- calendar collection, and a read-only subscription feed of due dates.
--
-- Layout (the shim routes /.well-known/caldav and /dav/... here, with the
-- raw request body; it learns nothing of XML or iCalendar):
--   /dav/                          root: current-user-principal
--   /dav/users/<id>/               the principal, also its calendar home
--   /dav/users/<id>/tasks/         the calendar: every task the user sees
--   /dav/users/<id>/tasks/<name>   one task: <task id>.ics, or the name a
--                                  client chose when it created the task
-- Another user's paths do not exist (404).  The DAV XML is read with
-- PostgreSQL's xml type (XPath) and written as text; iCalendar is parsed
-- and rendered with libical (ical.c); RELATED-TO is the parent task (by UID,
-- among the tasks the caller sees), RRULE the recurrence.  A PUT goes
-- through create_task() and
-- update_task(), so validation, history, notifications and webhooks are
-- those of every other door, and RLS decides as always.
--
-- ETag = the task version (as on the JSON API).  Sync tokens
-- (sync-collection) are transaction snapshots: dav_changes keeps the last
-- change of every task, with the transaction that made it and everyone who
-- could see it, so a deletion, or a task moving out of sight, is reported
-- only to those who saw it.  A change of what a user may see without a
-- change of any task (joining or leaving a team, becoming or ceasing to be
-- an admin) ends that user's sync tokens: the next sync-collection with an
-- older token is refused (DAV:valid-sync-token), and the client lists the
-- collection afresh, as RFC 6578 prescribes.
--
-- This file comes after 90_grants.sql, so it grants its own functions.

-- Names (and UIDs) chosen by clients for the tasks they created.  Other
-- tasks are <id>.ics with UID taskmgmt-task-<id>.
CREATE TABLE @extschema@.dav_resources (
  task_id    bigint PRIMARY KEY REFERENCES @extschema@.tasks ON DELETE CASCADE,
  name       text NOT NULL CHECK (name ~ '^[A-Za-z0-9._~@+=-]{1,250}\.ics$' AND name !~ '^[0-9]+\.ics$'),
  uid        text NOT NULL CHECK (length(uid) BETWEEN 1 AND 500),
  created_by bigint REFERENCES @extschema@.users ON DELETE SET NULL
);
-- unique per creator, so that a name taken says nothing about others' tasks
CREATE UNIQUE INDEX dav_resources_name_key ON @extschema@.dav_resources (created_by, name);
CREATE INDEX dav_resources_uid_idx ON @extschema@.dav_resources (uid);
ALTER TABLE @extschema@.dav_resources ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.dav_resources FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.dav_resources FROM PUBLIC;
-- visible with its task; named by the task's creator only (a PUT that made
-- it), so nobody renames a shared task in others' calendars
CREATE POLICY dav_resources_select ON @extschema@.dav_resources FOR SELECT
  USING (EXISTS (SELECT FROM @extschema@.tasks t WHERE t.id = dav_resources.task_id));
CREATE POLICY dav_resources_insert ON @extschema@.dav_resources FOR INSERT
  WITH CHECK (created_by = (SELECT @extschema@.current_user_id())
              AND EXISTS (SELECT FROM @extschema@.tasks t
                          WHERE t.id = dav_resources.task_id AND t.creator_id = created_by));
-- created_by is server-set: the signed-in user, by default (#17)
ALTER TABLE @extschema@.dav_resources ALTER COLUMN created_by SET DEFAULT @extschema@.current_user_id();
GRANT SELECT, INSERT (task_id, name, uid) ON @extschema@.dav_resources TO taskmgmt_client;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.dav_resources', '');

-- The last change of every task (deleted ones too), for sync-collection.
CREATE TABLE @extschema@.dav_changes (
  task_id     bigint PRIMARY KEY,
  changed_xid xid8 NOT NULL,
  deleted     boolean NOT NULL DEFAULT false,
  name        text NOT NULL,
  seen_users  bigint[] NOT NULL DEFAULT '{}',
  seen_teams  bigint[] NOT NULL DEFAULT '{}'
);
CREATE INDEX dav_changes_xid_idx ON @extschema@.dav_changes (changed_xid);
ALTER TABLE @extschema@.dav_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.dav_changes FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.dav_changes FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.dav_changes', '');

-- When a user's visibility changed other than through a task.  Append-only:
-- an upsert of one row per user would lock it, and two membership changes
-- of the same users in opposite order would deadlock.  A row per change of
-- membership or role, which are rare.  Not dumped: its transaction ids mean
-- nothing in another cluster, and tokens do not survive a restore anyway
-- (_dav_sync_epoch).
CREATE TABLE @extschema@.dav_access_changes (
  user_id     bigint NOT NULL,
  changed_xid xid8 NOT NULL
);
CREATE INDEX dav_access_changes_user_idx ON @extschema@.dav_access_changes (user_id, changed_xid);
ALTER TABLE @extschema@.dav_access_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.dav_access_changes FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.dav_access_changes FROM PUBLIC;

CREATE FUNCTION @extschema@._dav_access_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  -- a row's fields are looked up at run time: the users row has no user_id
  old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
  new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
  key text := CASE TG_TABLE_NAME WHEN 'users' THEN 'id' ELSE 'user_id' END;
BEGIN
  INSERT INTO @extschema@.dav_access_changes (user_id, changed_xid)
  SELECT DISTINCT u, pg_current_xact_id()
    FROM unnest(ARRAY[(old_row ->> key)::bigint, (new_row ->> key)::bigint]) u
   WHERE u IS NOT NULL;
  RETURN NULL;
END $$;
CREATE TRIGGER team_members_dav_access AFTER INSERT OR DELETE OR UPDATE OF user_id, team_id
  ON @extschema@.team_members FOR EACH ROW WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._dav_access_changed();

CREATE TRIGGER users_dav_access AFTER UPDATE OF role ON @extschema@.users
  FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role)
  EXECUTE FUNCTION @extschema@._dav_access_changed();

-- Whether the signed-in user's visibility changed since the token's snapshot.
CREATE FUNCTION @extschema@._dav_access_changed_since(since xid8) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT FROM @extschema@.dav_access_changes a
                  WHERE a.user_id = @extschema@.current_user_id() AND a.changed_xid >= since)
$$;

-- One subscription feed per user, stored as sha256 of its token.
CREATE TABLE @extschema@.calendar_feeds (
  user_id    bigint PRIMARY KEY REFERENCES @extschema@.users ON DELETE CASCADE,
  token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE @extschema@.calendar_feeds ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.calendar_feeds FORCE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.calendar_feeds FROM PUBLIC;
CREATE POLICY calendar_feeds_own ON @extschema@.calendar_feeds FOR SELECT
  USING (user_id = (SELECT @extschema@.current_user_id()));
GRANT SELECT (user_id, created_at) ON @extschema@.calendar_feeds TO taskmgmt_client;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.calendar_feeds', '');

-- ---------------------------------------------------------------- iCalendar (ical.c)

CREATE FUNCTION @extschema@._ical_vtodo(uid text, summary text, description text, status text, priority text,
                                        due date, tags text[], created timestamptz, modified timestamptz,
                                        completed timestamptz, version integer, parent_uid text,
                                        recurrence text) RETURNS text
  AS 'MODULE_PATHNAME', 'tm_ical_vtodo'
  LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION @extschema@._ical_feed(name text, uids text[], summaries text[], dues date[],
                                       descriptions text[], stamps timestamptz[]) RETURNS text
  AS 'MODULE_PATHNAME', 'tm_ical_feed'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@._ical_parse_vtodo(ics text) RETURNS jsonb
  AS 'MODULE_PATHNAME', 'tm_ical_parse_vtodo'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@._feed_authenticate(token text) RETURNS bigint
  AS 'MODULE_PATHNAME', 'tm_feed_authenticate'
  LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

-- A task as iCalendar (the name and UID come from dav_resources, if any).
-- Its parent goes in RELATED-TO only when the caller sees it (the lookup
-- runs under the caller's policies).
CREATE FUNCTION @extschema@.task_ical(t @extschema@.tasks, uid text DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT @extschema@._ical_vtodo(coalesce(uid, 'taskmgmt-task-' || t.id), t.title, t.description,
                                 t.status::text, t.priority::text, t.due_date, t.tags, t.created_at,
                                 t.updated_at, t.completed_at, t.version,
                                 (SELECT coalesce(r.uid, 'taskmgmt-task-' || p.id)
                                    FROM @extschema@.tasks p LEFT JOIN @extschema@.dav_resources r ON r.task_id = p.id
                                   WHERE p.id = t.parent_id),
                                 t.recurrence)
$$;

-- The visible task a UID names (RELATED-TO), or NULL.
CREATE FUNCTION @extschema@._dav_uid_task(uid text) RETURNS bigint
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT coalesce(
    (SELECT r.task_id FROM @extschema@.dav_resources r JOIN @extschema@.tasks x ON x.id = r.task_id
      WHERE r.uid = _dav_uid_task.uid ORDER BY x.id LIMIT 1),
    (SELECT x.id FROM @extschema@.tasks x
      WHERE x.id = CASE WHEN _dav_uid_task.uid ~ '^taskmgmt-task-[1-9][0-9]{0,17}$'
                        THEN substr(_dav_uid_task.uid, 15)::bigint END
        AND NOT EXISTS (SELECT FROM @extschema@.dav_resources r WHERE r.task_id = x.id)))
$$;

-- ---------------------------------------------------------------- the feed

-- create_calendar_feed() -> {url, token, created_at}: a new secret URL for
-- GET /api/v1/calendar/{token}.ics (the previous one stops working).
CREATE FUNCTION @extschema@.create_calendar_feed() RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  uid bigint := @extschema@._require_user();
  secret text := @extschema@._random_token('tmfeed_');
  f @extschema@.calendar_feeds;
BEGIN
  INSERT INTO @extschema@.calendar_feeds AS x (user_id, token_hash)
  VALUES (uid, sha256(convert_to(secret, 'UTF8')))
  ON CONFLICT (user_id) DO UPDATE SET token_hash = EXCLUDED.token_hash, created_at = now()
  RETURNING * INTO f;
  RETURN jsonb_build_object('url', '/api/v1/calendar/' || secret || '.ics', 'token', secret,
                            'created_at', f.created_at);
END
$$;

CREATE FUNCTION @extschema@.revoke_calendar_feed() RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  DELETE FROM @extschema@.calendar_feeds f WHERE f.user_id = @extschema@._require_user();
  IF NOT FOUND THEN PERFORM @extschema@._not_found('calendar feed'); END IF;
END
$$;

-- calendar_feed(token) -> text/calendar: the open tasks with a due date
-- that the feed's owner sees, as all-day events.  Needs no sign-in: the
-- token signs in, read-only, for this transaction.
CREATE FUNCTION @extschema@.calendar_feed(token text) RETURNS text
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
  IF token IS NULL OR token !~ '^tmfeed_[A-Za-z0-9_-]{43}$' THEN
    PERFORM @extschema@._not_found('calendar feed');
  END IF;
  PERFORM @extschema@._feed_authenticate(token);
  RETURN (SELECT @extschema@._ical_feed('taskmgmt: due dates',
            coalesce(array_agg(coalesce(r.uid, 'taskmgmt-task-' || t.id) || '-due' ORDER BY t.due_date, t.id), '{}'),
            coalesce(array_agg(t.title ORDER BY t.due_date, t.id), '{}'),
            coalesce(array_agg(t.due_date ORDER BY t.due_date, t.id), '{}'),
            coalesce(array_agg(nullif(t.description, '') ORDER BY t.due_date, t.id), '{}'),
            coalesce(array_agg(t.updated_at ORDER BY t.due_date, t.id), '{}'))
          FROM @extschema@.tasks t LEFT JOIN @extschema@.dav_resources r ON r.task_id = t.id
          WHERE t.due_date IS NOT NULL AND t.status IN ('todo', 'in_progress'));
END
$$;

-- ---------------------------------------------------------------- change log

CREATE FUNCTION @extschema@._tasks_dav_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r @extschema@.tasks;
  users bigint[];
  teams bigint[];
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.version = OLD.version THEN
    RETURN NULL;
  END IF;
  r := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  -- everyone who could see it, before and after
  users := ARRAY[r.creator_id, r.assignee_user_id];
  teams := ARRAY[r.team_id, r.assignee_team_id];
  IF TG_OP = 'UPDATE' THEN
    users := users || ARRAY[OLD.creator_id, OLD.assignee_user_id];
    teams := teams || ARRAY[OLD.team_id, OLD.assignee_team_id];
  END IF;
  INSERT INTO @extschema@.dav_changes AS c (task_id, changed_xid, deleted, name, seen_users, seen_teams)
  VALUES (r.id, pg_current_xact_id(), TG_OP = 'DELETE',
          coalesce((SELECT x.name FROM @extschema@.dav_resources x WHERE x.task_id = r.id), r.id || '.ics'),
          array(SELECT DISTINCT u FROM unnest(users) u WHERE u IS NOT NULL ORDER BY 1),
          array(SELECT DISTINCT m FROM unnest(teams) m WHERE m IS NOT NULL ORDER BY 1))
  ON CONFLICT (task_id) DO UPDATE
    SET changed_xid = EXCLUDED.changed_xid, deleted = EXCLUDED.deleted,
        name = CASE WHEN EXCLUDED.deleted THEN c.name ELSE EXCLUDED.name END,
        seen_users = array(SELECT DISTINCT u FROM unnest(c.seen_users || EXCLUDED.seen_users) u ORDER BY 1),
        seen_teams = array(SELECT DISTINCT m FROM unnest(c.seen_teams || EXCLUDED.seen_teams) m ORDER BY 1);
  RETURN NULL;
END
$$;
CREATE TRIGGER tasks_dav_changes AFTER INSERT OR UPDATE OR DELETE ON @extschema@.tasks
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._tasks_dav_changes();

-- A client's name for a task it created replaces <id>.ics in the change log.
CREATE FUNCTION @extschema@._dav_resources_name() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  UPDATE @extschema@.dav_changes c SET name = NEW.name WHERE c.task_id = NEW.task_id;
  RETURN NULL;
END
$$;
CREATE TRIGGER dav_resources_name AFTER INSERT ON @extschema@.dav_resources
  FOR EACH ROW
  WHEN (NOT @extschema@._restoring())
  EXECUTE FUNCTION @extschema@._dav_resources_name();

-- Tasks changed since a snapshot (xid), for the signed-in user: those they
-- see now, and those they no longer see but could have (removed).
CREATE FUNCTION @extschema@._dav_changes_since(since xid8)
RETURNS TABLE (task_id bigint, name text, removed boolean)
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT c.task_id, c.name, NOT coalesce(@extschema@._user_can_see_task(me.uid, me.admin, t), false)
    FROM @extschema@.dav_changes c
    LEFT JOIN @extschema@.tasks t ON t.id = c.task_id AND NOT c.deleted
    CROSS JOIN (SELECT @extschema@.current_user_id() AS uid, @extschema@.current_user_is_admin() AS admin,
                       @extschema@.my_team_ids() AS teams) me
   WHERE c.changed_xid >= since AND me.uid IS NOT NULL
     AND (coalesce(@extschema@._user_can_see_task(me.uid, me.admin, t), false)
          OR me.admin OR me.uid = ANY (c.seen_users) OR c.seen_teams && me.teams)
$$;

-- ---------------------------------------------------------------- DAV helpers

CREATE FUNCTION @extschema@._xml_text(s text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  -- characters XML 1.0 cannot carry at all are dropped
  SELECT replace(replace(replace(replace(regexp_replace(s, '[\x01-\x08\x0B\x0C\x0E-\x1F]', '', 'g'),
                 '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;')
$$;

-- Percent-decoding of a path segment (UTF-8); NULL when malformed.
CREATE FUNCTION @extschema@._url_decode(s text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  b bytea := '';
  i integer := 1;
  n integer := length(s);
  c text;
BEGIN
  WHILE i <= n LOOP
    c := substr(s, i, 1);
    IF c = '%' THEN
      IF substr(s, i + 1, 2) !~ '^[0-9A-Fa-f]{2}$' THEN RETURN NULL; END IF;
      b := b || decode(substr(s, i + 1, 2), 'hex');
      i := i + 3;
    ELSE
      b := b || convert_to(c, 'UTF8');
      i := i + 1;
    END IF;
  END LOOP;
  RETURN convert_from(b, 'UTF8');
EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
  RETURN NULL;
END
$$;

-- 'ns|name' keys of the child elements of the node the XPath names.
CREATE FUNCTION @extschema@._dav_children(doc xml, path text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  ns constant text[] := ARRAY[ARRAY['D', 'DAV:'], ARRAY['C', 'urn:ietf:params:xml:ns:caldav']];
  n integer := (xpath('count(' || path || '/*)', doc, ns))[1]::text::numeric;
  result text[] := '{}';
BEGIN
  FOR i IN 1 .. n LOOP
    result := result || ((xpath(format('namespace-uri(%s/*[%s])', path, i), doc, ns))[1]::text
                         || '|' || (xpath(format('local-name(%s/*[%s])', path, i), doc, ns))[1]::text);
  END LOOP;
  RETURN result;
END
$$;

-- The text of the nodes an XPath names.
CREATE FUNCTION @extschema@._dav_texts(doc xml, path text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(x::text), '{}')
    FROM unnest(xpath(path, doc, ARRAY[ARRAY['D', 'DAV:'], ARRAY['C', 'urn:ietf:params:xml:ns:caldav']])) x
$$;

-- The request body as an XML document whose root is ns|name; TM400 otherwise.
CREATE FUNCTION @extschema@._dav_document(body text, VARIADIC roots text[]) RETURNS xml
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  doc xml;
  root text;
BEGIN
  IF body IS NULL OR NOT xml_is_well_formed_document(body) THEN
    PERFORM @extschema@._bad_parameter('body', 'is not a well-formed XML document');
  END IF;
  doc := xmlparse(document body);
  root := (xpath('namespace-uri(/*)', doc))[1]::text || '|' || (xpath('local-name(/*)', doc))[1]::text;
  IF NOT root = ANY (roots) THEN
    PERFORM @extschema@._bad_parameter('body', format('is a %s element; expected %s', root,
                                                      array_to_string(roots, ' or ')));
  END IF;
  RETURN doc;
END
$$;

-- An element of the multistatus: the key's prefix (D, C, CS, A) or a
-- namespace declared on it.  (PL/pgSQL for its cached plan, see below.)
CREATE FUNCTION @extschema@._dav_element(key text, inner_xml text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  ns text := split_part(key, '|', 1);
  n text := @extschema@._xml_text(split_part(key, '|', 2));
  p text := CASE ns WHEN 'DAV:' THEN 'D' WHEN 'urn:ietf:params:xml:ns:caldav' THEN 'C'
                    WHEN 'http://calendarserver.org/ns/' THEN 'CS' WHEN 'http://apple.com/ns/ical/' THEN 'A' END;
  open_tag text := CASE WHEN p IS NOT NULL THEN p || ':' || n
                        ELSE 'X:' || n || ' xmlns:X="' || @extschema@._xml_text(ns) || '"' END;
BEGIN
  IF inner_xml IS NULL OR inner_xml = '' THEN
    RETURN '<' || open_tag || '/>';
  END IF;
  RETURN '<' || open_tag || '>' || inner_xml || '</' || coalesce(p, 'X') || ':' || n || '>';
END
$$;

CREATE FUNCTION @extschema@._dav_multistatus(responses text, sync_token text DEFAULT NULL) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '<?xml version="1.0" encoding="utf-8"?>' || E'\n'
      || '<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" '
      || 'xmlns:CS="http://calendarserver.org/ns/" xmlns:A="http://apple.com/ns/ical/">'
      || coalesce(responses, '')
      || coalesce('<D:sync-token>' || @extschema@._xml_text(sync_token) || '</D:sync-token>', '')
      || '</D:multistatus>'
$$;

-- One <D:response> with a 200 propstat for the known properties and a 404
-- one for the rest; props: [key, value-or-NULL] pairs.  PL/pgSQL: called
-- once per resource of a listing, its plan is cached for the session (an
-- SQL function that cannot be inlined is planned at every call).
CREATE FUNCTION @extschema@._dav_response(href text, keys text[], vals text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  found text := '';
  missing text := '';
BEGIN
  FOR i IN 1 .. coalesce(cardinality(keys), 0) LOOP
    IF vals[i] IS NOT NULL THEN
      found := found || @extschema@._dav_element(keys[i], vals[i]);
    ELSE
      missing := missing || @extschema@._dav_element(keys[i], NULL);
    END IF;
  END LOOP;
  RETURN '<D:response><D:href>' || @extschema@._xml_text(href) || '</D:href>'
      || CASE WHEN found <> '' THEN '<D:propstat><D:prop>' || found
                                    || '</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>' ELSE '' END
      || CASE WHEN missing <> '' THEN '<D:propstat><D:prop>' || missing
                                      || '</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>' ELSE '' END
      || '</D:response>';
END
$$;

CREATE FUNCTION @extschema@._dav_status_response(href text, status text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '<D:response><D:href>' || @extschema@._xml_text(href) || '</D:href><D:status>HTTP/1.1 '
         || status || '</D:status></D:response>'
$$;

-- The value of one property of a resource: inner XML ('' for an empty
-- element), or NULL when the resource has no such property.
--   kind: root, home (the principal), calendar, object
CREATE FUNCTION @extschema@._dav_prop(kind text, key text, me_id bigint, me_email text, me_name text,
                                      t @extschema@.tasks, res_uid text, ctag text, sync_token text) RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT CASE key
    WHEN 'DAV:|resourcetype' THEN CASE kind WHEN 'root' THEN '<D:collection/>'
                                            WHEN 'home' THEN '<D:collection/><D:principal/>'
                                            WHEN 'calendar' THEN '<D:collection/><C:calendar/>'
                                            ELSE '' END
    WHEN 'DAV:|displayname' THEN @extschema@._xml_text(CASE kind WHEN 'root' THEN 'taskmgmt'
                                                                 WHEN 'home' THEN me_name
                                                                 WHEN 'calendar' THEN 'Tasks'
                                                                 ELSE t.title END)
    WHEN 'DAV:|current-user-principal' THEN '<D:href>/dav/users/' || me_id || '/</D:href>'
    WHEN 'DAV:|principal-URL' THEN CASE WHEN kind = 'home' THEN '<D:href>/dav/users/' || me_id || '/</D:href>' END
    WHEN 'DAV:|owner' THEN CASE WHEN kind IN ('calendar', 'home') THEN '<D:href>/dav/users/' || me_id || '/</D:href>' END
    WHEN 'urn:ietf:params:xml:ns:caldav|calendar-home-set' THEN
      CASE WHEN kind IN ('home', 'root') THEN '<D:href>/dav/users/' || me_id || '/</D:href>' END
    WHEN 'urn:ietf:params:xml:ns:caldav|calendar-user-address-set' THEN
      CASE WHEN kind = 'home' THEN '<D:href>mailto:' || @extschema@._xml_text(me_email) || '</D:href>' END
    WHEN 'urn:ietf:params:xml:ns:caldav|supported-calendar-component-set' THEN
      CASE WHEN kind = 'calendar' THEN '<C:comp name="VTODO"/>' END
    WHEN 'urn:ietf:params:xml:ns:caldav|supported-calendar-data' THEN
      CASE WHEN kind = 'calendar' THEN '<C:calendar-data content-type="text/calendar" version="2.0"/>' END
    WHEN 'urn:ietf:params:xml:ns:caldav|calendar-description' THEN
      CASE WHEN kind = 'calendar' THEN 'Every task you can see in taskmgmt' END
    WHEN 'DAV:|supported-report-set' THEN
      CASE WHEN kind = 'calendar' THEN
        '<D:supported-report><D:report><C:calendar-query/></D:report></D:supported-report>'
        || '<D:supported-report><D:report><C:calendar-multiget/></D:report></D:supported-report>'
        || '<D:supported-report><D:report><D:sync-collection/></D:report></D:supported-report>' END
    WHEN 'DAV:|current-user-privilege-set' THEN
      CASE WHEN kind IN ('calendar', 'object') THEN
        '<D:privilege><D:read/></D:privilege><D:privilege><D:read-current-user-privilege-set/></D:privilege>'
        || CASE WHEN @extschema@._current_token_read_only() THEN ''
                ELSE '<D:privilege><D:write/></D:privilege><D:privilege><D:write-content/></D:privilege>'
                     || '<D:privilege><D:bind/></D:privilege><D:privilege><D:unbind/></D:privilege>' END
        ELSE '<D:privilege><D:read/></D:privilege>' END
    WHEN 'DAV:|sync-token' THEN CASE WHEN kind = 'calendar' THEN @extschema@._xml_text(sync_token) END
    WHEN 'http://calendarserver.org/ns/|getctag' THEN CASE WHEN kind = 'calendar' THEN ctag END
    WHEN 'DAV:|getetag' THEN CASE WHEN kind = 'object' THEN '&quot;' || t.version || '&quot;'
                                  WHEN kind = 'calendar' THEN '&quot;' || ctag || '&quot;' END
    WHEN 'DAV:|getcontenttype' THEN CASE WHEN kind = 'object' THEN 'text/calendar; charset=utf-8; component=vtodo' END
    WHEN 'DAV:|getlastmodified' THEN
      CASE WHEN kind = 'object' THEN to_char(t.updated_at AT TIME ZONE 'UTC', 'Dy, DD Mon YYYY HH24:MI:SS "GMT"') END
    WHEN 'urn:ietf:params:xml:ns:caldav|calendar-data' THEN
      CASE WHEN kind = 'object' THEN @extschema@._xml_text(@extschema@.task_ical(t, res_uid)) END
  END
$$;

-- allprop: everything but calendar-data.
CREATE FUNCTION @extschema@._dav_allprop() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '{DAV:|resourcetype,DAV:|displayname,DAV:|current-user-principal,DAV:|getetag,DAV:|getcontenttype,DAV:|getlastmodified,urn:ietf:params:xml:ns:caldav|supported-calendar-component-set,DAV:|sync-token}'::text[]
$$;

-- The requested properties of a PROPFIND, REPORT or sync-collection body
-- under the element at path (NULL body or allprop: allprop).
CREATE FUNCTION @extschema@._dav_requested(doc xml, path text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN doc IS NULL
                   OR (xpath('count(' || path || '/D:allprop) + count(' || path || '/D:propname)', doc,
                             ARRAY[ARRAY['D', 'DAV:']]))[1]::text::numeric > 0
                   OR (xpath('count(' || path || '/D:prop)', doc, ARRAY[ARRAY['D', 'DAV:']]))[1]::text::numeric = 0
              THEN @extschema@._dav_allprop()
              ELSE @extschema@._dav_children(doc, path || '/D:prop') END
$$;

CREATE FUNCTION @extschema@._current_token_read_only() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce((SELECT NOT ('write' = ANY (t.scopes)) FROM @extschema@.personal_tokens t
                    WHERE t.id = @extschema@._current_token_id()), false)
$$;

-- The collection's ctag: changes whenever a task in it (as this user sees
-- it) does, and says nothing about others' tasks.
CREATE FUNCTION @extschema@._dav_ctag() RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT md5(coalesce(string_agg(t.id || ':' || t.version, ',' ORDER BY t.id), ''))
    FROM @extschema@.tasks t
$$;

-- Which database a sync token belongs to: the cluster's system identifier
-- (kept by its standbys, so a failover keeps the tokens) and the
-- database's OID.  A restore makes a new one, so a token from before it,
-- whose transaction ids mean nothing there, is refused (valid-sync-token)
-- instead of silently missing changes.
CREATE FUNCTION @extschema@._dav_sync_epoch() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
  SELECT (SELECT system_identifier FROM pg_control_system()) || '.'
         || (SELECT oid FROM pg_database WHERE datname = current_database())
$$;

CREATE FUNCTION @extschema@._dav_sync_token() RETURNS text
LANGUAGE sql VOLATILE PARALLEL RESTRICTED AS $$
  SELECT 'urn:x-taskmgmt:sync:' || @extschema@._dav_sync_epoch() || '-' || pg_snapshot_xmin(pg_current_snapshot())
$$;

-- The visible task a resource name stands for, and its UID (NULLs: none).
CREATE FUNCTION @extschema@._dav_find(name text, OUT task_id bigint, OUT uid text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
BEGIN
  IF name ~ '^[1-9][0-9]{0,17}\.ics$' THEN
    SELECT x.id, 'taskmgmt-task-' || x.id INTO task_id, uid FROM @extschema@.tasks x
     WHERE x.id = split_part(name, '.', 1)::bigint
       AND NOT EXISTS (SELECT FROM @extschema@.dav_resources r WHERE r.task_id = x.id);
  ELSE
    SELECT r.task_id, r.uid INTO task_id, uid
      FROM @extschema@.dav_resources r JOIN @extschema@.tasks x ON x.id = r.task_id
     WHERE r.name = _dav_find.name ORDER BY x.id LIMIT 1;
  END IF;
END
$$;

-- ---------------------------------------------------------------- DAV requests

-- Signs in with HTTP Basic credentials: the account's email and one of its
-- personal access tokens (never the password: calendar apps store it).
CREATE FUNCTION @extschema@.dav_authenticate(credentials text) RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  m text[] := regexp_match(coalesce(credentials, ''), '^\s*Basic\s+([A-Za-z0-9+/=]+)\s*$', 'i');
  pair text;
  uid bigint;
BEGIN
  IF m IS NULL THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '28000', MESSAGE = 'HTTP Basic authentication required',
      HINT = 'User name: your email; password: a personal access token.';
  END IF;
  BEGIN
    pair := convert_from(decode(m[1], 'base64'), 'UTF8');
  EXCEPTION WHEN OTHERS THEN
    pair := NULL;
  END;
  IF pair IS NULL OR position(':' IN pair) = 0 THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '28000', MESSAGE = 'malformed HTTP Basic credentials';
  END IF;
  IF substr(pair, position(':' IN pair) + 1) !~ '^tmpat_' THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '28000', MESSAGE = 'invalid credentials',
      HINT = 'The password must be a personal access token (POST /api/v1/me/tokens), not the account password.';
  END IF;
  uid := @extschema@.authenticate(substr(pair, position(':' IN pair) + 1));
  IF NOT EXISTS (SELECT FROM @extschema@.users u
                  WHERE u.id = uid AND lower(u.email) = lower(btrim(split_part(pair, ':', 1)))) THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '28000', MESSAGE = 'invalid credentials';
  END IF;
  RETURN uid;
END
$$;

-- One CalDAV request.  path: the URL path (percent-encoded, no query);
-- depth, if_match, if_none_match: those headers or NULL; body: the raw
-- request body.  The answer's columns become the status, headers and body.
CREATE FUNCTION @extschema@.dav(method text, path text, depth text, if_match text, if_none_match text,
                                request_body text)
RETURNS TABLE (status integer, content_type text, etag text, location text, dav text, allow text, body text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
  xml_type constant text := 'application/xml; charset=utf-8';
  me_id bigint := @extschema@._require_user();
  me_email text;
  me_name text;
  seg text[];
  kind text;
  name text;
  base text;
  doc xml;
  props text[];
  resp text := '';
  ctag text;
  token text;
  f record;
  t @extschema@.tasks;
  res_uid text;
  found bigint;
  parent bigint;
  fields jsonb;
  answer jsonb;
  expected integer;
  report text;
  since xid8;
  hrefs text[];
  h text;
  vtodo boolean := true;
  open_only boolean := false;
BEGIN
  SELECT u.email, u.display_name INTO me_email, me_name FROM @extschema@.users u WHERE u.id = me_id;
  base := '/dav/users/' || me_id || '/';
  method := upper(method);

  -- where: root, home, calendar or object (another user's paths: not found)
  IF path IN ('/.well-known/caldav', '/.well-known/caldav/') THEN
    RETURN QUERY SELECT 301, NULL::text, NULL::text, '/dav/'::text, NULL::text, NULL::text, NULL::text;
    RETURN;
  END IF;
  seg := array_remove(string_to_array(split_part(coalesce(path, ''), '?', 1), '/'), '');
  IF seg = '{dav}' THEN
    kind := 'root';
  ELSIF seg[1] = 'dav' AND seg[2] = 'users' AND seg[3] = me_id::text AND cardinality(seg) = 3 THEN
    kind := 'home';
  ELSIF seg[1] = 'dav' AND seg[2] = 'users' AND seg[3] = me_id::text AND seg[4] = 'tasks' AND cardinality(seg) = 4 THEN
    kind := 'calendar';
  ELSIF seg[1] = 'dav' AND seg[2] = 'users' AND seg[3] = me_id::text AND seg[4] = 'tasks' AND cardinality(seg) = 5 THEN
    kind := 'object';
    name := @extschema@._url_decode(seg[5]);
    IF name IS NULL OR name !~ '^[A-Za-z0-9._~@+=-]{1,250}\.ics$' THEN
      PERFORM @extschema@._not_found('calendar object');
    END IF;
  ELSE
    PERFORM @extschema@._not_found('DAV resource');
  END IF;

  IF method = 'OPTIONS' THEN
    RETURN QUERY SELECT 200, NULL::text, NULL::text, NULL::text, '1, 3, calendar-access'::text,
                        'OPTIONS, GET, PUT, DELETE, PROPFIND, PROPPATCH, REPORT'::text, NULL::text;
    RETURN;
  END IF;

  IF kind = 'object' THEN
    SELECT x.task_id, x.uid INTO found, res_uid FROM @extschema@._dav_find(name) x;
    SELECT * INTO t FROM @extschema@.tasks x WHERE x.id = found;
  END IF;

  CASE method
  WHEN 'PROPFIND' THEN
    IF nullif(btrim(coalesce(request_body, '')), '') IS NOT NULL THEN
      doc := @extschema@._dav_document(request_body, 'DAV:|propfind');
    END IF;
    props := @extschema@._dav_requested(doc, '/D:propfind');
    IF kind = 'object' AND t.id IS NULL THEN PERFORM @extschema@._not_found('calendar object'); END IF;
    IF kind = 'calendar' THEN
      ctag := @extschema@._dav_ctag();
      token := @extschema@._dav_sync_token();
    END IF;
    resp := @extschema@._dav_response(
              CASE kind WHEN 'root' THEN '/dav/' WHEN 'home' THEN base WHEN 'calendar' THEN base || 'tasks/'
                        ELSE base || 'tasks/' || name END,
              props, ARRAY(SELECT @extschema@._dav_prop(kind, k, me_id, me_email, me_name, t, res_uid, ctag, token) FROM unnest(props) k));
    IF coalesce(depth, '1') <> '0' THEN
      IF kind = 'home' THEN
        ctag := @extschema@._dav_ctag();
        token := @extschema@._dav_sync_token();
        resp := resp || @extschema@._dav_response(base || 'tasks/', props,
                  ARRAY(SELECT @extschema@._dav_prop('calendar', k, me_id, me_email, me_name, NULL, NULL, ctag, token) FROM unnest(props) k));
      ELSIF kind = 'calendar' THEN
        resp := resp || coalesce((
          SELECT string_agg(@extschema@._dav_response(base || 'tasks/' || coalesce(r.name, x.id || '.ics'), props,
                              ARRAY(SELECT @extschema@._dav_prop('object', k, me_id, me_email, me_name, x, r.uid, NULL, NULL)
                                      FROM unnest(props) k)), '' ORDER BY x.id)
            FROM @extschema@.tasks x LEFT JOIN @extschema@.dav_resources r ON r.task_id = x.id), '');
      END IF;
    END IF;
    RETURN QUERY SELECT 207, xml_type, NULL::text, NULL::text, NULL::text, NULL::text,
                        @extschema@._dav_multistatus(resp);

  WHEN 'PROPPATCH' THEN
    -- nothing here is the client's to set: every property is refused
    doc := @extschema@._dav_document(request_body, 'DAV:|propertyupdate');
    props := @extschema@._dav_children(doc, '/D:propertyupdate/D:set/D:prop')
             || @extschema@._dav_children(doc, '/D:propertyupdate/D:remove/D:prop');
    RETURN QUERY SELECT 207, xml_type, NULL::text, NULL::text, NULL::text, NULL::text,
      @extschema@._dav_multistatus('<D:response><D:href>' || @extschema@._xml_text(path) || '</D:href>'
        || '<D:propstat><D:prop>' || coalesce((SELECT string_agg(@extschema@._dav_element(k, NULL), '') FROM unnest(props) k), '')
        || '</D:prop><D:status>HTTP/1.1 403 Forbidden</D:status>'
        || '<D:responsedescription>properties are read-only</D:responsedescription></D:propstat></D:response>');

  WHEN 'REPORT' THEN
    IF kind <> 'calendar' THEN
      RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'REPORT is supported on the calendar collection only';
    END IF;
    doc := @extschema@._dav_document(request_body, 'urn:ietf:params:xml:ns:caldav|calendar-query',
                                     'urn:ietf:params:xml:ns:caldav|calendar-multiget', 'DAV:|sync-collection');
    report := (xpath('local-name(/*)', doc))[1]::text;
    props := @extschema@._dav_requested(doc, '/*');
    IF report = 'calendar-query' THEN
      -- component filters: VCALENDAR > VTODO (or none); COMPLETED is-not-defined
      -- keeps open tasks; other filters are not applied (clients filter too)
      vtodo := coalesce((SELECT bool_and(n = 'VTODO') FROM unnest(@extschema@._dav_texts(doc,
                 '/C:calendar-query/C:filter/C:comp-filter/C:comp-filter/@name')) n), true);
      open_only := (xpath('count(/C:calendar-query/C:filter/C:comp-filter/C:comp-filter/C:prop-filter[@name="COMPLETED"]/C:is-not-defined)',
                          doc, ARRAY[ARRAY['C', 'urn:ietf:params:xml:ns:caldav']]))[1]::text::numeric > 0;
      resp := coalesce((
        SELECT string_agg(@extschema@._dav_response(base || 'tasks/' || coalesce(r.name, x.id || '.ics'), props,
                            ARRAY(SELECT @extschema@._dav_prop('object', k, me_id, me_email, me_name, x, r.uid, NULL, NULL) FROM unnest(props) k)),
                          '' ORDER BY x.id)
          FROM @extschema@.tasks x LEFT JOIN @extschema@.dav_resources r ON r.task_id = x.id
         WHERE vtodo AND (NOT open_only OR x.status <> 'done')), '');
      RETURN QUERY SELECT 207, xml_type, NULL::text, NULL::text, NULL::text, NULL::text,
                          @extschema@._dav_multistatus(resp);
    ELSIF report = 'calendar-multiget' THEN
      hrefs := @extschema@._dav_texts(doc, '/C:calendar-multiget/D:href/text()');
      FOREACH h IN ARRAY hrefs LOOP
        name := @extschema@._url_decode(regexp_replace(btrim(h), '^https?://[^/]+', ''));
        IF name IS NOT NULL AND starts_with(name, base || 'tasks/') THEN
          name := substr(name, length(base || 'tasks/') + 1);
          SELECT x.task_id, x.uid INTO found, res_uid FROM @extschema@._dav_find(name) x;
        ELSE
          found := NULL;
        END IF;
        t := NULL;
        SELECT * INTO t FROM @extschema@.tasks x WHERE x.id = found;
        IF t.id IS NULL THEN
          resp := resp || @extschema@._dav_status_response(btrim(h), '404 Not Found');
        ELSE
          resp := resp || @extschema@._dav_response(btrim(h), props,
                    ARRAY(SELECT @extschema@._dav_prop('object', k, me_id, me_email, me_name, t, res_uid, NULL, NULL) FROM unnest(props) k));
        END IF;
      END LOOP;
      RETURN QUERY SELECT 207, xml_type, NULL::text, NULL::text, NULL::text, NULL::text,
                          @extschema@._dav_multistatus(resp);
    ELSE
      token := btrim(coalesce((@extschema@._dav_texts(doc, '/D:sync-collection/D:sync-token/text()'))[1], ''));
      IF token <> '' THEN
        IF token !~ '^urn:x-taskmgmt:sync:[0-9]{1,20}\.[0-9]{1,10}-[0-9]{1,20}$'
           OR split_part(split_part(token, ':', 4), '-', 1) <> @extschema@._dav_sync_epoch() THEN
          RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'invalid sync token',
            HINT = 'Synchronise again without a token (DAV:valid-sync-token).';
        END IF;
        since := split_part(split_part(token, ':', 4), '-', 2)::xid8;
        IF @extschema@._dav_access_changed_since(since) THEN
          RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501',
            MESSAGE = 'sync token expired: the tasks you may see changed (team membership or role)',
            HINT = 'Synchronise again without a token (DAV:valid-sync-token).';
        END IF;
      END IF;
      token := @extschema@._dav_sync_token();
      IF since IS NULL THEN
        resp := coalesce((
          SELECT string_agg(@extschema@._dav_response(base || 'tasks/' || coalesce(r.name, x.id || '.ics'), props,
                              ARRAY(SELECT @extschema@._dav_prop('object', k, me_id, me_email, me_name, x, r.uid, NULL, NULL) FROM unnest(props) k)),
                            '' ORDER BY x.id)
            FROM @extschema@.tasks x LEFT JOIN @extschema@.dav_resources r ON r.task_id = x.id), '');
      ELSE
        FOR f IN SELECT * FROM @extschema@._dav_changes_since(since) c ORDER BY c.task_id LOOP
          IF f.removed THEN
            resp := resp || @extschema@._dav_status_response(base || 'tasks/' || f.name, '404 Not Found');
          ELSE
            SELECT x.* INTO t FROM @extschema@.tasks x WHERE x.id = f.task_id;
            SELECT r.uid INTO res_uid FROM @extschema@.dav_resources r WHERE r.task_id = f.task_id;
            resp := resp || @extschema@._dav_response(base || 'tasks/' || f.name, props,
                      ARRAY(SELECT @extschema@._dav_prop('object', k, me_id, me_email, me_name, t, res_uid, NULL, NULL) FROM unnest(props) k));
          END IF;
        END LOOP;
      END IF;
      RETURN QUERY SELECT 207, xml_type, NULL::text, NULL::text, NULL::text, NULL::text,
                          @extschema@._dav_multistatus(resp, token);
    END IF;

  WHEN 'GET' THEN
    IF kind <> 'object' THEN
      RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'collections have no content: GET a .ics resource';
    END IF;
    IF t.id IS NULL THEN PERFORM @extschema@._not_found('calendar object'); END IF;
    RETURN QUERY SELECT 200, 'text/calendar; charset=utf-8'::text, '"' || t.version || '"', NULL::text,
                        NULL::text, NULL::text, @extschema@.task_ical(t, res_uid);

  WHEN 'PUT' THEN
    IF kind <> 'object' THEN
      RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'PUT a .ics resource into the calendar collection';
    END IF;
    IF if_match IS NOT NULL AND btrim(if_match) <> '*' THEN
      IF btrim(if_match) !~ '^(W/)?"[0-9]{1,9}"$' THEN
        RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM412', MESSAGE = 'If-Match names no version of this resource';
      END IF;
      expected := substring(if_match FROM '"([0-9]+)"')::integer;
    END IF;
    fields := @extschema@._ical_parse_vtodo(coalesce(request_body, ''));
    IF NOT fields ? 'uid' OR btrim(fields ->> 'uid') = '' THEN
      PERFORM @extschema@._invalid('UID', 'is required');
    END IF;
    IF fields ? 'parent_uid' THEN
      parent := @extschema@._dav_uid_task(fields ->> 'parent_uid');
      IF parent IS NULL THEN
        PERFORM @extschema@._invalid('RELATED-TO', 'names no task you can see');
      END IF;
    END IF;
    IF t.id IS NOT NULL THEN
      IF btrim(coalesce(if_none_match, '')) = '*' THEN
        RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM412', MESSAGE = 'the resource exists (If-None-Match: *)';
      END IF;
      IF fields ->> 'uid' <> res_uid THEN
        PERFORM @extschema@._invalid('UID', 'cannot change: this resource is ' || res_uid);
      END IF;
      -- PUT replaces: what the VTODO leaves out is cleared
      answer := @extschema@.update_task(t.id, jsonb_build_object('description', '', 'priority', 'none', 'due_date', NULL,
                                                                 'recurrence', NULL, 'parent_id', parent)
                                              || (fields - 'uid' - 'parent_uid'), expected);
      RETURN QUERY SELECT 204, NULL::text, '"' || (answer ->> 'version') || '"', NULL::text, NULL::text, NULL::text, NULL::text;
    ELSE
      IF if_match IS NOT NULL THEN
        RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM412', MESSAGE = 'the resource does not exist (If-Match)';
      END IF;
      IF name ~ '^[0-9]+\.ics$' THEN
        RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'names of the form <number>.ics are reserved for tasks made elsewhere',
          HINT = 'Name a new resource after its UID.';
      END IF;
      IF fields ->> 'uid' ~ '^taskmgmt-task-' OR EXISTS (SELECT FROM @extschema@.dav_resources r WHERE r.uid = fields ->> 'uid') THEN
        RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '23505', MESSAGE = 'a task with this UID already exists in the calendar',
          HINT = 'CALDAV:no-uid-conflict: update that resource instead.';
      END IF;
      answer := @extschema@.create_task(fields - 'uid' - 'parent_uid' || jsonb_build_object('parent_id', parent));
      INSERT INTO @extschema@.dav_resources (task_id, name, uid)
      VALUES ((answer ->> 'id')::bigint, name, fields ->> 'uid');
      RETURN QUERY SELECT 201, NULL::text, '"' || (answer ->> 'version') || '"', base || 'tasks/' || name,
                          NULL::text, NULL::text, NULL::text;
    END IF;

  WHEN 'DELETE' THEN
    IF kind <> 'object' THEN
      RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'the calendar cannot be deleted; delete its tasks one by one';
    END IF;
    IF t.id IS NULL THEN PERFORM @extschema@._not_found('calendar object'); END IF;
    IF if_match IS NOT NULL AND btrim(if_match) <> '*'
       AND substring(if_match FROM '"([0-9]+)"') IS DISTINCT FROM t.version::text THEN
      RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM412', MESSAGE = 'task was changed by someone else',
        DETAIL = format('Expected %s, current version is %s.', btrim(if_match), t.version);
    END IF;
    PERFORM @extschema@.delete_task(t.id);
    RETURN QUERY SELECT 204, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text;

  WHEN 'MKCALENDAR', 'MKCOL' THEN
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = '42501', MESSAGE = 'there is one calendar per user: its tasks';
  ELSE
    RAISE EXCEPTION USING SCHEMA = 'taskmgmt', ERRCODE = 'TM400', MESSAGE = method || ' is not supported here';
  END CASE;
END
$$;

-- what this file made is not PUBLIC's (functions are executable by PUBLIC when made)
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @extschema@ FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._ical_vtodo(text, text, text, text, text, date, text[], timestamptz, timestamptz, timestamptz, integer, text, text),
  @extschema@._ical_feed(text, text[], text[], date[], text[], timestamptz[]),
  @extschema@._ical_parse_vtodo(text), @extschema@._feed_authenticate(text),
  @extschema@.task_ical(@extschema@.tasks, text),
  @extschema@.create_calendar_feed(), @extschema@.revoke_calendar_feed(), @extschema@.calendar_feed(text),
  @extschema@._dav_changes_since(xid8), @extschema@._dav_access_changed_since(xid8), @extschema@._xml_text(text), @extschema@._url_decode(text),
  @extschema@._dav_children(xml, text), @extschema@._dav_texts(xml, text), @extschema@._dav_document(text, text[]),
  @extschema@._dav_element(text, text), @extschema@._dav_multistatus(text, text),
  @extschema@._dav_response(text, text[], text[]), @extschema@._dav_status_response(text, text),
  @extschema@._dav_prop(text, text, bigint, text, text, @extschema@.tasks, text, text, text),
  @extschema@._dav_allprop(), @extschema@._dav_requested(xml, text), @extschema@._current_token_read_only(),
  @extschema@._dav_ctag(), @extschema@._dav_sync_epoch(), @extschema@._dav_sync_token(), @extschema@._dav_find(text), @extschema@._dav_uid_task(text),
  @extschema@.dav_authenticate(text), @extschema@.dav(text, text, text, text, text, text) TO taskmgmt_client;
