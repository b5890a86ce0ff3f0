"""Personal access tokens, saved views and webhooks over HTTP (#13)."""
import base64
import hashlib
import hmac
import http.server
import json
import os
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import API, PASSWORD, new_user, problem, psql, sign_in

MAILER = os.path.join(os.environ.get("TM_ROOT", os.path.join(os.path.dirname(__file__), "..", "..")),
                      "mailer", "taskmgmt-mailer")


def token(u, scopes=("read", "write"), name="ci", **extra):
    r = requests.post(API + "/me/tokens", json={"name": name, "scopes": list(scopes), **extra}, headers=u.h)
    assert r.status_code == 201, r.text
    return r.json()


def bearer(secret):
    return {"Authorization": "Bearer " + secret}


# ---------------------------------------------------------------- personal access tokens

def test_token_is_shown_once_and_works_like_an_access_token(alice):
    t = token(alice, expires_in_days=7)
    assert t["token"].startswith("tmpat_") and t["scopes"] == ["read", "write"] and t["expires_at"]
    listed = requests.get(API + "/me/tokens", headers=alice.h).json()
    assert [x["id"] for x in listed] == [t["id"]]
    assert "token" not in listed[0] and listed[0]["last_used_at"] is None
    r = requests.get(API + "/me", headers=bearer(t["token"]))
    assert r.status_code == 200 and r.json()["email"] == alice.email
    r = requests.post(API + "/tasks", json={"title": "made by a script"}, headers=bearer(t["token"]))
    assert r.status_code == 201 and r.json()["creator_id"] == alice.id
    assert requests.get(API + "/me/tokens", headers=alice.h).json()[0]["last_used_at"] is not None


def test_read_token_is_refused_on_writes_with_insufficient_scope(alice):
    ro = token(alice, scopes=["read"])["token"]
    task = requests.post(API + "/tasks", json={"title": "mine"}, headers=alice.h).json()
    assert requests.get(API + "/tasks", headers=bearer(ro)).status_code == 200
    assert requests.get(f"{API}/tasks/{task['id']}", headers=bearer(ro)).status_code == 200
    for method, path, body in [("POST", "/tasks", {"title": "nope"}),
                               ("PATCH", f"/tasks/{task['id']}", {"title": "nope"}),
                               ("DELETE", f"/tasks/{task['id']}", None),
                               ("POST", f"/tasks/{task['id']}/comments", {"body": "nope"}),
                               ("PATCH", "/me", {"display_name": "nope"})]:
        r = requests.request(method, API + path, json=body, headers=bearer(ro))
        p = problem(r, 403)
        assert p["code"] == "insufficient_scope", (method, path, p)
        assert p["detail"] == "this token may only read"
    assert requests.get(f"{API}/tasks/{task['id']}", headers=alice.h).json()["title"] == "mine"


def test_tokens_cannot_make_tokens(alice):
    t = token(alice)["token"]
    r = requests.post(API + "/me/tokens", json={"name": "x", "scopes": ["read"]}, headers=bearer(t))
    assert problem(r, 403)["detail"] == "a personal access token cannot create tokens"


def test_revoke_at_once_and_only_ones_own(alice, bob):
    t = token(alice)
    problem(requests.delete(f"{API}/me/tokens/{t['id']}", headers=bob.h), 404)
    assert requests.get(API + "/me", headers=bearer(t["token"])).status_code == 200
    assert requests.delete(f"{API}/me/tokens/{t['id']}", headers=alice.h).status_code == 204
    problem(requests.get(API + "/me", headers=bearer(t["token"])), 401)
    assert requests.get(API + "/me/tokens", headers=alice.h).json() == []


def test_password_change_revokes_tokens(alice):
    t = token(alice)["token"]
    r = requests.post(API + "/me/password", json={"current_password": PASSWORD, "new_password": PASSWORD + "!"},
                      headers={"Authorization": "Bearer " + sign_in(alice.email)["access_token"]})
    assert r.status_code == 204, r.text
    problem(requests.get(API + "/me", headers=bearer(t)), 401)


@pytest.mark.parametrize("body, field", [
    ({"name": "x", "scopes": ["admin"]}, "scopes"),
    ({"name": "x"}, "scopes"),
    ({"name": "", "scopes": ["read"]}, "name"),
    ({"name": "x", "scopes": ["read"], "expires_in_days": 0}, "expires_in_days"),
    ({"name": "x", "scopes": ["read"], "token": "mine"}, "token"),
])
def test_token_validation(alice, body, field):
    p = problem(requests.post(API + "/me/tokens", json=body, headers=alice.h), 422)
    assert p["errors"][0]["field"] == field, p


# ---------------------------------------------------------------- saved views

def test_saved_views_over_http(alice):
    for title, prio in [("u1", "urgent"), ("u2", "urgent"), ("l1", "low")]:
        requests.post(API + "/tasks", json={"title": title, "priority": prio}, headers=alice.h)
    r = requests.post(API + "/views", json={"name": "Urgent", "filter": {"priority": "urgent", "sort": "title"}},
                      headers=alice.h)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Urgent" and r.json()["filter"] == {"priority": "urgent", "sort": "title"}
    assert [v["name"] for v in requests.get(API + "/views", headers=alice.h).json()] == ["Urgent"]
    titles = [t["title"] for t in requests.get(API + "/tasks", params={"view": "Urgent"}, headers=alice.h).json()["items"]]
    assert titles == ["u1", "u2"]
    # parameters given with the view override the view's
    titles = [t["title"] for t in requests.get(API + "/tasks", params={"view": "Urgent", "priority": "low"},
                                               headers=alice.h).json()["items"]]
    assert titles == ["l1"]
    # the default view
    r = requests.post(API + "/views", json={"name": "Low", "filter": {"priority": "low"}, "default": True}, headers=alice.h)
    assert r.status_code == 201 and r.json()["is_default"] is True
    titles = [t["title"] for t in requests.get(API + "/tasks", params={"view": "default"}, headers=alice.h).json()["items"]]
    assert titles == ["l1"]
    assert requests.delete(API + "/views/Urgent", headers=alice.h).status_code == 204
    problem(requests.delete(API + "/views/Urgent", headers=alice.h), 404)
    assert problem(requests.get(API + "/tasks", params={"view": "Urgent"}, headers=alice.h), 400)["errors"][0]["field"] == "view"


def test_views_are_private_and_validated(alice, bob):
    requests.post(API + "/views", json={"name": "mine", "filter": {}}, headers=alice.h)
    assert requests.get(API + "/views", headers=bob.h).json() == []
    problem(requests.delete(API + "/views/mine", headers=bob.h), 404)
    p = problem(requests.post(API + "/views", json={"name": "bad", "filter": {"priority": "extreme"}}, headers=alice.h), 400)
    assert p["errors"][0]["field"] == "priority"
    p = problem(requests.post(API + "/views", json={"name": "default", "filter": {}}, headers=alice.h), 422)
    assert p["errors"][0]["field"] == "name"
    p = problem(requests.post(API + "/views", json={"name": "x", "filter": {}, "default": "yes"}, headers=alice.h), 422)
    assert p["errors"][0]["field"] == "default"


# ---------------------------------------------------------------- webhooks

class Receiver:
    def __init__(self):
        self.requests = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def alter_system(setting):
    # ALTER SYSTEM checks the setting, which exists once the library is loaded
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", os.environ["TEST_DB_NAME"],
                    "-c", "SELECT taskmgmt.current_user_id()", "-c", "ALTER SYSTEM " + setting,
                    "-c", "SELECT pg_reload_conf()"], check=True, capture_output=True)
    time.sleep(0.3)


@pytest.fixture
def private_targets():
    """Loopback receivers need the superuser setting (off by default)."""
    alter_system("SET taskmgmt.webhook_allow_private_targets = on")
    yield
    alter_system("RESET taskmgmt.webhook_allow_private_targets")


@pytest.fixture
def dispatcher():
    psql("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tm_http_mailer') THEN "
         "CREATE ROLE tm_http_mailer LOGIN; END IF; END $$; GRANT taskmgmt_mailer TO tm_http_mailer")
    # the dispatcher LISTENs, so it talks to the database itself, not through
    # PgBouncer's transaction pooling (NOTIFY_DATABASE_URL in that suite)
    direct = os.environ.get("NOTIFY_DATABASE_URL") or os.environ["SHIM_DATABASE_URL"]
    env = dict(os.environ, DATABASE_URL=direct.replace("tm_http_shim", "tm_http_mailer"),
               SMTP_URL="smtp://127.0.0.1:9", SMTP_TLS="none", MAILER_BACKOFF="1", MAILER_LEASE="10",
               MAILER_SMTP_TIMEOUT="2",
               WEBHOOK_TIMEOUT="3", MAILER_POLL_INTERVAL="1")
    p = subprocess.Popen([MAILER], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield p
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=10)


def test_private_targets_are_refused_by_default(alice):
    p = problem(requests.post(API + "/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=alice.h), 422)
    assert p["errors"][0]["field"] == "url"
    assert p["detail"] == "url points to a private, loopback or link-local address"


def test_webhook_end_to_end(alice, bob, private_targets, dispatcher):
    rec = Receiver()
    try:
        r = requests.post(API + "/webhooks", json={"url": rec.url, "events": ["task.created", "task.updated"]},
                          headers=alice.h)
        assert r.status_code == 201, r.text
        hook = r.json()
        secret = base64.b64decode(hook["secret"][len("whsec_"):])
        assert [w["id"] for w in requests.get(API + "/webhooks", headers=alice.h).json()] == [hook["id"]]
        assert "secret" not in requests.get(API + "/webhooks", headers=alice.h).json()[0]
        task = requests.post(API + "/tasks", json={"title": "hooked"}, headers=alice.h).json()
        requests.post(API + "/tasks", json={"title": "not hers"}, headers=bob.h)
        for _ in range(100):
            if rec.requests:
                break
            time.sleep(0.1)
        headers, body = rec.requests[0]
        signed = ("%s.%s." % (headers["webhook-id"], headers["webhook-timestamp"])).encode() + body
        assert headers["webhook-signature"] == "v1," + base64.b64encode(
            hmac.new(secret, signed, hashlib.sha256).digest()).decode()
        assert json.loads(body)["data"]["task"]["id"] == task["id"]
        for _ in range(50):
            d = requests.get(f"{API}/webhooks/{hook['id']}/deliveries", headers=alice.h).json()
            if d and d[0]["status"] == "sent":
                break
            time.sleep(0.1)
        assert d[0]["status"] == "sent" and d[0]["message_id"] == headers["webhook-id"]
        assert d[0]["history"][0]["status_code"] == 204
        time.sleep(0.5)
        assert len(rec.requests) == 1, "bob's task is not alice's business"
        # others see nothing of it
        problem(requests.get(f"{API}/webhooks/{hook['id']}/deliveries", headers=bob.h), 404)
        problem(requests.delete(f"{API}/webhooks/{hook['id']}", headers=bob.h), 404)
        assert requests.delete(f"{API}/webhooks/{hook['id']}", headers=alice.h).status_code == 204
    finally:
        rec.stop()


def test_unreachable_target_shows_in_deliveries(alice, private_targets, dispatcher):
    from conftest import free_port
    hook = requests.post(API + "/webhooks", json={"url": "http://127.0.0.1:%d/gone" % free_port()},
                         headers=alice.h).json()
    requests.post(API + "/tasks", json={"title": "nobody listens"}, headers=alice.h)
    for _ in range(100):
        d = requests.get(f"{API}/webhooks/{hook['id']}/deliveries", headers=alice.h).json()
        if d and d[0]["history"]:
            break
        time.sleep(0.1)
    assert d[0]["status"] == "pending" and d[0]["next_attempt_at"]
    assert "connect" in d[0]["history"][0]["error"].lower()


def test_team_webhooks_are_for_leads(alice, bob):
    team = requests.post(API + "/teams", json={"name": "hooks"}, headers=alice.h).json()
    requests.post(f"{API}/teams/{team['id']}/members", json={"user_id": bob.id, "role": "member"}, headers=alice.h)
    r = requests.post(API + "/webhooks", json={"url": "https://hooks.example.com/x", "team_id": team["id"]}, headers=bob.h)
    assert problem(r, 403)["detail"] == "only team leads, owners and admins can add team webhooks"
    r = requests.post(API + "/webhooks", json={"url": "https://hooks.example.com/x", "team_id": team["id"]}, headers=alice.h)
    assert r.status_code == 201 and r.json()["team_id"] == team["id"]


# ---------------------------------------------------------------- the websocket

def test_websocket_with_a_read_token():
    import asyncio
    import websockets
    from test_ws import WS, assign, recv_json, run, team_with

    lead, bob = new_user("lead"), new_user("wsbob")
    team_with(lead, bob)
    ro = token(bob, scopes=["read"])["token"]

    async def go():
        async with websockets.connect(WS, extra_headers=bearer(ro)) as ws:
            await asyncio.sleep(0.3)
            t = await asyncio.to_thread(assign, lead, bob, "to a token")
            n = await recv_json(ws)
            assert n["task_id"] == t["id"] and n["event"] == "assigned"
        async with websockets.connect(WS) as ws:
            await ws.send(json.dumps({"access_token": ro, "since": 0}))
            assert (await recv_json(ws))["task_id"] == t["id"]
    run(go())
