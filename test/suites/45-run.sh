#!/usr/bin/env bash
# run: `make run` (scripts/run.sh) as a user starts it, on a cluster and ports
# of its own: the shim answers with a ready database, and the cluster admits
# nobody else on the machine (peer on the socket for the person who started
# it, scram-sha-256 passwords on TCP).  Ends with "run: N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
passed=0 failed=0
ok()     { passed=$((passed + 1)); echo "ok $((passed + failed)) - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok $((passed + failed)) - $*"; }
check()  { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

cluster=runcheck-${TEST_CLUSTER:-test}
out="${TEST_OUTDIR:-$root/.run/test-out}/run"
rm -rf "$out"; mkdir -p "$out"
export TASKMGMT_RUN_CLUSTER=$cluster TASKMGMT_DB_PORT=$(free_port) PORT=$(free_port)
export TASKMGMT_SMTP_SINK_PORT=$(free_port)
# the suite's own environment must not leak into make run's
unset PGHOST PGPORT PGUSER PGDATABASE DATABASE_URL
scripts/pgcluster.sh destroy "$cluster" >/dev/null 2>&1
rm -f ".run/$cluster.pgpass" ".run/$cluster-extension.md5"

setsid scripts/run.sh >"$out/run.log" 2>&1 &
run_pid=$!
finish() {
  kill -TERM -- "-$run_pid" 2>/dev/null; wait "$run_pid" 2>/dev/null
  scripts/pgcluster.sh destroy "$cluster" >/dev/null 2>&1
  rm -f ".run/$cluster.pgpass" ".run/$cluster-extension.md5"
  echo "run: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}
trap finish EXIT

base=http://127.0.0.1:$PORT
for _ in $(seq 300); do curl -sf "$base/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
if ! curl -sf "$base/readyz" >/dev/null 2>&1; then
  not_ok "make run: the shim answers /readyz with a ready database"
  tail -30 "$out/run.log"
  exit
fi
ok "make run: the shim answers /readyz with a ready database"
email="run-$RANDOM$RANDOM@example.com"
check "make run: register and sign in over HTTP" bash -c "
  curl -sf '$base/api/v1/auth/register' -H 'Content-Type: application/json' \
    -d '{\"email\": \"$email\", \"password\": \"correct horse battery\", \"display_name\": \"Run\"}' >/dev/null &&
  curl -sf '$base/api/v1/auth/token' -d grant_type=password -d username=$email \
    -d 'password=correct horse battery' | grep -q access_token"

sock=$(readlink -f ".run/$cluster")
port=$TASKMGMT_DB_PORT
q() { psql -X -At -d taskmgmt -c 'SELECT current_user' "$@" 2>&1; }
check "pg_hba.conf trusts nobody" bash -c "! grep -vE '^\s*(#|$)' '$sock/data/pg_hba.conf' | grep -qw trust"
check "socket: the person who ran make run is taskmgmt_client_login (peer)" \
  test "$(q -h "$sock" -p "$port" -U taskmgmt_client_login)" = taskmgmt_client_login
out_nobody=$(runuser -u nobody -- psql -X -At -h "$sock" -p "$port" -U postgres -d taskmgmt -c 'SELECT 1' 2>&1)
check "socket: another OS user is refused as postgres (peer)" \
  bash -c "echo '$out_nobody' | grep -q 'Peer authentication failed'"
out_nobody=$(runuser -u nobody -- psql -X -At -h "$sock" -p "$port" -U taskmgmt_client_login -d taskmgmt -c 'SELECT 1' 2>&1)
check "socket: another OS user is refused as taskmgmt_client_login (peer)" \
  bash -c "echo '$out_nobody' | grep -q 'Peer authentication failed'"
check "socket: the operator cannot become the superuser" \
  bash -c "! psql -X -h '$sock' -p $port -U postgres -d taskmgmt -c 'SELECT 1' >/dev/null 2>&1"
check "TCP: postgres without a password is refused" \
  bash -c "! PGPASSFILE=/dev/null psql -X -w -h 127.0.0.1 -p $port -U postgres -d taskmgmt -c 'SELECT 1' >/dev/null 2>&1"
check "TCP: taskmgmt_client_login without its password is refused" \
  bash -c "! PGPASSFILE=/dev/null psql -X -w -h 127.0.0.1 -p $port -U taskmgmt_client_login -d taskmgmt -c 'SELECT 1' >/dev/null 2>&1"
check "TCP: taskmgmt_client_login with the passfile make run printed (scram-sha-256)" \
  test "$(PGPASSFILE=$root/.run/$cluster.pgpass q -w -h 127.0.0.1 -p "$port" -U taskmgmt_client_login)" = taskmgmt_client_login
check "the passfile is readable by its owner only" test "$(stat -c %a ".run/$cluster.pgpass")" = 600
check "the password is stored as scram-sha-256" \
  test "$(scripts/pgcluster.sh as-owner psql -X -At -h "$sock" -p "$port" -U postgres -d postgres \
          -c "SELECT left(rolpassword, 13) FROM pg_authid WHERE rolname = 'taskmgmt_client_login'")" = SCRAM-SHA-256
