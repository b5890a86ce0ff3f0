#!/usr/bin/env bash
# Writes secrets.env (git-ignored) beside this script with fresh random
# passwords, unless it exists.  kustomize's secretGenerator turns it into the
# Secret taskmgmt-secrets; nothing secret is ever committed.
set -euo pipefail
out="$(cd "$(dirname "$0")" && pwd)/secrets.env"
if [ -e "$out" ]; then echo "$out exists; delete it first to make new passwords"; exit 0; fi
rand() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
umask 077
cat > "$out" <<ENV
db-password=$(rand)
postgres-password=$(rand)
mailer-password=$(rand)
ENV
echo "wrote $out"
