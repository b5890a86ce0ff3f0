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

source "$(dirname "$0")/cluster-lib.sh"

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
        taskmgmt_conf
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
      # --remove-destination: a newer file replaces the old one's name, never its
      # contents, so a server running from this copy keeps the library it mapped
      # (writing into it in place crashed such a server's backends).  The
      # machine's taskmgmt files may come along (make run installs there):
      # `make install` replaces them with this checkout's right after.
      cp -a -u --remove-destination "$d" "$dir$(dirname "$d")/"
    done
    echo "$dir/usr/lib/postgresql/15/bin/pg_config"
    ;;
  *)
    sed -n '2,8p' "$0"; exit 2 ;;
esac
