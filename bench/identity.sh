#!/usr/bin/env bash
# Identity benchmark (printed figures, not a test; never run by make test).
#   bench/identity.sh            BENCH_SECONDS=15 BENCH_CLIENTS=2 by default
# On its own private cluster 'bench' (port 54350, database bench_identity):
#   1. seeds 1,000 users and 100,000 tasks (set-based SQL as superuser; only
#      the signed-in bench user has a password);
#   2. bcrypt hashes per second in one backend at cost 12 (the default) and 10;
#   3. median sign-in time for an unknown email vs a wrong password (they
#      should be alike: an unknown email costs a dummy bcrypt);
#   4. pgbench -M prepared TPS of authenticate(token) + get_task(id) in one
#      statement, as a non-superuser client (so row-level security applies),
#      and of authenticate(token) alone for comparison.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

CLUSTER=${BENCH_CLUSTER:-bench}
PORT=${BENCH_PORT:-54350}
DB=bench_identity
SECONDS_RUN=${BENCH_SECONDS:-15}
CLIENTS=${BENCH_CLIENTS:-2}
bindir=$(/usr/lib/postgresql/15/bin/pg_config --bindir)

make --no-print-directory -s all >/dev/null
make --no-print-directory -s install >/dev/null
# the port lies in the ephemeral range: a closed client connection may hold
# it (TIME_WAIT) for up to a minute, so retry
for attempt in $(seq 1 25); do
  scripts/pgcluster.sh start "$CLUSTER" "$PORT" "shared_buffers = 256MB" "max_connections = 100" >/dev/null && break
  [ "$attempt" -eq 25 ] && exit 1
  sleep 3
done
work=$(mktemp -d)
trap 'rm -rf "$work"; scripts/pgcluster.sh stop "$CLUSTER" >/dev/null' EXIT

export PGHOST=$(readlink -f ".run/$CLUSTER") PGPORT=$PORT PGUSER=postgres
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

psql_q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
psql_q -d "$DB" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION taskmgmt CASCADE;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_client') THEN
    CREATE ROLE bench_client LOGIN;
  END IF;
END $$;
GRANT taskmgmt_client TO bench_client;
SQL

echo "identity bench: cluster '$CLUSTER' port $PORT, database $DB, $(nproc) cores"

# ---- 1. seed ----
seed_start=$(date +%s.%N)
psql_q -d "$DB" <<'SQL'
-- the bench user, with a real password (cost 12, the default)
SELECT taskmgmt.register('bench@bench.test', 'bench password 1', 'Bench') IS NOT NULL AS registered \gset
-- a bulk load, not user actions: skip the per-row history/notification
-- triggers (column defaults fill in what the before-write trigger would)
SET session_replication_role = replica;
-- 999 more users without credentials: they own tasks, they never sign in
INSERT INTO taskmgmt.users (email, display_name)
SELECT format('user%s@bench.test', i), format('User %s', i) FROM generate_series(2, 1000) i;
-- 100,000 tasks, creators round-robin over the 1,000 users (100 each)
WITH u AS (SELECT array_agg(id ORDER BY id) AS ids FROM taskmgmt.users)
INSERT INTO taskmgmt.tasks (title, description, status, priority, due_date, tags, creator_id, assignee_user_id)
SELECT format('Task %s', i), repeat('Lorem ipsum dolor sit amet. ', 1 + i % 8),
       (ARRAY['todo', 'in_progress', 'done'])[1 + i % 3]::taskmgmt.task_status,
       (ARRAY['none', 'low', 'medium', 'high'])[1 + i % 4]::taskmgmt.task_priority,
       DATE '2030-01-01' + (i % 365), ARRAY['t' || (i % 20)],
       u.ids[1 + (i - 1) % 1000], CASE WHEN i % 5 = 0 THEN u.ids[1 + i % 1000] END
FROM generate_series(1, 100000) i, u;
RESET session_replication_role;
SELECT taskmgmt.rebuild_task_tallies() > 0 AS tallied;
ANALYZE;
SQL
seed_end=$(date +%s.%N)
read -r users tasks mine <<<"$(psql_q -d "$DB" -At -F ' ' -c "
  SELECT (SELECT count(*) FROM taskmgmt.users), (SELECT count(*) FROM taskmgmt.tasks),
         (SELECT count(*) FROM taskmgmt.tasks t JOIN taskmgmt.users u ON u.id = t.creator_id
          WHERE u.email = 'bench@bench.test')")"
printf 'seeded                     %s users, %s tasks (%s created by the bench user) in %.1f s\n' \
  "$users" "$tasks" "$mine" "$(awk -v a="$seed_start" -v b="$seed_end" 'BEGIN { print b - a }')"

# ---- 2. bcrypt hashes per second (one backend, pgcrypto, as register() does) ----
configured=$(psql_q -d "$DB" -At -c "SELECT taskmgmt.current_user_id()" -c "SHOW taskmgmt.bcrypt_cost" | tail -1)
echo "taskmgmt.bcrypt_cost       $configured (configured)"
for cost in 12 10; do
  n=$(( cost == 12 ? 8 : 30 ))
  rate=$(psql_q -d "$DB" -At -c "
    DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); i int; h text;
    BEGIN
      FOR i IN 1..$n LOOP h := crypt('bench password ' || i, gen_salt('bf', $cost)); END LOOP;
      PERFORM set_config('bench.rate', round($n / extract(epoch FROM clock_timestamp() - t0), 2)::text, false);
    END \$\$;
    SELECT current_setting('bench.rate');")
  printf 'bcrypt cost %-2s             %s hashes/s (one backend, %s hashes)\n' "$cost" "$rate" "$n"
done

# ---- 3. sign-in failure time: unknown email vs wrong password ----
# Lockout raised out of the way; alternating the two kinds so drift hits both.
psql_q -d "$DB" -At <<'SQL'
SET taskmgmt.login_max_failures = 1000;
CREATE TEMP TABLE t (kind text, ms float8);
DO $$
DECLARE t0 timestamptz; i int; kind text; email text;
BEGIN
  FOR i IN 1..30 LOOP
    FOREACH kind IN ARRAY ARRAY['unknown email', 'wrong password'] LOOP
      email := CASE kind WHEN 'unknown email' THEN 'nobody' || i || '@bench.test' ELSE 'bench@bench.test' END;
      t0 := clock_timestamp();
      BEGIN
        PERFORM taskmgmt.password_grant(email, 'not the password ' || i);
      EXCEPTION WHEN invalid_password THEN NULL;
      END;
      INSERT INTO t VALUES (kind, extract(epoch FROM clock_timestamp() - t0) * 1000);
    END LOOP;
  END LOOP;
  FOR i IN 1..10 LOOP
    t0 := clock_timestamp();
    PERFORM taskmgmt.password_grant('bench@bench.test', 'bench password 1');
    INSERT INTO t VALUES ('right password', extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP;
END $$;
SELECT format('sign-in %-18s median %s ms (p10 %s, p90 %s, n=%s)', kind,
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
              round(percentile_cont(0.1) WITHIN GROUP (ORDER BY ms)::numeric, 1),
              round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)::numeric, 1), count(*))
FROM t GROUP BY kind ORDER BY kind DESC;
SELECT format('unknown minus wrong        %s ms (difference of the medians)',
              round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'unknown email')
                   - percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'wrong password'))::numeric, 1))
FROM t;
DELETE FROM taskmgmt.login_failures;
SQL

# ---- 4. pgbench: authenticate(token) + get_task(id) in one statement ----
token=$(psql_q -d "$DB" -At -c "SELECT taskmgmt.password_grant('bench@bench.test', 'bench password 1')->>'access_token'")
ids=$(psql_q -d "$DB" -At -c "
  SELECT array_to_string(array_agg(t.id ORDER BY t.id), ' ') FROM taskmgmt.tasks t
  JOIN taskmgmt.users u ON u.id = t.creator_id WHERE u.email = 'bench@bench.test'")
first=${ids%% *}
# the bench user's tasks are every 1000th id; check before relying on it
psql_q -d "$DB" -At -c "SELECT 1/(count(*) = 100)::int FROM taskmgmt.tasks t JOIN taskmgmt.users u ON u.id = t.creator_id
                        WHERE u.email = 'bench@bench.test' AND (t.id - $first) % 1000 = 0" >/dev/null

cat >"$work/auth_get_task.sql" <<'EOF'
\set n random(0, 99)
\set id :first + :n * 1000
SELECT taskmgmt.get_task(:id) FROM (SELECT taskmgmt.authenticate(:token)) a;
EOF
cat >"$work/auth_only.sql" <<'EOF'
SELECT taskmgmt.authenticate(:token);
EOF

run_pgbench() {  # script seconds
  "$bindir/pgbench" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$2" -U bench_client \
    -D token="$token" -D first="$first" -f "$work/$1" "$DB" 2>&1
}
out=$(run_pgbench auth_get_task.sql "$SECONDS_RUN")
echo "$out" | grep -qE '^number of failed transactions: 0 ' || { echo "$out"; echo "pgbench run failed" >&2; exit 1; }
tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
lat=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
printf 'authenticate + get_task    %s TPS, latency avg %s ms (pgbench -M prepared, %s clients, %s s)\n' \
  "$tps" "$lat" "$CLIENTS" "$SECONDS_RUN"
out=$(run_pgbench auth_only.sql $(( (SECONDS_RUN + 1) / 2 )))
tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
printf 'authenticate alone         %s TPS (same settings, %s s)\n' "$tps" "$(( (SECONDS_RUN + 1) / 2 ))"
