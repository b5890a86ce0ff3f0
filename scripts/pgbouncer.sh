#!/usr/bin/env bash
# PgBouncer (Debian's pgbouncer 1.18) in transaction mode in front of a
# private cluster, under .run/NAME/ (doc/operations.md, "Connection poolers").
#   pgbouncer.sh start NAME PORT DB_SOCKET_DIR DB_PORT DBNAME USER...   write the configuration, start, wait
#     (DBNAME_one: the same database with one server connection)
#   pgbouncer.sh stop NAME
#   pgbouncer.sh show NAME WHAT        SHOW WHAT on the admin console (pools, servers, ...)
# The users are let in without a password (auth_type trust) and reach the
# server the same way: this is the test clusters' set-up; a production
# PgBouncer uses auth_type scram-sha-256 with an auth_file or auth_query.
set -euo pipefail
source "$(dirname "$0")/cluster-lib.sh"

cmd=${1:-}; name=${2:-}
[ -n "$cmd" ] && [ -n "$name" ] || { sed -n '2,10p' "$0"; exit 2; }
dir="$root/.run/$name"

case "$cmd" in
  start)
    port=$3 db_sock=$4 db_port=$5 db=$6; shift 6
    d=$(cluster_dir "$name")
    {
      for u in postgres "$@"; do printf '"%s" ""\n' "$u"; done
    } | as_owner tee "$d/userlist.txt" >/dev/null
    as_owner tee "$d/pgbouncer.ini" >/dev/null <<EOF
;; written by scripts/pgbouncer.sh
[databases]
$db = host=$db_sock port=$db_port
;; one server connection only: every client gets the same one (the suite
;; checks that sign_in() does not carry one client's identity to the next)
${db}_one = host=$db_sock port=$db_port dbname=$db pool_size=1

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $d
pidfile = $d/pgbouncer.pid
logfile = $d/pgbouncer.log
auth_type = trust
auth_file = $d/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = 10
max_client_conn = 500
;; A server connection goes back to the pool after every transaction; RESET
;; ALL before that signs out a connection that sign_in() signed in (the
;; extension's hidden flag taskmgmt.connection_signed_in is reset with it),
;; so no client ever runs with another one's identity.
server_reset_query = RESET ALL
server_reset_query_always = 1
;; after a restart of PostgreSQL, try again soon (default 15 s)
server_login_retry = 0.5
;; the shim's --pooler mode sends no startup options; its timeouts are the
;; login role's settings (ALTER ROLE ... SET statement_timeout)
EOF
    if [ -f "$d/pgbouncer.pid" ] && kill -0 "$(cat "$d/pgbouncer.pid")" 2>/dev/null; then
      kill -TERM "$(cat "$d/pgbouncer.pid")"; sleep 0.5
    fi
    as_owner pgbouncer -d "$d/pgbouncer.ini" >/dev/null
    for _ in $(seq 50); do
      as_owner "$bindir/psql" -X -q -h "$d" -p "$port" -U postgres -d pgbouncer -c 'SHOW VERSION' >/dev/null 2>&1 && break
      sleep 0.1
    done
    echo "pgbouncer: '$name' on 127.0.0.1:$port (transaction mode) in front of $db_sock:$db_port"
    ;;
  stop)
    if [ -f "$dir/pgbouncer.pid" ] && kill -0 "$(cat "$dir/pgbouncer.pid")" 2>/dev/null; then
      kill -TERM "$(cat "$dir/pgbouncer.pid")"
      for _ in $(seq 50); do [ -f "$dir/pgbouncer.pid" ] || break; sleep 0.1; done
      echo "pgbouncer: '$name' stopped"
    fi
    ;;
  show)
    port=$(sed -n 's/^listen_port = //p' "$dir/pgbouncer.ini")
    as_owner "$bindir/psql" -X -q -h "$(readlink -f "$dir")" -p "$port" -U postgres -d pgbouncer -c "SHOW $3"
    ;;
  *)
    sed -n '2,10p' "$0"; exit 2 ;;
esac
