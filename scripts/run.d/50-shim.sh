#!/usr/bin/env bash
# make run: the HTTP + websocket shim on http://localhost:8080 (foreground).
# scripts/run.sh exports DATABASE_URL (role taskmgmt_client_login); PORT, LISTEN_ADDR
# and the other settings of `shim/taskmgmt-shim --help` may be set too.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
make --no-print-directory -s shim/taskmgmt-shim
make --no-print-directory -s shim-docs >/dev/null 2>&1 || echo "shim: /docs needs npm (redoc); the API works without it"
port=${PORT:-8080}
echo "shim:     http://localhost:$port/   (API /api/v1, docs /docs, metrics /metrics)"
exec shim/taskmgmt-shim --port "$port" --listen "${LISTEN_ADDR:-127.0.0.1}"
