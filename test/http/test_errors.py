"""Database errors -> problem+json: the extension's messages reach clients,
PostgreSQL's own never do, and SQLSTATE TMnnn is HTTP status nnn."""
import os
import time
import uuid

import requests

from conftest import API, PASSWORD, extra_shim, problem, psql


def test_extension_messages_reach_the_client(alice):
    # raised by the extension's C code (identity, sign-in, registration)
    b = problem(requests.get(API + "/me", headers={"Authorization": "Bearer x.y.z"}), 401)
    assert b["code"] == "unauthorized" and b["detail"] == "invalid access token"
    b = problem(requests.post(API + "/auth/token", json={"username": alice.email, "password": "wrong " + PASSWORD}), 401)
    assert b["code"] == "invalid_credentials" and b["detail"] == "invalid email or password"
    b = problem(requests.post(API + "/auth/register",
                              json={"email": alice.email, "password": PASSWORD, "display_name": "again"}), 409)
    assert b["code"] == "conflict" and b["detail"] == "email is already registered"
    # raised by its PL/pgSQL
    b = problem(requests.get(API + "/tasks/9223372036854775807", headers=alice.h), 404)
    assert b["detail"] == "task not found"
    b = problem(requests.patch(API + f"/admin/users/{alice.id}", headers=alice.h, json={"role": "admin"}), 403)
    assert b["code"] == "forbidden" and b["detail"] == "only admins can change users"


def test_postgres_constraint_errors_never_reach_the_client(alice):
    # PostgreSQL names the schema (taskmgmt) of the constraint it reports:
    # that alone must not make its message one for clients
    psql("CREATE UNIQUE INDEX http_test_team_name ON taskmgmt.teams (name) WHERE name LIKE 'dup-team-%'")
    try:
        name = f"dup-team-{uuid.uuid4().hex[:8]}"
        assert requests.post(API + "/teams", headers=alice.h, json={"name": name}).status_code == 201
        r = requests.post(API + "/teams", headers=alice.h, json={"name": name})
        b = problem(r, 409)
        assert b["code"] == "conflict" and b["detail"] == "already exists"
        assert "taskmgmt" not in r.text and "http_test_team_name" not in r.text and "duplicate" not in r.text
    finally:
        psql("DROP INDEX taskmgmt.http_test_team_name")


RAISES = """
CREATE FUNCTION public.http_test_raise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  CASE NEW.name
    WHEN 'tm409' THEN
      RAISE EXCEPTION USING ERRCODE = 'TM409', SCHEMA = 'taskmgmt', MESSAGE = 'one board per team';
    WHEN 'tm503' THEN
      RAISE EXCEPTION USING ERRCODE = 'TM503', SCHEMA = 'taskmgmt', MESSAGE = 'boards are resting';
    WHEN 'tm418' THEN
      RAISE EXCEPTION USING ERRCODE = 'TM418', SCHEMA = 'taskmgmt', MESSAGE = 'a teapot';
    WHEN 'marked' THEN
      RAISE EXCEPTION USING ERRCODE = '42501', SCHEMA = 'taskmgmt', MESSAGE = 'teams are closed today';
    WHEN 'unmarked' THEN
      RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'secret internal reason';
    WHEN 'with table' THEN
      RAISE EXCEPTION USING ERRCODE = '42501', SCHEMA = 'taskmgmt', TABLE = 'teams',
        MESSAGE = 'secret internal reason';
    WHEN 'other schema' THEN
      RAISE EXCEPTION USING ERRCODE = '42501', SCHEMA = 'public', MESSAGE = 'secret internal reason';
    ELSE NULL;
  END CASE;
  RETURN NEW;
END
$$;
CREATE TRIGGER http_test_raise BEFORE INSERT ON taskmgmt.teams
  FOR EACH ROW EXECUTE FUNCTION public.http_test_raise();
"""


def test_tm_sqlstate_is_http_status_and_only_marked_messages_show(alice):
    psql(RAISES)
    try:
        def create(name):
            return requests.post(API + "/teams", headers=alice.h, json={"name": name})

        b = problem(create("tm409"), 409)
        assert b["code"] == "conflict" and b["detail"] == "one board per team"
        r = create("tm503")
        b = problem(r, 503)
        assert b["code"] == "unavailable" and int(r.headers["Retry-After"]) >= 1
        # a status the shim does not know is a bug: 500 with a fixed text
        r = create("tm418")
        b = problem(r, 500)
        assert b["code"] == "internal_error" and "teapot" not in r.text
        b = problem(create("marked"), 403)
        assert b["detail"] == "teams are closed today"
        for name in ("unmarked", "with table", "other schema"):
            r = create(name)
            b = problem(r, 403)
            assert b["detail"] == "not allowed" and "secret" not in r.text, name
    finally:
        psql("DROP TRIGGER http_test_raise ON taskmgmt.teams; DROP FUNCTION public.http_test_raise()")


def test_write_on_a_standby_is_503_and_the_connection_is_renewed(alice):
    """A server that turned read-only (a primary demoted by a failover)
    answers writes with 25006: that is 503 with Retry-After, never 500, and
    reads still work.  The login role's default_transaction_read_only stands
    in for a standby; the shim connects directly (not through a pooler)."""
    psql("""DO $$ BEGIN
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tm_http_ro_shim') THEN
                CREATE ROLE tm_http_ro_shim LOGIN;
              END IF;
            END $$;
            GRANT taskmgmt_client TO tm_http_ro_shim;
            ALTER ROLE tm_http_ro_shim SET default_transaction_read_only = on""")
    url = (f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} "
           f"dbname={os.environ['TEST_DB_NAME']} user=tm_http_ro_shim")
    h = {"Authorization": "Bearer " + alice.token}
    with extra_shim(database_url=url) as base:
        for _ in range(3):              # again after each reconnect
            time.sleep(1.1)             # (a renewal within 1 s waits 250 ms first)
            r = requests.post(base + "/api/v1/tasks", headers=h, json={"title": "on a standby"})
            b = problem(r, 503)
            assert b["code"] == "unavailable" and int(r.headers["Retry-After"]) >= 1
            assert "read-only" not in r.text
            r = requests.get(base + "/api/v1/tasks?limit=1", headers=h)
            assert r.status_code == 200, r.text
