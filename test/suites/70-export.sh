#!/usr/bin/env bash
# Export suite: CSV through Python's csv module, PDF through poppler
# (pdftotext, pdftoppm, pdfinfo), against the test database
# (PGHOST/PGPORT/TEST_DB_NAME from scripts/test.sh).  The PDF, its text and
# page 1 as PNG are kept in $TEST_OUTDIR/export for a look.
# Ends with "export: N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export EXPORT_OUT="${TEST_OUTDIR:-$root/.run/test-out}/export"
rm -rf "$EXPORT_OUT"; mkdir -p "$EXPORT_OUT"
for tool in pdftotext pdftoppm pdfinfo; do
  command -v "$tool" >/dev/null || { echo "export: $tool missing (poppler-utils)"; echo "export: 0 passed, 1 failed"; exit 1; }
done
/usr/bin/python3 "$root/test/export/check_export.py"
