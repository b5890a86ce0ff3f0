#!/usr/bin/env bash
# Shim benchmark (issue "taskmgmt-shim", Performance):
#   1. wrk against GET /api/v1/tasks?limit=50, GET /api/v1/tasks/{id} and
#      POST /api/v1/tasks at 32 connections, and pgbench -M prepared running
#      the same SQL the shim runs at the same concurrency; prints req/s,
#      p50/p99 and the ratio shim/pgbench per route;
#   2. NOTIFY -> 1,000 connected websockets: time until the last one has it;
#   3. shim RSS with 1,000 idle websockets.
# Data: the 1,000,000-task database of bench/workflow.sh (seeded here if
# missing, same cluster .run/bench-workflow, port 54360).  Not part of make test.
#   DURATION=10 CONNS=32 POOL=8 TASKS=1000000 bench/shim.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

CLUSTER=${BENCH_CLUSTER:-bench-workflow}
PORT=${BENCH_PORT:-54360}
TASKS=${TASKS:-1000000}
USERS=${USERS:-10000}
TEAMS=${TEAMS:-1000}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
POOL=${POOL:-8}
SOCKETS=${SOCKETS:-1000}
DB=bench_workflow_$TASKS
ulimit -n 8192

make -s shim/taskmgmt-shim
[ "${SKIP_BUILD:-0}" = 1 ] || make -s install >/dev/null
scripts/pgcluster.sh start "$CLUSTER" "$PORT" \
  "shared_buffers = 1GB" "work_mem = 16MB" "maintenance_work_mem = 512MB" \
  "max_wal_size = 8GB" "synchronous_commit = off" \
  "taskmgmt.access_token_ttl = '6h'" "taskmgmt.bcrypt_cost = 10" >/dev/null
export PGHOST=$(readlink -f ".run/$CLUSTER") PGPORT=$PORT PGUSER=postgres
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
if [ "$(psql_q -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = '$DB'")" = 0 ]; then
  psql_q -d postgres -c "CREATE DATABASE $DB"
  psql_q -d "$DB" -c "SET client_min_messages = warning" -c "CREATE EXTENSION taskmgmt CASCADE"
  echo "seeding $TASKS tasks ..."
  psql_q -d "$DB" -v tasks="$TASKS" -v users="$USERS" -v teams="$TEAMS" -f bench/workflow-seed.sql
  psql_q -d "$DB" -c "VACUUM ANALYZE"
fi
psql_q -d postgres -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_client') THEN
  CREATE ROLE bench_client LOGIN; END IF; END \$\$" -c "GRANT taskmgmt_client TO bench_client"
token=$(psql_q -U bench_client -d "$DB" -Atc \
  "SELECT taskmgmt.password_grant('heavy@bench.example', 'bench password 123') ->> 'access_token'")
uid=$(psql_q -d "$DB" -Atc "SELECT id FROM taskmgmt.users WHERE email = 'heavy@bench.example'")
task=$(psql_q -d "$DB" -Atc "SELECT id FROM taskmgmt.tasks WHERE assignee_user_id = $uid ORDER BY id LIMIT 1")
echo "data: $(psql_q -d "$DB" -Atc "SELECT count(*) FROM taskmgmt.tasks") tasks; user $uid, task $task; $(nproc) cores"

tmp=$(mktemp -d)
hport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
shim/taskmgmt-shim --database-url "host=$PGHOST port=$PORT dbname=$DB user=bench_client" \
  --port "$hport" --metrics-listen "127.0.0.1:$mport" --pool-size "$POOL" --log-format off --ws-max-per-user $((SOCKETS + 10)) \
  --max-connections $((SOCKETS + 200)) >"$tmp/shim.log" 2>&1 &
shim_pid=$!
cleanup() { kill "$shim_pid" 2>/dev/null; wait "$shim_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
for _ in $(seq 50); do curl -sf "localhost:$hport/readyz" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$hport/api/v1"

AUTH="WITH a AS MATERIALIZED (SELECT taskmgmt.authenticate(:tok) AS uid)"
echo "$AUTH SELECT taskmgmt.list_tasks(:filter::jsonb) AS body FROM a;" >"$tmp/list.sql"
echo "$AUTH SELECT r AS body, r->>'version' AS version FROM (SELECT taskmgmt.get_task(:id::bigint) AS r FROM a OFFSET 0) t;" >"$tmp/get.sql"
echo "$AUTH SELECT r AS body, r->>'id' AS id, r->>'version' AS version FROM (SELECT taskmgmt.create_task(:task::jsonb) AS r FROM a OFFSET 0) t;" >"$tmp/create.sql"
cat >"$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"title": "bench task", "priority": "low"}'
wrk.headers["Content-Type"] = "application/json"
LUA

# wrk: "Requests/sec", and the 50% / 99% lines of --latency (in us, ms or s)
wrk_run() {  # name path [lua]
  local out
  out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H "Authorization: Bearer $token" ${3:+-s "$3"} "$url$2")
  local rps p50 p99 non2xx
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  echo "$rps $p50 $p99 ${non2xx:-0}"
}
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.2f", v/1000; else if (v ~ /ms$/) printf "%.2f", v+0; else printf "%.2f", (v+0)*1000 }'; }
pgb_run() {  # name script
  rm -f "$tmp"/pgbench_log.*
  local out tps p50 p99 n
  out=$(cd "$tmp" && pgbench -n -M prepared -U bench_client -d "$DB" -c "$CONNS" -j 2 -T "$DURATION" -l \
        -D tok="$token" -D filter='{"limit": 50}' -D id="$task" -D task='{"title": "bench task", "priority": "low"}' \
        -f "$2" 2>&1) || { echo "pgbench failed: $out" >&2; echo "0 - -"; return; }
  tps=$(echo "$out" | awk '/^tps/ {print $3}')
  cat "$tmp"/pgbench_log.* | awk '{print $3}' | sort -n >"$tmp/lat"
  n=$(wc -l <"$tmp/lat")
  p50=$(awk -v n="$n" 'NR == int(n * 0.50 + 0.5) {printf "%.2f", $1 / 1000}' "$tmp/lat")
  p99=$(awk -v n="$n" 'NR == int(n * 0.99 + 0.5) {printf "%.2f", $1 / 1000}' "$tmp/lat")
  echo "$tps $p50 $p99"
}

printf '\n== HTTP (wrk -t1 -c%s, %ss) vs pgbench -M prepared (-c%s -j2) on the same SQL; shim pool %s\n' \
  "$CONNS" "$DURATION" "$CONNS" "$POOL"
printf '%-26s %10s %9s %9s | %10s %9s %9s | %6s %s\n' route "shim r/s" "p50 ms" "p99 ms" "pgbench" "p50 ms" "p99 ms" ratio target
for spec in "GET /tasks?limit=50|/tasks?limit=50||$tmp/list.sql|0.8" \
            "GET /tasks/{id}|/tasks/$task||$tmp/get.sql|0.6" \
            "POST /tasks|/tasks|$tmp/post.lua|$tmp/create.sql|0.8"; do
  IFS='|' read -r name path lua sql target <<<"$spec"
  read -r rps p50 p99 bad <<<"$(wrk_run "$name" "$path" "$lua")"
  read -r tps q50 q99 <<<"$(pgb_run "$name" "$sql")"
  ratio=$(awk -v a="$rps" -v b="$tps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  printf '%-26s %10.0f %9s %9s | %10.0f %9s %9s | %6s >= %s%s\n' "$name" "$rps" "$(to_ms "$p50")" "$(to_ms "$p99")" \
    "$tps" "$q50" "$q99" "$ratio" "$target" "$([ "$bad" != 0 ] && echo "  ($bad non-2xx!)")"
done

printf '\n== websockets: %s idle sockets, then one NOTIFY for their user\n' "$SOCKETS"
/usr/bin/python3 - "$hport" "$token" "$SOCKETS" "$shim_pid" "$DB" "$uid" "$task" "$mport" <<'PY'
import asyncio, json, subprocess, sys, time
import websockets
port, token, n, pid, db, uid, task = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]

def rss_kb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])

async def main():
    before = rss_kb()
    url = f"ws://127.0.0.1:{port}/api/v1/notifications/ws"
    last = subprocess.run(["psql", "-X", "-Atq", "-U", "postgres", "-d", db, "-c",
                           f"SELECT coalesce(max(id), 0) FROM taskmgmt.notifications WHERE user_id = {uid}"],
                          capture_output=True, text=True, check=True).stdout.strip()
    socks = []
    for i in range(0, n, 100):
        batch = await asyncio.gather(*[websockets.connect(url, ping_interval=None, max_queue=None)
                                       for _ in range(min(100, n - i))])
        # first-frame authentication, nothing to catch up on
        await asyncio.gather(*[s.send(json.dumps({"access_token": token, "since": int(last)})) for s in batch])
        socks += batch
    await asyncio.sleep(3)
    idle = rss_kb()
    print(f"shim RSS: {before / 1024:.1f} MB before, {idle / 1024:.1f} MB with {n} idle websockets (target <= 30 MB)")
    arrivals = []

    async def wait(s):
        await s.recv()
        arrivals.append(time.monotonic())
    waiters = [asyncio.create_task(wait(s)) for s in socks]
    # a psql already connected, so the clock starts at the INSERT itself
    ps = subprocess.Popen(["psql", "-X", "-q", "-U", "postgres", "-d", db], stdin=subprocess.PIPE, text=True)
    await asyncio.sleep(0.5)
    t0 = time.monotonic()
    ps.stdin.write(f"INSERT INTO taskmgmt.notifications (user_id, event, task_id, message) "
                   f"VALUES ({uid}, 'updated', {task}, 'bench');\n")
    ps.stdin.flush()
    await asyncio.wait_for(asyncio.gather(*waiters), 30)
    ps.stdin.close()
    ps.wait()
    arrivals.sort()
    ms = lambda t: (t - t0) * 1000
    print(f"NOTIFY -> {n} sockets of one user: first {ms(arrivals[0]):.1f} ms, median {ms(arrivals[n // 2]):.1f} ms, "
          f"last {ms(arrivals[-1]):.1f} ms after the INSERT was sent, as seen by this (Python) client")
    m = subprocess.run(["curl", "-s", f"http://127.0.0.1:{sys.argv[8]}/metrics"], capture_output=True, text=True).stdout
    f = dict(l.split() for l in m.splitlines() if l.startswith("taskmgmt_ws_last_fanout"))
    print(f"shim side: NOTIFY received -> frames written to {f['taskmgmt_ws_last_fanout_sockets']} sockets in "
          f"{float(f['taskmgmt_ws_last_fanout_seconds']) * 1000:.1f} ms (target: all within 50 ms)")
    for s in socks:
        await s.close()

asyncio.run(main())
PY
