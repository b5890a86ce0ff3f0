#!/usr/bin/env bash
# Soak run (#12.14; a benchmark, never run by make test or make bench):
#   bench/soak.sh                 SOAK_SECONDS=1800 by default
# On a private cluster 'soak' (its own PostgreSQL installation copy under
# .run/, like make test) with the shim, the mailer and an SMTP sink, mixed
# traffic for SOAK_SECONDS: SOAK_WORKERS (4) HTTP clients create, update,
# comment (with mentions), list, search, read history and notifications,
# sign in now and then (one wrong password in ten), and SOAK_SOCKETS (40)
# websockets stay connected and read their notifications; the access tokens
# are renewed every 5 minutes with the refresh tokens, as the web UI does
# (a websocket closes when its token expires, and reconnects with the new
# one and `since`).  SOAK_PG_CONF adds postgresql.conf lines (';' between
# them).  The logs (shim, mailer, PostgreSQL) stay in .run/soak-logs/.
# Every 10 s it
# samples the resident memory (VmRSS) of the shim and the mailer.  It prints
# the answers by status (no 5xx expected), the notifications and mails
# delivered, and for each process the RSS at start and end and the slope of
# a least-squares line through the samples after a 2-minute warm-up (kB per
# minute; flat is near 0).  Run it alone: the figures depend on the load of
# the machine (it prints the load average).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

SOAK_SECONDS=${SOAK_SECONDS:-1800}
SOAK_WORKERS=${SOAK_WORKERS:-4}
SOAK_SOCKETS=${SOAK_SOCKETS:-40}
CLUSTER=${SOAK_CLUSTER:-soak}
DB=soak
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

PG_CONFIG=$(scripts/pgcluster.sh private-install)
export PG_CONFIG
make --no-print-directory -s all >/dev/null
make --no-print-directory -s install >/dev/null
make --no-print-directory -s shim/taskmgmt-shim mailer/taskmgmt-mailer
PORT=$(free_port)
scripts/pgcluster.sh destroy "$CLUSTER" >/dev/null
# SOAK_PG_CONF: more postgresql.conf lines, separated by ';'
IFS=';' read -r -a extra_conf <<<"${SOAK_PG_CONF:-}"
scripts/pgcluster.sh start "$CLUSTER" "$PORT" "taskmgmt.bcrypt_cost = 10" "max_connections = 100" "${extra_conf[@]}" >/dev/null
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  cp ".run/$CLUSTER/postgres.log" "$work/" 2>/dev/null || true
  scripts/pgcluster.sh destroy "$CLUSTER" >/dev/null
  # the logs outlive the run, for a look after a failure
  rm -rf "$root/.run/soak-logs"; mv "$work" "$root/.run/soak-logs"
}
trap cleanup EXIT

export PGHOST=$(readlink -f ".run/$CLUSTER") PGPORT=$PORT PGUSER=postgres PGDATABASE=$DB
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION taskmgmt CASCADE;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'soak_shim') THEN CREATE ROLE soak_shim LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'soak_mailer') THEN CREATE ROLE soak_mailer LOGIN; END IF;
END $$;
GRANT taskmgmt_client TO soak_shim;
GRANT taskmgmt_mailer TO soak_mailer;
SELECT taskmgmt.configure_mail(app_url => 'http://localhost', digest_idle => '5 seconds', digest_max => '30 seconds');
SQL

hport=$(free_port) mport=$(free_port) sport=$(free_port)
shim/taskmgmt-shim --database-url "host=$PGHOST port=$PGPORT dbname=$DB user=soak_shim" \
  --port "$hport" --metrics-listen "127.0.0.1:$mport" --pool-size 4 --log-format off \
  --ws-max-per-user 20 >"$work/shim.log" 2>&1 &
shim_pid=$!; pids+=("$shim_pid")
/usr/bin/python3 - "$sport" >"$work/sink.log" 2>&1 <<'PY' &
import sys, time
sys.path.insert(0, "mailer")
import smtp_sink
sink = smtp_sink.Sink()
smtp_sink.start(sink, int(sys.argv[1]))
n = 0
while True:
    time.sleep(10)
    with sink.lock:
        n = len(sink.messages)
        sink.messages.clear()          # count them, keep no memory of them
    print(n, flush=True)
PY
pids+=($!)
DATABASE_URL="host=$PGHOST port=$PGPORT dbname=$DB user=soak_mailer" SMTP_URL="smtp://127.0.0.1:$sport" \
  SMTP_TLS=none MAIL_FROM=soak@localhost MAILER_POLL_INTERVAL=30 MAILER_BACKOFF=1 \
  mailer/taskmgmt-mailer >"$work/mailer.log" 2>&1 &
mailer_pid=$!; pids+=("$mailer_pid")
for _ in $(seq 100); do curl -sf "localhost:$hport/readyz" >/dev/null && break; sleep 0.1; done

echo "soak: ${SOAK_SECONDS} s, ${SOAK_WORKERS} HTTP clients, ${SOAK_SOCKETS} websockets; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$hport" "$mport" "$shim_pid" "$mailer_pid" "$SOAK_SECONDS" "$SOAK_WORKERS" "$SOAK_SOCKETS" <<'PY'
import asyncio, collections, json, random, sys, threading, time, uuid
import requests, websockets

hport, mport, shim_pid, mailer_pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
seconds, workers, sockets = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
API = f"http://127.0.0.1:{hport}/api/v1"
PW = "soak password 12345"
end = time.monotonic() + seconds
statuses = collections.Counter()
failures = {}             # status -> the body of one failed create
lock = threading.Lock()

def rss_kb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    raise SystemExit(f"soak: process {pid} is gone (see .run/soak-logs/)")

def register(name):
    email = f"{name}-{uuid.uuid4().hex[:8]}@soak.test"
    r = requests.post(API + "/auth/register", json={"email": email, "password": PW, "display_name": name})
    r.raise_for_status()
    uid = r.json()["id"]
    for _ in range(50):
        t = requests.post(API + "/auth/token", json={"username": email, "password": PW})
        if t.status_code == 200:
            return [uid, email, t.json()["access_token"], t.json()["refresh_token"]]
        time.sleep(0.2)
    raise SystemExit("cannot sign in: " + t.text)

people = [register(f"soak{i}") for i in range(max(workers, 4))]
lead_id, lead_email, lead_token, _ = register("soaklead")
lh = {"Authorization": "Bearer " + lead_token}
team = requests.post(API + "/teams", headers=lh, json={"name": "soak"}).json()
for uid, *_ in people:
    requests.post(API + f"/teams/{team['id']}/members", headers=lh, json={"user_id": uid, "role": "lead"})  # leads may assign to members

def count(r):
    with lock:
        statuses[r.status_code] += 1
    return r

def worker(i):
    me = people[i % len(people)]
    uid, email = me[0], me[1]
    other = people[(i + 1) % len(people)]
    s = requests.Session()
    n = 0
    while time.monotonic() < end:
        n += 1
        h = {"Authorization": "Bearer " + me[2]}   # refresher() renews it
        try:
            r = count(s.post(API + "/tasks", headers={**h, "Idempotency-Key": uuid.uuid4().hex},
                             json={"title": f"soak {i}-{n}", "team_id": team["id"], "tags": ["soak"],
                                   "assignee": {"type": "user", "id": other[0]}}))
            if r.status_code != 201:
                with lock:
                    failures[r.status_code] = r.text[:300]
                time.sleep(0.5)
                continue
            t = r.json()
            count(s.patch(API + f"/tasks/{t['id']}", headers={**h, "If-Match": f'"{t["version"]}"'},
                          json={"status": random.choice(["in_progress", "done"]), "priority": "high"}))
            count(s.post(API + f"/tasks/{t['id']}/comments", headers=h,
                         json={"body": f"note for @{other[1]} number {n}"}))
            count(s.get(API + "/tasks?status=todo,in_progress&sort=-created_at&limit=20", headers=h))
            count(s.get(API + "/search?q=soak&limit=10", headers=h))
            count(s.get(API + f"/tasks/{t['id']}/history", headers=h))
            count(s.get(API + "/notifications?limit=20", headers=h))
            if n % 20 == 0:
                count(s.delete(API + f"/tasks/{t['id']}", headers=h))
            if n % 25 == 0:
                pw = PW if n % 250 else "a wrong password"
                count(s.post(API + "/auth/token", json={"username": email, "password": pw}))
        except requests.RequestException:
            with lock:
                statuses["error"] += 1
        time.sleep(0.05)

received = collections.Counter()

async def ws_client(k):
    person = people[k % len(people)]
    last = 0
    url = f"ws://127.0.0.1:{hport}/api/v1/notifications/ws"
    while time.monotonic() < end:
        try:
            async with websockets.connect(url, ping_interval=None) as ws:
                await ws.send(json.dumps({"access_token": person[2], "since": last}))
                while time.monotonic() < end:
                    try:
                        m = json.loads(await asyncio.wait_for(ws.recv(), 1))
                    except asyncio.TimeoutError:
                        continue
                    last = max(last, m["id"])
                    received[k] += 1
        except (OSError, websockets.WebSocketException):
            with lock:
                statuses["ws_reconnect"] += 1
            await asyncio.sleep(1)

samples = {"shim": [], "mailer": []}

def sampler():
    t0 = time.monotonic()
    while time.monotonic() < end:
        t = (time.monotonic() - t0) / 60
        samples["shim"].append((t, rss_kb(shim_pid)))
        samples["mailer"].append((t, rss_kb(mailer_pid)))
        time.sleep(10)

def refresher():
    """Renews the access tokens (15 min by default) with the refresh tokens, as the web UI does."""
    while time.monotonic() < end - 300:
        time.sleep(300)
        for p in people:
            r = count(requests.post(API + "/auth/refresh", json={"refresh_token": p[3]}))
            if r.status_code == 200:
                p[2], p[3] = r.json()["access_token"], r.json()["refresh_token"]

threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)] + [
    threading.Thread(target=sampler), threading.Thread(target=refresher, daemon=True)]
for t in threads:
    t.start()

async def all_ws():
    await asyncio.gather(*[ws_client(k) for k in range(sockets)])
asyncio.run(all_ws())
for t in threads:
    t.join()

def slope(points):
    pts = [p for p in points if p[0] >= 2] or points
    n = len(pts)
    if n < 2:
        return 0.0
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    den = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / den if den else 0.0

five = sum(v for k, v in statuses.items() if isinstance(k, int) and k >= 500)
print("answers by status:", dict(sorted(statuses.items(), key=lambda kv: str(kv[0]))))
print(f"5xx: {five}")
for code, body in sorted(failures.items()):
    print(f"a failed create ({code}): {body}")
print(f"notifications received on websockets: {sum(received.values())}")
for name, pts in samples.items():
    print(f"{name} RSS: {pts[0][1] / 1024:.1f} MB at start, {max(p[1] for p in pts) / 1024:.1f} MB max, "
          f"{pts[-1][1] / 1024:.1f} MB at end; slope after 2 min {slope(pts):+.1f} kB/min over {len(pts)} samples")
m = requests.get(f"http://127.0.0.1:{mport}/metrics").text
print("shim:", " ".join(l for l in m.splitlines() if l.startswith(("taskmgmt_signin_refused_total", "taskmgmt_connections_shed_total",
                                                                   "taskmgmt_accept_errors_total"))))
PY
echo "mail delivered to the sink: $(awk '{s+=$1} END {print s+0}' "$work/sink.log") messages"
echo "mailer errors logged: $(grep -ci error "$work/mailer.log" || true); load $(cut -d' ' -f1-3 /proc/loadavg)"
