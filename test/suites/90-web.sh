#!/usr/bin/env bash
# Web UI suite: Playwright (npm playwright-core) driving Debian's chromium
# against a shim started here on a free loopback port, over the test database
# prepared by scripts/test.sh.  Ends with "web: N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out="${TEST_OUTDIR:-$root/.run/test-out}/web"
rm -rf "$out"; mkdir -p "$out"
fail() { echo "web: $*"; echo "web: 0 passed, 1 failed"; exit 1; }

msg=$(test/web/install.sh) || fail "$msg"
[ -n "$msg" ] && echo "web: $msg"
make --no-print-directory -s shim/taskmgmt-shim || fail "cannot build the shim"

psql -X -q -v ON_ERROR_STOP=1 -d "$TEST_DB_NAME" >/dev/null <<'SQL' || fail "cannot create the shim's role"
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tm_web_shim') THEN CREATE ROLE tm_web_shim LOGIN; END IF;
END $$;
GRANT taskmgmt_client TO tm_web_shim;
SQL

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
shim/taskmgmt-shim --database-url "host=$PGHOST port=$PGPORT dbname=$TEST_DB_NAME user=tm_web_shim" \
  --listen 127.0.0.1 --port "$port" --pool-size 4 >"$out/access.log" 2>"$out/shim.err" &
shim_pid=$!
trap 'kill -TERM $shim_pid 2>/dev/null; wait $shim_pid 2>/dev/null' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$out/shim.err"; fail "the shim did not become ready"; }

BASE_URL="http://127.0.0.1:$port" node --test --test-reporter=tap test/web/ 2>&1 | tee "$out/node.out" | grep -vE '^\s*(duration_ms|\.\.\.|---)' | tail -40
rc=${PIPESTATUS[0]}
passed=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$out/node.out" | tail -1)
failed=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$out/node.out" | tail -1)
passed=${passed:-0} failed=${failed:-0}
[ "$passed" -eq 0 ] && [ "$failed" -eq 0 ] && failed=1   # nothing ran
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "web: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
