#!/usr/bin/env bash
# bench/web.sh: the web UI's first load in bytes: builds web/dist and prints
# each file's size raw and gzip -9 (what a browser fetches on the first visit:
# index.html, app.js, app.css, favicon.svg).  The time to interactive comes
# from the web suite (test/web/screens.test.mjs, written to
# .run/<cluster>-out/web/first-load.json).
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory -s web
total=0
printf '%-24s %10s %10s\n' file bytes gzip
for f in web/dist/index.html web/dist/app.js web/dist/app.css web/dist/favicon.svg; do
  raw=$(wc -c < "$f"); gz=$(gzip -9 -c "$f" | wc -c); total=$((total + gz))
  printf '%-24s %10d %10d\n' "${f#web/dist/}" "$raw" "$gz"
done
printf '%-24s %10s %10d  (%.1f kB)\n' "first load, gzip" "" "$total" "$(echo "$total / 1000" | bc -l)"
