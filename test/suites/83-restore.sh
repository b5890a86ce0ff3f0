#!/usr/bin/env bash
# restore: pg_dump + pg_restore into a new cluster, exactly as
# doc/operations.md ("Dump and restore") tells a DBA, with no step that
# turns triggers off.  Afterwards every dumped row is the same (history,
# versions, timestamps, mentions, notifications, outbox), no NOTIFY went out
# during the restore (nothing is pushed or mailed again), users sign in with
# their passwords, old access tokens are refused (the signing key is not in
# the dump), old refresh tokens still work, and later writes derive their
# rows as usual.  The same for a plain-format dump restored with psql.
# Runs inside scripts/test.sh (PGHOST/PGPORT of the test cluster, as postgres).
suite=restore
source "$(dirname "$0")/../deploy/lib.sh"
set -uo pipefail
export PGUSER=${PGUSER:-postgres}
if ! psql -X -q -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
  not_ok "a test cluster to work in (run through scripts/test.sh)"
  finish
fi
bindir=/usr/lib/postgresql/15/bin
T=test/restore
tmp=$(mktemp -d)
src=restore_src
new=${TEST_CLUSTER:-test}-restore
new_port=$(free_port)
new_sock=
cleanup() {
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $src" >/dev/null 2>&1
  scripts/pgcluster.sh destroy "$new" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap 'cleanup; finish' EXIT

# --- the source: a database with data made through the API
psql -X -q -d postgres >/dev/null 2>&1 <<SQL
DROP DATABASE IF EXISTS $src;
CREATE DATABASE $src;
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'restore_client') THEN
    CREATE ROLE restore_client NOLOGIN;
  END IF;
END \$\$;
SQL
psql -X -q -v ON_ERROR_STOP=1 -d "$src" -c 'SET client_min_messages = warning' \
  -c 'CREATE EXTENSION taskmgmt CASCADE' -c 'GRANT taskmgmt_client TO restore_client' >/dev/null
if ! out=$(psql -X -q -At -d "$src" -f "$T/data.sql" 2>&1); then
  not_ok "data made through the API"; echo "$out" | sed 's/^/# /'; exit
fi
bob_access=$(echo "$out" | sed -n 's/^bob_access=//p')
bob_refresh=$(echo "$out" | sed -n 's/^bob_refresh=//p')
check "data made through the API (tokens for bob)" test -n "$bob_access" -a -n "$bob_refresh"
psql -X -q -At -d "$src" -f "$T/snapshot.sql" > "$tmp/before.txt" 2>&1
check "the snapshot covers the data (history, notifications, outbox)" \
  bash -c "grep -qE '^task_events [1-9]' '$tmp/before.txt' && grep -qE '^notifications [1-9]' '$tmp/before.txt' &&
           grep -qE '^email_outbox [1-9]' '$tmp/before.txt' && grep -qE '^comment_mentions [1-9]' '$tmp/before.txt' && grep -qE '^task_relations [1-9]' '$tmp/before.txt' &&
           grep -qE '^webhooks [1-9]' '$tmp/before.txt' && grep -qE '^dav_changes [1-9]' '$tmp/before.txt'"

# --- the dumps, as a superuser (doc/operations.md)
step "pg_dump"
check "pg_dump -Fc" "$bindir/pg_dump" -Fc -d "$src" -f "$tmp/taskmgmt.dump"
check "pg_dump (plain SQL)" "$bindir/pg_dump" -d "$src" -f "$tmp/taskmgmt.sql"

# --- a new cluster
step "new cluster $new on port $new_port"
scripts/pgcluster.sh destroy "$new" >/dev/null 2>&1
if ! scripts/pgcluster.sh start "$new" "$new_port" >/dev/null; then
  not_ok "a new cluster"; exit
fi
new_sock=$(readlink -f ".run/$new")
N() { psql -X -q -h "$new_sock" -p "$new_port" -U postgres "$@"; }

# restore_into DB HOW: listens on the new database during the restore and
# leaves what it heard in $tmp/DB.heard
restore_into() {
  local db=$1 how=$2
  N -d postgres -c "CREATE DATABASE $db" >/dev/null || return 1
  rm -f "$tmp/$db.done"
  { echo 'LISTEN taskmgmt_notifications; LISTEN taskmgmt_outbox;'
    for _ in $(seq 600); do [ -e "$tmp/$db.done" ] && break; sleep 0.1; done
    echo 'SELECT 1;'; } | N -d "$db" > "$tmp/$db.heard" 2>&1 &
  local listener=$! rc
  sleep 0.5
  if [ "$how" = archive ]; then
    "$bindir/pg_restore" -h "$new_sock" -p "$new_port" -U postgres -d "$db" --exit-on-error \
      "$tmp/taskmgmt.dump" > "$tmp/$db.log" 2>&1
  else
    N -v ON_ERROR_STOP=1 -d "$db" -f "$tmp/taskmgmt.sql" > "$tmp/$db.log" 2>&1
  fi
  rc=$?
  sleep 0.5   # a NOTIFY is delivered right after its commit
  touch "$tmp/$db.done"; wait "$listener"
  [ $rc -eq 0 ] || { sed 's/^/# /' "$tmp/$db.log" | tail -20; return 1; }
}

verify() {  # DB label
  local db=$1 how=$2 snap
  N -At -d "$db" -f "$T/snapshot.sql" > "$tmp/$db.after" 2>&1
  if diff -u "$tmp/before.txt" "$tmp/$db.after" > "$tmp/$db.diff"; then
    ok "$how: every dumped row is the same (history, versions, mentions, notifications, outbox, sequences)"
  else
    not_ok "$how: every dumped row is the same"; head -30 "$tmp/$db.diff" | sed 's/^/# /'
  fi
  if grep -q 'Asynchronous notification' "$tmp/$db.heard"; then
    not_ok "$how: no NOTIFY during the restore (nothing pushed to websockets or mailers again)"
    grep 'Asynchronous notification' "$tmp/$db.heard" | head -5 | sed 's/^/# /'
  else
    ok "$how: no NOTIFY during the restore (nothing pushed to websockets or mailers again)"
  fi
  check "$how: bob signs in with his password" bash -c "
    psql -X -q -At -h '$new_sock' -p $new_port -U postgres -d $db \
      -c \"SELECT taskmgmt.password_grant('bob@example.com', 'correct horse battery staple') ? 'access_token'\" | grep -qx t"
  check "$how: an access token from before the restore is refused (the signing key is not dumped)" bash -c "
    psql -X -q -At -h '$new_sock' -p $new_port -U postgres -d $db -c \"SELECT taskmgmt.authenticate('$bob_access')\" 2>&1 |
      grep -q 'ERROR'"
  check "$how: a refresh token from before the restore still works" bash -c "
    psql -X -q -At -h '$new_sock' -p $new_port -U postgres -d $db -v ON_ERROR_STOP=1 <<'SQL' | tail -1 | grep -qx t
SELECT taskmgmt.refresh('$bob_refresh') ->> 'access_token' AS fresh \\gset
SELECT taskmgmt.authenticate(:'fresh') = (SELECT id FROM taskmgmt.users WHERE email = 'bob@example.com');
SQL"
  # later writes derive their rows again: the restore left no trigger off
  snap=$(N -At -d "$db" -v ON_ERROR_STOP=1 2>&1 <<'SQL'
SET client_min_messages = warning;
SELECT taskmgmt.sign_in('ada@example.com', 'correct horse battery staple') IS NOT NULL AS s \gset
SELECT id AS t1, version AS v FROM taskmgmt.tasks WHERE title = 'Restore the backup' \gset
SELECT max(id) AS n0 FROM taskmgmt.notifications \gset
SELECT count(*) AS e0 FROM taskmgmt.task_events WHERE task_id = :t1 \gset
SELECT taskmgmt.update_task(:t1, '{"status": "done"}', :v) ->> 'version' AS v1 \gset
SELECT (:v1 = :v + 1)
   AND (SELECT count(*) FROM taskmgmt.task_events WHERE task_id = :t1) = :e0 + 1
   AND EXISTS (SELECT FROM taskmgmt.notifications WHERE id > :n0 AND event = 'updated')
   AND EXISTS (SELECT FROM taskmgmt.email_outbox WHERE status = 'pending');
SQL
)
  check "$how: a write after the restore bumps the version and records history and a notification" \
    test "$(echo "$snap" | tail -1)" = t
}

step "pg_restore into a new database"
if restore_into restored archive; then
  ok "pg_restore -d (archive format), no other step"
  verify restored "pg_restore"
else
  not_ok "pg_restore -d (archive format), no other step"
fi
step "psql -f into a new database"
if restore_into restored_plain plain; then
  ok "psql -f (plain format), no other step"
  verify restored_plain "psql -f"
else
  not_ok "psql -f (plain format), no other step"
fi
