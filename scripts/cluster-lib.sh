# Shared by scripts/pgcluster.sh and scripts/ha.sh (sourced): where a
# private cluster's files live under .run/, and running as the cluster owner.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# PG_CONFIG names the installation (make test uses a private copy, see
# pgcluster.sh private-install); the machine's PostgreSQL 15 otherwise.
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

# The settings every taskmgmt cluster gets (postgresql.conf lines).
taskmgmt_conf() {
  echo "shared_preload_libraries = 'pg_cron'"
  echo "cron.database_name = 'taskmgmt'"
  echo "max_worker_processes = 32"
  # bind parameters may carry passwords: never log them
  echo "log_parameter_max_length = 0"
  echo "log_parameter_max_length_on_error = 0"
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
