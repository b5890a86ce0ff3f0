"""Fault drills: a private cluster (test/suites/65-faults.sh exports PGHOST,
PGPORT, PGDATABASE, FAULTS_CLUSTER, FAULTS_ROOT), a shim and a mailer of
their own, started and killed by the tests."""
import os
import signal
import socket
import subprocess
import time

import pytest
import requests

ROOT = os.environ.get("FAULTS_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
CLUSTER = os.environ.get("FAULTS_CLUSTER", "test-faults")
DB = os.environ.get("PGDATABASE", "taskmgmt_faults")
PASSWORD = "correct horse battery staple"


def psql(sql):
    """Runs SQL as the superuser; returns stdout (unaligned, tuples only)."""
    return subprocess.run(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-d", DB, "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def summary(line):
    """One line of figures for the suite's output (FAULTS_OUT/summary.txt)."""
    with open(os.path.join(os.environ.get("FAULTS_OUT", "/tmp"), "summary.txt"), "a") as f:
        f.write(line + "\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def users(prefix, n):
    """n users registered through SQL; [(id, email, access_token)]."""
    emails = psql_lines(psql(f"""SELECT taskmgmt.register(format('{prefix}-%s-%s@faults.test', g, md5(random()::text)),
                                                          '{PASSWORD}') ->> 'email'
                                   FROM generate_series(1, {n}) g"""))
    out = []
    for email in emails:
        # a statement of its own: a grant does not see a user registered by the same statement
        line = psql(f"""SELECT g ->> 'user_id', g ->> 'access_token'
                          FROM taskmgmt.password_grant('{email}', '{PASSWORD}') g""")
        uid, tok = line.split("|")
        out.append((int(uid), email, tok))
    return out


def psql_lines(text):
    return [line for line in text.splitlines() if line]


class Shim:
    """taskmgmt-shim on a fixed port; start() again after stop() or kill()."""

    def __init__(self, *args):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [os.environ["SHIM_BIN"], "--database-url",
                     f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} dbname={DB} user=tm_faults_shim",
                     "--listen", "127.0.0.1", "--port", str(self.port), "--log-format", "off", *args]
        self.proc = None
        self.log = open(os.path.join(os.environ.get("FAULTS_OUT", "/tmp"), f"shim-{self.port}.err"), "ab")

    def start(self, wait=True):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=self.log)
        if wait:
            wait_for(self.ready, 10, "the shim to be ready")
        return self

    def ready(self):
        try:
            return requests.get(self.url + "/readyz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def shim_factory():
    made = []

    def make(*args):
        s = Shim(*args)
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()


def cluster(action):
    args = [os.path.join(ROOT, "scripts/pgcluster.sh"), action, CLUSTER]
    if action == "start":
        args.append(os.environ["PGPORT"])
    return subprocess.run(args, capture_output=True, text=True)


def postmaster_pid():
    with open(os.path.join(ROOT, ".run", CLUSTER, "data", "postmaster.pid")) as f:
        return int(f.readline())


def db_accepts():
    return subprocess.run(["pg_isready", "-q", "-d", DB], capture_output=True).returncode == 0
