"""CalDAV and iCalendar with real clients this project did not write, all from
Debian: python3-caldav (discovery, create, update, delete, a stale-ETag
conflict), vdirsyncer + todoman (a todo made in todoman reaches the JSON
API, a task completed over the API shows as completed after a sync, a
conflict is not silently lost), and python3-icalendar reading the feed."""
import calendar
import json
import os
import subprocess
import textwrap
import uuid

import caldav
import icalendar
import pytest
import requests

from conftest import API, URL, api_tasks, dav_user, http, problem


def ics(uid, summary, extra=""):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//itest//EN\r\nBEGIN:VTODO\r\n"
            f"UID:{uid}\r\nDTSTAMP:20250101T000000Z\r\nSUMMARY:{summary}\r\n{extra}"
            "END:VTODO\r\nEND:VCALENDAR\r\n")


# ---------------------------------------------------------------- python3-caldav

def test_python_caldav_discovery_create_update_delete_and_stale_etag(ann):
    client = caldav.DAVClient(url=URL + "/.well-known/caldav", username=ann.email, password=ann.token)
    principal = client.principal()
    assert str(principal.url) == f"{URL}/dav/users/{ann.id}/"
    calendars = principal.calendars()
    assert [str(c.url) for c in calendars] == [ann.collection]
    cal = calendars[0]
    assert cal.get_supported_components() == ["VTODO"]

    uid = f"{uuid.uuid4()}@itest"
    todo = cal.save_todo(ical=ics(uid, "Written by python-caldav", "PRIORITY:1\r\nCATEGORIES:home\r\n"
                                  "DUE;VALUE=DATE:20300102\r\n"))
    [task] = [t for t in api_tasks(ann) if t["title"] == "Written by python-caldav"]
    assert (task["priority"], task["tags"], task["due_date"], task["status"]) == ("urgent", ["home"], "2030-01-02", "todo")

    # the client lists it, with the server's rendering
    [listed] = [t for t in cal.todos(include_completed=True) if uid in t.data]
    assert "SUMMARY:Written by python-caldav" in listed.data

    # update through the client
    todo.load()
    todo.icalendar_component["summary"] = "Renamed by python-caldav"
    todo.icalendar_component["status"] = "IN-PROCESS"
    todo.save()
    task = requests.get(f"{API}/tasks/{task['id']}", headers=ann.h).json()
    assert (task["title"], task["status"], task["version"]) == ("Renamed by python-caldav", "in_progress", 2)

    # the stale ETag: another change lands first
    r = requests.patch(f"{API}/tasks/{task['id']}", json={"priority": "low"}, headers=ann.h)
    assert r.status_code == 200 and r.headers["ETag"] == '"3"'
    stale = client.put(str(todo.url), ics(uid, "Stale write"), {"If-Match": '"2"', "Content-Type": "text/calendar"})
    assert stale.status == 412
    assert requests.get(f"{API}/tasks/{task['id']}", headers=ann.h).json()["title"] == "Renamed by python-caldav"

    todo.delete()
    assert requests.get(f"{API}/tasks/{task['id']}", headers=ann.h).status_code == 404


def test_python_caldav_sync_token_reports_changes_and_removals(ann):
    client = caldav.DAVClient(url=URL + "/dav/", username=ann.email, password=ann.token)
    cal = client.principal().calendars()[0]
    first = requests.post(API + "/tasks", json={"title": "sync me"}, headers=ann.h).json()
    objs = cal.objects_by_sync_token(load_objects=True)
    assert any("SUMMARY:sync me" in o.data for o in objs)
    token = objs.sync_token
    second = requests.post(API + "/tasks", json={"title": "made after the token"}, headers=ann.h).json()
    requests.delete(f"{API}/tasks/{first['id']}", headers=ann.h)
    changed = cal.objects_by_sync_token(sync_token=token, load_objects=False)
    hrefs = {str(o.url).rsplit("/", 1)[1] for o in changed}
    assert hrefs == {f"{second['id']}.ics", f"{first['id']}.ics"}


def test_clients_see_only_their_own_tasks_and_calendar(ann, bob):
    secret = requests.post(API + "/tasks", json={"title": "bob's secret"}, headers=bob.h).json()
    client = caldav.DAVClient(url=URL + "/dav/", username=ann.email, password=ann.token)
    cal = client.principal().calendars()[0]
    assert not any("bob's secret" in t.data for t in cal.todos(include_completed=True))
    r = requests.get(f"{bob.collection}{secret['id']}.ics", auth=(ann.email, ann.token))
    assert r.status_code == 404
    r = requests.request("PROPFIND", bob.collection, auth=(ann.email, ann.token), headers={"Depth": "1"})
    assert r.status_code == 404


def test_basic_auth_wants_an_email_and_a_token(ann):
    r = requests.request("PROPFIND", URL + "/dav/", headers={"Depth": "0"})
    problem(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Basic realm=")
    r = requests.request("PROPFIND", URL + "/dav/", headers={"Depth": "0"}, auth=(ann.email, http.PASSWORD))
    assert problem(r, 401)["detail"] == "invalid credentials"
    r = requests.request("PROPFIND", URL + "/dav/", headers={"Depth": "0"}, auth=(ann.email, ann.token))
    assert r.status_code == 207


def test_bad_input_gets_a_clear_error_and_nothing_is_kept(ann):
    auth = (ann.email, ann.token)
    before = len(api_tasks(ann))
    r = requests.put(ann.collection + "x.ics", data="this is not iCalendar", auth=auth,
                     headers={"Content-Type": "text/calendar"})
    assert problem(r, 400)["detail"] == "calendar data is not valid iCalendar"
    r = requests.put(ann.collection + "x.ics", data=ics("x", "alarm", "BEGIN:VALARM\r\nACTION:DISPLAY\r\n"
                                                       "TRIGGER:-PT5M\r\nEND:VALARM\r\n"), auth=auth,
                     headers={"Content-Type": "text/calendar"})
    assert problem(r, 422)["detail"] == "VALARM inside VTODO cannot be kept: tasks have no reminders"
    r = requests.request("REPORT", ann.collection, data="<unknown/>", auth=auth,
                         headers={"Content-Type": "application/xml"})
    assert "expected" in problem(r, 400)["detail"]
    r = requests.request("PROPFIND", ann.collection, data="<d:propfind xmlns:d='DAV:'>", auth=auth,
                         headers={"Content-Type": "application/xml"})
    assert problem(r, 400)["detail"] == "body: is not a well-formed XML document"
    assert len(api_tasks(ann)) == before


def test_read_scope_token_reads_but_cannot_write():
    u = dav_user("reader", scopes=("read",))
    auth = (u.email, u.token)
    assert requests.request("PROPFIND", u.collection, auth=auth, headers={"Depth": "1"}).status_code == 207
    r = requests.put(u.collection + "new.ics", data=ics("new", "nope"), auth=auth,
                     headers={"Content-Type": "text/calendar"})
    assert problem(r, 403)["code"] == "insufficient_scope"


# ---------------------------------------------------------------- the feed, read by python3-icalendar

def test_feed_parses_with_icalendar_and_can_be_revoked(ann):
    requests.post(API + "/tasks", json={"title": "Ship it, now", "due_date": "2031-05-06"}, headers=ann.h)
    requests.post(API + "/tasks", json={"title": "No date"}, headers=ann.h)
    r = requests.post(API + "/me/calendar-feed", headers=ann.h)
    assert r.status_code == 201, r.text
    feed_url = URL + r.json()["url"]
    r = requests.get(feed_url)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(r.content)
    events = [c for c in cal.walk("VEVENT")]
    assert [(str(e["SUMMARY"]), e["DTSTART"].dt.isoformat()) for e in events] == [("Ship it, now", "2031-05-06")]
    assert requests.delete(API + "/me/calendar-feed", headers=ann.h).status_code == 204
    problem(requests.get(feed_url), 404)


# ---------------------------------------------------------------- vdirsyncer + todoman

class Desk:
    """A vdirsyncer pair (CalDAV <-> a local folder) and todoman on that folder."""

    def __init__(self, tmp, u):
        self.tmp, self.u = tmp, u
        self.vdir = tmp / "calendars"
        (tmp / "status").mkdir()
        self.vconf = tmp / "vdirsyncer.conf"
        self.vconf.write_text(textwrap.dedent(f"""
            [general]
            status_path = "{tmp}/status/"

            [pair tasks]
            a = "tasks_local"
            b = "tasks_remote"
            collections = ["from b"]

            [storage tasks_local]
            type = "filesystem"
            path = "{self.vdir}/"
            fileext = ".ics"

            [storage tasks_remote]
            type = "caldav"
            url = "{URL}/"
            username = "{u.email}"
            password = "{u.token}"
            item_types = ["VTODO"]
            """))
        self.tconf = tmp / "todoman.py"
        self.tconf.write_text(textwrap.dedent(f"""
            path = "{self.vdir}/*"
            date_format = "%Y-%m-%d"
            time_format = "%H:%M"
            default_list = "tasks"
            default_due = 0
            cache_path = "{tmp}/todoman.sqlite"
            """))

    def vdirsyncer(self, *args, ok=True):
        p = subprocess.run(["vdirsyncer", "-c", str(self.vconf), *args], input="y\n" * 5,
                           capture_output=True, text=True, timeout=120)
        if ok:
            assert p.returncode == 0, p.stdout + p.stderr
        return p

    def todo(self, *args, porcelain=False):
        """todoman; --porcelain (JSON) for reading only: it takes priorities as numbers"""
        p = subprocess.run(["todoman", "--config", str(self.tconf), *(["--porcelain"] if porcelain else []), *args],
                           capture_output=True, text=True, timeout=60, env=dict(os.environ, TZ="UTC"))
        assert p.returncode == 0, p.stdout + p.stderr
        return json.loads(p.stdout) if porcelain else p.stdout

    def local_files(self):
        return sorted((self.vdir / "tasks").glob("*.ics"))


@pytest.fixture
def desk(tmp_path, ann):
    d = Desk(tmp_path, ann)
    d.vdirsyncer("discover")
    d.vdirsyncer("sync")
    return d


def test_todoman_todo_reaches_the_api_and_api_completion_reaches_todoman(desk):
    ann = desk.u
    desk.todo("new", "-l", "tasks", "--priority", "high", "Buy milk")
    desk.vdirsyncer("sync")
    [task] = [t for t in api_tasks(ann) if t["title"] == "Buy milk"]
    assert (task["status"], task["priority"]) == ("todo", "high")

    r = requests.patch(f"{API}/tasks/{task['id']}", json={"status": "done"}, headers=ann.h)
    assert r.status_code == 200
    desk.vdirsyncer("sync")
    todos = desk.todo("list", "--status", "ANY", porcelain=True)
    [mine] = [t for t in todos if t["summary"] == "Buy milk"]
    assert mine["completed"] is True
    [f] = [f for f in desk.local_files() if "Buy milk" in f.read_text()]
    assert "STATUS:COMPLETED" in f.read_text()


def test_api_task_reaches_todoman(desk):
    ann = desk.u
    requests.post(API + "/tasks", json={"title": "From the API", "due_date": "2032-02-03", "tags": ["work"]},
                  headers=ann.h)
    desk.vdirsyncer("sync")
    [t] = [t for t in desk.todo("list", porcelain=True) if t["summary"] == "From the API"]
    assert t["due"] == calendar.timegm((2032, 2, 3, 0, 0, 0)), "todoman shows due dates as Unix time"
    [f] = [f for f in desk.local_files() if "From the API" in f.read_text()]
    assert "CATEGORIES:work" in f.read_text()


def test_a_conflict_is_not_silently_lost(desk):
    ann = desk.u
    desk.todo("new", "-l", "tasks", "Contested")
    desk.vdirsyncer("sync")
    [task] = [t for t in api_tasks(ann) if t["title"] == "Contested"]
    [local] = [t for t in desk.todo("list", porcelain=True) if t["summary"] == "Contested"]
    # both sides change the same task
    desk.todo("edit", str(local["id"]), "--priority", "low")
    r = requests.patch(f"{API}/tasks/{task['id']}", json={"title": "Contested (server)"}, headers=ann.h)
    assert r.status_code == 200
    p = desk.vdirsyncer("sync", ok=False)
    assert p.returncode != 0 and "conflict" in (p.stdout + p.stderr).lower(), p.stdout + p.stderr
    # neither change was dropped
    assert requests.get(f"{API}/tasks/{task['id']}", headers=ann.h).json()["title"] == "Contested (server)"
    [f] = [f for f in desk.local_files() if "Contested" in f.read_text()]
    text = f.read_text()
    assert "PRIORITY:9" in text and "Contested (server)" not in text
