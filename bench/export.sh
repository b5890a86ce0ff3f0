#!/usr/bin/env bash
# Export benchmark: a 1,000,000-task CSV export and the reports over the same
# tasks, signed in as their creator (so every row passes row-level security).
#
#   bench/export.sh                 seed (once) and measure
#   TASKS=100000 bench/export.sh    a smaller data set (own database)
#   REGEN=1 bench/export.sh         seed again
#
# Own cluster: .run/bench-export on port 54408 (BENCH_CLUSTER/BENCH_PORT).
# Prints, per way of exporting: wall time, bytes, rows/s, the peak memory
# (private RssAnon) of the server backend and of the client (psql fetching
# 1000 rows at a time, as a streaming client would).  Not part of make test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

CLUSTER=${BENCH_CLUSTER:-bench-export}
PORT=${BENCH_PORT:-54408}
TASKS=${TASKS:-1000000}
DB=bench_export_$TASKS

[ "${SKIP_BUILD:-0}" = 1 ] || make -s install >/dev/null
scripts/pgcluster.sh start "$CLUSTER" "$PORT" \
  "shared_buffers = 256MB" "work_mem = 4MB" "max_wal_size = 4GB" \
  "synchronous_commit = off" "taskmgmt.bcrypt_cost = 10" >/dev/null
export PGHOST=$(readlink -f ".run/$CLUSTER") PGPORT=$PORT PGUSER=postgres
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

exists=$(psql_q -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = '$DB'")
if [ "${REGEN:-0}" = 1 ] || [ "$exists" = 0 ]; then
  psql_q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  psql_q -d "$DB" -c "SET client_min_messages = warning" -c "CREATE EXTENSION taskmgmt CASCADE"
  echo "seeding $TASKS tasks ..."
  start=$(date +%s)
  # Straight into the table (replica mode: no per-row triggers), with the
  # cells an export has to work for: quotes, commas, newlines, formulas, UTF-8.
  psql_q -d "$DB" -v tasks="$TASKS" <<'SQL'
SELECT taskmgmt.register('bench@export.test', 'bench export password', 'Zoë Bench') IS NOT NULL;
SELECT taskmgmt.register('other@export.test', 'bench export password', 'Other Person') IS NOT NULL;
SET session_replication_role = replica;
INSERT INTO taskmgmt.teams (name, created_by) VALUES ('Équipe', 1);
INSERT INTO taskmgmt.team_members (team_id, user_id, role) VALUES (1, 1, 'owner'), (1, 2, 'member');
INSERT INTO taskmgmt.tasks (title, description, status, priority, due_date, team_id,
                            assignee_user_id, tags, creator_id, created_at, updated_at,
                            started_at, completed_at)
SELECT CASE i % 4 WHEN 0 THEN format('Task %s, with "quotes"', i)
                  WHEN 1 THEN format('=formula %s', i)
                  WHEN 2 THEN format('two%slines %s', E'\n', i)
                  ELSE format('Überprüfung %s', i) END,
       'x', (ARRAY['todo', 'in_progress', 'done', 'canceled'])[1 + i % 4]::taskmgmt.task_status,
       (ARRAY['none', 'low', 'medium', 'high', 'urgent'])[1 + i % 5]::taskmgmt.task_priority,
       DATE '2026-01-01' + (i % 400), CASE WHEN i % 2 = 0 THEN 1 END,
       CASE WHEN i % 3 = 0 THEN 2 END, ARRAY['bench', 't' || (i % 10)], 1,
       ts, ts, ts + interval '1 hour', CASE WHEN i % 4 = 2 THEN ts + interval '1 day' END
  FROM generate_series(1, :tasks) i,
       LATERAL (SELECT now() - (i % 120) * interval '1 day' - (i % 997) * interval '1 minute' AS ts) t;
RESET session_replication_role;
SELECT taskmgmt.rebuild_task_tallies() > 0 AS tallied;
SQL
  psql_q -d "$DB" -c "VACUUM ANALYZE"
  echo "seeded in $(( $(date +%s) - start )) s"
fi
psql_q -d postgres -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_client') THEN
  CREATE ROLE bench_client LOGIN; END IF; END \$\$" -c "GRANT taskmgmt_client TO bench_client"
echo "data: $(psql_q -d "$DB" -Atc "SELECT count(*) FROM taskmgmt.tasks") tasks, all visible to the exporting user"

# Runs one export in a fresh session; prints time, bytes, rows/s and peak
# memory: the backend's private memory (RssAnon, sampled every 50 ms; shared
# buffers are not counted) and the client's maximum resident set.
measure() {  # label sql
  local label=$1 sql=$2 tmp=/tmp/bench-export.$$
  local t0 t1 psql_pid bpid peak=0 a
  rm -f "$tmp".*
  t0=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$tmp.time" psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -At <<SQL &
\\o $tmp.pid
SELECT pg_backend_pid();
\\o $tmp.out
SET ROLE bench_client;
SELECT FROM taskmgmt.sign_in('bench@export.test', 'bench export password');
\\set FETCH_COUNT 1000
$sql
SQL
  psql_pid=$!
  while kill -0 "$psql_pid" 2>/dev/null; do
    if [ -z "${bpid:-}" ] && [ -s "$tmp.pid" ]; then bpid=$(tr -d '[:space:]' < "$tmp.pid"); fi
    if [ -n "${bpid:-}" ]; then
      a=$(awk '/^RssAnon/ {print $2}' "/proc/$bpid/status" 2>/dev/null || true)
      [ -n "$a" ] && [ "$a" -gt "$peak" ] && peak=$a
    fi
    sleep 0.05
  done
  wait "$psql_pid"
  t1=$(date +%s.%N)
  printf '%-38s %6.1f s  %5d MB  %8.0f rows/s  backend peak %4d MB  client peak %4d MB\n' \
    "$label" "$(echo "$t1 - $t0" | bc)" $(( $(stat -c %s "$tmp.out") / 1048576 )) \
    "$(echo "$TASKS / ($t1 - $t0)" | bc)" $((peak / 1024)) $(( $(cat "$tmp.time") / 1024 ))
  rm -f "$tmp".*
}

echo
measure "export_tasks_csv_lines (streamed)" "SELECT l FROM taskmgmt.export_tasks_csv_lines() l;"
measure "export_tasks_csv_lines (select list)" "SELECT taskmgmt.export_tasks_csv_lines();"
measure "_export_csv_lines (the shim's call)" "SELECT taskmgmt._export_csv_lines('{}');"
measure "COPY tasks_export (psql users)" "COPY (SELECT * FROM taskmgmt.tasks_export) TO STDOUT WITH CSV HEADER;"
measure "export_tasks_csv (one value)" "SELECT taskmgmt.export_tasks_csv();"

echo
for q in "report_summary()" "report_summary_pdf()"; do
  t0=$(date +%s.%N)
  psql_q -d "$DB" -At -o /dev/null <<SQL
SET ROLE bench_client;
SELECT FROM taskmgmt.sign_in('bench@export.test', 'bench export password');
SELECT length(taskmgmt.$q::text);
SQL
  printf '%-38s %6.2f s\n' "$q" "$(echo "$(date +%s.%N) - $t0" | bc)"
done
