#!/usr/bin/env bash
# High availability on one machine with pg_auto_failover (Debian's
# postgresql-15-auto-failover and pg-auto-failover-cli): a monitor, a primary
# and a secondary with synchronous replication, each a PostgreSQL 15 on its
# own loopback port, all under .run/NAME/ (doc/operations.md, "High
# availability").
#   ha.sh start NAME MONITOR_PORT PORT1 PORT2   create what is missing, start, wait for primary + secondary
#   ha.sh stop NAME                              stop the keepers and their PostgreSQL
#   ha.sh destroy NAME                           stop and remove
#   ha.sh state NAME                             pg_autoctl show state
#   ha.sh url NAME                               the multi-host connection string for clients
#   ha.sh primary NAME                           node1 or node2: which one is primary now
#   ha.sh crash NAME NODE                        kill -9 the node's keeper and PostgreSQL (a machine crash)
#   ha.sh rejoin NAME NODE                       start the node's keeper again: it comes back as a secondary
#   ha.sh wait NAME PRIMARY SECONDARY [SECONDS]  until those nodes are primary and secondary
#   ha.sh psql NAME NODE ARGS...                 psql as postgres on that node's socket
# Each node is pg_autoctl's keeper ("pg_autoctl run"), which starts and
# supervises its PostgreSQL; the monitor decides failovers.  Authentication
# is make run's: peer on the shared socket directory, scram-sha-256 on TCP,
# pg_auto_failover's own roles with random passwords kept in a passfile.
set -euo pipefail
source "$(dirname "$0")/cluster-lib.sh"
export PGCLUSTER_LOGIN_ROLES=${PGCLUSTER_LOGIN_ROLES:-taskmgmt_client_login taskmgmt_mailer_login}

cmd=${1:-}; name=${2:-}
[ -n "$cmd" ] && [ -n "$name" ] || { sed -n '2,18p' "$0"; exit 2; }
dir="$root/.run/$name"

# pg_autoctl keeps its configuration and state under XDG directories: the
# layout's own, so that nothing lands in the postgres user's home.
ha_env() {
  local d
  d=$(readlink -f "$dir")
  echo "XDG_CONFIG_HOME=$d/xdg/config XDG_DATA_HOME=$d/xdg/share XDG_RUNTIME_DIR=$d/xdg/run"
  # pg_autoctl finds pg_ctl (and so the installation) through PG_CONFIG
  echo "PGHOST=$d PGPASSFILE=$d/pgpass PATH=$bindir:/usr/bin:/bin PG_CONFIG=$bindir/pg_config"
}
autoctl() { as_owner env $(ha_env) pg_autoctl "$@"; }
ports() { cat "$dir/ports"; }   # monitor node1 node2
port_of() {
  local m p1 p2; read -r m p1 p2 < "$dir/ports"
  case $1 in monitor) echo "$m" ;; node1) echo "$p1" ;; node2) echo "$p2" ;; *) return 1 ;; esac
}
node_psql() {  # node, psql args: as postgres over the socket
  local node=$1; shift
  as_owner "$bindir/psql" -X -q -h "$(readlink -f "$dir")" -p "$(port_of "$node")" -U postgres "$@"
}

# Runs the node's keeper in the background, in its own process group (so
# that crash can kill it with its PostgreSQL in one go).
run_keeper() {
  local node=$1 d
  d=$(readlink -f "$dir")
  # ( ... & ): nothing of ours waits for it or keeps its caller's output open
  ( as_owner env $(ha_env) setsid pg_autoctl run --pgdata "$d/$node" >> "$d/$node.log" 2>&1 < /dev/null & )
  # setsid forks when it leads a group already; the keeper is found by its pgdata
  local pid=""
  for _ in $(seq 50); do
    pid=$(pgrep -f -x "pg_autoctl run --pgdata $d/$node" | head -1 || true)
    [ -n "$pid" ] && break; sleep 0.1
  done
  [ -n "$pid" ] || { echo "ha: the keeper of $node did not start" >&2; tail -20 "$d/$node.log" >&2; return 1; }
  echo "$pid" > "$d/$node.pid"
}
keeper_running() {
  local pid
  pid=$(cat "$dir/$1.pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null
}

# The node's state as the monitor sees it ("primary", "secondary", ...).
state_of() {
  as_owner "$bindir/psql" -X -At -h "$(readlink -f "$dir")" -p "$(port_of monitor)" -U postgres \
    -d pg_auto_failover -c "SELECT reportedstate || '/' || goalstate FROM pgautofailover.node WHERE nodename = '$1'" 2>/dev/null
}
wait_states() {  # primary secondary seconds
  local want1=$1 want2=$2 secs=${3:-120} i
  for ((i = 0; i < secs * 5; i++)); do
    if [ "$(state_of "$want1")" = primary/primary ] && [ "$(state_of "$want2")" = secondary/secondary ]; then
      return 0
    fi
    sleep 0.2
  done
  echo "ha: $want1 is not primary and $want2 secondary after ${secs}s" >&2
  autoctl show state --pgdata "$(readlink -f "$dir")/monitor" >&2 || true
  return 1
}

# A random password for each of pg_auto_failover's roles, in the passfile
# that the keepers and their PostgreSQL (walreceiver, health checks) read.
passwords() {
  local d=$1
  if [ ! -s "$d/pgpass" ]; then
    local role
    for role in autoctl_node pgautofailover_replicator pgautofailover_monitor; do
      printf '*:*:*:%s:%s\n' "$role" "$(openssl rand -hex 16)"
    done | as_owner tee "$d/pgpass" >/dev/null
    as_owner chmod 600 "$d/pgpass"
  fi
}
password_of() { awk -F: -v r="$1" '$4 == r { print $5 }' "$dir/pgpass"; }

init_pgdata() {  # node: initdb, then the project's settings and authentication
  local node=$1 d
  d=$(readlink -f "$dir")
  as_owner "$bindir/initdb" -D "$d/$node" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    > "$d/$node-initdb.log" 2>&1 || { cat "$d/$node-initdb.log" >&2; return 1; }
  # pg_autoctl includes its own file at the top of postgresql.conf, so these
  # lines win; the monitor keeps pg_auto_failover's preload, the nodes add
  # pg_cron to the pg_stat_statements that pg_autoctl preloads.
  {
    echo "# --- taskmgmt HA layout (scripts/ha.sh) ---"
    echo "unix_socket_directories = '$d'"
    if [ "$node" != monitor ]; then
      taskmgmt_conf | sed "s/^shared_preload_libraries = .*/shared_preload_libraries = 'pg_cron,pg_stat_statements'/"
    fi
  } | as_owner tee -a "$d/$node/postgresql.conf" >/dev/null
  write_auth "$d/$node"
  # replication connections (pg_basebackup, the standby's walreceiver)
  printf '%s\n' "host   replication  all  127.0.0.1/32  scram-sha-256" | as_owner tee -a "$d/$node/pg_hba.conf" >/dev/null
  # the keepers run as the cluster owner and use pg_auto_failover's roles on the socket
  local owner; owner=$(stat -c %U "$d/$node")
  printf 'taskmgmt  %s  %s\n' "$owner" autoctl_node "$owner" pgautofailover_monitor "$owner" pgautofailover_replicator |
    as_owner tee -a "$d/$node/pg_ident.conf" >/dev/null
}

# pg_autoctl create postgres: the first node becomes the primary, the next
# one a secondary made by pg_basebackup from it.
create_node() {  # node port monitor_url
  local node=$1 port=$2 url=$3 d
  d=$(readlink -f "$dir")
  autoctl create postgres --pgdata "$d/$node" --pgport "$port" --hostname 127.0.0.1 --listen 127.0.0.1 \
    --name "$node" --dbname taskmgmt --auth scram-sha-256 --no-ssl --monitor "$url" \
    > "$d/$node-create.log" 2>&1 || { tail -20 "$d/$node-create.log" >&2; return 1; }
  [ "${HA_DEFAULTS:-0}" = 1 ] || \
    autoctl config set --pgdata "$d/$node" timeout.network_partition_timeout "$KEEPER_NETWORK_PARTITION_TIMEOUT" >/dev/null
  # pg_autoctl lets its monitor's health checks in without a password; they
  # have one (the passfile), so nobody else on the machine gets in as that role
  as_owner sed -i 's/^\(host all "pgautofailover_monitor" .*\) trust /\1 scram-sha-256 /' "$d/$node/pg_hba.conf"
  run_keeper "$node"
}

# The monitor's failure detection.  pg_auto_failover's defaults take about
# 50 s from a crash to a new primary: a node is unhealthy 20 s after its last
# report, then the monitor waits 30 s for the old primary to demote itself.
# These take about 10 s: they are safe on one machine or a LAN, where a
# health check answering within a second is normal (see doc/operations.md).
MONITOR_TUNING=(
  "pgautofailover.health_check_period = 1000"
  "pgautofailover.health_check_timeout = 1000"
  "pgautofailover.health_check_max_retries = 1"
  "pgautofailover.health_check_retry_delay = 500"
  "pgautofailover.node_considered_unhealthy_timeout = 3000"
  "pgautofailover.primary_demote_timeout = 5000"
)
# The keeper's side of the same bargain: a primary that can reach neither
# the monitor nor its standby demotes itself after this many seconds, which
# must stay below the monitor's primary_demote_timeout (no two primaries).
KEEPER_NETWORK_PARTITION_TIMEOUT=3

create() {
  local m=$1 p1=$2 p2=$3 d
  d=$(cluster_dir "$name")
  echo "$m $p1 $p2" > "$d/ports"
  as_owner mkdir -p "$d/xdg/config" "$d/xdg/share" "$d/xdg/run"
  as_owner chmod 700 "$d/xdg/run"
  passwords "$d"

  echo "ha: creating the monitor on port $m"
  init_pgdata monitor
  if [ "${HA_DEFAULTS:-0}" != 1 ]; then
    printf '%s\n' "${MONITOR_TUNING[@]}" | as_owner tee -a "$d/monitor/postgresql.conf" >/dev/null
  fi
  autoctl create monitor --pgdata "$d/monitor" --pgport "$m" --hostname 127.0.0.1 --listen 127.0.0.1 \
    --auth scram-sha-256 --no-ssl > "$d/monitor-create.log" 2>&1 || { tail -20 "$d/monitor-create.log" >&2; return 1; }
  run_keeper monitor
  local i
  for i in $(seq 100); do node_psql monitor -d pg_auto_failover -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
  echo "ALTER ROLE autoctl_node PASSWORD :'pw'" |
    node_psql monitor -d postgres -v ON_ERROR_STOP=1 -v pw="$(password_of autoctl_node)" >/dev/null
  local monitor_url="postgres://autoctl_node@127.0.0.1:$m/pg_auto_failover?sslmode=disable"

  echo "ha: creating node1 (the first primary) on port $p1"
  init_pgdata node1
  create_node node1 "$p1" "$monitor_url"
  for i in $(seq 300); do
    [ "$(state_of node1)" = single/single ] && node_psql node1 -d postgres -c 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.2
  done
  # the roles the secondary (replication) and the monitor (health checks) use
  printf '%s\n' "ALTER ROLE pgautofailover_replicator PASSWORD :'r';" "ALTER ROLE pgautofailover_monitor PASSWORD :'m';" |
    node_psql node1 -d postgres -v ON_ERROR_STOP=1 -v r="$(password_of pgautofailover_replicator)" \
      -v m="$(password_of pgautofailover_monitor)" >/dev/null

  echo "ha: creating node2 (a secondary, from a base backup of node1) on port $p2"
  create_node node2 "$p2" "$monitor_url"
  wait_states node1 node2 120
}

case "$cmd" in
  start)
    [ $# -eq 5 ] || { echo "usage: ha.sh start NAME MONITOR_PORT PORT1 PORT2" >&2; exit 2; }
    if [ ! -f "$dir/ports" ] || [ ! -f "$dir/node2/PG_VERSION" ]; then
      rm -rf "$(readlink -f "$dir" 2>/dev/null || echo "$dir")" "$dir"
      create "$3" "$4" "$5"
    else
      for node in monitor node1 node2; do keeper_running "$node" || run_keeper "$node"; done
      primary=$("$0" primary "$name" 2>/dev/null || echo node1)
      other=node2; [ "$primary" = node2 ] && other=node1
      wait_states "$primary" "$other" 120
    fi
    echo "ha: '$name' running: monitor $(port_of monitor), node1 $(port_of node1), node2 $(port_of node2) (socket dir $(readlink -f "$dir"))"
    ;;
  stop|destroy)
    if [ -f "$dir/ports" ]; then
      for node in node2 node1 monitor; do
        if keeper_running "$node"; then
          pid=$(cat "$dir/$node.pid")
          kill -TERM "$pid" 2>/dev/null || true
          for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        fi
        # a PostgreSQL left behind by a crashed keeper
        if [ -f "$dir/$node/postmaster.pid" ]; then
          as_owner "$bindir/pg_ctl" -D "$(readlink -f "$dir")/$node" -m fast -w stop >/dev/null 2>&1 || true
        fi
      done
      echo "ha: '$name' stopped"
    fi
    if [ "$cmd" = destroy ] && [ -e "$dir" ]; then
      rm -rf "$(readlink -f "$dir")" "$dir"
    fi
    ;;
  state)
    autoctl show state --pgdata "$(readlink -f "$dir")/monitor"
    ;;
  url)
    d=$(readlink -f "$dir")
    echo "host=$d,$d port=$(port_of node1),$(port_of node2) dbname=taskmgmt target_session_attrs=read-write"
    ;;
  primary)
    for node in node1 node2; do
      # by the monitor's goal: a crashed primary still reports "primary"
      case "$(state_of "$node")" in */primary|*/single|*/wait_primary) echo "$node"; exit 0 ;; esac
    done
    exit 1
    ;;
  crash)
    node=$3
    pid=$(cat "$dir/$node.pid")
    kill -KILL -- "-$pid"
    ;;
  rejoin)
    node=$3
    keeper_running "$node" && { echo "ha: $node is running" >&2; exit 1; }
    # the crashed PostgreSQL left its postmaster.pid; the keeper starts it again
    run_keeper "$node"
    ;;
  wait)
    wait_states "$3" "$4" "${5:-120}"
    ;;
  psql)
    node=$3; shift 3
    node_psql "$node" "$@"
    ;;
  *)
    sed -n '2,18p' "$0"; exit 2 ;;
esac
