#!/usr/bin/env bash
# report_summary at 1,000,000 tasks: the workflow data set (bench/workflow.sh
# seeds it, in its cluster), for a user who sees part of the tasks (the heavy
# user, ~18,000) and for an admin, who sees all of them; and, when
# bench/export.sh has seeded its data set in the same cluster, for that set's
# creator, who sees all of its million tasks as a regular user.
#
#   bench/report.sh               (after bench/workflow.sh)
#   RUNS=20 bench/report.sh
#
# Each call is timed inside the server (clock_timestamp() around it, one
# backend, the callers interleaved), RUNS calls per caller after one warm-up:
# median and maximum.  Not part of make test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

CLUSTER=${BENCH_CLUSTER:-bench-workflow}
PORT=${BENCH_PORT:-54360}
RUNS=${RUNS:-10}
DB=bench_workflow_${TASKS:-1000000}
EXPORT_DB=bench_export_${TASKS:-1000000}

export PGHOST=$(readlink -f ".run/$CLUSTER") PGPORT=$PORT PGUSER=postgres
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
if ! psql_q -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
  echo "report.sh: no database $DB in cluster $CLUSTER: run bench/workflow.sh first" >&2
  exit 1
fi
# the admin: a user of its own, so that the heavy user stays a regular one
psql_q -d "$DB" -At >/dev/null <<'SQL'
SELECT taskmgmt.register('admin@bench.example', 'bench password 123', 'Bench Admin')
 WHERE NOT EXISTS (SELECT FROM taskmgmt.users WHERE email = 'admin@bench.example');
SELECT taskmgmt.make_admin('admin@bench.example');
SQL

# times(db, label email password ...): RUNS interleaved calls per caller
times() {
  local db=$1; shift
  local callers=""
  while [ $# -gt 0 ]; do callers="$callers('$1', '$2', '$3'),"; shift 3; done
  psql_q -U bench_client -d "$db" -At <<SQL
CREATE TEMP TABLE callers (label text, email text, password text, token text, ms float8[] DEFAULT '{}');
INSERT INTO callers (label, email, password) VALUES ${callers%,};
UPDATE callers SET token = taskmgmt.sign_in(email, password) ->> 'access_token';
DO \$\$
DECLARE
  c record;
  t0 timestamptz;
  x jsonb;
BEGIN
  FOR i IN 0 .. $RUNS LOOP
    FOR c IN SELECT * FROM callers ORDER BY label LOOP
      PERFORM taskmgmt.authenticate(c.token);
      t0 := clock_timestamp();
      x := taskmgmt.report_summary();
      IF i > 0 THEN  -- the first round warms up
        UPDATE callers SET ms = ms || extract(epoch FROM clock_timestamp() - t0) * 1000 WHERE label = c.label;
      END IF;
    END LOOP;
  END LOOP;
END \$\$;
SELECT format('%s median %s ms   max %s ms   (%s calls)', rpad('report_summary(), ' || label, 62),
              lpad(round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY m) FROM unnest(ms) m)::numeric, 1)::text, 7),
              lpad(round((SELECT max(m) FROM unnest(ms) m)::numeric, 1)::text, 7), cardinality(ms))
  FROM callers ORDER BY label;
SQL
}

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
times "$DB" "heavy user (sees ~18,000 tasks)" heavy@bench.example "bench password 123" \
            "admin (sees all 1,000,000)" admin@bench.example "bench password 123"
if psql_q -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$EXPORT_DB'" | grep -q 1; then
  times "$EXPORT_DB" "export set's creator (sees all, not admin)" bench@export.test "bench export password"
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
