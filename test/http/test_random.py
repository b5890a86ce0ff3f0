"""Random requests against every route: the shim never answers 500, never
dies, and every error is problem+json (a fixed seed keeps runs alike)."""
import json
import os
import random
import re
import socket

import requests

from conftest import API, URL

ROOT = os.environ.get("TM_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))


def patterns():
    src = open(os.path.join(ROOT, "shim", "routes.c")).read()
    return re.findall(r'\{"(GET|POST|PATCH|DELETE)", "(/api/v1/[^"]*)"', src)


def rand_value(rng, depth=0):
    kind = rng.randrange(9 if depth < 3 else 6)
    return [lambda: None, lambda: rng.choice([True, False]), lambda: rng.randrange(-2**63, 2**63),
            lambda: rng.random() * 1e20, lambda: "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(20))),
            lambda: rng.choice(["", "todo", "me", "user:1", "2030-01-01", "-1", "1e99", "null", "'; DROP TABLE x; --"]),
            lambda: [rand_value(rng, depth + 1) for _ in range(rng.randrange(4))],
            lambda: {rng.choice(["title", "status", "ids", "all", "user_id", "role", "body", "parent_id", "x"]):
                     rand_value(rng, depth + 1) for _ in range(rng.randrange(4))},
            lambda: {"title": rand_value(rng, depth + 1), "assignee": {"type": rng.choice(["user", "team", "x"]),
                                                                      "id": rand_value(rng, depth + 1)}}][kind]()


def test_random_requests_never_get_500(alice):
    rng = random.Random(20261127)
    routes = patterns()
    tid = requests.post(API + "/tasks", headers=alice.h, json={"title": "target"}).json()["id"]
    statuses = {}
    with requests.Session() as s:
        for i in range(600):
            method, pattern = rng.choice(routes)
            path = pattern.replace("{id}", str(rng.choice([tid, 1, 2**63 - 1, alice.id])), 1).replace(
                "{id}", str(rng.choice([alice.id, 1])))
            params = {rng.choice(["status", "limit", "q", "sort", "cursor", "tag", "zzz", "since", "unread", "from"]):
                      str(rand_value(rng)) for _ in range(rng.randrange(3))}
            headers = dict(alice.h) if rng.random() < 0.9 else {"Authorization": "Bearer " + "A" * rng.randrange(1, 300)}
            data = None
            if method in ("POST", "PATCH"):
                c = rng.random()
                if c < 0.7:
                    data, headers["Content-Type"] = json.dumps(rand_value(rng)), "application/json"
                elif c < 0.85:
                    data, headers["Content-Type"] = bytes(rng.randrange(256) for _ in range(rng.randrange(64))), \
                        rng.choice(["application/json", "application/x-www-form-urlencoded", "text/plain"])
                else:
                    data = "a=1&b=%zz"
                    headers["Content-Type"] = "application/x-www-form-urlencoded"
            if rng.random() < 0.2:
                headers["If-Match"] = rng.choice(['"1"', "*", "W/\"2\"", "garbage", '"99999999999"'])
            if pattern.endswith("/logout"):
                continue    # keep the token alive
            r = s.request(method, URL + path, params=params, headers=headers, data=data, timeout=30)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert r.status_code not in (500, 501) and r.status_code < 600, (method, path, params, data, r.text)
            if r.status_code >= 400:
                assert r.headers["Content-Type"].startswith("application/problem+json"), (method, path, r.text)
    assert requests.get(URL + "/healthz").status_code == 200
    print(statuses)
    assert sum(v for k, v in statuses.items() if 200 <= k < 300) >= 10, statuses
    assert len([k for k in statuses if k >= 400]) >= 4, statuses


def test_garbage_bytes_on_the_socket_do_not_kill_the_server():
    rng = random.Random(7)
    for _ in range(60):
        s = socket.create_connection(("127.0.0.1", int(os.environ["SHIM_PORT"])), timeout=3)
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000)))
        if rng.random() < 0.5:
            junk = b"GET /api/v1/tasks HTTP/1.1\r\nHost: x\r\n" + junk + b"\r\n\r\n"
        try:
            s.sendall(junk)
            s.recv(100)
        except OSError:
            pass
        s.close()
    assert requests.get(URL + "/healthz").status_code == 200
