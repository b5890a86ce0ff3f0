#!/usr/bin/env bash
# make run: build, install, start the private cluster 'db' and create the
# database 'taskmgmt' with the extension.  Idempotent.
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
PGCLUSTER_LOGIN_ROLES="taskmgmt_client_login taskmgmt_mailer_login" scripts/pgcluster.sh start "$cluster" "$db_port"

sock=$(readlink -f ".run/$cluster")
psql_owner() { scripts/pgcluster.sh as-owner psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$db_port" -U postgres "$@"; }

if [ "${RESET:-0}" = 1 ]; then
  echo "run: RESET=1: dropping database taskmgmt"
  psql_owner -d postgres -c "DROP DATABASE IF EXISTS taskmgmt WITH (FORCE)"
fi
if ! psql_owner -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'taskmgmt'" | grep -q 1; then
  psql_owner -d postgres -c "CREATE DATABASE taskmgmt"
  rm -f ".run/$cluster-extension.md5"
fi
psql_owner -d taskmgmt <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS taskmgmt CASCADE;
-- 0.2.0 requires pg_trgm: ALTER EXTENSION UPDATE does not create what an
-- update newly requires (a database made at 0.1.0 lacks it)
CREATE EXTENSION IF NOT EXISTS pg_trgm;
ALTER EXTENSION taskmgmt UPDATE;
-- scheduled jobs (due-soon/overdue reminders, cleanup, outbox retention)
CREATE EXTENSION IF NOT EXISTS pg_cron;
DO $$ BEGIN PERFORM taskmgmt.schedule_jobs(); END $$;
-- a login role for people and the shim: a member of taskmgmt_client
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'taskmgmt_client_login') THEN
    CREATE ROLE taskmgmt_client_login LOGIN;
  END IF;
END $$;
GRANT taskmgmt_client TO taskmgmt_client_login;
ALTER ROLE taskmgmt_client_login SET search_path = taskmgmt, public;
SQL

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
  connect:  psql "host=$sock port=$db_port dbname=taskmgmt user=taskmgmt_client_login"
      (or)  PGPASSFILE=$passfile psql "host=127.0.0.1 port=$db_port dbname=taskmgmt user=taskmgmt_client_login"
  stop:     make stop
  logs:     $sock/postgres.log
EOF

# Services (shim, mailer, ...) each have a script in scripts/run.d/ that runs
# its service in the foreground.  With any present, make run stays in the
# foreground and Ctrl-C stops them all, then the database.
services=(scripts/run.d/*.sh)
[ -e "${services[0]}" ] || exit 0

export DATABASE_URL="host=$sock port=$db_port dbname=taskmgmt user=taskmgmt_client_login"
export TASKMGMT_DB_SOCKET_DIR=$sock TASKMGMT_DB_PORT=$db_port
pids=()
stop_all() {
  trap - INT TERM EXIT
  echo; echo "stopping..."
  # each service leads its own process group: stop the whole group
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null; done
  wait 2>/dev/null
  scripts/pgcluster.sh stop "$cluster"
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
