#!/usr/bin/env bash
# HTTP black-box suite: starts its own taskmgmt-shim on a free loopback port
# against the test database (PGHOST/PGPORT/TEST_DB_NAME from scripts/test.sh),
# runs test/http with pytest, and ends with "http: N passed, M failed".
#   SHIM_VARIANT=asan  runs the AddressSanitizer build instead (55-http-asan.sh)
#   SHIM_DB_CONNINFO   where the shim's pool connects (57-http-pgbouncer.sh:
#                      PgBouncer, with POOLER and NOTIFY_DATABASE_URL exported)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
name=${SUITE_NAME:-http}
out="${TEST_OUTDIR:-$root/.run/test-out}/$name"
rm -rf "$out"; mkdir -p "$out"
bin=shim/taskmgmt-shim
[ "${SHIM_VARIANT:-}" = asan ] && bin=shim/taskmgmt-shim-asan
fail() { echo "$name: $*"; echo "$name: 0 passed, 1 failed"; exit 1; }

make --no-print-directory -s "$bin" || fail "cannot build $bin"
# /docs serves Redoc installed from npm (ignored folder); best effort offline
make --no-print-directory -s shim-docs >/dev/null 2>&1 || echo "$name: redoc could not be installed from npm"
# the OpenAPI validator (test_openapi.py), from npm into an ignored folder
if [ ! -x .run/npm-tools/node_modules/.bin/redocly ]; then
  mkdir -p .run/npm-tools
  (cd .run/npm-tools && npm install --silent --no-audit --no-fund @redocly/cli@2 >/dev/null 2>&1) \
    || echo "$name: @redocly/cli could not be installed from npm"
fi

psql -X -q -v ON_ERROR_STOP=1 -d "$TEST_DB_NAME" >/dev/null <<'SQL' || fail "cannot create the shim's role"
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tm_http_shim') THEN CREATE ROLE tm_http_shim LOGIN; END IF;
END $$;
GRANT taskmgmt_client TO tm_http_shim;
SQL

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export SHIM_BIN="$root/$bin" SHIM_URL="http://127.0.0.1:$port" SHIM_PORT=$port
export SHIM_METRICS_URL="http://127.0.0.1:$mport"
export SHIM_LOG="$out/access.log" SHIM_ERR="$out/shim.err"
export SHIM_DATABASE_URL="${SHIM_DB_CONNINFO:-host=$PGHOST port=$PGPORT} dbname=$TEST_DB_NAME user=tm_http_shim"
export TM_ROOT=$root TM_CLUSTER=$TEST_CLUSTER TM_DB_PORT=$PGPORT
export ASAN_OPTIONS="log_path=$out/asan:detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="log_path=$out/ubsan:print_stacktrace=1"
# The limits are lowered so the tests can reach them quickly.
shim_args=(--database-url "$SHIM_DATABASE_URL" --listen 127.0.0.1 --port "$port"
  --pool-size 4 --slow-cap 2 --header-timeout 1000 --request-timeout 4000
  --statement-timeout 3000 --cors-origins "http://allowed.example"
  --ws-ping 2 --ws-max-frame 4096 --ws-max-per-user 3 --ws-max-queue 65536
  --metrics-listen "127.0.0.1:$mport")
export SHIM_ARGS="${shim_args[*]}"
"$bin" "${shim_args[@]}" >"$SHIM_LOG" 2>"$SHIM_ERR" &
shim_pid=$!
export SHIM_PID=$shim_pid
stop_shim() { kill -TERM "$shim_pid" 2>/dev/null; wait "$shim_pid" 2>/dev/null; }
trap stop_shim EXIT
for _ in $(seq 50); do
  curl -sf "$SHIM_URL/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "$SHIM_URL/readyz" >/dev/null || { cat "$SHIM_ERR"; fail "the shim did not become ready"; }

/usr/bin/python3 -m pytest -q -p no:cacheprovider --junitxml="$out/junit.xml" \
  ${PYTEST_ARGS:-test/http} 2>&1 | tee "$out/pytest.out" | tail -60
rc=${PIPESTATUS[0]}
stop_shim
trap - EXIT

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
# pytest exit 5: nothing collected, which is a failure too
[ "$rc" -eq 5 ] && failed=$((failed + 1))
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
if ls "$out"/asan* "$out"/ubsan* >/dev/null 2>&1; then
  echo "$name: sanitizer reports:"; cat "$out"/asan* "$out"/ubsan* | head -80
  failed=$((failed + 1))
fi
echo "$name: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
