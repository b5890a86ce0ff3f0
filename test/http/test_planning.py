"""Subtasks and relations over HTTP (#14): the routes, their errors, the
task JSON keys, ?cascade=true, ?ready=true, the unblocked notification, and
visibility (another user's task is 404 / 422 through every new door)."""
import pytest
import requests

from conftest import API, URL, new_user, problem


def create(u, **fields):
    fields.setdefault("title", "a task")
    r = requests.post(API + "/tasks", headers=u.h, json=fields)
    assert r.status_code == 201, r.text
    return r.json()


def test_subtasks_routes_and_errors(alice, bob):
    parent = create(alice, title="parent")
    assert parent["parent_id"] is None and parent["subtasks"] == {"total": 0, "done": 0}
    c1 = create(alice, title="child 1", parent_id=parent["id"])
    c2 = create(alice, title="child 2", parent_id=parent["id"], status="done")
    assert c1["parent_id"] == parent["id"]
    r = requests.get(API + f"/tasks/{parent['id']}", headers=alice.h)
    assert r.json()["subtasks"] == {"total": 2, "done": 1}
    r = requests.get(API + f"/tasks/{parent['id']}/subtasks", headers=alice.h)
    assert r.status_code == 200 and [t["id"] for t in r.json()["items"]] == [c1["id"], c2["id"]]
    # a cycle is 422 naming parent_id
    b = problem(requests.patch(API + f"/tasks/{parent['id']}", headers=alice.h, json={"parent_id": c1["id"]}), 422)
    assert b["errors"][0]["field"] == "parent_id" and "itself" in b["detail"]
    # the parent must be visible: bob's task is the same as no task
    secret = create(bob, title="bob secret")
    for pid in (secret["id"], 987654321):
        b = problem(requests.post(API + "/tasks", headers=alice.h, json={"title": "x", "parent_id": pid}), 422)
        assert b["errors"][0]["field"] == "parent_id" and b["detail"] == "parent_id is not a task you can see"
    # bob cannot see alice's subtasks
    problem(requests.get(API + f"/tasks/{parent['id']}/subtasks", headers=bob.h), 404)
    # delete: refused without cascade, then cascade
    b = problem(requests.delete(API + f"/tasks/{parent['id']}", headers=alice.h), 422)
    assert b["errors"][0]["field"] == "cascade"
    b = problem(requests.delete(API + f"/tasks/{parent['id']}?cascade=maybe", headers=alice.h), 400)
    assert b["errors"][0]["field"] == "cascade"
    b = problem(requests.delete(API + f"/tasks/{parent['id']}?force=true", headers=alice.h), 400)
    assert b["errors"][0]["field"] == "force"
    r = requests.delete(API + f"/tasks/{parent['id']}?cascade=true", headers=alice.h)
    assert r.status_code == 204
    for t in (parent, c1, c2):
        problem(requests.get(API + f"/tasks/{t['id']}", headers=alice.h), 404)
    # a task without subtasks still deletes without the parameter
    assert requests.delete(API + f"/tasks/{create(alice)['id']}", headers=alice.h).status_code == 204


def test_relations_routes_ready_and_unblocked(alice):
    bob = new_user("rbob")
    team = requests.post(API + "/teams", headers=alice.h, json={"name": "planning"}).json()
    requests.post(API + f"/teams/{team['id']}/members", headers=alice.h, json={"user_id": bob.id, "role": "member"})
    a = create(alice, title="A", team_id=team["id"])
    b = create(alice, title="B", team_id=team["id"], assignee={"type": "user", "id": bob.id})
    c = create(alice, title="C", team_id=team["id"])
    r = requests.post(API + f"/tasks/{a['id']}/relations", headers=alice.h, json={"type": "blocks", "task_id": b["id"]})
    assert r.status_code == 201, r.text
    assert r.json()["type"] == "blocks" and r.json()["task_id"] == b["id"] and r.json()["title"] == "B"
    r = requests.post(API + f"/tasks/{c['id']}/relations", headers=alice.h, json={"type": "blocked_by", "task_id": b["id"]})
    assert r.status_code == 201 and r.json()["type"] == "blocked_by"
    # errors
    p = problem(requests.post(API + f"/tasks/{c['id']}/relations", headers=alice.h, json={"type": "blocks", "task_id": a["id"]}), 422)
    assert p["errors"][0]["field"] == "task_id" and "cycle" in p["detail"]
    problem(requests.post(API + f"/tasks/{b['id']}/relations", headers=alice.h, json={"type": "relates", "task_id": a["id"]}), 409)
    p = problem(requests.post(API + f"/tasks/{a['id']}/relations", headers=alice.h, json={"type": "owns", "task_id": c["id"]}), 422)
    assert p["errors"][0]["field"] == "type"
    p = problem(requests.post(API + f"/tasks/{a['id']}/relations", headers=alice.h, json={"type": "relates", "task_id": a["id"]}), 422)
    assert p["errors"][0]["field"] == "task_id"
    # the lists
    r = requests.get(API + f"/tasks/{b['id']}/relations", headers=alice.h)
    assert r.status_code == 200
    assert sorted((x["type"], x["task_id"]) for x in r.json()["items"]) == [("blocked_by", a["id"]), ("blocks", c["id"])]
    assert requests.get(API + f"/tasks/{b['id']}", headers=alice.h).json()["blocked_by_open"] == 1
    ready = {t["id"] for t in requests.get(API + "/tasks", params={"ready": "true", "limit": 200}, headers=alice.h).json()["items"]}
    assert a["id"] in ready and b["id"] not in ready and c["id"] not in ready
    p = problem(requests.get(API + "/tasks", params={"ready": "soon"}, headers=alice.h), 400)
    assert p["errors"][0]["field"] == "ready"
    # unblocked: A done -> bob (B's assignee) is told
    r = requests.patch(API + f"/tasks/{a['id']}", headers=alice.h, json={"status": "done"})
    assert r.status_code == 200
    items = requests.get(API + "/notifications", headers=bob.h).json()["items"]
    assert [n for n in items if n["event"] == "unblocked" and n["task_id"] == b["id"]]
    # remove, either way round, once
    assert requests.delete(API + f"/tasks/{b['id']}/relations/{a['id']}", headers=alice.h).status_code == 204
    problem(requests.delete(API + f"/tasks/{b['id']}/relations/{a['id']}", headers=alice.h), 404)


def test_relations_to_invisible_tasks(alice, bob):
    mine = create(alice, title="mine")
    other = create(alice, title="other")
    secret = create(bob, title="bob secret")
    p = problem(requests.post(API + f"/tasks/{mine['id']}/relations", headers=alice.h,
                              json={"type": "relates", "task_id": secret["id"]}), 422)
    assert p["errors"][0]["field"] == "task_id" and "bob secret" not in p["detail"]
    assert requests.post(API + f"/tasks/{mine['id']}/relations", headers=alice.h,
                         json={"type": "duplicates", "task_id": other["id"]}).status_code == 201
    # bob: alice's task does not exist through any relations door
    problem(requests.get(API + f"/tasks/{mine['id']}/relations", headers=bob.h), 404)
    problem(requests.post(API + f"/tasks/{mine['id']}/relations", headers=bob.h,
                          json={"type": "relates", "task_id": secret["id"]}), 404)
    problem(requests.delete(API + f"/tasks/{mine['id']}/relations/{other['id']}", headers=bob.h), 404)
    problem(requests.get(API + f"/tasks/{mine['id']}/relations", headers={}), 401)


def test_recurring_task(alice):
    b = problem(requests.post(API + "/tasks", headers=alice.h, json={"title": "x", "recurrence": "FREQ=MINUTELY"}), 422)
    assert b["errors"][0]["field"] == "recurrence" and "DAILY" in b["detail"]
    b = problem(requests.post(API + "/tasks", headers=alice.h, json={"title": "x", "recurrence": "every day"}), 422)
    assert b["errors"][0]["field"] == "recurrence" and "RRULE" in b["detail"]
    t = create(alice, title="pay rent", due_date="2030-01-31", recurrence="FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=2")
    assert t["recurrence"] == "FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=2"
    r = requests.patch(API + f"/tasks/{t['id']}", headers=alice.h, json={"status": "done"})
    assert r.status_code == 200
    history = requests.get(API + f"/tasks/{t['id']}/history", headers=alice.h).json()["items"]
    nxt = next(e["changes"]["next_occurrence"][1] for e in history if "next_occurrence" in e["changes"])
    n = requests.get(API + f"/tasks/{nxt}", headers=alice.h).json()
    assert n["due_date"] == "2030-02-28" and n["status"] == "todo" and n["title"] == "pay rent"
    # COUNT=2: the second occurrence is the last
    assert requests.patch(API + f"/tasks/{nxt}", headers=alice.h, json={"status": "done"}).status_code == 200
    history = requests.get(API + f"/tasks/{nxt}/history", headers=alice.h).json()["items"]
    assert not any("next_occurrence" in e["changes"] for e in history)


def test_task_as_of(alice, bob):
    t = create(alice, title="first title")
    r = requests.get(API + f"/tasks/{t['id']}/as-of", params={"at": t["created_at"]}, headers=alice.h)
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "first title" and r.json()["status"] == "todo" and r.json()["id"] == t["id"]
    assert requests.patch(API + f"/tasks/{t['id']}", headers=alice.h, json={"title": "second"}).status_code == 200
    later = requests.get(API + f"/tasks/{t['id']}", headers=alice.h).json()["updated_at"]
    assert requests.get(API + f"/tasks/{t['id']}/as-of", params={"at": later}, headers=alice.h).json()["title"] == "second"
    assert requests.get(API + f"/tasks/{t['id']}/as-of", params={"at": t["created_at"]}, headers=alice.h).json()["title"] == "first title"
    problem(requests.get(API + f"/tasks/{t['id']}/as-of", params={"at": "2000-01-01T00:00:00Z"}, headers=alice.h), 404)
    b = problem(requests.get(API + f"/tasks/{t['id']}/as-of", params={"at": "soon"}, headers=alice.h), 400)
    assert b["errors"][0]["field"] == "at"
    b = problem(requests.get(API + f"/tasks/{t['id']}/as-of", headers=alice.h), 400)
    assert b["errors"][0]["field"] == "at"
    problem(requests.get(API + f"/tasks/{t['id']}/as-of", params={"at": later}, headers=bob.h), 404)
    # time in status: the todo stay ended when the task started; the report
    # has the keys the OpenAPI document lists
    assert requests.patch(API + f"/tasks/{t['id']}", headers=alice.h, json={"status": "in_progress"}).status_code == 200
    r = requests.get(API + "/reports/summary", headers=alice.h)
    tis = r.json()["time_in_status_hours"]
    assert set(tis) == {"todo", "in_progress", "done", "canceled"}
    assert tis["todo"]["count"] == 1 and 0 <= tis["todo"]["mean"] == tis["todo"]["p85"] < 1
    assert tis["in_progress"] == {"count": 0, "mean": None, "p85": None}
    doc = requests.get(URL + "/openapi.json").json()
    schema = doc["components"]["schemas"]["ReportSummary"]
    assert set(r.json()) == set(schema["properties"])
    assert set(tis["todo"]) == set(schema["properties"]["time_in_status_hours"]["additionalProperties"]["properties"])


def test_filter_language_over_http(alice, bob):
    a = create(alice, title="launch plan draft", priority="high", tags=["web"])
    create(alice, title="chore", priority="low")
    create(bob, title="launch plan secret", priority="high")
    r = requests.get(API + "/tasks", params={"filter": 'priority>=high text:"launch plan" -tag:blocked'}, headers=alice.h)
    assert r.status_code == 200, r.text
    assert [t["id"] for t in r.json()["items"]] == [a["id"]]
    r = requests.get(API + "/tasks", params={"filter": "tag:web OR tag:none", "limit": 1}, headers=alice.h)
    assert [t["id"] for t in r.json()["items"]] == [a["id"]]
    b = problem(requests.get(API + "/tasks", params={"filter": "status:todo due<"}, headers=alice.h), 400)
    assert b["errors"][0]["field"] == "filter"
    assert b["detail"] == "filter: expected a value after '<' at position 17"
    b = problem(requests.get(API + "/tasks", params={"filter": "x\"; DROP TABLE taskmgmt.tasks; --"}, headers=alice.h), 400)
    assert b["errors"][0]["field"] == "filter" and "closing" in b["detail"]
    # SQL in a value is only text; an unbalanced ')' outside quotes is a syntax error
    r = requests.get(API + "/tasks", params={"filter": "text:\"'); SELECT 1; --\""}, headers=alice.h)
    assert r.status_code == 200 and r.json()["items"] == []
    b = problem(requests.get(API + "/tasks", params={"filter": "text:'); SELECT 1; --"}, headers=alice.h), 400)
    assert b["detail"] == "filter: expected a condition or the end of the filter (this ')' has no '(') at position 7"


FIELD = "a field (status, priority, assignee, team, tag, due, created, updated, text, is, has, changed, was)"


@pytest.mark.parametrize("text, position, expected", [
    # the issue's example: a value missing in the middle
    ("status:todo due: tag:x", 17, "a value after ':'"),
    (":todo", 1, "a field name before the operator"),                  # at the start
    ("status:todo due:", 17, "a value after ':'"),                      # at the end
    ("status:todo AND", 16, "a condition"),                             # at the end, after AND
    ('text:"launch plan', 6, "a closing '\"' for the quote opened here"),  # unterminated quote
    ("status>todo", 7, "':' after status"),                             # bad operators
    ("priority=>high", 10, "a value after '='"),
    ("colour:red", 1, FIELD),                                           # unknown fields
    ("tag:x colour>red", 7, FIELD),
    ("(status:todo", 13, "')' (to close the '(' at position 1)"),        # unbalanced parentheses
    ("status:todo)", 12, "a condition or the end of the filter (this ')' has no '(')"),
    ("(tag:a OR (tag:b) ", 19, "')' (to close the '(' at position 1)"),
    ("text:\"café\" due:soon", 17, "a date (YYYY-MM-DD, today, yesterday, tomorrow, 7d, +7d, 2w)"),  # characters, not bytes
])
def test_filter_syntax_errors(alice, text, position, expected):
    """A syntax error is 400 with errors[0] {field, message, position,
    expected}: the position in characters from 1, as psql marks it; nothing
    of the compiled SQL or the database's context in the answer."""
    b = problem(requests.get(API + "/tasks", params={"filter": text}, headers=alice.h), 400)
    assert b["code"] == "bad_parameter"
    assert b["detail"] == f"filter: expected {expected} at position {position}"
    e = b["errors"][0]
    assert {k: e[k] for k in ("field", "position", "expected")} == \
        {"field": "filter", "position": position, "expected": expected}
    assert set(e) == {"field", "message", "position", "expected"} and len(b["errors"]) == 1
    assert e["message"] == f"expected {expected} at position {position}"
    assert isinstance(e["position"], int) and not isinstance(e["position"], bool)
    assert set(b) == {"type", "title", "status", "code", "detail", "errors"}
    for internal in ("taskmgmt.", "$1", "SELECT", "PL/pgSQL", "QUERY", "filter_lang.c", "_filter"):
        assert internal not in str(b)


def test_filter_syntax_error_through_every_door(alice):
    """The list, the search, the export and a saved view name the same
    position; other 400s and 422s carry no position."""
    want = {"field": "filter", "position": 17, "expected": "a value after ':'"}
    for path, params in (("/tasks", {}), ("/search", {"q": "plan"}), ("/tasks/export.csv", {})):
        b = problem(requests.get(API + path, params={**params, "filter": "status:todo due:"}, headers=alice.h), 400)
        assert {k: b["errors"][0].get(k) for k in want} == want, path
    b = problem(requests.post(API + "/views", headers=alice.h,
                              json={"name": "broken", "filter": {"filter": "status:todo due:"}}), 400)
    assert {k: b["errors"][0].get(k) for k in want} == want, "POST /views"
    b = problem(requests.get(API + "/tasks", params={"status": "later"}, headers=alice.h), 400)
    assert set(b["errors"][0]) == {"field", "message"}
    b = problem(requests.post(API + "/tasks", headers=alice.h, json={"title": "x", "recurrence": "every day"}), 422)
    assert set(b["errors"][0]) == {"field", "message"}
