# Shared helpers of the deploy suites (test/suites/8*-deploy*.sh).
# Sourced; expects $suite set to the suite's name.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
passed=0 failed=0 skipped=0
P="$root/deploy/podman.sh"
# Names of containers, networks, volumes and compose projects carry the test
# cluster's name, so two test runs on one machine do not collide.
tag=$(echo "${TEST_CLUSTER:-test}" | tr -c 'a-z0-9\n' '-')
# A free TCP port on loopback (asked of the kernel: fixed numbers collide
# with whatever else runs on the machine).
free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ok()      { passed=$((passed + 1)); echo "ok $((passed + failed)) - $*"; }
not_ok()  { failed=$((failed + 1)); echo "not ok $((passed + failed)) - $*"; }
skip()    { skipped=$((skipped + 1)); echo "skip - $*"; }
check()   { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
step()    { echo "# $(date +%H:%M:%S) $*"; }
finish()  {
  if [ "$skipped" -gt 0 ]; then
    echo "$suite: $passed passed, $failed failed, $skipped skipped"
  else
    echo "$suite: $passed passed, $failed failed"
  fi
  [ "$failed" -eq 0 ]
  exit
}

# Makes sure podman and friends are installed and can run a container here.
# Returns 1 (after saying why) when this machine cannot run containers, 2
# when it can but the base image could not be made.
container_tools() {
  if ! deploy/tools.sh; then
    echo "# container tools cannot be installed on this machine"
    return 1
  fi
  local out
  if ! out=$("$P" info 2>&1 >/dev/null); then
    echo "# podman does not work on this machine: $(echo "$out" | tail -2 | tr '\n' ' ')"
    return 1
  fi
  if ! deploy/base-image.sh; then
    echo "# the base image could not be built from Debian's archive"
    return 2
  fi
  if ! out=$("$P" run --rm --pull=never --network=none docker.io/library/debian:bookworm-slim true 2>&1); then
    echo "# podman cannot run containers on this machine: $out"
    return 1
  fi
  return 0
}
# container_tools, then: skip (and finish) when this machine cannot run
# containers at all, fail when it can but the base image could not be made.
need_containers() {
  container_tools
  case $? in
    0) return 0 ;;
    1) skip "$1: this machine cannot run containers (reason above)"; finish ;;
    *) not_ok "$1: base image debian:bookworm-slim"; finish ;;
  esac
}

# Builds the image once per test run (layers are cached between runs).
IMAGE=${DEPLOY_TEST_IMAGE:-localhost/taskmgmt:$tag}
build_image() {
  local log="$root/.run/deploy-build.log" start=$SECONDS
  mkdir -p "$root/.run"
  if [ -f shim/shim.mk ] && ! make --no-print-directory -s shim-docs > "$log" 2>&1; then
    echo "# make shim-docs (Redoc from npm, for /docs) failed:"; tail -5 "$log"
  fi
  # the UI is built on the host too (npm, Vite); the image copies web/dist
  if [ -f web/web.mk ] && ! make --no-print-directory -s web >> "$log" 2>&1; then
    echo "# make web (the UI, from npm) failed:"; tail -5 "$log"
  fi
  step "building $IMAGE (log: .run/deploy-build.log)"
  if "$P" build --pull=never --layers -t "$IMAGE" -f Dockerfile . >> "$log" 2>&1; then
    step "image built in $((SECONDS - start))s"
    # every rebuild leaves the previous image untagged: drop those older than
    # a day so container storage stays bounded (recent ones keep the cache)
    "$P" image prune -f --filter until=24h >/dev/null 2>&1
    return 0
  fi
  tail -40 "$log"
  return 1
}

# Waits until a command succeeds, at most $1 seconds.
wait_until() {
  local timeout=$1; shift
  local start=$SECONDS
  until "$@" >/dev/null 2>&1; do
    [ $((SECONDS - start)) -ge "$timeout" ] && return 1
    sleep 1
  done
}

# HTTP round trip against a shim at $1 (base URL): register → token →
# create task → read it back.  Prints what failed.
http_round_trip() {
  local base=$1 email="deploy-$RANDOM-$$@example.com" pw="correct horse battery staple"
  local out code token id
  code=$(curl -s -o /tmp/deploy-$$.out -w '%{http_code}' -X POST "$base/api/v1/auth/register" \
    -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$pw\",\"display_name\":\"Deploy Test\"}")
  [ "$code" = 201 ] || { echo "# register: HTTP $code $(cat /tmp/deploy-$$.out)"; return 1; }
  code=$(curl -s -o /tmp/deploy-$$.out -w '%{http_code}' -X POST "$base/api/v1/auth/token" \
    -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-urlencode grant_type=password --data-urlencode "username=$email" --data-urlencode "password=$pw")
  [ "$code" = 200 ] || { echo "# token: HTTP $code $(cat /tmp/deploy-$$.out)"; return 1; }
  token=$(jq -r .access_token /tmp/deploy-$$.out)
  [ -n "$token" ] && [ "$token" != null ] || { echo "# token: no access_token"; return 1; }
  code=$(curl -s -o /tmp/deploy-$$.out -w '%{http_code}' -X POST "$base/api/v1/tasks" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"title":"Deployed and working","priority":"high"}')
  [ "$code" = 201 ] || { echo "# create task: HTTP $code $(cat /tmp/deploy-$$.out)"; return 1; }
  id=$(jq -r .id /tmp/deploy-$$.out)
  code=$(curl -s -o /tmp/deploy-$$.out -w '%{http_code}' "$base/api/v1/tasks/$id" -H "Authorization: Bearer $token")
  out=$(jq -r .title /tmp/deploy-$$.out 2>/dev/null)
  rm -f /tmp/deploy-$$.out
  [ "$code" = 200 ] && [ "$out" = "Deployed and working" ] || { echo "# get task: HTTP $code title=$out"; return 1; }
}

# The same round trip through the SQL API, as the login role over TCP.
# $1 port, $2 password of taskmgmt_client_login.
sql_round_trip() {
  local port=$1 pw=$2 email="deploy-$RANDOM-$$@example.com" out
  out=$(PGPASSWORD=$pw psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U taskmgmt_client_login -d taskmgmt <<SQL 2>&1
SELECT register('$email', 'correct horse battery staple', 'Deploy Test') IS NOT NULL;
SELECT sign_in('$email', 'correct horse battery staple') ? 'access_token';
SELECT create_task('{"title": "Deployed and working", "priority": "high"}') ->> 'title';
SELECT count(*) FROM tasks;
SELECT sign_out();
SELECT count(*) FROM tasks;
SQL
)
  [ "$(echo "$out" | tr '\n' '|')" = "t|t|Deployed and working|1||0|" ] || { echo "# sql round trip: $out"; return 1; }
}

# Makes an email happen: A assigns a task to B (a member of A's team), which
# queues an "assigned" email to B.  $1 port, $2 app password.  Prints B's address.
sql_assign_for_mail() {
  local port=$1 pw=$2 a="lead-$RANDOM-$$@example.com" b="member-$RANDOM-$$@example.com"
  PGPASSWORD=$pw psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U taskmgmt_client_login -d taskmgmt >/dev/null <<SQL || return 1
SELECT register('$a', 'correct horse battery staple', 'Lead');
SELECT register('$b', 'correct horse battery staple', 'Member') ->> 'id' AS b_id \gset
SELECT sign_in('$a', 'correct horse battery staple');
SELECT create_team('Deployers') ->> 'id' AS team_id \gset
SELECT add_team_member(:team_id, :b_id, 'member');
SELECT create_task(jsonb_build_object('title', 'Mail me', 'team_id', :team_id,
                   'assignee', jsonb_build_object('type', 'user', 'id', :b_id)));
SQL
  echo "$b"
}
