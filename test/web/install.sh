#!/usr/bin/env bash
# Makes sure the browser tests can run: node, Debian's chromium, and
# playwright-core and @axe-core/playwright (locked in test/web/package-lock.json)
# from npm, installed again when the lock file changed.
# Used by the web suite and by the deploy suite's live check.
set -uo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null || { echo "node is missing (scripts/deps.sh installs nodejs)"; exit 1; }
[ -x /usr/bin/chromium ] || { echo "chromium is missing (scripts/deps.sh installs it)"; exit 1; }
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing playwright-core and @axe-core/playwright from npm"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null || { echo "npm ci failed"; exit 1; }
fi
