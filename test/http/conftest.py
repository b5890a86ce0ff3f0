"""Fixtures for the HTTP black-box tests: a running shim (started by
test/suites/50-http.sh, URL in SHIM_URL) in front of the test database."""
import itertools
import os
import subprocess
import time
import uuid

import pytest
import requests

URL = os.environ.get("SHIM_URL", "http://127.0.0.1:8080")
API = URL + "/api/v1"
METRICS = os.environ.get("SHIM_METRICS_URL", "http://127.0.0.1:9090") + "/metrics"
ROOT_DIR = os.environ.get("TM_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def psql(sql):
    """Runs SQL as the superuser on the test database; returns stdout."""
    return subprocess.run(
        ["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-d", os.environ["TEST_DB_NAME"], "-c", sql],
        check=True, capture_output=True, text=True).stdout.strip()


class User:
    def __init__(self, email, token, refresh, uid):
        self.email, self.token, self.refresh, self.id = email, token, refresh, uid

    @property
    def h(self):
        return {"Authorization": "Bearer " + self.token}


def new_user(name="user"):
    email = f"{name}-{next(_counter)}-{uuid.uuid4().hex[:8]}@example.com"
    r = requests.post(API + "/auth/register", json={"email": email, "password": PASSWORD, "display_name": name})
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    tok = sign_in(email)
    return User(email, tok["access_token"], tok["refresh_token"], uid)


def sign_in(email, password=PASSWORD):
    # the sign-in cap (2 at once) may answer 503 under load: honour Retry-After
    for _ in range(50):
        r = requests.post(API + "/auth/token", json={"username": email, "password": password})
        if r.status_code != 503:
            break
        time.sleep(0.1)
    assert r.status_code == 200, r.text
    return r.json()


def problem(r, status):
    """Asserts a problem+json answer with this status; returns its body."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert body["status"] == status and body["type"] == "about:blank"
    assert isinstance(body["title"], str) and isinstance(body["code"], str) and isinstance(body["detail"], str)
    return body


@pytest.fixture
def alice():
    return new_user("alice")


@pytest.fixture
def bob():
    return new_user("bob")


@pytest.fixture
def admin():
    u = new_user("admin")
    psql(f"SELECT taskmgmt.make_admin('{u.email}')")
    return u


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class extra_shim:
    """A second shim on a free port with extra flags, for tests of settings:
    `with extra_shim("--trust-proxy", "1") as base: ...` (base is its URL)."""

    def __init__(self, *args, database_url=None):
        self.port = free_port()
        self.args = [os.environ["SHIM_BIN"], "--database-url", database_url or os.environ["SHIM_DATABASE_URL"],
                     "--port", str(self.port), "--pool-size", "1", "--log-format", "off", *args]

    def __enter__(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{self.port}"
        for _ in range(50):
            try:
                if requests.get(base + "/readyz", timeout=1).status_code == 200:
                    return base
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise AssertionError("the extra shim did not become ready")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)
