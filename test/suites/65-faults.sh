#!/usr/bin/env bash
# Fault drills (#12.11-13), on a private cluster of their own (they kill its
# postmaster): kill -9 of the postmaster under write load through the shim
# (no acknowledged write lost, the shim serves within 2 s of the database
# accepting connections again), a shim restart under 200 websockets (every
# notification once, catch-up with "since"), SMTP down for a window (every
# message delivered once, same Message-ID).  test/faults (pytest).
# The cluster runs with synchronous_commit = on, as a production one would:
# the drills check durability of acknowledged writes, which
# synchronous_commit = off (the main test cluster's setting) gives up.
# Ends with "faults: N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
name=faults
out="${TEST_OUTDIR:-$root/.run/test-out}/$name"
rm -rf "$out"; mkdir -p "$out"
fail() { echo "$name: $*"; echo "$name: 0 passed, 1 failed"; exit 1; }

make --no-print-directory -s shim/taskmgmt-shim mailer/taskmgmt-mailer || fail "cannot build the shim and the mailer"

cluster="${TEST_CLUSTER:-test}-faults"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
scripts/pgcluster.sh destroy "$cluster" >/dev/null
scripts/pgcluster.sh start "$cluster" "$port" "fsync = off" "synchronous_commit = on" \
  "taskmgmt.bcrypt_cost = 10" "max_connections = 300" >/dev/null || fail "cannot start cluster $cluster"
trap 'scripts/pgcluster.sh destroy "$cluster" >/dev/null' EXIT

export PGHOST=$(readlink -f ".run/$cluster") PGPORT=$port PGUSER=postgres PGDATABASE=taskmgmt_faults
psql -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null <<'SQL' || fail "cannot create the database"
CREATE DATABASE taskmgmt_faults;
\c taskmgmt_faults
SET client_min_messages = warning;
CREATE EXTENSION taskmgmt CASCADE;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tm_faults_shim') THEN CREATE ROLE tm_faults_shim LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tm_faults_mailer') THEN CREATE ROLE tm_faults_mailer LOGIN; END IF;
END $$;
GRANT taskmgmt_client TO tm_faults_shim;
GRANT taskmgmt_mailer TO tm_faults_mailer;
SQL

export FAULTS_CLUSTER=$cluster FAULTS_ROOT=$root FAULTS_OUT=$out
export SHIM_BIN="$root/shim/taskmgmt-shim" MAILER_BIN="$root/mailer/taskmgmt-mailer"
/usr/bin/python3 -m pytest -q -p no:cacheprovider -rfE --junitxml="$out/junit.xml" \
  ${PYTEST_ARGS:-test/faults} 2>&1 | tee "$out/pytest.out" | tail -40
rc=${PIPESTATUS[0]}
[ -f "$out/summary.txt" ] && sed 's/^/faults: /' "$out/summary.txt"

read -r passed failed < <(/usr/bin/python3 - "$out/junit.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    r = ET.parse(sys.argv[1]).getroot()
    s = r if r.tag == "testsuite" else r.find("testsuite")
    t, f, e, sk = (int(s.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
    print(t - f - e - sk, f + e + sk)
except Exception:
    print(0, 1)
PY
)
[ "$rc" -eq 5 ] && failed=$((failed + 1))
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "$name: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
