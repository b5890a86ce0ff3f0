#!/usr/bin/env bash
# deploy-upgrade: the extension's upgrade path (doc/operations.md, "Upgrading the extension").
#  - the rules: a released version's script never changes; file names and
#    versions are consistent; every kept version and upgrade script is installed;
#  - for every released version older than default_version: install it,
#    create data through the API, ALTER EXTENSION taskmgmt UPDATE, check the
#    data and the API (test/deploy/upgrade/verify.sql), run the whole pgTAP
#    suite on the updated database, and compare its catalog with a fresh
#    install (test/deploy/upgrade/catalog.sql);
#  - the same machinery on a synthetic next version made from the current
#    script, plus negative tests: an upgrade script that forgets a GRANT or a
#    column default must be caught by the comparison, and a changed released
#    script by the release check.
# Runs inside scripts/test.sh (PGHOST/PGPORT of the test cluster, as postgres).
suite=deploy-upgrade
source "$(dirname "$0")/../deploy/lib.sh"
set -uo pipefail
U=test/deploy/upgrade
export PGUSER=${PGUSER:-postgres}
if ! psql -X -q -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
  not_ok "a test cluster to work in (run through scripts/test.sh or make test-deploy)"
  finish
fi
cur=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" taskmgmt.control)
sharedir=$(${PG_CONFIG:-pg_config} --sharedir 2>/dev/null || /usr/lib/postgresql/15/bin/pg_config --sharedir)/extension
tmp=$(mktemp -d)
synthetic=()
dbs=()
vars=""
cleanup() {
  for f in "${synthetic[@]}"; do rm -f "$f"; done
  for d in "${dbs[@]}"; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1; done
  rm -rf "$tmp"
}
trap cleanup EXIT
psql -X -q -d postgres >/dev/null 2>&1 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'deploy_upgrade_client') THEN
    CREATE ROLE deploy_upgrade_client NOLOGIN;
  END IF;
END $$;
SQL

# new_db NAME [VERSION]: a database with the extension (at VERSION) and the
# client role's grant.
new_db() {
  local db=$1 version=${2:-}
  dbs+=("$db")
  psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" \
    -c "CREATE DATABASE $db" >/dev/null || return 1
  psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<SQL || return 1
SET client_min_messages = warning;
CREATE EXTENSION taskmgmt ${version:+VERSION '$version'} CASCADE;
GRANT taskmgmt_client TO deploy_upgrade_client;
SQL
}
catalog() { psql -X -q -v ON_ERROR_STOP=1 -d "$1" -f "$U/catalog.sql" > "$2" 2>&1; }
same_catalog() {  # db1 db2 label → ok when equal, shows the difference otherwise
  catalog "$1" "$tmp/$1.cat" && catalog "$2" "$tmp/$2.cat" || { cat "$tmp/$1.cat" "$tmp/$2.cat" | tail -5; return 1; }
  [ "$(wc -l < "$tmp/$1.cat")" -gt 100 ] || { echo "# catalog of $1 is suspiciously small"; return 1; }
  diff -u "$tmp/$1.cat" "$tmp/$2.cat" > "$tmp/$1-$2.diff" && return 0
  head -40 "$tmp/$1-$2.diff" | sed 's/^/# /'
  return 1
}
# make_data DB → sets $vars (psql -v arguments for verify.sql)
make_data() {
  local out
  out=$(psql -X -q -At -d "$1" -f "$U/data.sql" 2>&1) || { echo "$out" | sed 's/^/# /'; return 1; }
  vars=$(echo "$out" | tr ' ' '\n' | grep -E '^(token|task_id|team_id)=' | sed 's/^/-v /' | tr '\n' ' ')
  [ -n "$vars" ]
}
verify_data() {
  # shellcheck disable=SC2086
  psql -X -q -At -d "$1" $vars -f "$U/verify.sql" > "$tmp/verify.out" 2>&1
  diff -u "$U/expected-verify.txt" "$tmp/verify.out" > "$tmp/verify.diff" && return 0
  sed 's/^/# /' "$tmp/verify.diff" | head -30
  return 1
}

# Every API function, as the pgTAP suite tests it, on database $1 (after an
# update).  Its data is emptied first (the suite expects no users); files
# needing pg_cron are left out: pg_cron lives only in the test database
# (cron.database_name), and the catalog comparison covers those functions.
pgtap_on() {
  local db=$1 files out rc
  psql -X -q -d "$db" -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pgtap" >/dev/null || return 1
  psql -X -q -d "$db" -c "SET client_min_messages = warning" \
    -c "TRUNCATE taskmgmt.users, taskmgmt.teams, taskmgmt.tasks CASCADE" >/dev/null || return 1
  files=$(grep -L 'CREATE EXTENSION pg_cron' test/pgtap/*.sql)
  echo "# pgTAP on $db: $(echo "$files" | wc -l) files (left out: $(grep -l 'CREATE EXTENSION pg_cron' test/pgtap/*.sql | xargs -r -n1 basename | tr '\n' ' '))"
  # shellcheck disable=SC2086
  out=$(pg_prove -d "$db" $files 2>&1); rc=$?
  echo "$out" | grep -E '^(Files=|Result:|Failed|.*Dubious)' | sed 's/^/# /'
  return $rc
}

# ---- the rules
step "versions: default_version $cur"
frozen=$(ls extension/versions/taskmgmt--*.sql 2>/dev/null | sed 's#.*/taskmgmt--\(.*\)\.sql#\1#' | sort -V)
echo "# released versions kept: ${frozen:-none}"
check "release check: a released version's script never changes (deploy/release.sh check)" deploy/release.sh check
names_ok=1
for f in extension/versions/* extension/upgrades/*; do
  [ "${f##*/}" = README.md ] && continue
  [ -e "$f" ] || continue
  case "$f" in
    extension/versions/taskmgmt--*--*) names_ok=0; echo "# $f: an upgrade script in versions/" ;;
    extension/versions/taskmgmt--*.sql) ;;
    extension/versions/taskmgmt--*.control)
      [ -e "${f%.control}.sql" ] || { names_ok=0; echo "# $f: no released script beside it"; } ;;
    extension/upgrades/taskmgmt--*--*.sql)
      b=${f#extension/upgrades/taskmgmt--}; b=${b%.sql}; from=${b%%--*}; to=${b#*--}
      known=$(printf '%s\n%s\n' "$frozen" "$cur")
      if ! grep -qx -- "$from" <<< "$known" || ! grep -qx -- "$to" <<< "$known"; then
        names_ok=0; echo "# $f: $from or $to is neither a released version nor $cur"
      fi
      [ "$(printf '%s\n%s\n' "$from" "$to" | sort -V | head -1)" = "$from" ] && [ "$from" != "$to" ] \
        || { names_ok=0; echo "# $f: does not go forward"; } ;;
    *) names_ok=0; echo "# $f: not a taskmgmt--V.sql or taskmgmt--A--B.sql file" ;;
  esac
done
check "file names: versions/taskmgmt--V.sql (and .control), upgrades/taskmgmt--A--B.sql between known versions" test "$names_ok" = 1
newest=$(printf '%s\n' $frozen | tail -1)
if [ -n "$newest" ]; then
  check "default_version $cur is not older than the newest release $newest" \
    test "$(printf '%s\n%s\n' "$newest" "$cur" | sort -V | tail -1)" = "$cur"
fi
inst_ok=1
for f in extension/upgrades/*.sql extension/versions/*.sql extension/versions/*.control; do
  [ -e "$f" ] || continue
  [ "$f" = "extension/versions/taskmgmt--$cur.sql" ] && f=taskmgmt--$cur.sql   # the built one is installed
  cmp -s "$f" "$sharedir/$(basename "$f")" || { inst_ok=0; echo "# not installed: $f"; }
done
check "make install installs every kept version (script and control file) and upgrade script" test "$inst_ok" = 1

# ---- the real upgrade path from every older released version
older=$(printf '%s\n' $frozen | grep -vx -- "$cur" || true)
new_db upg_fresh || not_ok "fresh install of $cur"
if [ -z "$older" ]; then
  skip "upgrade from an older release: none is kept yet (extension/versions/ has no version before $cur)"
fi
for v in $older; do
  step "upgrade $v → $cur"
  db=upg_${v//[^0-9a-z]/_}
  if ! new_db "$db" "$v"; then not_ok "CREATE EXTENSION taskmgmt VERSION '$v'"; continue; fi
  ok "CREATE EXTENSION taskmgmt VERSION '$v' (the kept script installs)"
  check "$v: data created through the API" make_data "$db"
  check "$v: an update path to $cur exists" \
    test "$(psql -X -At -d "$db" -c "SELECT count(*) FROM pg_extension_update_paths('taskmgmt') WHERE source = '$v' AND target = '$cur' AND path IS NOT NULL")" = 1
  # What $cur requires and $v did not (0.2.0: pg_trgm): PostgreSQL refuses
  # the update, changing nothing, until the DBA creates it (doc/operations.md).
  for req in $(sed -n "s/^requires *= *'\(.*\)'/\1/p" taskmgmt.control | tr ',' ' '); do
    [ "$(psql -X -At -d "$db" -c "SELECT count(*) FROM pg_extension WHERE extname = '$req'")" = 0 ] || continue
    refusal=$(psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "ALTER EXTENSION taskmgmt UPDATE" 2>&1)
    check "$v: without $req the update is refused with PostgreSQL's message, and nothing changes" \
      test "$(echo "$refusal" | grep -c "required extension \"$req\" is not installed")-$(psql -X -At -d "$db" -c "SELECT extversion FROM pg_extension WHERE extname = 'taskmgmt'")" = "1-$v"
    check "$v: CREATE EXTENSION $req (the step doc/operations.md gives DBAs)" \
      psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION $req"
  done
  if psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "SET client_min_messages = warning" -c "ALTER EXTENSION taskmgmt UPDATE" >/dev/null; then
    ok "$v: ALTER EXTENSION taskmgmt UPDATE"
  else
    not_ok "$v: ALTER EXTENSION taskmgmt UPDATE"; continue
  fi
  check "$v: now at $cur" test "$(psql -X -At -d "$db" -c "SELECT extversion FROM pg_extension WHERE extname = 'taskmgmt'")" = "$cur"
  check "$v: the data and the API work after the update" verify_data "$db"
  check "$v → $cur: same catalog as a fresh install of $cur" same_catalog upg_fresh "$db"
  check "$v → $cur: the pgTAP suite passes on the updated database" pgtap_on "$db"
done

# ---- the machinery itself, on a synthetic next version
step "synthetic upgrade $cur → $cur-upgradetest (checks the comparison itself)"
if [ ! -w "$sharedir" ]; then
  skip "synthetic upgrade: $sharedir is not writable"
  finish
fi
probe=$'\n-- synthetic change (test only)\nALTER TABLE @extschema@.tasks ADD COLUMN upgrade_probe text NOT NULL DEFAULT \'probe\';\nCREATE FUNCTION @extschema@.upgrade_probe(t @extschema@.tasks) RETURNS text LANGUAGE sql STABLE AS $$ SELECT t.upgrade_probe $$;\nREVOKE ALL ON FUNCTION @extschema@.upgrade_probe(@extschema@.tasks) FROM PUBLIC;\nGRANT EXECUTE ON FUNCTION @extschema@.upgrade_probe(@extschema@.tasks) TO taskmgmt_client;\n'
header() { printf '\\echo Use "ALTER EXTENSION taskmgmt UPDATE" to load this file. \\quit\n'; }
syn() {  # version, upgrade-script body: installs taskmgmt--V.sql and taskmgmt--cur--V.sql
  local v=$1 body=$2
  { cat "taskmgmt--$cur.sql"; printf '%s' "$probe"; } > "$sharedir/taskmgmt--$v.sql"
  { header; printf '%s' "$body"; } > "$sharedir/taskmgmt--$cur--$v.sql"
  synthetic+=("$sharedir/taskmgmt--$v.sql" "$sharedir/taskmgmt--$cur--$v.sql")
}
good=$cur-upgradetest$$
syn "$good" "$probe"
if new_db syn_fresh "$good" && new_db syn_upd "$cur"; then
  check "synthetic: data created at $cur" make_data syn_upd
  check "synthetic: ALTER EXTENSION taskmgmt UPDATE TO '$good'" \
    psql -X -q -v ON_ERROR_STOP=1 -d syn_upd -c "ALTER EXTENSION taskmgmt UPDATE TO '$good'"
  check "synthetic: the data and the API work after the update" verify_data syn_upd
  check "synthetic: the new column has its default on old rows, visible through the new function" \
    test "$(psql -X -At -d syn_upd -c "SELECT string_agg(DISTINCT taskmgmt.upgrade_probe(t), ',') FROM taskmgmt.tasks t")" = probe
  check "synthetic: fresh and updated catalogs are identical" same_catalog syn_fresh syn_upd
  if [ -z "$older" ]; then   # (with a real older release, its run above already did this)
    check "synthetic: the pgTAP suite passes on the updated database" pgtap_on syn_upd
  fi
else
  not_ok "synthetic: install $good and $cur"
fi
# Negative: an upgrade script that forgets the GRANT, or the column default.
neg_upgrade() {  # label, sed expression removing something from the upgrade body
  local label=$1 expr=$2 v=$cur-upgradeneg$RANDOM$$
  syn "$v" "$(printf '%s' "$probe" | sed "$expr")"
  new_db neg_fresh "$v" && new_db neg_upd "$cur" \
    && psql -X -q -v ON_ERROR_STOP=1 -d neg_upd -c "ALTER EXTENSION taskmgmt UPDATE TO '$v'" >/dev/null 2>&1 || { not_ok "negative '$label': set-up"; return; }
  if same_catalog neg_fresh neg_upd >/dev/null; then
    not_ok "the catalog comparison catches an upgrade script that $label"
  else
    ok "the catalog comparison catches an upgrade script that $label"
  fi
}
neg_upgrade "forgets a GRANT" '/^GRANT EXECUTE/d'
neg_upgrade "forgets a column default" "s/ DEFAULT 'probe'//; s/text NOT NULL/text/"
# Negative: a released script that changed must fail the release check.
{ cat "taskmgmt--$cur.sql"; echo "-- an edit after release"; } > "$tmp/changed.sql"
check "the release check fails when a released version's SQL changed" \
  bash -c "! deploy/release.sh check taskmgmt--$cur.sql '$tmp/changed.sql' 2>/dev/null"
finish
