"""Websocket notifications: delivery, catch-up, auth, limits."""
import asyncio
import base64
import json
import os
import socket
import time

import pytest
import requests
import websockets

from conftest import API, URL, new_user, psql

WS = URL.replace("http://", "ws://") + "/api/v1/notifications/ws"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def team_with(lead, member):
    team = requests.post(API + "/teams", headers=lead.h, json={"name": "ws"}).json()
    r = requests.post(API + f"/teams/{team['id']}/members", headers=lead.h, json={"user_id": member.id})
    assert r.status_code == 200
    return team


def assign(lead, member, title):
    r = requests.post(API + "/tasks", headers=lead.h, json={"title": title, "assignee": {"type": "user", "id": member.id}})
    assert r.status_code == 201, r.text
    return r.json()


async def recv_json(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def test_bearer_upgrade_gets_live_notifications():
    lead, bob = new_user("lead"), new_user("wsbob")
    team_with(lead, bob)

    async def go():
        async with websockets.connect(WS, extra_headers=bob.h) as ws:
            await asyncio.sleep(0.3)
            t = await asyncio.to_thread(assign, lead, bob, "live one")
            n = await recv_json(ws)
            assert set(n) >= {"id", "event", "task_id", "actor_id", "message", "created_at", "read_at"}
            assert n["task_id"] == t["id"] and n["event"] == "assigned" and n["actor_id"] == lead.id
    run(go())


def test_first_frame_auth_and_catch_up_since():
    lead, bob = new_user("lead"), new_user("wsbob")
    team_with(lead, bob)
    tasks = [assign(lead, bob, f"missed {i}") for i in range(3)]
    ids = [n["id"] for n in requests.get(API + "/notifications", headers=bob.h).json()["items"]]
    ids.sort()

    async def go():
        async with websockets.connect(WS) as ws:
            await ws.send(json.dumps({"access_token": bob.token, "since": 0}))
            got = [await recv_json(ws) for _ in range(3)]
            assert [g["id"] for g in got] == ids
            assert sorted(g["task_id"] for g in got) == sorted(t["id"] for t in tasks)
        # reconnect after the second one: only the third comes back
        async with websockets.connect(WS) as ws:
            await ws.send(json.dumps({"access_token": bob.token, "since": ids[1]}))
            assert (await recv_json(ws))["id"] == ids[2]
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 1)
    run(go())


def test_notifications_only_reach_their_user():
    lead, bob, eve = new_user("lead"), new_user("wsbob"), new_user("eve")
    team_with(lead, bob)

    async def go():
        async with websockets.connect(WS, extra_headers=eve.h) as e, \
                websockets.connect(WS, extra_headers=bob.h) as b:
            await asyncio.sleep(0.3)
            await asyncio.to_thread(assign, lead, bob, "for bob only")
            assert (await recv_json(b))["event"] == "assigned"
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(e.recv(), 1)
    run(go())


def test_bad_token_closes_1008():
    async def go():
        async with websockets.connect(WS, extra_headers={"Authorization": "Bearer x.y.z"}) as ws:
            with pytest.raises(websockets.ConnectionClosed) as ei:
                await asyncio.wait_for(ws.recv(), 5)
            assert ei.value.code == 1008
        async with websockets.connect(WS) as ws:
            await ws.send("not json")
            with pytest.raises(websockets.ConnectionClosed) as ei:
                await asyncio.wait_for(ws.recv(), 5)
            assert ei.value.code == 1008
    run(go())


def test_malformed_tokens_close_1008_on_a_fresh_connection():
    # A fresh shim (one database connection) runs the catch-up statement with
    # custom plans first: a malformed token must still be refused by
    # authenticate() (1008), not fail earlier while its payload is decoded.
    import subprocess
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p_no = s.getsockname()[1]
    s.close()
    shim = subprocess.Popen([os.environ["SHIM_BIN"], "--database-url", os.environ["SHIM_DATABASE_URL"],
                             "--port", str(p_no), "--pool-size", "1", "--log-format", "off"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ws_url = f"ws://127.0.0.1:{p_no}/api/v1/notifications/ws"
    try:
        for _ in range(50):
            try:
                if requests.get(f"http://127.0.0.1:{p_no}/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.1)

        async def go():
            for token in ["x.y.z", "a.b", "e30.e30.sig", "x.!!!.y", "eyJhbGciOiJIUzI1NiJ9.eyJ.z"] * 2:
                async with websockets.connect(ws_url, extra_headers={"Authorization": "Bearer " + token}) as ws:
                    with pytest.raises(websockets.ConnectionClosed) as ei:
                        await asyncio.wait_for(ws.recv(), 5)
                    assert ei.value.code == 1008, token
        run(go())
    finally:
        shim.terminate()
        shim.wait(timeout=10)


def test_token_in_query_string_refused():
    u = new_user()

    async def go():
        with pytest.raises(websockets.InvalidStatusCode) as ei:
            async with websockets.connect(WS + "?access_token=" + u.token):
                pass
        assert ei.value.status_code == 400
    run(go())


def ws_refused(url, status, **kw):
    async def go():
        with pytest.raises(websockets.InvalidStatusCode) as ei:
            async with websockets.connect(url, **kw):
                pass
        assert ei.value.status_code == status
    run(go())


def ws_opens(url, **kw):
    async def go():
        async with websockets.connect(url, **kw) as ws:
            await ws.ping()
    run(go())


def test_origin_checked():
    u = new_user()
    ws_refused(WS, 403, origin="http://evil.example", extra_headers=u.h)
    ws_opens(WS, origin="http://allowed.example", extra_headers=u.h)


def test_same_origin_page_may_open_the_websocket():
    # The web UI is served by the shim: its Origin is the scheme plus the Host
    # it was loaded from, on whatever name the user typed, and needs no setting.
    u = new_user()
    port = URL.rsplit(":", 1)[1]
    ws_opens(WS, origin=URL, extra_headers=u.h)
    ws_opens(f"ws://localhost:{port}/api/v1/notifications/ws", origin=f"http://localhost:{port}", extra_headers=u.h)
    ws_opens(WS, origin=URL.upper().replace("HTTP://", "http://"), extra_headers=u.h)   # host case
    # the same host on another port, or another scheme, is another origin
    ws_refused(WS, 403, origin=f"http://127.0.0.1:{int(port) + 1}", extra_headers=u.h)
    ws_refused(WS, 403, origin=URL.replace("http://", "https://"), extra_headers=u.h)
    ws_refused(WS, 403, origin=URL + ".evil.example", extra_headers=u.h)
    # forwarded headers are not trusted unless --trust-proxy says so
    ws_refused(WS, 403, origin="https://tasks.example", extra_headers={
        **u.h, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "tasks.example"})


def test_origin_behind_a_proxy():
    from conftest import extra_shim
    u = new_user()
    with extra_shim("--trust-proxy", "1") as base:
        url = base.replace("http://", "ws://") + "/api/v1/notifications/ws"
        fwd = {**u.h, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "tasks.example"}
        ws_opens(url, origin="https://tasks.example", extra_headers=fwd)
        ws_opens(url, origin="https://tasks.example", extra_headers={
            **u.h, "X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "tasks.example, inner:8080"})
        ws_refused(url, 403, origin="http://tasks.example", extra_headers=fwd)
        ws_refused(url, 403, origin="https://evil.example", extra_headers=fwd)
        ws_opens(url, origin=base, extra_headers=u.h)   # without the headers: the Host as seen
    with extra_shim("--public-origin", "https://tasks.example") as base:
        url = base.replace("http://", "ws://") + "/api/v1/notifications/ws"
        ws_opens(url, origin="https://tasks.example", extra_headers=u.h)
        ws_refused(url, 403, origin="https://evil.example", extra_headers=u.h)
        # the public origin does not make forwarded headers trusted
        ws_refused(url, 403, origin="https://other.example", extra_headers={
            **u.h, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "other.example"})


def test_plain_get_on_ws_route_is_400():
    r = requests.get(WS.replace("ws://", "http://"))
    assert r.status_code == 400 and r.headers["Content-Type"].startswith("application/problem+json")


def test_per_user_connection_cap():
    u = new_user()

    async def go():
        conns = [await websockets.connect(WS, extra_headers=u.h) for _ in range(3)]
        await asyncio.sleep(0.5)
        async with websockets.connect(WS, extra_headers=u.h) as extra:
            with pytest.raises(websockets.ConnectionClosed) as ei:
                await asyncio.wait_for(extra.recv(), 5)
            assert ei.value.code == 1008
        for c in conns:
            assert c.open
            await c.close()
    run(go())


def test_binary_and_oversized_frames_close_the_socket():
    u = new_user()

    async def go():
        async with websockets.connect(WS, extra_headers=u.h) as ws:
            await ws.send(b"\x00\x01")
            with pytest.raises(websockets.ConnectionClosed) as ei:
                await asyncio.wait_for(ws.recv(), 5)
            assert ei.value.code == 1003
        async with websockets.connect(WS, extra_headers=u.h) as ws:
            await ws.send("x" * 10000)     # the suite caps frames at 4096 bytes
            with pytest.raises(websockets.ConnectionClosed) as ei:
                await asyncio.wait_for(ws.recv(), 5)
            assert ei.value.code == 1009
    run(go())


def raw_ws(headers, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", int(os.environ["SHIM_PORT"])))
    key = base64.b64encode(os.urandom(16)).decode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    s.sendall((f"GET /api/v1/notifications/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def test_silent_client_is_pinged_then_closed():
    u = new_user()
    s = raw_ws(u.h)          # never answers pings (ping every 2 s in this suite)
    s.settimeout(15)
    start = time.monotonic()
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    assert b"\x89" in data   # at least one ping frame was sent
    assert 3 <= time.monotonic() - start < 14
    s.close()


def test_slow_reader_is_disconnected():
    lead, bob = new_user("lead"), new_user("slow")
    team_with(lead, bob)
    t = assign(lead, bob, "slow reader")
    s = raw_ws(bob.h, rcvbuf=4096)
    time.sleep(0.5)
    # ~600 KB of notifications for a client that reads nothing
    psql(f"INSERT INTO taskmgmt.notifications (user_id, event, task_id, message) "
         f"SELECT {bob.id}, 'updated', {t['id']}, repeat('x', 3000) FROM generate_series(1, 200)")
    time.sleep(2)
    s.settimeout(10)
    total, closed = 0, False
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            total += len(chunk)
    except (ConnectionResetError, socket.timeout):
        closed = True
    # the server gave up on us before sending everything (200 x 3 KB)
    assert closed and total < 200 * 3000, total
    s.close()
    assert requests.get(URL + "/healthz").status_code == 200


def short_token(email):
    """An access token that expires in 30 s (the minimum TTL), minted in psql."""
    out = psql(f"SET taskmgmt.access_token_ttl = 30; "
               f"SELECT taskmgmt.password_grant('{email}', 'correct horse battery staple') ->> 'access_token'")
    return out.splitlines()[-1]


def test_socket_closes_when_its_token_expires_unless_refreshed():
    u = new_user("expiry")
    t1, t2 = short_token(u.email), short_token(u.email)

    async def go():
        async with websockets.connect(WS, extra_headers={"Authorization": "Bearer " + t1}) as a, \
                websockets.connect(WS) as b:
            await b.send(json.dumps({"access_token": t2, "since": 0}))
            await asyncio.sleep(20)
            assert a.open and b.open
            # b refreshes with a long-lived token; a does nothing
            await b.send(json.dumps({"access_token": u.token}))
            with pytest.raises(websockets.ConnectionClosed) as ei:
                await asyncio.wait_for(a.recv(), 20)
            assert ei.value.code == 1008 and "expired" in ei.value.reason
            await asyncio.sleep(2)
            assert b.open
    asyncio.run(asyncio.wait_for(go(), 60))


def test_every_socket_of_a_user_gets_each_notification_once():
    lead, bob = new_user("lead"), new_user("multi")
    team_with(lead, bob)

    async def go():
        socks = [await websockets.connect(WS, extra_headers=bob.h) for _ in range(3)]
        await asyncio.sleep(0.3)
        t1 = await asyncio.to_thread(assign, lead, bob, "one")
        t2 = await asyncio.to_thread(assign, lead, bob, "two")
        for s in socks:
            got = [await recv_json(s), await recv_json(s)]
            assert [g["task_id"] for g in got] == [t1["id"], t2["id"]]
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(s.recv(), 0.5)
            await s.close()
    run(go())
