-- Tables.  Every table has RLS enabled and forced (see 40_rls.sql).
-- Data tables are registered with pg_extension_config_dump so pg_dump keeps
-- them; the signing key is deliberately not dumped (a restore makes a new one).

CREATE TABLE @extschema@.users (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email        text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
  display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
  role         text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  disabled     boolean NOT NULL DEFAULT false,
  timezone     text NOT NULL DEFAULT 'UTC',
  preferences  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(preferences) = 'object'),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_lower_key ON @extschema@.users (lower(email));
COMMENT ON TABLE @extschema@.users IS 'People who can sign in; email unique case-insensitively.';

-- Password hashes, apart from users so no client grant can ever reach them.
CREATE TABLE @extschema@.credentials (
  user_id       bigint PRIMARY KEY REFERENCES @extschema@.users ON DELETE CASCADE,
  password_hash text NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Sign-in attempts per sha256(lower(email)), known address or not, and
-- client address ('' for the email from all addresses together); each is
-- counted before its bcrypt, and a right password takes its count back.
-- locked_until: no attempt before then (see _login_attempt()).
CREATE TABLE @extschema@.login_failures (
  email_key    bytea NOT NULL,
  failures     integer NOT NULL,
  window_start timestamptz NOT NULL,
  locked_until timestamptz,
  client       text NOT NULL DEFAULT '',
  CONSTRAINT login_failures_pkey PRIMARY KEY (email_key, client)
);

CREATE TABLE @extschema@.sessions (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id       bigint NOT NULL REFERENCES @extschema@.users ON DELETE CASCADE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  revoked_at    timestamptz,
  revoke_reason text
);
CREATE INDEX sessions_user_id_idx ON @extschema@.sessions (user_id);

-- Refresh tokens are stored only as sha256 of the token.
CREATE TABLE @extschema@.refresh_tokens (
  token_hash bytea PRIMARY KEY,
  session_id bigint NOT NULL REFERENCES @extschema@.sessions ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  rotated_at timestamptz
);
CREATE INDEX refresh_tokens_session_id_idx ON @extschema@.refresh_tokens (session_id);

-- The HS256 key: one row, readable by the extension owner and superusers only.
-- notify_secret keys the pseudonyms NOTIFY payloads carry instead of user
-- ids (80_notifications.sql): random at install (gen_random_uuid() draws
-- from pg_strong_random, 122 bits each), and kept when the signing key
-- rotates, so live websockets keep recognising their user's key.
CREATE TABLE @extschema@.signing_keys (
  id            integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  secret        bytea NOT NULL CHECK (length(secret) >= 32),
  created_at    timestamptz NOT NULL DEFAULT now(),
  notify_secret bytea NOT NULL DEFAULT (uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()))
                CHECK (length(notify_secret) >= 16)
);

CREATE TABLE @extschema@.teams (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  created_by bigint REFERENCES @extschema@.users ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE @extschema@.team_members (
  team_id  bigint NOT NULL REFERENCES @extschema@.teams ON DELETE CASCADE,
  user_id  bigint NOT NULL REFERENCES @extschema@.users ON DELETE CASCADE,
  role     @extschema@.team_role NOT NULL DEFAULT 'member',
  added_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user_id_idx ON @extschema@.team_members (user_id, team_id);

CREATE TABLE @extschema@.tasks (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  title            text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  description      text NOT NULL DEFAULT '' CHECK (length(description) <= 100000),
  status           @extschema@.task_status NOT NULL DEFAULT 'todo',
  priority         @extschema@.task_priority NOT NULL DEFAULT 'none',
  due_date         date,
  team_id          bigint REFERENCES @extschema@.teams ON DELETE SET NULL,
  assignee_user_id bigint REFERENCES @extschema@.users ON DELETE SET NULL,
  assignee_team_id bigint REFERENCES @extschema@.teams ON DELETE SET NULL,
  tags             text[] NOT NULL DEFAULT '{}',
  creator_id       bigint NOT NULL REFERENCES @extschema@.users,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  completed_at     timestamptz,
  version          integer NOT NULL DEFAULT 1,
  CONSTRAINT tasks_one_assignee CHECK (assignee_user_id IS NULL OR assignee_team_id IS NULL)
);
CREATE INDEX tasks_creator_id_idx ON @extschema@.tasks (creator_id);
CREATE INDEX tasks_assignee_team_id_idx ON @extschema@.tasks (assignee_team_id) WHERE assignee_team_id IS NOT NULL;
CREATE INDEX tasks_team_id_idx ON @extschema@.tasks (team_id) WHERE team_id IS NOT NULL;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.users', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.credentials', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sessions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.refresh_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.teams', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.team_members', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tasks', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.users_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sessions_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.teams_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tasks_id_seq', '');
