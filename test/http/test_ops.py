"""Operations routes, routing errors, request ids, logs, protocol limits."""
import json
import os
import re
import socket
import subprocess
import time

import requests

from conftest import API, METRICS, URL, problem, new_user


def test_healthz():
    r = requests.get(URL + "/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_when_database_is_up():
    r = requests.get(URL + "/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"


def test_metrics_prometheus_text():
    requests.get(API + "/nope")
    requests.get(URL + "/healthz")
    r = requests.get(METRICS)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    t = r.text
    assert re.search(r'taskmgmt_http_requests_total\{method="GET",route="/healthz",status="200"\} [1-9]', t)
    assert re.search(r'taskmgmt_http_requests_total\{method="",route="unmatched",status="404"\} [1-9]', t)
    assert 'taskmgmt_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="+Inf"}' in t
    for g in ("taskmgmt_db_pool_size 4", "taskmgmt_db_pool_in_use", "taskmgmt_db_pool_waiting",
              "taskmgmt_websocket_connections", "taskmgmt_notifications_relayed_total",
              "taskmgmt_ws_notifies_total", "taskmgmt_ws_catchup_queries_total",
              "taskmgmt_signin_running", "taskmgmt_signin_waiting", "taskmgmt_signin_refused_total",
              "taskmgmt_accept_errors_total", "taskmgmt_connections_shed_total", "taskmgmt_buffered_bytes"):
        assert g in t


def test_metrics_only_on_their_own_listener():
    """#12.9: /metrics is not on the API listener (it was public there); the
    separate listener (--metrics-listen) answers nothing else."""
    problem(requests.get(URL + "/metrics"), 404)
    assert requests.head(URL + "/metrics").status_code == 404
    assert requests.head(METRICS).status_code == 200
    assert requests.get(METRICS.replace("/metrics", "/api/v1/tasks")).status_code == 404
    assert requests.post(METRICS, data="x").status_code == 405


def test_head_is_answered_wherever_get_is():
    """#12.9: HEAD gets GET's status and headers, without a body."""
    u = new_user("head")
    for path, h in (("/healthz", {}), ("/openapi.json", {}), ("/api/v1/tasks", u.h), ("/api/v1/me", u.h),
                    ("/api/v1/tasks/export.csv", u.h)):
        g, hd = requests.get(URL + path, headers=h), requests.head(URL + path, headers=h)
        assert hd.status_code == g.status_code == 200, (path, hd.status_code)
        assert hd.content == b"", path
        assert hd.headers["Content-Type"] == g.headers["Content-Type"], path
        if "Content-Length" in g.headers:
            assert hd.headers["Content-Length"] == g.headers["Content-Length"], path
    assert requests.head(API + "/tasks").status_code == 401          # the same checks as GET
    assert requests.head(API + "/tasks/99999999", headers=u.h).status_code == 404
    r = requests.put(API + "/tasks")
    assert set(r.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST"}

def test_unknown_route_is_404_problem():
    b = problem(requests.get(API + "/does-not-exist"), 404)
    assert b["code"] == "not_found"
    problem(requests.get(API + "/tasks/"), 404)         # trailing slash is another path
    problem(requests.get(API + "/tasks/abc"), 404)      # ids are positive integers
    problem(requests.get(API + "/tasks/0"), 404)
    problem(requests.get(API + "/tasks/99999999999999999999"), 404)  # beyond bigint


def test_wrong_method_is_405_with_allow():
    r = requests.put(API + "/tasks/1")
    problem(r, 405)
    assert set(r.headers["Allow"].split(", ")) == {"GET", "HEAD", "PATCH", "DELETE"}
    r = requests.delete(API + "/tasks")
    problem(r, 405)
    assert set(r.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST"}


def test_request_id_generated_and_echoed():
    r = requests.get(URL + "/healthz")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{12}", r.headers["X-Request-Id"])
    r2 = requests.get(URL + "/healthz")
    assert r2.headers["X-Request-Id"] != r.headers["X-Request-Id"]
    r = requests.get(URL + "/healthz", headers={"X-Request-Id": "abc-123_X.y"})
    assert r.headers["X-Request-Id"] == "abc-123_X.y"
    r = requests.get(URL + "/healthz", headers={"X-Request-Id": "bad id <script>"})
    assert r.headers["X-Request-Id"] != "bad id <script>"


def test_access_log_has_request_id_route_status_but_no_secrets(alice):
    rid = "logcheck-" + str(time.time_ns())
    secret = "s3cr3t-query-value"
    requests.get(API + "/tasks", params={"q": secret}, headers={**alice.h, "X-Request-Id": rid})
    requests.post(API + "/auth/token", json={"username": alice.email, "password": "wrong-" + secret},
                  headers={"X-Request-Id": rid + "b"})
    time.sleep(0.2)
    log = open(os.environ["SHIM_LOG"]).read()
    line = [l for l in log.splitlines() if rid + " " in l][0]
    assert " GET /api/v1/tasks 200 " in line
    assert rid + "b POST /api/v1/auth/token 401 " in log
    assert secret not in log and alice.token not in log and alice.token[-20:] not in log
    assert secret not in open(os.environ["SHIM_ERR"]).read()


def test_authenticated_responses_are_not_cached(alice):
    r = requests.get(API + "/me", headers=alice.h)
    assert r.headers["Cache-Control"] == "no-store"


def test_cors_for_allowed_origin_only(alice):
    r = requests.get(API + "/me", headers={**alice.h, "Origin": "http://allowed.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "http://allowed.example"
    r = requests.get(API + "/me", headers={**alice.h, "Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in r.headers
    r = requests.options(API + "/tasks", headers={"Origin": "http://allowed.example",
                                                 "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in r.headers["Access-Control-Allow-Headers"]


def raw(data, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", int(os.environ["SHIM_PORT"])), timeout=timeout)
    s.sendall(data)
    buf = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            if b"\r\n\r\n" in buf and b"Connection: close" not in buf and len(buf) > 20:
                head, _, body = buf.partition(b"\r\n\r\n")
                m = re.search(rb"(?i)content-length: (\d+)", head)
                if m and len(body) >= int(m.group(1)):
                    break
    except socket.timeout:
        pass
    s.close()
    return buf


def test_h2c_upgrade_is_refused():
    resp = raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
               b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 200"), resp[:100]
    # HTTP/2 prior knowledge is not spoken either
    resp = raw(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", timeout=2)
    assert not resp.startswith(b"\x00\x00"), resp[:20]


def test_body_over_cap_is_413(alice):
    r = requests.post(API + "/tasks", headers={**alice.h, "Content-Type": "application/json"},
                      data=b'{"title": "' + b"x" * (1024 * 1024 + 10) + b'"}')
    assert problem(r, 413)["code"] == "body_too_large"
    # far over the cap h2o itself refuses it, before buffering it all
    try:
        r = requests.post(API + "/tasks", headers={**alice.h, "Content-Type": "application/json"},
                          data=b"x" * (3 * 1024 * 1024))
        assert r.status_code == 413
    except requests.ConnectionError:
        pass    # or closes the connection while we are still sending


def test_body_just_under_cap_reaches_the_database(alice):
    r = requests.post(API + "/tasks", headers=alice.h, json={"title": "t", "description": "x" * 900_000})
    # the database decides (description too long or accepted), never 413/500
    assert r.status_code in (201, 422), r.text


def test_head_over_cap_is_431():
    problem(requests.get(URL + "/healthz", headers={"X-Big": "y" * 20000}), 431)


def test_slow_headers_client_is_disconnected():
    s = socket.create_connection(("127.0.0.1", int(os.environ["SHIM_PORT"])), timeout=10)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    start = time.monotonic()
    s.settimeout(8)
    data = s.recv(1000)      # the server gives up on us (timeout 1 s in this suite)
    elapsed = time.monotonic() - start
    s.close()
    assert elapsed < 6 and (data == b"" or data.startswith(b"HTTP/1.1 4")), data


def test_idle_keepalive_connection_is_closed():
    s = socket.create_connection(("127.0.0.1", int(os.environ["SHIM_PORT"])), timeout=10)
    s.settimeout(8)
    assert s.recv(1) == b""
    s.close()


def test_second_instance_cannot_share_the_port():
    p = subprocess.run([os.environ["SHIM_BIN"], "--database-url", os.environ["SHIM_DATABASE_URL"],
                        "--port", os.environ["SHIM_PORT"], "--log-format", "off"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode != 0
    assert "cannot listen" in p.stderr
    assert requests.get(URL + "/healthz").status_code == 200


def test_help_lists_flags_and_environment():
    p = subprocess.run([os.environ["SHIM_BIN"], "--help"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0
    for word in ("--database-url", "DATABASE_URL", "--port", "PORT", "LISTEN_ADDR", "--pool-size",
                 "--cors-origins", "--log-format", "--max-body"):
        assert word in p.stdout
    p = subprocess.run([os.environ["SHIM_BIN"], "--port", "70000"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "--port" in p.stderr


def test_malformed_query_string_is_400_naming_the_parameter(alice):
    b = problem(requests.get(API + "/tasks?status=%ZZ", headers=alice.h), 400)
    assert b["errors"][0]["field"] == "status"
    b = problem(requests.get(API + "/tasks?status=todo&status=done", headers=alice.h), 400)
    assert b["errors"][0]["field"] == "status"
    b = problem(requests.get(API + "/tasks?limit=ten", headers=alice.h), 400)
    assert b["errors"][0]["field"] == "limit"
    b = problem(requests.get(API + "/tasks?q=%C3%28", headers=alice.h), 400)   # invalid UTF-8
    assert b["errors"][0]["field"] == "q"
    b = problem(requests.get(API + "/me?x=1", headers=alice.h), 400)
    assert b["errors"][0]["field"] == "x"


def test_docs_page_served_locally():
    r = requests.get(URL + "/docs")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert '<script src="/docs/redoc.standalone.js">' in r.text and "http" not in r.text.split("<body>")[1]
    js = requests.get(URL + "/docs/redoc.standalone.js")
    assert js.status_code == 200 and len(js.content) > 100_000


def test_favicon_is_served_and_named_by_every_page():
    svg = open(os.path.join(os.path.dirname(__file__), "..", "..", "web", "public", "favicon.svg"), "rb").read()
    for path in ("/favicon.svg", "/favicon.ico"):      # .ico: what a browser asks when a page names none
        r = requests.get(URL + path)
        assert r.status_code == 200, path
        assert r.headers["Content-Type"] == "image/svg+xml" and r.content == svg
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    for page in ("/", "/docs"):
        assert '<link rel="icon" href="/favicon.svg" type="image/svg+xml">' in requests.get(URL + page).text, page


def test_statement_timeout_is_503_with_retry_after(alice):
    # hold a lock the route needs for longer than statement_timeout (3 s here)
    holder = subprocess.Popen(["psql", "-X", "-q", "-d", os.environ["TEST_DB_NAME"], "-c",
                               "BEGIN; LOCK TABLE taskmgmt.teams IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(6); COMMIT;"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        r = requests.get(API + "/teams", headers=alice.h, timeout=15)
        b = problem(r, 503)
        assert b["code"] == "timeout" and int(r.headers["Retry-After"]) >= 1
        # other routes are served meanwhile
        assert requests.get(API + "/me", headers=alice.h, timeout=5).status_code == 200
    finally:
        holder.wait(timeout=20)
    assert requests.get(API + "/teams", headers=alice.h).status_code == 200


def test_postgres_own_errors_never_reach_the_client(alice):
    from conftest import psql
    psql("REVOKE EXECUTE ON FUNCTION taskmgmt.list_teams() FROM taskmgmt_client")
    try:
        r = requests.get(API + "/teams", headers=alice.h)
        b = problem(r, 403)
        assert b["detail"] == "not allowed"
        assert "permission" not in r.text and "list_teams" not in r.text and "taskmgmt" not in r.text
    finally:
        psql("GRANT EXECUTE ON FUNCTION taskmgmt.list_teams() TO taskmgmt_client")
    assert requests.get(API + "/teams", headers=alice.h).status_code == 200


def test_request_timer_answers_503_and_the_connection_comes_back(alice):
    # a second shim whose request timer (0.5 s) fires before statement_timeout (5 s)
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    p_no = port.getsockname()[1]
    port.close()
    shim = subprocess.Popen([os.environ["SHIM_BIN"], "--database-url", os.environ["SHIM_DATABASE_URL"],
                             "--port", str(p_no), "--pool-size", "1", "--request-timeout", "500",
                             "--statement-timeout", "5000", "--log-format", "off"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{p_no}/api/v1"
    holder = None
    try:
        for _ in range(50):
            try:
                if requests.get(url.replace("/api/v1", "/readyz"), timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        holder = subprocess.Popen(["psql", "-X", "-q", "-d", os.environ["TEST_DB_NAME"], "-c",
                                   "BEGIN; LOCK TABLE taskmgmt.teams IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(2); COMMIT;"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        t0 = time.monotonic()
        r = requests.get(url + "/teams", headers=alice.h, timeout=10)
        assert problem(r, 503)["code"] == "timeout" and r.headers["Retry-After"]
        assert time.monotonic() - t0 < 1.5
        holder.wait(timeout=20)
        # the abandoned query finished; the single connection serves again
        for _ in range(30):
            r = requests.get(url + "/teams", headers=alice.h, timeout=10)
            if r.status_code == 200:
                break
            time.sleep(0.1)
        assert r.status_code == 200
    finally:
        if holder:
            holder.wait(timeout=20)
        shim.terminate()
        shim.wait(timeout=10)


def test_pipelined_requests_stay_separate_transactions(alice):
    # one connection, up to 8 requests in flight on it: a failing request
    # must not take the others down with it (one Sync, one transaction each)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p_no = s.getsockname()[1]
    s.close()
    shim = subprocess.Popen([os.environ["SHIM_BIN"], "--database-url", os.environ["SHIM_DATABASE_URL"],
                             "--port", str(p_no), "--pool-size", "1", "--pipeline", "8", "--log-format", "off"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{p_no}/api/v1"
    try:
        for _ in range(50):
            try:
                if requests.get(url.replace("/api/v1", "/readyz"), timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        # prepared on that connection first: only prepared statements are pipelined
        assert requests.post(url + "/tasks", headers=alice.h, json={"title": "warm-up"}).status_code == 201
        bodies = [{"title": f"pipelined {i}"} if i % 3 else {"title": ""} for i in range(30)]
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(12) as ex:
            rs = list(ex.map(lambda b: requests.post(url + "/tasks", headers=alice.h, json=b, timeout=20), bodies))
        for b, r in zip(bodies, rs):
            assert r.status_code == (201 if b["title"] else 422), r.text
        for r in rs:
            if r.status_code == 201:
                got = requests.get(url + f"/tasks/{r.json()['id']}", headers=alice.h)
                assert got.status_code == 200 and got.json()["title"] == r.json()["title"]
    finally:
        shim.terminate()
        shim.wait(timeout=10)
