#!/bin/bash
# Entrypoint of the taskmgmt image: the first argument chooses the role.
#
#   db       PostgreSQL 15 + pg_cron + taskmgmt.  On first start (empty
#            $PGDATA) creates the cluster, the database $TASKMGMT_DB_NAME, the
#            extension and the login role $TASKMGMT_DB_USER; on every start
#            brings the extension up to the version in the image
#            (ALTER EXTENSION taskmgmt UPDATE) before accepting connections.
#   shim     waits for the database, then runs taskmgmt-shim
#   mailer   waits for the database, then runs taskmgmt-mailer
#   migrate  waits for the database at $DATABASE_URL (a superuser's), then
#            CREATE EXTENSION IF NOT EXISTS / ALTER EXTENSION UPDATE and the
#            login role: what the Kubernetes Job runs
#   wait-db  only waits for the database (exit 0 when ready)
#   anything else is executed as is (e.g. `psql`, `bash`).
#
# Environment (every *_PASSWORD may instead be given as *_PASSWORD_FILE,
# the path of a file holding it, e.g. a Docker or Kubernetes secret):
#   db:      PGDATA, TASKMGMT_DB_NAME (taskmgmt), TASKMGMT_DB_USER (taskmgmt_client_login),
#            TASKMGMT_DB_PASSWORD (required on first start),
#            TASKMGMT_MAILER_USER (taskmgmt_mailer_login), TASKMGMT_MAILER_PASSWORD
#            (optional: creates that login role, a member of taskmgmt_mailer),
#            POSTGRES_PASSWORD (optional; without it the superuser cannot log in
#            over the network), TASKMGMT_PG_SETTINGS (extra postgresql.conf
#            lines, separated by ';')
#   shim, mailer, migrate: DATABASE_URL (libpq URI or key=value string),
#            TASKMGMT_WAIT_TIMEOUT (seconds, default 120)
#   migrate: TASKMGMT_DB_USER/_PASSWORD and TASKMGMT_MAILER_USER/_PASSWORD
#            to create or refresh the login roles
set -euo pipefail

log() { echo "taskmgmt-entrypoint: $*" >&2; }
die() { log "$*"; exit 1; }

# VAR_FILE → VAR, so secrets can come from mounted files.
file_env() {
  local var=$1 file_var="${1}_FILE"
  if [ -n "${!file_var:-}" ]; then
    [ -z "${!var:-}" ] || die "both $var and $file_var are set; use one"
    [ -r "${!file_var}" ] || die "$file_var: cannot read ${!file_var}"
    export "$var"="$(cat "${!file_var}")"
  fi
}
file_env TASKMGMT_DB_PASSWORD
file_env TASKMGMT_MAILER_PASSWORD
file_env POSTGRES_PASSWORD
file_env DATABASE_PASSWORD
# PGPASSWORD lets DATABASE_URL stay free of the password.
[ -n "${DATABASE_PASSWORD:-}" ] && export PGPASSWORD="$DATABASE_PASSWORD"

DB_NAME=${TASKMGMT_DB_NAME:-taskmgmt}
DB_USER=${TASKMGMT_DB_USER:-taskmgmt_client_login}
MAILER_USER=${TASKMGMT_MAILER_USER:-taskmgmt_mailer_login}
SOCK_DIR=${TASKMGMT_SOCKET_DIR:-/tmp/taskmgmt-pg}

# SQL literal / identifier quoting for values coming from the environment.
sql_literal() { printf "'%s'" "${1//\'/\'\'}"; }
sql_ident() { printf '"%s"' "${1//\"/\"\"}"; }

# SQL that creates or refreshes a login role: $1 name, $2 password (may be
# empty: keeps the current one), $3 the NOLOGIN role it becomes a member of.
login_role_sql() {
  local pw_clause=""
  [ -n "$2" ] && pw_clause="PASSWORD $(sql_literal "$2")"
  cat <<SQL
SELECT format('CREATE ROLE %I LOGIN', $(sql_literal "$1"))
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = $(sql_literal "$1")) \gexec
ALTER ROLE $(sql_ident "$1") LOGIN $pw_clause;
GRANT $3 TO $(sql_ident "$1");
ALTER ROLE $(sql_ident "$1") SET search_path = taskmgmt, public;
SQL
}

# Makes sure the extension is at the image's version and the login roles
# exist: the app role (member of taskmgmt_client) and, when
# TASKMGMT_MAILER_PASSWORD is given, the mailer's (member of taskmgmt_mailer).
provision_sql() {
  echo "SET client_min_messages = warning;"
  echo "CREATE EXTENSION IF NOT EXISTS taskmgmt CASCADE;"
  # What an update newly requires (0.2.0: pg_trgm) must exist before it:
  # ALTER EXTENSION UPDATE does not create it.
  echo "CREATE EXTENSION IF NOT EXISTS pg_trgm;"
  echo "ALTER EXTENSION taskmgmt UPDATE;"
  # The scheduled jobs (due-soon, overdue, clean-ups) run under pg_cron,
  # which lives in the database named by cron.database_name.
  cat <<'SQL'
SELECT current_setting('cron.database_name', true) = current_database() AS cron_here \gset
\if :cron_here
CREATE EXTENSION IF NOT EXISTS pg_cron;
SELECT EXISTS (SELECT FROM pg_proc WHERE proname = 'schedule_jobs'
                AND pronamespace = 'taskmgmt'::regnamespace) AS has_jobs \gset
\if :has_jobs
SELECT taskmgmt.schedule_jobs() AS scheduled \gset
\endif
\endif
SQL
  login_role_sql "$DB_USER" "${TASKMGMT_DB_PASSWORD:-}" taskmgmt_client
  if [ -n "${TASKMGMT_MAILER_PASSWORD:-}" ]; then
    login_role_sql "$MAILER_USER" "$TASKMGMT_MAILER_PASSWORD" taskmgmt_mailer
  fi
  echo "SELECT 'taskmgmt ' || extversion FROM pg_extension WHERE extname = 'taskmgmt';"
}

wait_for_db() {  # waits until $DATABASE_URL accepts connections and has the extension
  local url=${DATABASE_URL:?DATABASE_URL is not set}
  local timeout=${TASKMGMT_WAIT_TIMEOUT:-120} start=$SECONDS said=0
  local check="SELECT 1 FROM pg_extension WHERE extname = 'taskmgmt'"
  [ "${1:-}" = any ] && check="SELECT 1"
  while :; do
    if out=$(psql -X -q -At -d "$url" -c "$check" 2>&1) && [ "$out" = 1 ]; then
      log "database ready after $((SECONDS - start))s"
      return 0
    fi
    if [ $((SECONDS - start)) -ge "$timeout" ]; then
      # libpq's message names the host and the reason, never the password
      die "database not ready after ${timeout}s: ${out:-extension taskmgmt not installed}"
    fi
    if [ $((SECONDS - start)) -ge $((said + 10)) ]; then
      said=$((SECONDS - start)); log "waiting for the database (${said}s)..."
    fi
    sleep 1
  done
}

pg_local() { psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK_DIR" -p 5432 -U postgres "$@"; }

init_cluster() {
  [ -n "${TASKMGMT_DB_PASSWORD:-}" ] \
    || die "TASKMGMT_DB_PASSWORD (or TASKMGMT_DB_PASSWORD_FILE) is required to create the database"
  log "creating the cluster in $PGDATA"
  local pwfile; pwfile=$(mktemp)
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  else
    head -c 32 /dev/urandom | base64 > "$pwfile"   # nobody knows it: no network superuser
  fi
  initdb -D "$PGDATA" -U postgres --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
         --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  cat >> "$PGDATA/postgresql.conf" <<CONF

# ---- taskmgmt image defaults (docker/entrypoint.sh)
listen_addresses = '*'
unix_socket_directories = '$SOCK_DIR'
unix_socket_permissions = 0700
password_encryption = 'scram-sha-256'
shared_preload_libraries = 'pg_cron'
cron.database_name = '$DB_NAME'
max_worker_processes = 32
max_connections = 200
# bind parameters (passwords sent by the shim) never reach the log
log_parameter_max_length = 0
log_parameter_max_length_on_error = 0
logging_collector = off
CONF
  # The socket directory is private (0700): only this container's user can
  # use the trusted local connection; everything over TCP needs a password.
  cat > "$PGDATA/pg_hba.conf" <<HBA
local all all                trust
host  all all 0.0.0.0/0      scram-sha-256
host  all all ::/0           scram-sha-256
HBA
}

run_db() {
  [ "$(id -u)" != 0 ] || die "the database must not run as root (run the image as its default user)"
  mkdir -p "$SOCK_DIR" && chmod 0700 "$SOCK_DIR"
  local fresh=0
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA" && chmod 0700 "$PGDATA"
    init_cluster
    fresh=1
  fi
  if [ -n "${TASKMGMT_PG_SETTINGS:-}" ]; then
    # Re-applied on every start (ALTER SYSTEM keeps them in postgresql.auto.conf).
    IFS=';' read -ra extra <<< "$TASKMGMT_PG_SETTINGS"
  else
    extra=()
  fi
  # A private start (no TCP) to create or update the extension before anyone
  # can connect: clients never see a half-provisioned database.
  pg_ctl -D "$PGDATA" -w -t 120 -o "-c listen_addresses=''" -l "$SOCK_DIR/provision.log" start >/dev/null \
    || { cat "$SOCK_DIR/provision.log" >&2; die "could not start PostgreSQL"; }
  {
    for s in "${extra[@]}"; do
      s=$(echo "$s" | sed 's/^ *//; s/ *$//'); [ -n "$s" ] || continue
      name=${s%%=*}; value=${s#*=}
      echo "ALTER SYSTEM SET $(echo "$name" | tr -d ' ') = $(sql_literal "$(echo "$value" | sed "s/^ *//; s/ *$//; s/^'//; s/'\$//")");"
    done
  } | pg_local -d postgres >/dev/null
  if [ "$fresh" = 1 ]; then
    pg_local -d postgres -c "CREATE DATABASE $(sql_ident "$DB_NAME")" >/dev/null
  fi
  provision_sql | pg_local -d "$DB_NAME" -At | sed 's/^/taskmgmt-entrypoint: /' >&2
  pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
  log "starting PostgreSQL"
  exec postgres -D "$PGDATA"
}

role=${1:-db}
case "$role" in
  db)
    shift || true
    run_db "$@" ;;
  shim)
    shift
    command -v taskmgmt-shim >/dev/null || die "this image was built without the shim"
    wait_for_db
    exec taskmgmt-shim "$@" ;;
  mailer)
    shift
    command -v taskmgmt-mailer >/dev/null || die "this image was built without the mailer"
    wait_for_db
    exec taskmgmt-mailer "$@" ;;
  migrate)
    shift
    wait_for_db any
    provision_sql | psql -X -q -v ON_ERROR_STOP=1 -At -d "$DATABASE_URL"
    log "extension and role $DB_USER are up to date" ;;
  wait-db)
    wait_for_db "${2:-}" ;;
  *)
    exec "$@" ;;
esac
