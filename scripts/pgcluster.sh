#!/usr/bin/env bash
# Manages a private PostgreSQL 15 cluster under the project folder (.run/NAME).
#   pgcluster.sh start NAME PORT [CONF_LINE...]   create if needed, then start
#   pgcluster.sh stop NAME                         stop (fast) if running
#   pgcluster.sh destroy NAME                      stop and remove
#   pgcluster.sh as-owner CMD...                   run CMD as the cluster owner
#   pgcluster.sh private-install                   copy PostgreSQL's installation; prints its pg_config
# PGCLUSTER_LOGIN_ROLES (see write_auth) locks the cluster down for make run.
# PostgreSQL refuses to run as root, so as root the cluster belongs to 'postgres'.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# PG_CONFIG names the installation (make test uses a private copy, see
# private-install); the machine's PostgreSQL 15 otherwise.
bindir=$(${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config} --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The cluster directory must be reachable by its owner. When the project sits
# somewhere 'postgres' cannot enter (e.g. under /root), keep the files in /tmp
# and leave a symlink under .run so everything is still found in one place.
cluster_dir() {
  local name=$1 dir="$root/.run/$1"
  mkdir -p "$root/.run"
  if [ ! -e "$dir" ]; then
    if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$root/.run"; then
      local alt="/tmp/taskmgmt-$(echo "$root" | md5sum | cut -c1-8)/$name"
      mkdir -p "$alt"
      ln -sfn "$alt" "$dir"
    else
      mkdir -p "$dir"
    fi
  fi
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$(readlink -f "$dir")"
  readlink -f "$dir"
}

# With PGCLUSTER_LOGIN_ROLES="role ..." (make run's cluster) nobody else on the
# machine gets in: on the socket, peer authentication maps the cluster's
# owner to postgres and the person running make run to those login roles
# only; on TCP every role needs its scram-sha-256 password.  Rewritten at
# every start, so a cluster made before this rule gets it too.  The test
# cluster keeps trust: it lives for one run, and tests switch roles freely.
write_auth() {
  local data=$1 owner operator=${SUDO_USER:-$(id -un)} role
  owner=$(stat -c %U "$data")
  {
    echo "# written by scripts/pgcluster.sh: peer on the socket (map taskmgmt), passwords on TCP"
    echo "local  all  all                 peer map=taskmgmt"
    echo "host   all  all  127.0.0.1/32   scram-sha-256"
    echo "host   all  all  ::1/128        scram-sha-256"
  } | as_owner tee "$data/pg_hba.conf" >/dev/null
  {
    echo "# written by scripts/pgcluster.sh: OS user -> database roles it may use over the socket"
    echo "taskmgmt  $owner  postgres"
    for role in $PGCLUSTER_LOGIN_ROLES; do echo "taskmgmt  $operator  $role"; done
  } | as_owner tee "$data/pg_ident.conf" >/dev/null
}

cmd=${1:-}; shift || true
case "$cmd" in
  start)
    name=$1 port=$2; shift 2
    dir=$(cluster_dir "$name")
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      echo "pgcluster: creating cluster '$name' in $dir/data"
      as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
        --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; exit 1; }
      {
        echo "# --- taskmgmt private cluster ---"
        echo "port = $port"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$dir'"
        echo "shared_preload_libraries = 'pg_cron'"
        echo "cron.database_name = 'taskmgmt'"
        echo "max_worker_processes = 32"
        # bind parameters may carry passwords: never log them
        echo "log_parameter_max_length = 0"
        echo "log_parameter_max_length_on_error = 0"
        for line in "$@"; do echo "$line"; done
      } | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
    fi
    [ -n "${PGCLUSTER_LOGIN_ROLES:-}" ] && write_auth "$dir/data"
    if as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      [ -n "${PGCLUSTER_LOGIN_ROLES:-}" ] && as_owner "$bindir/pg_ctl" -D "$dir/data" reload >/dev/null
      echo "pgcluster: '$name' already running on port $port"
    else
      as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null \
        || { tail -20 "$dir/postgres.log"; exit 1; }
      echo "pgcluster: '$name' running on port $port (socket dir $dir)"
    fi
    ;;
  stop|destroy)
    name=$1 dir="$root/.run/$1"
    if [ -f "$dir/data/PG_VERSION" ] && as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
      echo "pgcluster: '$name' stopped"
    fi
    if [ "$cmd" = destroy ] && [ -e "$dir" ]; then
      rm -rf "$(readlink -f "$dir")" "$dir"
    fi
    ;;
  as-owner)
    as_owner "$@"
    ;;
  private-install)
    # A copy of the machine's PostgreSQL 15 installation under .run/ (binaries,
    # share/, headers; PostgreSQL finds them relative to its binaries), brought
    # up to date with the machine's on every call.  `make install` with its
    # pg_config installs the extension there: test runs of several checkouts,
    # and the machine's own `make run`, never load each other's extension.
    # Prints the copy's pg_config.
    dir=$(cluster_dir pg-install)
    for d in /usr/lib/postgresql/15 /usr/share/postgresql/15 /usr/include/postgresql; do
      [ -d "$d" ] || { echo "pgcluster: $d is missing (scripts/deps.sh installs it)" >&2; exit 1; }
      mkdir -p "$dir$(dirname "$d")"
      cp -a -u "$d" "$dir$(dirname "$d")/"
    done
    echo "$dir/usr/lib/postgresql/15/bin/pg_config"
    ;;
  *)
    sed -n '2,8p' "$0"; exit 2 ;;
esac
