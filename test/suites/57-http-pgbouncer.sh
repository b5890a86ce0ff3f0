#!/usr/bin/env bash
# http-pgbouncer: the HTTP suite with the shim's pool behind PgBouncer 1.18
# in transaction mode (scripts/pgbouncer.sh), the shim in --pooler mode (no
# named prepared statements, no startup options) and its LISTEN connection
# straight to PostgreSQL.  First, through PgBouncer itself: a connection
# that sign_in() signed in is signed out before its server connection serves
# anyone else, and authenticate(token) works within a transaction.
# Ends with "http-pgbouncer: N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
name=http-pgbouncer
layout=${TEST_CLUSTER:-test}-pgbouncer
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
passed=0 failed=0
ok()     { passed=$((passed + 1)); echo "ok $((passed + failed)) - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok $((passed + failed)) - $*"; }
cleanup() { scripts/pgbouncer.sh stop "$layout" >/dev/null 2>&1; }
trap cleanup EXIT
if ! command -v pgbouncer >/dev/null; then
  not_ok "pgbouncer is installed (scripts/deps.sh)"; echo "$name: $passed passed, $failed failed"; exit 1
fi

db=$TEST_DB_NAME
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tm_http_shim') THEN CREATE ROLE tm_http_shim LOGIN; END IF;
END $$;
GRANT taskmgmt_client TO tm_http_shim;
-- with --pooler the shim sends no startup options: its timeouts are the role's
ALTER ROLE tm_http_shim SET statement_timeout = '3s';
ALTER ROLE tm_http_shim SET idle_in_transaction_session_timeout = '3s';
SQL
port=$(free_port)
if ! scripts/pgbouncer.sh start "$layout" "$port" "$PGHOST" "$PGPORT" "$db" tm_http_shim; then
  not_ok "PgBouncer starts"; echo "$name: $passed passed, $failed failed"; exit 1
fi
B() { psql -X -q -At -h 127.0.0.1 -p "$port" -U tm_http_shim "$@" 2>&1; }

# ---- identity through transaction pooling (one server connection: every
# client and every transaction gets the same backend)
email="pgb-$RANDOM$RANDOM@example.com"
B -d "$db" -c "SELECT taskmgmt.register('$email', 'correct horse battery staple', 'Pgb') IS NOT NULL" >/dev/null
out=$(B -d "${db}_one" -c "SELECT taskmgmt.sign_in('$email', 'correct horse battery staple') ? 'access_token'" \
        -c "SELECT coalesce(taskmgmt.current_user_id()::text, 'signed out')")
if [ "$(echo "$out" | tail -1)" = "signed out" ] && [ "$(echo "$out" | head -1)" = t ]; then
  ok "sign_in() through transaction pooling: signed out again when its transaction ends (RESET ALL)"
else
  not_ok "sign_in() through transaction pooling: signed out again when its transaction ends"; echo "$out" | sed 's/^/# /'
fi
out=$(B -d "${db}_one" -c "SELECT taskmgmt.sign_in('$email', 'correct horse battery staple') ? 'access_token'")
out2=$(B -d "${db}_one" -c "SELECT pg_backend_pid() > 0, coalesce(taskmgmt.current_user_id()::text, 'nobody')")
if [ "$out" = t ] && [ "$out2" = "t|nobody" ]; then
  ok "the next client on the same server connection is nobody"
else
  not_ok "the next client on the same server connection is nobody"; echo "# $out / $out2"
fi
# the same without server_reset_query_always: the identity would leak (so the
# check above can fail)
d=$(readlink -f ".run/$layout")
sed -i 's/^server_reset_query_always = 1/server_reset_query_always = 0/' "$d/pgbouncer.ini"
psql -X -q -h "$d" -p "$port" -U postgres -d pgbouncer -c RELOAD >/dev/null
B -d "${db}_one" -c "SELECT taskmgmt.sign_in('$email', 'correct horse battery staple') IS NOT NULL" >/dev/null
out=$(B -d "${db}_one" -c "SELECT coalesce(taskmgmt.current_user_id()::text, 'nobody')")
sed -i 's/^server_reset_query_always = 0/server_reset_query_always = 1/' "$d/pgbouncer.ini"
psql -X -q -h "$d" -p "$port" -U postgres -d pgbouncer -c RELOAD >/dev/null
B -d "${db}_one" -c "RESET ALL" >/dev/null
if [ "$out" != nobody ]; then
  ok "(control) without server_reset_query_always the next client would run as user $out"
else
  not_ok "(control) without server_reset_query_always the next client would run as the signed-in user"
fi

tok=$(B -d "$db" -c "SELECT taskmgmt.password_grant('$email', 'correct horse battery staple') ->> 'access_token'")
out=$(B -d "${db}_one" -c "BEGIN" -c "SELECT taskmgmt.authenticate('$tok') IS NOT NULL" \
        -c "SELECT taskmgmt.me() ->> 'email'" -c "COMMIT" -c "SELECT coalesce(taskmgmt.current_user_id()::text, 'nobody')")
if [ "$out" = "$(printf 't\n%s\nnobody' "$email")" ]; then
  ok "authenticate(token) holds for its transaction, and only for it"
else
  not_ok "authenticate(token) holds for its transaction, and only for it"; echo "$out" | sed 's/^/# /'
fi

# ---- the HTTP suite through PgBouncer
export SUITE_NAME=$name
export SHIM_DB_CONNINFO="host=127.0.0.1 port=$port"
# as environment variables, so that every shim a test starts gets them too
export POOLER=transaction
export NOTIFY_DATABASE_URL="host=$PGHOST port=$PGPORT dbname=$db user=tm_http_shim"
bash test/suites/50-http.sh > "${TEST_OUTDIR:-$root/.run/test-out}/$name.http.log" 2>&1
tail -62 "${TEST_OUTDIR:-$root/.run/test-out}/$name.http.log" | head -61
line=$(tail -1 "${TEST_OUTDIR:-$root/.run/test-out}/$name.http.log")
p=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) passed.*/\1/p')
f=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) failed.*/\1/p')
passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1}))
scripts/pgbouncer.sh show "$layout" stats | sed 's/^/# /' | head -5
echo "$name: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
