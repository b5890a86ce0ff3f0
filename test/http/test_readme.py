"""The psql walkthrough (README) and the history example (doc/sql-api.md) run
as written, twice on the same database: they must not depend on ids being 1
or on a fresh database."""
import os
import re
import subprocess

ROOT = os.environ.get("TM_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))


def read(name):
    return open(os.path.join(ROOT, name), encoding="utf-8").read()


def sql_blocks():
    walk = read("README.md").split("## Walkthrough in psql", 1)[1]
    first = re.search(r"```sql\n(.*?)```", walk, re.S).group(1)
    hist = re.search(r"```sql\n(-- signed in as a user who owns a team.*?)```", read("doc/sql-api.md"), re.S).group(1)
    return first, hist


def planning_block():
    part = read("README.md").split("## Planning:", 1)[1]
    return re.search(r"```sql\n(.*?)```", part, re.S).group(1)


def run_as_app(script):
    return subprocess.run(
        ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-U", "tm_http_shim", "-d", os.environ["TEST_DB_NAME"]],
        input="SET search_path = taskmgmt, public;\n" + script, capture_output=True, text=True, timeout=60)


def test_walkthrough_runs_twice_on_the_same_database():
    first, hist = sql_blocks()
    # the history example continues the walkthrough while still signed in
    signed_in_part = first.split("SELECT sign_out();")[0]
    for _ in range(2):
        p = run_as_app(first)
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip().splitlines()[-1] == "0"      # signed out: nothing visible
        p = run_as_app(signed_in_part + hist)
        assert p.returncode == 0, p.stderr
        assert "status: To Do → In Progress; assignee: nobody → Docs team" in p.stdout, p.stdout
        assert "Halfway there" in p.stdout


def test_planning_example_runs_as_written():
    """The README's planning example, after the walkthrough's signed-in part:
    each commented answer is what psql prints."""
    first, _ = sql_blocks()
    block = planning_block()
    p = run_as_app(first.split("SELECT sign_out();")[0] + block)
    assert p.returncode == 0, p.stderr
    out = p.stdout.strip().splitlines()
    assert out[-5:] == ['{"done": 0, "total": 1}', "blocks", "1", '["Draft the spec"]', "in_progress"], out
