#!/usr/bin/env bash
# The SQL API's hot paths against plain SQL of the same rows (issue #11).
#
# For list, get and create, at each data size (default 10,000 and 1,000,000
# tasks), with synchronous_commit = on, 32 connections:
#   HTTP   wrk -t1 -cCONNS against the shim (pool 8, pipeline 4)
#   API    pgbench -M prepared -cCONNS running the statement the shim
#          prepares for the route (authenticate + the API function, RLS on)
#   plain  pgbench -M prepared -cCONNS running plain SQL that returns the
#          same rows as JSON, as a superuser (no RLS, no authentication)
# The three run one after the other, ROUNDS times in turn (DURATION seconds
# each), so a change in the machine's load hits all three alike; the table
# shows the median of the rounds and the ratios HTTP/plain and API/plain.
#
#   bench/compare.sh                               both sizes, all three routes
#   SIZES=10000 ROUTES="list get" bench/compare.sh
#   ROUNDS=3 DURATION=5 CONNS=32 SKIP_BUILD=1 bench/compare.sh
#
# The plain references (see bench/README.md, "SQL API against plain SQL"):
#   list    the 50 rows list_tasks returns for {"assignee": "me", "limit": 50}
#           (newest first): their columns (parent_id and recurrence of #14
#           included; not the counts subtasks and blocked_by_open, which
#           are no column), json_agg'd in one SELECT
#   get     one row by primary key, its columns as JSON
#   create  INSERT into bench_ref.tasks (taskmgmt.tasks' columns, defaults,
#           checks and every index, the GIN search index included, and the
#           same rows; no triggers, no RLS, no foreign keys) plus one history
#           row into bench_ref.task_events, returning the row as JSON
# Data: the workflow benchmark's generator (bench/workflow-seed.sql) in the
# workflow cluster (.run/bench-workflow, port 54360; BENCH_CLUSTER and
# BENCH_PORT to change): users = tasks / 100 (at least 100), teams = users /
# 10; the 1M set is the one bench/workflow.sh and bench/shim.sh use.  Tasks
# that the create runs add are deleted again after each round.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

CLUSTER=${BENCH_CLUSTER:-bench-workflow}
PORT=${BENCH_PORT:-54360}
SIZES=${SIZES:-10000 1000000}
ROUTES=${ROUTES:-list get create}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
POOL=${POOL:-8}
LIST_FILTER='{"assignee": "me", "limit": 50}'
ulimit -n 8192

make -s shim/taskmgmt-shim
[ "${SKIP_BUILD:-0}" = 1 ] || make -s install >/dev/null
scripts/pgcluster.sh start "$CLUSTER" "$PORT" \
  "shared_buffers = 1GB" "work_mem = 16MB" "maintenance_work_mem = 512MB" \
  "max_wal_size = 8GB" "synchronous_commit = off" \
  "taskmgmt.access_token_ttl = '6h'" "taskmgmt.bcrypt_cost = 10" >/dev/null
export PGHOST=$(readlink -f ".run/$CLUSTER") PGPORT=$PORT PGUSER=postgres
# the cluster may default to synchronous_commit = off (bench/workflow.sh):
# every session of this benchmark, the shim's included, turns it on
export PGOPTIONS="-c synchronous_commit=on"
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_q -d postgres -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_client') THEN
  CREATE ROLE bench_client LOGIN; END IF; END \$\$" -c "GRANT taskmgmt_client TO bench_client"

tmp=$(mktemp -d)
shim_pid=
cleanup() { [ -z "$shim_pid" ] || { kill "$shim_pid" 2>/dev/null; wait "$shim_pid" 2>/dev/null; }; rm -rf "$tmp"; }
trap cleanup EXIT

# the database of a size, seeded (once) like bench/workflow.sh's
prepare_db() {  # tasks -> sets DB
  local tasks=$1 users teams
  users=$(( tasks / 100 < 100 ? 100 : tasks / 100 )); teams=$(( users / 10 ))
  DB=bench_workflow_$tasks
  [ "$users" = 10000 ] && [ "$teams" = 1000 ] || DB=bench_workflow_${tasks}_${users}_${teams}
  if [ "$(psql_q -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = '$DB'")" = 0 ]; then
    echo "seeding $DB: $tasks tasks, $users users, $teams teams ..."
    psql_q -d postgres -c "CREATE DATABASE $DB"
    psql_q -d "$DB" -c "SET client_min_messages = warning" -c "CREATE EXTENSION taskmgmt CASCADE"
    psql_q -d "$DB" -v tasks="$tasks" -v users="$users" -v teams="$teams" -f bench/workflow-seed.sql >/dev/null
    psql_q -d "$DB" -c "VACUUM ANALYZE"
  fi
  psql_q -d "$DB" -c "SET client_min_messages = warning" -c "ALTER EXTENSION taskmgmt UPDATE"
  # the create reference: the tasks table without triggers, RLS or foreign
  # keys (LIKE ... INCLUDING ALL: defaults, identity, generated column,
  # checks, indexes), holding the same rows, and a history table
  if [ "$(psql_q -d "$DB" -Atc "SELECT count(*) FROM pg_namespace WHERE nspname = 'bench_ref'")" = 0 ]; then
    echo "copying $DB's tasks into bench_ref.tasks (the create reference) ..."
    psql_q -d "$DB" <<'SQL'
CREATE SCHEMA bench_ref;
CREATE TABLE bench_ref.tasks (LIKE taskmgmt.tasks INCLUDING ALL);
CREATE TABLE bench_ref.task_events (LIKE taskmgmt.task_events INCLUDING ALL);
ALTER TABLE bench_ref.task_events ALTER COLUMN actor_id DROP DEFAULT, ALTER COLUMN source SET DEFAULT 'sql';
INSERT INTO bench_ref.tasks (id, title, description, status, priority, due_date, team_id, assignee_user_id,
                             assignee_team_id, tags, creator_id, created_at, updated_at, started_at,
                             completed_at, version)
  OVERRIDING SYSTEM VALUE
  SELECT id, title, description, status, priority, due_date, team_id, assignee_user_id, assignee_team_id,
         tags, creator_id, created_at, updated_at, started_at, completed_at, version
  FROM taskmgmt.tasks;
SELECT setval(pg_get_serial_sequence('bench_ref.tasks', 'id'), (SELECT max(id) FROM bench_ref.tasks));
VACUUM ANALYZE bench_ref.tasks;
SQL
  fi
}

# wrk: "Requests/sec" and the 50% / 99% lines of --latency (us, ms or s)
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.2f", v/1000; else if (v ~ /ms$/) printf "%.2f", v+0; else printf "%.2f", (v+0)*1000 }'; }
wrk_run() {  # path [lua] -> "rps p50 p99 non2xx"
  local out rps p50 p99 bad
  out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H "Authorization: Bearer $token" ${2:+-s "$2"} "$url$1")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  bad=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") ${bad:-0}"
}
pgb_run() {  # user script -> "tps p50 p99 failed"
  rm -f "$tmp"/pgbench_log.*
  local out tps n
  out=$(cd "$tmp" && pgbench -n -M prepared -U "$1" -d "$DB" -c "$CONNS" -j 2 -T "$DURATION" -l \
        -D tok="$token" -D uid="$uid" -D id="$task" -D filter="$LIST_FILTER" \
        -D task='{"title": "compare bench task", "priority": "low"}' -f "$2" 2>&1) \
    || { echo "pgbench failed: $out" >&2; echo "0 0 0 1"; return; }
  tps=$(echo "$out" | awk '/^tps/ {print $3}')
  cat "$tmp"/pgbench_log.* | awk '{print $3}' | sort -n >"$tmp/lat"
  n=$(wc -l <"$tmp/lat")
  echo "$tps $(awk -v n="$n" 'NR == int(n * 0.50 + 0.5) {printf "%.2f", $1 / 1000}' "$tmp/lat") $(awk -v n="$n" 'NR == int(n * 0.99 + 0.5) {printf "%.2f", $1 / 1000}' "$tmp/lat") 0"
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
# the rows the create runs added, gone again (history and all, no triggers)
drop_created() {
  psql_q -d "$DB" <<'SQL'
SET session_replication_role = replica;
DELETE FROM taskmgmt.task_events e USING taskmgmt.tasks t WHERE e.task_id = t.id AND t.title = 'compare bench task';
DELETE FROM taskmgmt.tasks WHERE title = 'compare bench task';
DELETE FROM bench_ref.task_events e USING bench_ref.tasks t WHERE e.task_id = t.id AND t.title = 'compare bench task';
DELETE FROM bench_ref.tasks WHERE title = 'compare bench task';
RESET session_replication_role;
-- replica mode left the creates' tally deltas: an admin's report reads them
SELECT taskmgmt.rebuild_task_tallies() > 0 AS tallied;
SQL
}

# the SQL each route runs: the shim's statement (shim/routes.c) and the reference
AUTH="WITH a AS MATERIALIZED (SELECT taskmgmt.authenticate(:tok) AS uid)"
COLS="id, title, description, status, priority, due_date, team_id, assignee_user_id, assignee_team_id,
      tags, creator_id, created_at, updated_at, started_at, completed_at, version, parent_id, recurrence"
echo "$AUTH SELECT taskmgmt.list_tasks(:filter::jsonb) AS body FROM a;" >"$tmp/list.api.sql"
echo "SELECT json_agg(t) AS body FROM (SELECT $COLS FROM taskmgmt.tasks WHERE assignee_user_id = :uid
      ORDER BY created_at DESC, id DESC LIMIT 50) t;" >"$tmp/list.plain.sql"
echo "$AUTH SELECT r AS body, r->>'version' AS version FROM (SELECT taskmgmt.get_task(:id::bigint) AS r FROM a OFFSET 0) t;" >"$tmp/get.api.sql"
echo "SELECT row_to_json(t) AS body FROM (SELECT $COLS FROM taskmgmt.tasks WHERE id = :id) t;" >"$tmp/get.plain.sql"
echo "$AUTH SELECT r AS body, r->>'id' AS id, r->>'version' AS version FROM (SELECT taskmgmt.create_task(:task::jsonb) AS r FROM a OFFSET 0) t;" >"$tmp/create.api.sql"
cat >"$tmp/create.plain.sql" <<SQL
WITH t AS (INSERT INTO bench_ref.tasks (title, priority, creator_id) VALUES ('compare bench task', 'low', :uid) RETURNING $COLS),
     e AS (INSERT INTO bench_ref.task_events (task_id, actor_id, actor_role, kind, changes, description)
           SELECT t.id, t.creator_id, current_user, 'created',
                  jsonb_build_object('title', jsonb_build_array(NULL, t.title), 'status', jsonb_build_array(NULL, t.status),
                                     'priority', jsonb_build_array(NULL, t.priority)),
                  'created "' || t.title || '"' FROM t)
SELECT row_to_json(t) AS body FROM t;
SQL
cat >"$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"title": "compare bench task", "priority": "low"}'
wrk.headers["Content-Type"] = "application/json"
LUA

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
for size in $SIZES; do
  prepare_db "$size"
  token=$(psql_q -U bench_client -d "$DB" -Atc \
    "SELECT taskmgmt.password_grant('heavy@bench.example', 'bench password 123') ->> 'access_token'")
  uid=$(psql_q -d "$DB" -Atc "SELECT id FROM taskmgmt.users WHERE email = 'heavy@bench.example'")
  task=$(psql_q -d "$DB" -Atc "SELECT id FROM taskmgmt.tasks WHERE assignee_user_id = $uid ORDER BY id LIMIT 1")
  # the API and the reference return the same rows
  same=$(psql_q -U bench_client -d "$DB" -Atc "SELECT (SELECT array_agg((i ->> 'id')::bigint) FROM jsonb_array_elements(
           taskmgmt.list_tasks('$LIST_FILTER') -> 'items') i) = (SELECT array_agg(id) FROM (SELECT id FROM taskmgmt.tasks
           WHERE assignee_user_id = $uid ORDER BY created_at DESC, id DESC LIMIT 50) x)
           FROM (SELECT taskmgmt.authenticate('$token')) a")
  [ "$same" = t ] || { echo "list_tasks and the plain list differ" >&2; exit 1; }

  [ -z "$shim_pid" ] || { kill "$shim_pid"; wait "$shim_pid" 2>/dev/null || true; }
  hport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  shim/taskmgmt-shim --database-url "host=$PGHOST port=$PORT dbname=$DB user=bench_client options='-c synchronous_commit=on'" \
    --port "$hport" --pool-size "$POOL" --log-format off >"$tmp/shim.log" 2>&1 &
  shim_pid=$!
  for _ in $(seq 50); do curl -sf "localhost:$hport/readyz" >/dev/null && break; sleep 0.1; done
  url="http://127.0.0.1:$hport/api/v1"

  printf '\n== %s tasks (%s): heavy user %s, assigned %s tasks; %s connections, %s rounds of %s s, synchronous_commit = %s\n' \
    "$size" "$DB" "$uid" "$(psql_q -d "$DB" -Atc "SELECT count(*) FROM taskmgmt.tasks WHERE assignee_user_id = $uid")" \
    "$CONNS" "$ROUNDS" "$DURATION" "$(psql_q -U bench_client -d "$DB" -Atc 'SHOW synchronous_commit')"
  printf '%-7s | %8s %7s %7s | %8s %7s %7s | %8s %7s %7s | %10s %9s %s\n' route "HTTP r/s" p50 p99 "API tps" p50 p99 \
    "plain" p50 p99 "HTTP/plain" "API/plain" "target"
  for route in $ROUTES; do
    case $route in
      list) path="/tasks?assignee=me&limit=50"; lua=; target=0.5 ;;
      get) path="/tasks/$task"; lua=; target=0.7 ;;
      create) path="/tasks"; lua=$tmp/post.lua; target=0.5 ;;
      *) echo "unknown route $route" >&2; exit 1 ;;
    esac
    : >"$tmp/h"; : >"$tmp/a"; : >"$tmp/p"
    for _ in $(seq "$ROUNDS"); do
      wrk_run "$path" "$lua" >>"$tmp/h"
      pgb_run bench_client "$tmp/$route.api.sql" >>"$tmp/a"
      pgb_run postgres "$tmp/$route.plain.sql" >>"$tmp/p"
      [ "$route" != create ] || drop_created
    done
    bad=$(awk '{s += $4} END {print s}' "$tmp/h" "$tmp/a" "$tmp/p")
    col() { awk -v c="$2" '{printf "%s ", $c}' "$1" | median; }
    printf '%-7s | %8.0f %7.2f %7.2f | %8.0f %7.2f %7.2f | %8.0f %7.2f %7.2f | %10.2f %9.2f >= %s%s\n' "$route" \
      "$(col "$tmp/h" 1)" "$(col "$tmp/h" 2)" "$(col "$tmp/h" 3)" \
      "$(col "$tmp/a" 1)" "$(col "$tmp/a" 2)" "$(col "$tmp/a" 3)" \
      "$(col "$tmp/p" 1)" "$(col "$tmp/p" 2)" "$(col "$tmp/p" 3)" \
      "$(awk -v a="$(col "$tmp/h" 1)" -v b="$(col "$tmp/p" 1)" 'BEGIN {print (b > 0 ? a / b : 0)}')" \
      "$(awk -v a="$(col "$tmp/a" 1)" -v b="$(col "$tmp/p" 1)" 'BEGIN {print (b > 0 ? a / b : 0)}')" \
      "$target" "$([ "$bad" = 0 ] || echo "  ($bad failed runs / non-2xx responses!)")"
    [ "${VERBOSE:-0}" = 0 ] || { echo "  HTTP:  $(tr '\n' ';' <"$tmp/h")"; echo "  API:   $(tr '\n' ';' <"$tmp/a")"; echo "  plain: $(tr '\n' ';' <"$tmp/p")"; }
  done
  # the creates' entries wait in the search index's pending list until a
  # vacuum, and every search reads that list (bench/workflow.sh runs on the
  # same 1M database): leave the index as the seed left it
  case " $ROUTES " in *" create "*) psql_q -d "$DB" -c "VACUUM taskmgmt.tasks, taskmgmt.task_events" ;; esac
done
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
