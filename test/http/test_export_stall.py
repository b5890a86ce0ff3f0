"""CSV exports and slow readers: a client that stops reading an export must
not hold database connections for ever, and exports never take the whole
pool (the suite's shim runs with --pool-size 4, --request-timeout 4000)."""
import re
import socket
import time

import requests

from conftest import API, METRICS, URL, new_user, problem, psql


def pool_in_use():
    m = re.search(r"^taskmgmt_db_pool_in_use (\d+)$", requests.get(METRICS).text, re.M)
    return int(m.group(1))


def stalled_export(token):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", int(URL.rsplit(":", 1)[1])))
    s.sendall(f"GET /api/v1/tasks/export.csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    return s   # never read


def test_stalled_exports_are_capped_and_cut_off():
    big, other = new_user("exporter"), new_user("bystander")
    # ~9 MB of CSV: more than the shim buffers and the kernel holds
    psql(f"SET session_replication_role = replica; "
         f"INSERT INTO taskmgmt.tasks (title, creator_id) "
         f"SELECT repeat('x', 190) || i, {big.id} FROM generate_series(1, 25000) i")
    socks = [stalled_export(big.token), stalled_export(big.token)]
    try:
        time.sleep(1.0)
        assert pool_in_use() == 2
        # half the pool (2 of 4) at most: the next export is refused at once
        r = requests.get(API + "/tasks/export.csv", headers=big.h, timeout=5)
        assert problem(r, 503)["code"] == "busy" and r.headers["Retry-After"]
        # everyone else is still served meanwhile
        t0 = time.monotonic()
        assert requests.get(API + "/me", headers=other.h, timeout=5).status_code == 200
        assert time.monotonic() - t0 < 1.0
        # after the request timeout without progress the exports are cut off
        # and their connections come back, though the sockets stay open
        deadline = time.monotonic() + 12
        while pool_in_use() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pool_in_use() == 0
        r = requests.get(API + "/tasks/export.csv?limit=1", headers=other.h, timeout=10)
        assert r.status_code == 200 and r.text.startswith("id,")
    finally:
        for s in socks:
            s.close()
        psql(f"SET session_replication_role = replica; DELETE FROM taskmgmt.tasks WHERE creator_id = {big.id}")
