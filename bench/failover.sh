#!/usr/bin/env bash
# Failover: the time without a successful write through the shim when the
# primary of the pg_auto_failover layout is killed (test/suites/84-ha.sh and
# test/ha/failover.py do the work), RUNS times with the layout's settings
# and, with DEFAULTS=1, once more with pg_auto_failover's defaults.
#   bench/failover.sh              (RUNS=3 DEFAULTS=1)
# Uses the extension as installed (make install).  About a minute a run,
# two with the defaults.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
figures=$(mktemp)
trap 'rm -f "$figures"' EXIT
n=0
run() {  # label
  n=$((n + 1))
  local log=.run/bench-failover-$n.log
  : > "$figures"
  HA_FIGURES=$figures TEST_CLUSTER=bench-failover TEST_OUTDIR=.run/bench-failover-out \
    bash test/suites/84-ha.sh > "$log" 2>&1 || { echo "$1: the run failed ($log)"; grep -A5 '^not ok' "$log"; return 1; }
  /usr/bin/python3 - "$1" "$figures" <<'PY'
import json, sys
for line in open(sys.argv[2]):
    f = json.loads(line)
    print(f"{sys.argv[1]:<28} no successful write for {f['gap_s']:5.1f} s   (first success {f['recovery_s']:5.1f} s after the kill; "
          f"{f['acknowledged']} writes acknowledged, {f['failed']} refused or timed out)")
PY
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$runs"); do run "layout settings, run $i"; done
if [ "${DEFAULTS:-1}" = 1 ]; then
  HA_DEFAULTS=1 run "pg_auto_failover defaults"
fi
