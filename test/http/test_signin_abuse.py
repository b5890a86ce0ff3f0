"""Abuse of sign-in (#12.4 to #12.6): attempts are counted before their
bcrypt, per (email, client address) and per email; the HTTP door counts the
peer's address, the SQL door the connection's."""
import os
import subprocess
import uuid

from conftest import psql

DB = os.environ.get("TEST_DB_NAME", "taskmgmt_test")


def _register(prefix):
    email = f"{prefix}-{uuid.uuid4().hex[:8]}@abuse.test"
    psql(f"SELECT taskmgmt.register('{email}', 'right password 123')")
    return email


def _crypt_calls():
    return int(psql("SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions WHERE funcname = 'crypt'") or 0)


def test_parallel_wrong_guesses_get_at_most_max_failures_bcrypts():
    """#12.6: 20 parallel wrong guesses through the SQL door, from one
    connection address: each is counted before its bcrypt, so at most
    taskmgmt.login_max_failures of them reach bcrypt (pgcrypto's crypt(),
    counted by track_functions); the others are refused (TM429, or 53400
    when a worker slot was not free) without one."""
    email = _register("race")
    # (the extension's settings exist once its library is loaded)
    max_failures = int(psql("SELECT taskmgmt.current_user_id(); SHOW taskmgmt.login_max_failures"))
    env = dict(os.environ, PGOPTIONS="-c track_functions=all")
    before = _crypt_calls()
    sql = (f"SELECT taskmgmt.password_grant('{email}', 'wrong password 123') IS NULL")
    procs = [subprocess.Popen(["psql", "-X", "-q", "-tA", "-d", DB, "-v", "VERBOSITY=sqlstate", "-c", sql],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(20)]
    outcomes = []
    for p in procs:
        _, err = p.communicate(timeout=60)
        outcomes.append(err.strip().split(":")[-1].strip() if err.strip() else "ok")
    # stats of a backend are flushed when it exits; the 20 have exited
    after = _crypt_calls()
    wrong = outcomes.count("28P01")
    assert wrong <= max_failures, outcomes
    assert wrong >= 1, outcomes
    assert set(outcomes) <= {"28P01", "TM429", "53400"}, outcomes
    assert after - before <= max_failures, (after - before, outcomes)
    assert after - before == wrong, (after - before, outcomes)
    # and every refused one left the count where it was: max_failures
    counted = int(psql(f"SELECT failures FROM taskmgmt.login_failures "
                       f"WHERE email_key = sha256(convert_to('{email}', 'UTF8')) AND client = ''"))
    assert counted == wrong
