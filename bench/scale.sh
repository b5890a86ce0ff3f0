#!/usr/bin/env bash
# Many shim processes and the pooler mode: wrk against GET /api/v1/tasks/{id}
# and GET /api/v1/tasks?limit=50 for
#   --workers 1, 2 and 4 (the same 8 database connections in total),
#   --pooler transaction straight to PostgreSQL (the cost of unnamed
#     statements, parsed and planned for every request), and
#   --pooler transaction through PgBouncer 1.18 in transaction mode.
# Its own cluster (.run/bench-scale) with a small seeded database (TASKS,
# default 20000), the extension from this checkout in a private copy of the
# PostgreSQL installation.  Not part of make test.
#   DURATION=5 CONNS=32 TASKS=20000 bench/scale.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
CLUSTER=bench-scale
PORT=${BENCH_PORT:-54361}
TASKS=${TASKS:-20000}
DURATION=${DURATION:-5}
CONNS=${CONNS:-32}
DB=bench_scale_$TASKS
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

PG_CONFIG=$(scripts/pgcluster.sh private-install); export PG_CONFIG
make -s all shim/taskmgmt-shim
make -s install >/dev/null
scripts/pgcluster.sh start "$CLUSTER" "$PORT" "shared_buffers = 256MB" "synchronous_commit = off" \
  "max_connections = 200" "taskmgmt.access_token_ttl = '6h'" "taskmgmt.bcrypt_cost = 10" >/dev/null
export PGHOST=$(readlink -f ".run/$CLUSTER") PGPORT=$PORT PGUSER=postgres
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
if [ "$(psql_q -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = '$DB'")" = 0 ]; then
  psql_q -d postgres -c "CREATE DATABASE $DB"
  psql_q -d "$DB" -c "SET client_min_messages = warning" -c "CREATE EXTENSION taskmgmt CASCADE"
  psql_q -d "$DB" -v tasks="$TASKS" -v users=200 -v teams=20 -f bench/workflow-seed.sql >/dev/null
  psql_q -d "$DB" -c "VACUUM ANALYZE"
fi
psql_q -d "$DB" >/dev/null <<'SQL'
DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_client') THEN
  CREATE ROLE bench_client LOGIN; END IF; END $$;
GRANT taskmgmt_client TO bench_client;
-- what --statement-timeout sets at connect, for the pooler runs (no startup options)
ALTER ROLE bench_client SET statement_timeout = '8s';
SQL
token=$(psql_q -U bench_client -d "$DB" -Atc \
  "SELECT taskmgmt.password_grant('heavy@bench.example', 'bench password 123') ->> 'access_token'")
uid=$(psql_q -d "$DB" -Atc "SELECT id FROM taskmgmt.users WHERE email = 'heavy@bench.example'")
task=$(psql_q -d "$DB" -Atc "SELECT id FROM taskmgmt.tasks WHERE assignee_user_id = $uid ORDER BY id LIMIT 1")

pgb_port=$(free_port)
scripts/pgbouncer.sh start "$CLUSTER-pgbouncer" "$pgb_port" "$PGHOST" "$PORT" "$DB" bench_client >/dev/null
shim_pid=
cleanup() {
  [ -n "$shim_pid" ] && { kill "$shim_pid" 2>/dev/null; wait "$shim_pid" 2>/dev/null; }
  scripts/pgbouncer.sh stop "$CLUSTER-pgbouncer" >/dev/null
  scripts/pgcluster.sh stop "$CLUSTER" >/dev/null   # its data stays for the next run
}
trap cleanup EXIT

direct="host=$PGHOST port=$PORT dbname=$DB user=bench_client"
pooled="host=127.0.0.1 port=$pgb_port dbname=$DB user=bench_client"
echo "data: $TASKS tasks; $(nproc) cores; wrk -t2 -c$CONNS -d${DURATION}s; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s %-22s %10s %9s %9s\n' configuration route req/s p50 p99
run() {  # label url workers pool extra...
  local label=$1 url=$2 workers=$3 pool=$4; shift 4
  local hport; hport=$(free_port)
  shim/taskmgmt-shim --database-url "$url" --notify-database-url "$direct" --port "$hport" \
    --workers "$workers" --pool-size "$pool" --log-format off "$@" > /dev/null 2>&1 &
  shim_pid=$!
  for _ in $(seq 50); do curl -sf "localhost:$hport/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  for pair in "GET /tasks/{id}|/tasks/$task" "GET /tasks?limit=50|/tasks?limit=50"; do
    local out rps p50 p99 bad name=${pair%%|*} route=${pair#*|}
    out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -H "Authorization: Bearer $token" \
          "http://127.0.0.1:$hport/api/v1$route")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    bad=$(echo "$out" | awk '/Non-2xx/ {print $5}')
    printf '%-44s %-22s %10s %9s %9s %s\n' "$label" "$name" "$rps" "$p50" "$p99" "${bad:+($bad non-2xx)}"
  done
  kill "$shim_pid"; wait "$shim_pid" 2>/dev/null; shim_pid=
}
run "direct, 1 worker, pool 8"             "$direct" 1 8
run "direct, 2 workers, pool 4 each"       "$direct" 2 4
run "direct, 4 workers, pool 2 each"       "$direct" 4 2
run "direct, --pooler transaction (no prepare)" "$direct" 1 8 --pooler transaction
run "PgBouncer (transaction), --pooler transaction" "$pooled" 1 8 --pooler transaction
run "PgBouncer, 2 workers, pool 4 each"    "$pooled" 2 4 --pooler transaction
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
