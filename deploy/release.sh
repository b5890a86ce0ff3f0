#!/usr/bin/env bash
# Versioning of the taskmgmt extension (see doc/operations.md, "Upgrading the extension").
#
#   release.sh freeze              copy the built taskmgmt--V.sql (V = default_version)
#                                  to extension/versions/ (V is released: from now on
#                                  its SQL never changes), with taskmgmt--V.control
#                                  saying what V requires
#   release.sh new-version NEW     start version NEW: default_version := NEW and a new
#                                  extension/upgrades/taskmgmt--V--NEW.sql to fill in
#   release.sh check [BUILT FROZEN]  fail if the built script of a released version
#                                  differs from its frozen copy
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
control=taskmgmt.control
version() { sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$control"; }
cur=$(version)
built=taskmgmt--$cur.sql
frozen=extension/versions/taskmgmt--$cur.sql

check() {
  local b=${1:-$built} f=${2:-$frozen}
  if [ ! -e "$f" ]; then
    echo "version $cur is not released yet: its SQL may still change"
    return 0
  fi
  [ -e "$b" ] || { echo "release: $b is not built (run make)" >&2; return 1; }
  if cmp -s "$b" "$f"; then
    echo "version $cur: the built script equals the released one"
    return 0
  fi
  echo "release: the SQL of released version $cur has changed (extension/sql/ differs from $f)." >&2
  echo "release: a released version never changes: run 'make new-version VERSION=<next>' and put" >&2
  echo "release: the change in the new upgrade script as well.  Difference:" >&2
  diff -u "$f" "$b" | head -40 >&2
  return 1
}

case "${1:-}" in
  freeze)
    [ -e "$built" ] || { echo "release: build first (make)" >&2; exit 1; }
    if [ -e "$frozen" ]; then check; exit; fi
    mkdir -p extension/versions
    cp "$built" "$frozen"
    # a later version may require more; installing V must need what V needed
    { echo "# taskmgmt $cur as released: what it required (a secondary control file,"
      echo "# read by CREATE EXTENSION taskmgmt VERSION '$cur'; written at release)."
      grep -E '^requires *=' "$control"; } > "${frozen%.sql}.control"
    echo "froze version $cur as $frozen and ${frozen%.sql}.control; commit them"
    ;;
  new-version)
    new=${2:-}
    [[ "$new" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "usage: make new-version VERSION=X.Y.Z" >&2; exit 2; }
    [ -e "$frozen" ] || { echo "release: version $cur is not frozen yet; run make release-freeze first" >&2; exit 1; }
    [ "$(printf '%s\n%s\n' "$cur" "$new" | sort -V | tail -1)" = "$new" ] && [ "$new" != "$cur" ] \
      || { echo "release: $new is not after $cur" >&2; exit 1; }
    up=extension/upgrades/taskmgmt--$cur--$new.sql
    mkdir -p extension/upgrades
    cat > "$up" <<SQL
-- taskmgmt $cur → $new.  Every change made to extension/sql/ since $cur
-- goes here too, so that ALTER EXTENSION taskmgmt UPDATE gives exactly the
-- schema of a fresh CREATE EXTENSION (the suite deploy-upgrade compares them).
-- New columns go at the end of their table in extension/sql/ as well.
\\echo Use "ALTER EXTENSION taskmgmt UPDATE TO '$new'" to load this file. \\quit

SQL
    sed -i "s/^default_version *= *'.*'/default_version = '$new'/" "$control"
    echo "version $new started: fill in $up, then commit it with $control"
    ;;
  check)
    check "${2:-}" "${3:-}"
    ;;
  *)
    sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
