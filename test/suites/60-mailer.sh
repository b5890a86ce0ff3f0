#!/usr/bin/env bash
# taskmgmt-mailer against a real SMTP server on loopback (Debian's
# python3-aiosmtpd, in-process in pytest): delivery and content, digests,
# SMTP down then up, dead letters, kills mid-batch, two mailers at once;
# and the scheduled jobs run by the real pg_cron of the test cluster.
# Needs the database of scripts/test.sh (PGHOST, PGPORT, PGUSER, TEST_DB_NAME).
# Ends with "mailer: N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

if [ ! -x mailer/taskmgmt-mailer ]; then
  make --no-print-directory -s mailer/taskmgmt-mailer || { echo "mailer: 0 passed, 1 failed"; exit 1; }
fi
out=$(/usr/bin/python3 -m pytest -q -p no:cacheprovider -rfE test/mailer 2>&1); rc=$?
echo "$out"
summary=$(echo "$out" | grep -E '[0-9]+ (passed|failed|error)' | tail -1)
passed=$(echo "$summary" | sed -n 's/.*\b\([0-9][0-9]*\) passed.*/\1/p'); passed=${passed:-0}
failed=$(echo "$summary" | sed -n 's/.*\b\([0-9][0-9]*\) failed.*/\1/p'); failed=${failed:-0}
errors=$(echo "$summary" | sed -n 's/.*\b\([0-9][0-9]*\) error.*/\1/p'); errors=${errors:-0}
failed=$((failed + errors))
# pytest exit 5 = no tests collected; any other non-zero without a count is a failure too
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "mailer: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
