"""The notification channel (#17).  PostgreSQL has no privilege for LISTEN
or NOTIFY: every role that can connect to the database can listen on
taskmgmt_notifications and send on it.  So the payload names no user (an
opaque per-user key instead), and the shim takes a payload only as a hint
to look, rate-limited per user, so forged NOTIFYs cost little."""
import asyncio
import json
import os
import re
import subprocess
import time

import requests
import websockets

from conftest import extra_shim, free_port, psql
from test_ws import assign, recv_json, run

OUTSIDER = "tm_outsider"     # a role with no privilege at all, never signed in


def setup_module():
    psql(f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OUTSIDER}') "
         f"THEN CREATE ROLE {OUTSIDER} LOGIN; END IF; END $$")


def outsider_psql():
    return subprocess.Popen(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1",
                             "-d", os.environ["TEST_DB_NAME"], "-U", OUTSIDER],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def listen_during(action, settle=1.0):
    """The payloads an outsider's LISTEN sees while action() runs."""
    p = outsider_psql()
    p.stdin.write("LISTEN taskmgmt_notifications;\nSELECT 'listening';\n")
    p.stdin.flush()
    assert p.stdout.readline().strip() == "listening"
    action()
    time.sleep(settle)
    out, _ = p.communicate("SELECT 'done';\n", timeout=20)
    assert p.returncode == 0, out
    return [json.loads(m) for m in
            re.findall(r'notification "taskmgmt_notifications" with payload "(.*)" received', out)]


def own_key(user):
    """What the user's own notification_key() says (signed in with their token)."""
    out = psql(f"SELECT taskmgmt.authenticate('{user.token}'); SELECT taskmgmt.notification_key()")
    return out.splitlines()[-1]


class own_shim(extra_shim):
    """A shim of the test's own, so that no other test's sockets query
    meanwhile: its websocket URL and metrics() of its own."""

    def __init__(self):
        self.mport = free_port()
        super().__init__("--metrics-listen", f"127.0.0.1:{self.mport}")

    def __enter__(self):
        return super().__enter__().replace("http://", "ws://") + "/api/v1/notifications/ws"

    def metrics(self):
        return metrics(f"http://127.0.0.1:{self.mport}/metrics")


def metrics(url):
    out = {}
    for line in requests.get(url).text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_a_listener_sees_keys_not_user_ids(admin, bob):
    payloads = listen_during(lambda: assign(admin, bob, "private matter"))
    assert payloads, "no NOTIFY seen"
    for p in payloads:
        assert set(p) == {"key", "id"}, p
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", p["key"]), p
    # bob's notification names his key: he (and whoever relays for him) can
    # recognise it (other users' NOTIFYs may be seen in the same window)
    assert own_key(bob) in {p["key"] for p in payloads}, payloads
    assert own_key(admin) != own_key(bob)


def forge(script):
    p = outsider_psql()
    out, _ = p.communicate(script, timeout=60)
    assert p.returncode == 0, out


def test_keys_of_nobody_connected_cost_no_query(bob):
    """Sockets are found by key: a NOTIFY naming no connected user's key (or
    naming a user id, as 0.1.0 payloads did) runs nothing."""
    script = "".join(
        f"SELECT pg_notify('taskmgmt_notifications', '{{\"key\": \"{'Q' * 21}{i % 10}\", \"id\": {i}}}');\n"
        f"SELECT pg_notify('taskmgmt_notifications', '{{\"user_id\": {bob.id}, \"id\": {10**12 + i}}}');\n"
        for i in range(50))

    async def go(ws_url, metrics):
        async with websockets.connect(ws_url, extra_headers=bob.h):
            await asyncio.sleep(0.5)            # authenticated: its first fetch is done
            m0 = metrics()
            await asyncio.to_thread(forge, script)
            await asyncio.sleep(0.6)
            m1 = metrics()
            assert m1["taskmgmt_ws_notifies_total"] - m0["taskmgmt_ws_notifies_total"] >= 100
            assert m1["taskmgmt_ws_catchup_queries_total"] == m0["taskmgmt_ws_catchup_queries_total"]
    shim = own_shim()
    with shim as ws_url:
        run(go(ws_url, shim.metrics))


def test_forged_notifies_cost_little_and_real_ones_still_arrive(admin, bob):
    key = own_key(bob)
    # forged by an outsider: bob's key (as a listener sees it), with his user id
    # too (the old payload), and keys of nobody; 150 commits over ~3 s
    script = "".join(
        f"SELECT pg_notify('taskmgmt_notifications', "
        f"'{{\"key\": \"{key}\", \"user_id\": {bob.id}, \"id\": {10**12 + i}}}');\n"
        f"SELECT pg_notify('taskmgmt_notifications', '{{\"key\": \"{'Q' * 21}{i % 10}\", \"id\": {i}}}');\n"
        "SELECT pg_sleep(0.02);\n" for i in range(150))

    async def go(ws_url, metrics):
        async with websockets.connect(ws_url, extra_headers=bob.h) as ws:
            await asyncio.sleep(0.5)            # authenticated: its first fetch is done
            m0, t0 = metrics(), time.monotonic()
            await asyncio.to_thread(forge, script)
            await asyncio.sleep(0.6)            # the last put-off wake
            m1, elapsed = metrics(), time.monotonic() - t0
            assert m1["taskmgmt_ws_notifies_total"] - m0["taskmgmt_ws_notifies_total"] >= 300
            queries = m1["taskmgmt_ws_catchup_queries_total"] - m0["taskmgmt_ws_catchup_queries_total"]
            print(f"forged flood: {m1['taskmgmt_ws_notifies_total'] - m0['taskmgmt_ws_notifies_total']:.0f} "
                  f"NOTIFYs in {elapsed:.1f} s -> {queries:.0f} catch-up queries")
            # at most one per 500 ms for bob, none for keys of nobody
            assert queries <= elapsed / 0.5 + 2, (queries, elapsed)
            # nothing was delivered for them, and a real notification still arrives
            t = await asyncio.to_thread(assign, admin, bob, "real one")
            n = await recv_json(ws)
            assert n["task_id"] == t["id"] and n["event"] == "assigned"
    shim = own_shim()
    with shim as ws_url:
        run(go(ws_url, shim.metrics))
