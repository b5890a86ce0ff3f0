#!/usr/bin/env bash
# Web UI suite: tsc of the UI against shim/openapi.json, then Playwright (npm
# playwright-core, @axe-core/playwright) driving Debian's chromium against a
# shim started here on a free loopback port serving web/dist, over the test
# database prepared by scripts/test.sh.  Screenshots of every screen are kept
# in $TEST_OUTDIR/web/screens.  Ends with "web: N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out="${TEST_OUTDIR:-$root/.run/test-out}/web"
rm -rf "$out"; mkdir -p "$out"
fail() { echo "web: $*"; echo "web: 0 passed, 1 failed"; exit 1; }

msg=$(test/web/install.sh) || fail "$msg"
[ -n "$msg" ] && echo "web: $msg"
make --no-print-directory -s shim/taskmgmt-shim web || fail "cannot build the shim or the web UI"

# The UI's types come from shim/openapi.json: a change to the document that
# breaks the UI fails here (tsc), not in a browser.
if tsc_out=$(make --no-print-directory -s web-check 2>&1); then
  echo "ok - web UI type-checks against shim/openapi.json (tsc)"; tsc_ok=1
else
  echo "not ok - web UI type-checks against shim/openapi.json (tsc)"; echo "$tsc_out" | tail -30; tsc_ok=0
fi

psql -X -q -v ON_ERROR_STOP=1 -d "$TEST_DB_NAME" >/dev/null <<'SQL' || fail "cannot create the shim's role"
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tm_web_shim') THEN CREATE ROLE tm_web_shim LOGIN; END IF;
END $$;
GRANT taskmgmt_client TO tm_web_shim;
SQL

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
shim/taskmgmt-shim --database-url "host=$PGHOST port=$PGPORT dbname=$TEST_DB_NAME user=tm_web_shim" \
  --web-dir "$root/web/dist" --listen 127.0.0.1 --port "$port" --pool-size 4 >"$out/access.log" 2>"$out/shim.err" &
shim_pid=$!
trap 'kill -TERM $shim_pid 2>/dev/null; wait $shim_pid 2>/dev/null' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$out/shim.err"; fail "the shim did not become ready"; }

# screenshots of every screen and the first-load figures go to $out
WEB_OUT="$out" BASE_URL="http://127.0.0.1:$port" node --test --test-reporter=tap test/web/ 2>&1 | tee "$out/node.out" | grep -vE '^\s*(duration_ms|\.\.\.|---)' | tail -40
rc=${PIPESTATUS[0]}
passed=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$out/node.out" | tail -1)
failed=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$out/node.out" | tail -1)
passed=${passed:-0} failed=${failed:-0}
[ "$passed" -eq 0 ] && [ "$failed" -eq 0 ] && failed=1   # nothing ran
if [ "$tsc_ok" = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
[ -f "$out/first-load.json" ] && echo "# first load: $(tr -d '\n ' < "$out/first-load.json" | sed 's/.*"median_interactive_ms":\([0-9]*\).*/\1/') ms to interactive (median); screenshots in $out/screens"
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "web: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
