"""--workers N: N processes on one port (SO_REUSEPORT), each with its own
pool and LISTEN connection; websockets get every notification whatever
worker they landed on; a dead worker is started again; SIGTERM stops all."""
import asyncio
import json
import os
import signal
import subprocess
import time

import requests
import websockets

from conftest import API, extra_shim, new_user


def worker_of(headers):
    """Request ids are a per-process prefix and a counter: the prefix tells the worker."""
    return headers["X-Request-Id"].split("-")[0]


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return sorted(int(p) for p in f.read().split())


def landed(base, n=40):
    """Workers that answered n fresh connections."""
    seen = set()
    for _ in range(n):
        with requests.Session() as s:
            seen.add(worker_of(s.get(base + "/healthz").headers))
    return seen


def test_workers_share_the_port_and_each_notifies_its_websockets():
    lead, bob = new_user("lead"), new_user("wkbob")
    team = requests.post(API + "/teams", headers=lead.h, json={"name": "workers"}).json()
    assert requests.post(API + f"/teams/{team['id']}/members", headers=lead.h,
                         json={"user_id": bob.id}).status_code == 200
    with extra_shim("--workers", "3", "--pool-size", "2") as base:
        assert len(landed(base)) >= 2, "connections are spread over the workers"
        ws_url = base.replace("http://", "ws://") + "/api/v1/notifications/ws"

        async def go():
            socks = [await websockets.connect(ws_url, extra_headers=bob.h) for _ in range(8)]
            try:
                where = {worker_of(s.response_headers) for s in socks}
                assert len(where) >= 2, "the websockets landed on several workers"
                await asyncio.sleep(0.5)
                titles = [f"fan-out {i}" for i in range(3)]
                for t in titles:
                    r = await asyncio.to_thread(
                        requests.post, base + "/api/v1/tasks", headers=lead.h,
                        json={"title": t, "assignee": {"type": "user", "id": bob.id}})
                    assert r.status_code == 201, r.text
                for s in socks:
                    got = [json.loads(await asyncio.wait_for(s.recv(), 5)) for _ in titles]
                    assert [g["event"] for g in got] == ["assigned"] * 3
                    assert len({g["id"] for g in got}) == 3
                    try:
                        extra = await asyncio.wait_for(s.recv(), 0.5)
                        raise AssertionError(f"a notification came twice: {extra}")
                    except asyncio.TimeoutError:
                        pass
            finally:
                for s in socks:
                    await s.close()
        asyncio.run(asyncio.wait_for(go(), 30))


def test_a_dead_worker_is_started_again_and_sigterm_stops_all():
    shim = extra_shim("--workers", "2")
    with shim as base:
        parent = shim.proc.pid
        for _ in range(50):
            kids = children(parent)
            if len(kids) == 2:
                break
            time.sleep(0.1)
        assert len(kids) == 2
        time.sleep(3)           # past the start-up window in which a death stops them all
        os.kill(kids[0], signal.SIGKILL)
        for _ in range(50):
            now = children(parent)
            if len(now) == 2 and kids[0] not in now:
                break
            time.sleep(0.1)
        assert len(now) == 2 and kids[0] not in now and kids[1] in now
        for _ in range(50):
            if len(landed(base, 20)) == 2:
                break
            time.sleep(0.1)
        assert len(landed(base, 20)) == 2, "the new worker serves too"
    # extra_shim's exit sent SIGTERM to the parent and waited for it
    assert shim.proc.returncode == 0
    for pid in now:
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_a_worker_that_cannot_listen_stops_them_all():
    with extra_shim() as base:
        port = base.rsplit(":", 1)[1]
        # the single shim holds the port without SO_REUSEPORT
        p = subprocess.run([os.environ["SHIM_BIN"], "--database-url", os.environ["SHIM_DATABASE_URL"],
                            "--port", port, "--workers", "2", "--log-format", "off"],
                           capture_output=True, text=True, timeout=20)
        assert p.returncode != 0
        assert "cannot listen" in p.stderr and "exited at start" in p.stderr
        assert requests.get(base + "/healthz").status_code == 200
