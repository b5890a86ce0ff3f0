"""Fixtures for the CalDAV suite (test/suites/58-caldav.sh): the HTTP suite's
own (a shim in SHIM_URL in front of the test database), plus a user with a
personal access token for the calendar clients."""
import importlib.util
import os

import pytest
import requests

_spec = importlib.util.spec_from_file_location(
    "http_conftest", os.path.join(os.path.dirname(__file__), "..", "http", "conftest.py"))
http = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(http)
URL, API, new_user, psql, problem = http.URL, http.API, http.new_user, http.psql, http.problem


class DavUser:
    def __init__(self, user, token):
        self.user, self.token = user, token
        self.email, self.id, self.h = user.email, user.id, user.h
        self.collection = f"{URL}/dav/users/{user.id}/tasks/"


def dav_user(name="dav", scopes=("read", "write")):
    u = new_user(name)
    r = requests.post(API + "/me/tokens", json={"name": "calendar", "scopes": list(scopes)}, headers=u.h)
    assert r.status_code == 201, r.text
    return DavUser(u, r.json()["token"])


@pytest.fixture
def ann():
    return dav_user("ann")


@pytest.fixture
def bob():
    return dav_user("bob")


def api_tasks(u):
    r = requests.get(API + "/tasks", params={"limit": 200}, headers=u.h)
    assert r.status_code == 200, r.text
    return r.json()["items"]
