#!/usr/bin/env bash
# make run: build, install, start the private cluster 'db' and create the
# database 'taskmgmt' with the extension.  Idempotent.
# make run HA=1: the same on pg_auto_failover's monitor, primary and
# secondary instead (scripts/ha.sh, layout 'db-ha'; doc/operations.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# not PORT: that one is the shim's (scripts/run.d/50-shim.sh)
db_port=${TASKMGMT_DB_PORT:-54329}
# another name keeps a second instance (the suite "run") apart from yours
cluster=${TASKMGMT_RUN_CLUSTER:-db}
make --no-print-directory -s all
make --no-print-directory -s install >/dev/null
# Nobody else on this machine may use the cluster: the socket admits you as
# the project's login roles (peer), TCP needs a password (scram-sha-256).
export PGCLUSTER_LOGIN_ROLES="taskmgmt_client_login taskmgmt_mailer_login"
if [ "${HA:-0}" = 1 ]; then
  # monitor, node1, node2 on the three ports after the database's
  layout=$cluster-ha
  scripts/ha.sh start "$layout" "$((db_port + 1))" "$((db_port + 2))" "$((db_port + 3))"
  sock=$(readlink -f ".run/$layout")
  # set-up goes to whichever node is primary now; clients name both
  read -r _ p1 p2 < "$sock/ports"
  db_port=$p1; [ "$(scripts/ha.sh primary "$layout")" = node2 ] && db_port=$p2
  db_conninfo="host=$sock,$sock port=$p1,$p2 target_session_attrs=read-write"
  stop_db() { scripts/ha.sh stop "$layout"; }
else
  scripts/pgcluster.sh start "$cluster" "$db_port"
  sock=$(readlink -f ".run/$cluster")
  db_conninfo="host=$sock port=$db_port"
  stop_db() { scripts/pgcluster.sh stop "$cluster"; }
fi
psql_owner() { scripts/pgcluster.sh as-owner psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$db_port" -U postgres "$@"; }

if [ "${RESET:-0}" = 1 ]; then
  echo "run: RESET=1: dropping database taskmgmt"
  psql_owner -d postgres -c "DROP DATABASE IF EXISTS taskmgmt WITH (FORCE)"
fi
# (pg_auto_failover creates it on the HA layout)
if ! psql_owner -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'taskmgmt'" | grep -q 1; then
  psql_owner -d postgres -c "CREATE DATABASE taskmgmt"
  rm -f ".run/$cluster-extension.md5"
fi
psql_owner -d taskmgmt < scripts/setup-db.sql

# taskmgmt_client_login's password for TCP, made once and kept in a passfile only you
# can read (libpq finds it through PGPASSFILE).
passfile=$root/.run/$cluster.pgpass
if ! grep -qs '^127\.0\.0\.1:\*:\*:taskmgmt_client_login:' "$passfile"; then   # none yet, or one for an older role name
  (umask 077; printf '127.0.0.1:*:*:taskmgmt_client_login:%s\n' "$(openssl rand -hex 16)" > "$passfile")
fi
app_pw=$(cut -d: -f5 "$passfile")
psql_owner -d postgres -v pw="$app_pw" <<'SQL'
ALTER ROLE taskmgmt_client_login PASSWORD :'pw';
SQL

# Within one version, ALTER EXTENSION UPDATE cannot bring in SQL that changed
# since this database was created (development only): say so.
script_md5=$(md5sum "$(${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config} --sharedir)/extension/taskmgmt--$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" taskmgmt.control).sql" | cut -c1-32)
if [ -f ".run/$cluster-extension.md5" ] && [ "$(cat ".run/$cluster-extension.md5")" != "$script_md5" ]; then
  echo "run: note: the extension's SQL changed since database 'taskmgmt' was created;"
  echo "     'make run RESET=1' recreates it (its data is lost)."
else
  echo "$script_md5" > ".run/$cluster-extension.md5"
fi

cat <<EOF

taskmgmt database is ready.
  connect:  psql "$db_conninfo dbname=taskmgmt user=taskmgmt_client_login"
      (or)  PGPASSFILE=$passfile psql "host=127.0.0.1 port=$db_port dbname=taskmgmt user=taskmgmt_client_login"
  stop:     make stop
  logs:     $sock/$( [ "${HA:-0}" = 1 ] && echo '{monitor,node1,node2}.log' || echo postgres.log)
EOF
if [ "${HA:-0}" = 1 ]; then
  echo "  failover: scripts/ha.sh state $layout · scripts/ha.sh crash $layout node1 · scripts/ha.sh rejoin $layout node1"
fi

# Services (shim, mailer, ...) each have a script in scripts/run.d/ that runs
# its service in the foreground.  With any present, make run stays in the
# foreground and Ctrl-C stops them all, then the database.
services=(scripts/run.d/*.sh)
[ -e "${services[0]}" ] || exit 0

export DATABASE_URL="$db_conninfo dbname=taskmgmt user=taskmgmt_client_login"
# where the services connect (TASKMGMT_DB_CONNINFO: the hosts and ports;
# socket and port: the primary now, for set-up as the cluster owner)
export TASKMGMT_DB_SOCKET_DIR=$sock TASKMGMT_DB_PORT=$db_port TASKMGMT_DB_CONNINFO=$db_conninfo
pids=()
stop_all() {
  trap - INT TERM EXIT
  echo; echo "stopping..."
  # each service leads its own process group: stop the whole group
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null; done
  wait 2>/dev/null
  stop_db
  exit 0
}
trap stop_all INT TERM EXIT
for svc in "${services[@]}"; do
  setsid bash "$svc" &
  pids+=($!)
done
echo "running (Ctrl-C stops everything)"
wait -n "${pids[@]}"
echo "a service exited; stopping the rest"
stop_all
