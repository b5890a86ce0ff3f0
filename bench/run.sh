#!/usr/bin/env bash
# make bench: runs every bench/*.sh (other than this one) in name order.
# Each script prints its own figures; this exits non-zero if any failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

failed=()
for script in "$here"/*.sh; do
  [ "$(basename "$script")" = run.sh ] && continue
  echo "== bench/$(basename "$script")"
  bash "$script" || failed+=("$(basename "$script")")
  echo
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: failed: ${failed[*]}" >&2
  exit 1
fi
