#!/usr/bin/env bash
# ha: pg_auto_failover's monitor, primary and secondary (scripts/ha.sh) on
# loopback ports of their own, the database as make run makes it, the shim
# on the multi-host connection string; then test/ha/failover.py kills the
# primary under load and checks the failover (acknowledged writes,
# websockets, the time without writes, the old primary rejoining, the
# extension on a hot standby).  Then `make run HA=1` (scripts/run.sh) on a
# layout of its own: the shim answers on it and Ctrl-C stops it all.  About
# two minutes.  Ends with "ha: N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
layout=${TEST_CLUSTER:-test}-ha
out="${TEST_OUTDIR:-$root/.run/test-out}/ha"
rm -rf "$out"; mkdir -p "$out"
unset PGHOST PGPORT PGUSER PGDATABASE DATABASE_URL
shim_pid=
finish() {
  local rc=$1
  [ -n "$shim_pid" ] && kill "$shim_pid" 2>/dev/null && wait "$shim_pid" 2>/dev/null
  scripts/ha.sh destroy "$layout" >/dev/null 2>&1
  exit "$rc"
}
fail_setup() {  # what
  echo "not ok 1 - $1"
  for f in "$out"/*.log "$root/.run/$layout"/*.log; do
    [ -f "$f" ] && { echo "# --- $f"; tail -15 "$f" | sed 's/^/# /'; }
  done
  echo "ha: 0 passed, 1 failed"
  finish 1
}
trap 'finish 1' INT TERM

if ! command -v pg_autoctl >/dev/null || [ ! -f /usr/share/postgresql/15/extension/pgautofailover.control ]; then
  fail_setup "pg_auto_failover is installed (scripts/deps.sh: postgresql-15-auto-failover, pg-auto-failover-cli)"
fi
scripts/ha.sh destroy "$layout" >/dev/null 2>&1
echo "# $(date +%H:%M:%S) monitor, primary and secondary"
scripts/ha.sh start "$layout" "$(free_port)" "$(free_port)" "$(free_port)" > "$out/start.log" 2>&1 \
  || fail_setup "scripts/ha.sh start: monitor, primary, secondary"
scripts/ha.sh state "$layout" | sed 's/^/# /'
primary=$(scripts/ha.sh primary "$layout")
scripts/ha.sh psql "$layout" "$primary" -d taskmgmt < scripts/setup-db.sql > "$out/setup.log" 2>&1 \
  || fail_setup "the database set up as make run does (scripts/setup-db.sql)"

# the shim as make run starts it, on both nodes' socket: peer authentication
# admits the person running the suite as taskmgmt_client_login
port=$(free_port)
url="$(scripts/ha.sh url "$layout") user=taskmgmt_client_login"
echo "# shim: DATABASE_URL=$url"
make --no-print-directory -s shim/taskmgmt-shim || fail_setup "the shim builds"
shim/taskmgmt-shim --database-url "$url" --port "$port" --log-format off > "$out/shim.log" 2>&1 &
shim_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 || fail_setup "the shim is ready on the HA layout"

echo "# $(date +%H:%M:%S) failover under load"
/usr/bin/python3 test/ha/failover.py "$layout" "http://127.0.0.1:$port" | tee "$out/failover.out"
kill "$shim_pid" 2>/dev/null; wait "$shim_pid" 2>/dev/null; shim_pid=
scripts/ha.sh destroy "$layout" >/dev/null 2>&1
summary=$(tail -1 "$out/failover.out")
passed=$(echo "$summary" | sed -n 's/^ha: \([0-9]*\) passed.*/\1/p')
failed=$(echo "$summary" | sed -n 's/.* \([0-9]*\) failed$/\1/p')
passed=${passed:-0} failed=${failed:-1}
n=$((passed + failed))
ok()     { passed=$((passed + 1)); n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { failed=$((failed + 1)); n=$((n + 1)); echo "not ok $n - $*"; }

# ---- make run HA=1, as a person starts it (three consecutive free ports
# after the database's for the monitor and the nodes)
echo "# $(date +%H:%M:%S) make run HA=1"
run_cluster=${TEST_CLUSTER:-test}-run
free_run() {
  /usr/bin/python3 - <<'PY'
import random, socket
for _ in range(200):
    base = random.randint(20000, 60000)
    try:
        socks = []
        for p in range(base, base + 4):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
        print(base); break
    except OSError:
        pass
PY
}
export TASKMGMT_RUN_CLUSTER=$run_cluster TASKMGMT_DB_PORT=$(free_run) PORT=$(free_port) TASKMGMT_SMTP_SINK_PORT=$(free_port)
scripts/ha.sh destroy "$run_cluster-ha" >/dev/null 2>&1
rm -f ".run/$run_cluster.pgpass" ".run/$run_cluster-extension.md5"
HA=1 setsid scripts/run.sh > "$out/run.log" 2>&1 &
run_pid=$!
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
if curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then
  ok "make run HA=1: the shim answers /readyz on the HA layout"
else
  not_ok "make run HA=1: the shim answers /readyz on the HA layout"; tail -20 "$out/run.log" | sed 's/^/# /'
fi
state=$(scripts/ha.sh state "$run_cluster-ha" 2>&1)
echo "$state" | sed 's/^/# /'
if echo "$state" | grep -q 'node1 .*| *primary | *primary' && echo "$state" | grep -q 'node2 .*| *secondary | *secondary'; then
  ok "make run HA=1: node1 primary, node2 secondary"
else
  not_ok "make run HA=1: node1 primary, node2 secondary"
fi
email="run-ha-$RANDOM$RANDOM@example.com"
if curl -sf "http://127.0.0.1:$PORT/api/v1/auth/register" -H 'Content-Type: application/json' \
     -d "{\"email\": \"$email\", \"password\": \"correct horse battery\", \"display_name\": \"Run\"}" >/dev/null &&
   curl -sf "http://127.0.0.1:$PORT/api/v1/auth/token" -d grant_type=password -d "username=$email" \
     -d 'password=correct horse battery' | grep -q access_token; then
  ok "make run HA=1: register and sign in over HTTP"
else
  not_ok "make run HA=1: register and sign in over HTTP"
fi
if grep -q 'target_session_attrs=read-write' "$out/run.log"; then
  ok "make run HA=1 prints the multi-host connection string"
else
  not_ok "make run HA=1 prints the multi-host connection string"
fi
kill -TERM -- "-$run_pid" 2>/dev/null; wait "$run_pid" 2>/dev/null
if ! pgrep -f "pg_autoctl run --pgdata $(readlink -f ".run/$run_cluster-ha" 2>/dev/null || echo none)/" >/dev/null; then
  ok "make run HA=1: Ctrl-C stops the keepers too"
else
  not_ok "make run HA=1: Ctrl-C stops the keepers too"
fi
scripts/ha.sh destroy "$run_cluster-ha" >/dev/null 2>&1
rm -f ".run/$run_cluster.pgpass" ".run/$run_cluster-extension.md5"
echo "ha: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
finish $?
