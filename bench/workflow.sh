#!/usr/bin/env bash
# Workflow benchmark: list_tasks (first page and a deep page via cursor) and
# search_tasks at 1,000,000 tasks, signed in as a heavy user under RLS.
#
#   bench/workflow.sh            seed (once) and measure
#   REGEN=1 bench/workflow.sh    drop and seed again
#   TASKS=100000 bench/workflow.sh   a smaller data set (own database name)
#
# Own cluster: .run/bench-workflow on port 54360 (BENCH_CLUSTER/BENCH_PORT).
# Prints p50/p99 latency and TPS per query (pgbench -M prepared) and the
# EXPLAIN of each query shape.  Not part of make test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

CLUSTER=${BENCH_CLUSTER:-bench-workflow}
PORT=${BENCH_PORT:-54360}
TASKS=${TASKS:-1000000}
USERS=${USERS:-10000}
TEAMS=${TEAMS:-1000}
DURATION=${DURATION:-20}      # seconds per pgbench run
CLIENTS=${CLIENTS:-1}
DEEP_PAGE=${DEEP_PAGE:-60}    # at most (the last full page if the list is shorter)
DB=bench_workflow_$TASKS

[ "${SKIP_BUILD:-0}" = 1 ] || make -s install >/dev/null   # SKIP_BUILD=1: use what is installed
scripts/pgcluster.sh start "$CLUSTER" "$PORT" \
  "shared_buffers = 1GB" "work_mem = 16MB" "maintenance_work_mem = 512MB" \
  "max_wal_size = 8GB" "synchronous_commit = off" \
  "taskmgmt.access_token_ttl = '6h'" "taskmgmt.bcrypt_cost = 10" >/dev/null
export PGHOST=$(readlink -f ".run/$CLUSTER") PGPORT=$PORT PGUSER=postgres
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

exists=$(psql_q -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = '$DB'")
if [ "${REGEN:-0}" = 1 ] || [ "$exists" = 0 ]; then
  psql_q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  psql_q -d "$DB" -c "SET client_min_messages = warning" -c "CREATE EXTENSION taskmgmt CASCADE"
  echo "seeding $TASKS tasks, $USERS users, $TEAMS teams ..."
  start=$(date +%s)
  psql_q -d "$DB" -v tasks="$TASKS" -v users="$USERS" -v teams="$TEAMS" -f bench/workflow-seed.sql
  psql_q -d "$DB" -c "VACUUM ANALYZE"
  echo "seeded in $(( $(date +%s) - start )) s"
fi
psql_q -d postgres -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_client') THEN
  CREATE ROLE bench_client LOGIN; END IF; END \$\$" -c "GRANT taskmgmt_client TO bench_client"

echo
psql_q -d "$DB" -Atc "SELECT format('data: %s tasks, %s events, %s comments; heavy user assigned %s tasks (%s open)',
  (SELECT count(*) FROM taskmgmt.tasks), (SELECT count(*) FROM taskmgmt.task_events),
  (SELECT count(*) FROM taskmgmt.comments),
  (SELECT count(*) FROM taskmgmt.tasks WHERE assignee_user_id = 1),
  (SELECT count(*) FROM taskmgmt.tasks WHERE assignee_user_id = 1 AND status IN ('todo', 'in_progress')))"

token=$(psql_q -U bench_client -d "$DB" -Atc \
  "SELECT taskmgmt.sign_in('heavy@bench.example', 'bench password 123') ->> 'access_token'")
LIST='{"assignee": "me", "status": "todo,in_progress", "sort": "due_date", "limit": "50"}'
SEARCH_Q='karana lorana'     # the two most common words of the generator
SEARCH_Q2='garana jurana'    # two words of rank 11 and 13: common, not the most common

# The cursor of page $DEEP_PAGE, by paging through as the heavy user.
cursor=$(psql_q -U bench_client -d "$DB" -At <<SQL
DO \$\$
DECLARE
  c text;
  page int := 1;
  target int;
BEGIN
  PERFORM taskmgmt.authenticate('$token');
  target := least($DEEP_PAGE, (SELECT count(*) FROM taskmgmt.filter_tasks('$LIST')) / 50);
  LOOP
    EXIT WHEN page >= target;
    c := taskmgmt.list_tasks('$LIST'::jsonb || jsonb_build_object('cursor', c)) ->> 'next_cursor';
    EXIT WHEN c IS NULL;
    page := page + 1;
    PERFORM set_config('bench.cursor', c, false);
    PERFORM set_config('bench.page', page::text, false);
  END LOOP;
END \$\$;
SELECT current_setting('bench.page') || ' ' || current_setting('bench.cursor');
SQL
)
deep_page=${cursor%% *}; cursor=${cursor#* }
psql_q -d "$DB" -At -c "SELECT format('search %L: %s matching tasks in all', q,
  (SELECT count(*) FROM taskmgmt.tasks t WHERE t.search_vector @@ websearch_to_tsquery('english', q)))
  FROM (VALUES ('$SEARCH_Q'), ('$SEARCH_Q2')) v(q)"
echo "deep page: $deep_page (rows $(( (deep_page - 1) * 50 + 1 ))..$(( deep_page * 50 )))"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/list_first.sql" <<SQL
SELECT taskmgmt.list_tasks('$LIST') FROM (SELECT taskmgmt.authenticate(:token)) a;
SQL
cat >"$tmp/list_deep.sql" <<SQL
SELECT taskmgmt.list_tasks('$LIST'::jsonb || jsonb_build_object('cursor', :cursor::text)) FROM (SELECT taskmgmt.authenticate(:token)) a;
SQL
cat >"$tmp/search.sql" <<SQL
SELECT taskmgmt.search_tasks('$SEARCH_Q', '{"limit": 50}') FROM (SELECT taskmgmt.authenticate(:token)) a;
SQL
cat >"$tmp/search2.sql" <<SQL
SELECT taskmgmt.search_tasks('$SEARCH_Q2', '{"limit": 50}') FROM (SELECT taskmgmt.authenticate(:token)) a;
SQL
psql_q -U bench_client -d "$DB" -At <<SQL | grep -v '^BEGIN\|^COMMIT\|^f$'
BEGIN;
SELECT taskmgmt.authenticate('$token') IS NULL;
SELECT format('search %L: %s matching tasks visible to the heavy user', q,
              (SELECT count(*) FROM taskmgmt.filter_tasks(jsonb_build_object('q', q))))
  FROM (VALUES ('$SEARCH_Q'), ('$SEARCH_Q2')) v(q);
COMMIT;
SQL

# Plans of the statements list_tasks / search_tasks run, as the heavy user:
# their values are parameters ($1 the filter, $2 the cursor); list_tasks
# runs a kept plan (generic once the plan cache settles), so that one.
echo
echo "== plans (EXPLAIN of the generated statements, heavy user, under RLS)"
psql_q -U bench_client -d "$DB" <<SQL
BEGIN;
SELECT taskmgmt.authenticate('$token') IS NOT NULL AS signed_in;
SELECT taskmgmt._filter_normalize('$LIST') AS f \gset
SELECT taskmgmt._cursor_read(to_jsonb('$cursor'::text), 'list', taskmgmt._filter_hash(:'f')) AS cur \gset
SELECT taskmgmt._filter_normalize('{"q": "$SEARCH_Q", "limit": 50}') AS fq \gset
SELECT format('PREPARE first_page(text[], jsonb, jsonb) AS %s', taskmgmt._list_sql(:'f', NULL, 50)) \gexec
SELECT format('PREPARE deep_page(text[], jsonb, jsonb) AS %s', taskmgmt._list_sql(:'f', :'cur', 50)) \gexec
SELECT format('PREPARE search(text[], jsonb, jsonb) AS %s', taskmgmt._search_sql(:'fq', NULL, 50)) \gexec
SET plan_cache_mode = force_generic_plan;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE first_page('{}', :'f', NULL);
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE deep_page('{}', :'f', :'cur');
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE search('{}', :'fq', NULL);
COMMIT;
SQL

# One pgbench run per pair of statements, chosen at random per transaction
# (-f a@1 -f b@1), so that both see the same machine load; latencies per
# statement from the transaction log (field 4 is the script number).
run_pair() {  # name0 script0 name1 script1
  rm -f "$tmp"/log.*
  pgbench -n -M prepared -U bench_client -d "$DB" -c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" \
    -D token="$token" -D cursor="$cursor" -f "$2@1" -f "$4@1" -l --log-prefix="$tmp/log" >"$tmp/out" 2>&1 \
    || { cat "$tmp/out"; exit 1; }
  local k name n p50 p99
  for k in 0 1; do
    if [ $k = 0 ]; then name=$1; else name=$3; fi
    cat "$tmp"/log.* | awk -v k=$k '$4 == k {print $3}' | sort -n >"$tmp/lat"
    n=$(wc -l <"$tmp/lat")
    p50=$(awk -v n="$n" 'NR == int(n * 0.50 + 0.5) {printf "%.2f", $1 / 1000}' "$tmp/lat")
    p99=$(awk -v n="$n" 'NR == int(n * 0.99 + 0.5) {printf "%.2f", $1 / 1000}' "$tmp/lat")
    printf '%-34s p50 %6s ms   p99 %6s ms   TPS %7.1f   (%s transactions, %s client(s), %ss)\n' \
      "$name" "$p50" "$p99" "$(echo "$n $DURATION" | awk '{print $1 / $2}')" "$n" "$CLIENTS" "$DURATION"
  done
}

echo
echo "== pgbench -M prepared, signed in as the heavy user"
run_pair "list_tasks first page" "$tmp/list_first.sql" "list_tasks page $deep_page (cursor)" "$tmp/list_deep.sql"
run_pair "search_tasks '$SEARCH_Q'" "$tmp/search.sql" "search_tasks '$SEARCH_Q2'" "$tmp/search2.sql"

# The same calls timed inside the server (no client round trip), to tell
# the database's own cost from scheduling on a busy machine.
echo
echo "== in-server time per call (mean of 200, interleaved, one backend)"
psql_q -U bench_client -d "$DB" -At <<SQL
BEGIN;
SELECT taskmgmt.authenticate('$token') IS NULL;
DO \$\$
DECLARE
  t0 timestamptz;
  x jsonb;
  i int;
  k int;
  c jsonb := to_jsonb('$cursor'::text);
  total float8[] := '{0,0,0,0}';
  label text[] := ARRAY['list_tasks first page', 'list_tasks page $deep_page', 'search_tasks $SEARCH_Q', 'search_tasks $SEARCH_Q2'];
BEGIN
  FOR i IN 1..20 LOOP x := taskmgmt.list_tasks('$LIST'); END LOOP;   -- warm up
  -- interleaved, so that a change in machine load hits all four alike
  FOR i IN 1..200 LOOP
    FOR k IN 1..4 LOOP
      t0 := clock_timestamp();
      CASE k
        WHEN 1 THEN x := taskmgmt.list_tasks('$LIST');
        WHEN 2 THEN x := taskmgmt.list_tasks('$LIST'::jsonb || jsonb_build_object('cursor', c));
        WHEN 3 THEN x := taskmgmt.search_tasks('$SEARCH_Q', '{"limit": 50}');
        ELSE x := taskmgmt.search_tasks('$SEARCH_Q2', '{"limit": 50}');
      END CASE;
      total[k] := total[k] + extract(epoch FROM clock_timestamp() - t0) * 1000;
    END LOOP;
  END LOOP;
  FOR k IN 1..4 LOOP
    RAISE NOTICE '%', rpad(label[k], 36) || round((total[k] / 200)::numeric, 2) || ' ms';
  END LOOP;
END \$\$;
COMMIT;
SQL
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
