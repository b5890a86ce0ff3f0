#!/usr/bin/env bash
# make bench: runs every bench/*.sh (other than this one and the 30-minute
# soak.sh, which is run by hand) in name order.
# Each script prints its own figures; this exits non-zero if any failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

failed=()
for script in "$here"/*.sh; do
  case "$(basename "$script")" in run.sh|soak.sh) continue ;; esac
  echo "== bench/$(basename "$script")"
  bash "$script" || failed+=("$(basename "$script")")
  echo
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: failed: ${failed[*]}" >&2
  exit 1
fi
