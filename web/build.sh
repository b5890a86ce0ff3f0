#!/usr/bin/env bash
# web/build.sh build|check: installs the locked npm dependencies when they
# changed, generates src/gen/openapi.d.ts from shim/openapi.json, then
#   build   Vite into web/dist
#   check   tsc --noEmit: a change to the OpenAPI document that breaks the UI fails here
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
node_modules/.bin/openapi-typescript ../shim/openapi.json -o src/gen/openapi.d.ts >/dev/null 2>&1 \
  || node_modules/.bin/openapi-typescript ../shim/openapi.json -o src/gen/openapi.d.ts
case "${1:-build}" in
  build) node_modules/.bin/vite build --logLevel warn ;;
  check) node_modules/.bin/tsc --noEmit -p . ;;
  *) echo "usage: $0 build|check" >&2; exit 2 ;;
esac
