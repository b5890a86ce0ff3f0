#!/usr/bin/env bash
# make test: build, install, start a fresh private cluster 'test', run every
# suite, print each suite's counts and a total; exit non-zero on any failure.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# TEST_CLUSTER / TEST_DB_PORT let several people or suites test at once on one
# checkout (each checkout has its own PostgreSQL installation under .run/);
# SUITES="pgtap regress" runs a subset (names: regress isolation pgtap and
# the basenames of test/suites/*.sh without their number prefix).
export TEST_CLUSTER=${TEST_CLUSTER:-test}
export TEST_DB_PORT=${TEST_DB_PORT:-54339}
export TEST_OUTDIR="$root/.run/$TEST_CLUSTER-out"
SUITES=${SUITES:-all}
want() { [ "$SUITES" = all ] || [[ " $SUITES " == *" $1 "* ]]; }
mkdir -p "$TEST_OUTDIR"
# The extension goes into a private copy of PostgreSQL's installation, not the
# machine's: several checkouts can test at once, whatever SQL each one has.
PG_CONFIG=$(scripts/pgcluster.sh private-install) || exit 1
export PG_CONFIG
make --no-print-directory -s all || exit 1
make --no-print-directory -s install >/dev/null || exit 1

scripts/pgcluster.sh destroy "$TEST_CLUSTER" >/dev/null
scripts/pgcluster.sh start "$TEST_CLUSTER" "$TEST_DB_PORT" \
  "fsync = off" "synchronous_commit = off" "full_page_writes = off" \
  "cron.database_name = 'taskmgmt_test'" \
  "taskmgmt.bcrypt_cost = 10" "max_connections = 200" || exit 1
trap 'scripts/pgcluster.sh stop "$TEST_CLUSTER" >/dev/null' EXIT

export PGHOST=$(readlink -f ".run/$TEST_CLUSTER") PGPORT=$TEST_DB_PORT PGUSER=postgres
export TEST_DB_NAME=taskmgmt_test
psql -X -q -v ON_ERROR_STOP=1 -d postgres <<'SQL' || exit 1
CREATE DATABASE taskmgmt_test;
\c taskmgmt_test
SET client_min_messages = warning;
CREATE EXTENSION taskmgmt CASCADE;
CREATE EXTENSION pgtap;
SQL

total_pass=0 total_fail=0 failed_suites=()
record() {  # suite passed failed
  printf '%-12s %s passed, %s failed\n' "$1:" "$2" "$3"
  total_pass=$((total_pass + $2)); total_fail=$((total_fail + $3))
  [ "$3" -gt 0 ] && failed_suites+=("$1")
}

suite_regress() {
  echo "== pg_regress (test/sql, test/expected)"
  local out; out=$(make --no-print-directory -s installcheck-regress TEST_OUTDIR="$TEST_OUTDIR" 2>&1); local rc=$?
  echo "$out" | grep -E '^(ok|not ok|test|     |# )' | tail -100
  local n_ok n_bad
  n_ok=$(echo "$out" | grep -cE '^(ok|test .* \.\.\. ok| {5}.* \.\.\. ok)')
  n_bad=$(echo "$out" | grep -cE '(^not ok|\.\.\. FAILED)')
  [ $rc -ne 0 ] && [ "$n_bad" -eq 0 ] && { echo "$out" | tail -20; n_bad=1; }
  [ "$n_bad" -gt 0 ] && [ -f "$TEST_OUTDIR/regress/regression.diffs" ] && head -200 "$TEST_OUTDIR/regress/regression.diffs"
  record pg_regress "$n_ok" "$n_bad"
}

suite_isolation() {
  echo "== isolation (test/isolation)"
  local out; out=$(make --no-print-directory -s installcheck-isolation TEST_OUTDIR="$TEST_OUTDIR" 2>&1); local rc=$?
  echo "$out" | grep -E '^(ok|not ok|test|permutation|     )' | tail -50
  local n_ok n_bad
  n_ok=$(echo "$out" | grep -cE '^(ok|test .* \.\.\. ok| {5}.* \.\.\. ok)')
  n_bad=$(echo "$out" | grep -cE '(^not ok|\.\.\. FAILED)')
  [ $rc -ne 0 ] && [ "$n_bad" -eq 0 ] && { echo "$out" | tail -20; n_bad=1; }
  [ "$n_bad" -gt 0 ] && [ -f "$TEST_OUTDIR/isolation/regression.diffs" ] && head -200 "$TEST_OUTDIR/isolation/regression.diffs"
  record isolation "$n_ok" "$n_bad"
}

suite_pgtap() {
  echo "== pgTAP (test/pgtap)"
  local out; out=$(pg_prove -d "$TEST_DB_NAME" --ext .sql -r test/pgtap 2>&1); local rc=$?
  echo "$out" | grep -vE '^\s*$' | tail -60
  local tests fails
  tests=$(echo "$out" | sed -n 's/.*Tests=\([0-9]*\).*/\1/p' | tail -1)
  fails=$(echo "$out" | sed -n 's/^Failed \([0-9]*\)\/[0-9]* subtests.*/\1/p' | awk '{s+=$1} END {print s+0}')
  tests=${tests:-0}
  [ $rc -ne 0 ] && [ "$fails" -eq 0 ] && fails=1
  record pgtap "$((tests - fails))" "$fails"
}

want regress && suite_regress
want isolation && suite_isolation
want pgtap && suite_pgtap
for extra in test/suites/*.sh; do
  [ -f "$extra" ] || continue
  base=$(basename "$extra" .sh); want "${base#[0-9]*-}" || continue
  # each prints its own output and ends with a line "name: N passed, M failed"
  # (its log is kept; tee to a file, as /dev/stderr would truncate a
  # redirected log when reopened)
  log="$TEST_OUTDIR/suite-$base.log"
  bash "$extra" 2>&1 | tee "$log"
  line=$(tail -1 "$log")
  name=$(echo "$line" | sed -n 's/^\([a-z_-]*\): .*/\1/p')
  p=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) passed.*/\1/p')
  f=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) failed.*/\1/p')
  record "${name:-$(basename "$extra" .sh)}" "${p:-0}" "${f:-1}"
done

echo
echo "== summary"
[ ${#failed_suites[@]} -gt 0 ] && echo "failing suites: ${failed_suites[*]}"
echo "total: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
