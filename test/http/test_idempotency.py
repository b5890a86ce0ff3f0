"""Idempotency-Key on POST /tasks, /tasks/{id}/comments, /tasks/{id}/updates
and /teams (#12.10): the same key and body give the stored status and body,
another body under the same key is 422, and a client whose connection broke
after sending can retry without making a second task."""
import json
import socket
import time
import uuid

import requests

from conftest import API, URL, problem, psql


def post(user, path, body, key):
    return requests.post(API + path, headers={**user.h, "Idempotency-Key": key}, json=body)


def test_same_key_same_body_replays_status_body_and_headers(alice):
    key = uuid.uuid4().hex
    first = post(alice, "/tasks", {"title": "once only", "priority": "high"}, key)
    assert first.status_code == 201
    again = requests.post(API + "/tasks", headers={**alice.h, "Idempotency-Key": key,
                                                   "Content-Type": "application/json"},
                          data='{ "priority" : "high", "title": "once only" }')   # same JSON, other spelling
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"] and again.headers["ETag"] == first.headers["ETag"]
    assert psql(f"SELECT count(*) FROM taskmgmt.tasks WHERE title = 'once only' AND creator_id = {alice.id}") == "1"
    # without a key, the same body is a second task
    assert requests.post(API + "/tasks", headers=alice.h, json={"title": "once only", "priority": "high"}).status_code == 201


def test_same_key_other_body_is_422(alice):
    key = uuid.uuid4().hex
    assert post(alice, "/tasks", {"title": "first body"}, key).status_code == 201
    b = problem(post(alice, "/tasks", {"title": "second body"}, key), 422)
    assert b["errors"][0]["field"] == "Idempotency-Key"
    b = problem(post(alice, "/teams", {"title": "first body"}, key), 422)      # another route is another request
    problem(post(alice, "/tasks", {"title": "x"}, "has space"), 400)
    problem(post(alice, "/tasks", {"title": "x"}, "k" * 256), 400)


def test_keys_are_per_user(alice, bob):
    key = uuid.uuid4().hex
    a = post(alice, "/tasks", {"title": "mine"}, key)
    b = post(bob, "/tasks", {"title": "mine"}, key)
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]


def test_comments_updates_and_teams(alice):
    task = requests.post(API + "/tasks", headers=alice.h, json={"title": "commented"}).json()
    for path, body in ((f"/tasks/{task['id']}/comments", {"body": "just once"}),
                       (f"/tasks/{task['id']}/updates", {"description": "half way"}),
                       ("/teams", {"name": "idempotent team"})):
        key = uuid.uuid4().hex
        r1, r2 = post(alice, path, body, key), post(alice, path, body, key)
        assert r1.status_code == r2.status_code == 201, (path, r1.text, r2.text)
        assert r1.json() == r2.json(), path
    c = requests.get(API + f"/tasks/{task['id']}/comments", headers=alice.h).json()
    assert [x["body"] for x in c] == ["just once"]
    # the same key on another task's comments is another request
    other = requests.post(API + "/tasks", headers=alice.h, json={"title": "other"}).json()
    key = uuid.uuid4().hex
    assert post(alice, f"/tasks/{task['id']}/comments", {"body": "x"}, key).status_code == 201
    problem(post(alice, f"/tasks/{other['id']}/comments", {"body": "x"}, key), 422)


def test_connection_killed_after_sending_then_retry_makes_one_task(alice):
    key = uuid.uuid4().hex
    title = "sent, then the line broke " + key[:8]
    body = json.dumps({"title": title})
    host, port = "127.0.0.1", int(URL.rsplit(":", 1)[1])
    s = socket.create_connection((host, port))
    s.sendall((f"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice.token}\r\n"
               f"Idempotency-Key: {key}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n{body}").encode())
    s.close()                                  # the client never hears the answer
    r = None
    for _ in range(50):                        # it retries until it gets one
        r = post(alice, "/tasks", {"title": title}, key)
        if r.status_code == 201:
            break
        time.sleep(0.1)
    assert r.status_code == 201, r.text
    assert psql(f"SELECT count(*) FROM taskmgmt.tasks WHERE title = '{title}'") == "1"
    assert r.json()["title"] == title
