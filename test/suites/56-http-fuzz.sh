#!/usr/bin/env bash
# libFuzzer on the request -> route -> parameters mapping, the database
# error -> problem mapping and the framing check (shim/fuzz_routes.c),
# briefly: FUZZ_RUNS (default 20000).  Longer: make shim-fuzz FUZZ_RUNS=5000000
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
runs=${FUZZ_RUNS:-20000}
if ! make --no-print-directory -s shim/fuzz-routes; then
  echo "http-fuzz: 0 passed, 1 failed"; exit 1
fi
corpus=$(mktemp -d)
cp shim/fuzz-seeds/* "$corpus"/
out=$(shim/fuzz-routes -runs="$runs" -max_len=512 -seed=1 "$corpus" 2>&1); rc=$?
rm -rf "$corpus"
echo "$out" | grep -E "^#[0-9]+ *(INITED|DONE)|Done [0-9]+ runs|ERROR|SUMMARY|==[0-9]+==" | head -40
if [ $rc -eq 0 ] && echo "$out" | grep -q "Done $runs runs"; then
  echo "http-fuzz: 1 passed, 0 failed"
else
  echo "$out" | tail -40
  echo "http-fuzz: 0 passed, 1 failed"; exit 1
fi
