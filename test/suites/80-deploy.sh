#!/usr/bin/env bash
# deploy: the container image and docker-compose, really built and run with
# podman.  Builds the base image from Debian's archive when it is missing,
# the image with --pull=never, runs the database and shim containers and
# checks over loopback /readyz and a register → sign-in → create-task round
# trip (HTTP, and SQL as the login role); then the same through
# docker-compose.yml with podman-compose, and that `down` leaves nothing.
suite=deploy
source "$(dirname "$0")/../deploy/lib.sh"
set -uo pipefail

need_containers "container image and compose"

if ! build_image; then
  not_ok "image builds with --pull=never from debian:bookworm-slim"
  finish
fi
ok "image builds with --pull=never from debian:bookworm-slim"

has_shim=0
"$P" run --rm --pull=never --entrypoint sh "$IMAGE" -c 'command -v taskmgmt-shim' >/dev/null 2>&1 && has_shim=1
has_mailer=0
"$P" run --rm --pull=never --entrypoint sh "$IMAGE" -c 'command -v taskmgmt-mailer' >/dev/null 2>&1 && has_mailer=1

# ---- what is (not) in the image
step "image contents"
size=$("$P" image inspect --format '{{.Size}}' "$IMAGE")
echo "# image size: $((size / 1024 / 1024)) MiB"
check "runs as a numeric non-root user" \
  test "$("$P" image inspect --format '{{.Config.User}}' "$IMAGE")" = "10001:10001"
check "runtime stage has no compiler, headers or build tools" \
  "$P" run --rm --pull=never --entrypoint sh "$IMAGE" -c \
  '! command -v gcc && ! command -v cc && ! command -v make && [ ! -e /usr/include/postgresql/15/server ] && [ ! -e /usr/include/openssl ]'
check "no secret baked into the image's environment" \
  bash -c "! '$P' image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' '$IMAGE' | grep -iE 'PASSWORD|SECRET|TOKEN'"
check "extension, pg_cron and the entrypoint are installed" \
  "$P" run --rm --pull=never --entrypoint sh "$IMAGE" -c \
  'test -f /usr/share/postgresql/15/extension/taskmgmt.control && test -f /usr/lib/postgresql/15/lib/taskmgmt.so && test -f /usr/lib/postgresql/15/lib/pg_cron.so && test -x /usr/local/bin/taskmgmt-entrypoint'
if [ -d shim ] && [ -n "$(ls shim/*.mk 2>/dev/null)" ]; then
  check "the shim is in the image (shim/ has build rules)" test "$has_shim" = 1
fi
if [ -d mailer ] && [ -n "$(ls mailer/*.mk 2>/dev/null)" ]; then
  check "the mailer is in the image (mailer/ has build rules)" test "$has_mailer" = 1
fi

# ---- the database role
net=tm-$tag-net
db=tm-$tag-db shim=tm-$tag-shim vol=tm-$tag-data nopw=tm-$tag-nopw
db_port=$(free_port) http_port=$(free_port)
app_pw="app-$RANDOM$RANDOM-pw"
cleanup() {
  "$P" rm -f -v -t 2 "$db" "$shim" "$nopw" >/dev/null 2>&1
  "$P" volume rm -f "$vol" >/dev/null 2>&1
  "$P" network rm -f "$net" >/dev/null 2>&1
}
cleanup
trap cleanup EXIT
"$P" network create "$net" >/dev/null

step "database container without a password"
out=$("$P" run --name "$nopw" --pull=never "$IMAGE" db 2>&1); rc=$?
"$P" rm -f -v "$nopw" >/dev/null 2>&1
if [ $rc -ne 0 ] && echo "$out" | grep -q "TASKMGMT_DB_PASSWORD"; then
  ok "db refuses to initialise without TASKMGMT_DB_PASSWORD, and says so"
else
  not_ok "db refuses to initialise without TASKMGMT_DB_PASSWORD (rc=$rc: $out)"
fi

step "database container on 127.0.0.1:$db_port"
"$P" run -d --name "$db" --network "$net" --network-alias db --pull=never \
  -v "$vol:/var/lib/taskmgmt/data" -e TASKMGMT_DB_PASSWORD="$app_pw" \
  -e TASKMGMT_PG_SETTINGS="work_mem = 8MB; idle_in_transaction_session_timeout='5min'" \
  -p "127.0.0.1:$db_port:5432" "$IMAGE" db >/dev/null
db_ready() { PGPASSWORD=$app_pw psql -X -At -h 127.0.0.1 -p "$db_port" -U taskmgmt_client_login -d taskmgmt -c 'SELECT 1' | grep -qx 1; }
if wait_until 90 db_ready; then
  ok "database initialises and accepts the app role over loopback"
else
  not_ok "database initialises and accepts the app role over loopback"
  "$P" logs "$db" 2>&1 | tail -30
  finish
fi
check "SQL API round trip as taskmgmt_client_login: register, sign_in, create_task, RLS after sign_out" \
  sql_round_trip "$db_port" "$app_pw"
q() { PGPASSWORD=$app_pw psql -X -At -h 127.0.0.1 -p "$db_port" -U taskmgmt_client_login -d taskmgmt -c "$1" 2>&1; }
# the superuser over the container's private socket (TCP would need a password)
qs() { "$P" exec "$db" psql -X -At -h /tmp/taskmgmt-pg -U postgres -d taskmgmt -c "$1" 2>&1; }
check "pg_cron is preloaded and targets the taskmgmt database" \
  test "$(qs "SELECT current_setting('shared_preload_libraries') || ' ' || current_setting('cron.database_name')")" = "pg_cron taskmgmt"
check "the pg_cron scheduler is running" \
  test "$(qs "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'")" = 1
check "the scheduled jobs are installed in pg_cron" \
  test "$(qs "SELECT count(*) >= 4 FROM cron.job WHERE jobname LIKE 'taskmgmt-%'")" = t
check "the extension is at the control file's version" \
  test "$(q "SELECT extversion FROM pg_extension WHERE extname = 'taskmgmt'")" = \
       "$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" taskmgmt.control)"
check "TASKMGMT_PG_SETTINGS reach postgresql.auto.conf" \
  test "$(q "SELECT current_setting('work_mem') || ' ' || current_setting('idle_in_transaction_session_timeout')")" = "8MB 5min"
check "bind parameters never reach the server log" \
  test "$(q "SELECT current_setting('log_parameter_max_length') || current_setting('log_parameter_max_length_on_error')")" = "00"
check "a wrong password is refused over TCP" \
  bash -c "! PGPASSWORD=wrong psql -X -h 127.0.0.1 -p $db_port -U taskmgmt_client_login -d taskmgmt -c 'SELECT 1' 2>/dev/null"
check "the superuser cannot log in over TCP without POSTGRES_PASSWORD" \
  bash -c "! PGPASSWORD=postgres psql -X -h 127.0.0.1 -p $db_port -U postgres -d taskmgmt -c 'SELECT 1' 2>/dev/null"
check "the postgres server runs as uid 10001, not root" \
  test "$("$P" exec "$db" sh -c 'stat -c %u /proc/1')" = 10001

step "restart keeps the data (volume) and re-runs the extension update"
"$P" restart -t 10 "$db" >/dev/null
if wait_until 60 db_ready && [ "$(qs "SELECT count(*) FROM taskmgmt.users WHERE email LIKE 'deploy-%'")" -ge 1 ] 2>/dev/null; then
  ok "data survives a restart of the db container"
else
  not_ok "data survives a restart of the db container ($(qs "SELECT count(*) FROM taskmgmt.users"))"
fi
check "the restart brought the extension up to date before accepting connections" \
  bash -c "'$P' logs '$db' 2>&1 | grep -c 'taskmgmt-entrypoint: taskmgmt ' | grep -qx 2"

# ---- the shim role
if [ "$has_shim" = 1 ]; then
  step "shim container on 127.0.0.1:$http_port"
  "$P" run -d --name "$shim" --network "$net" --pull=never \
    -e DATABASE_URL="host=db port=5432 dbname=taskmgmt user=taskmgmt_client_login" \
    -e DATABASE_PASSWORD="$app_pw" -p "127.0.0.1:$http_port:8080" "$IMAGE" shim >/dev/null
  if wait_until 60 curl -sf "http://127.0.0.1:$http_port/readyz"; then
    ok "shim answers /readyz over loopback"
  else
    not_ok "shim answers /readyz over loopback"
    "$P" logs "$shim" 2>&1 | tail -30
  fi
  check "shim /healthz" curl -sf -o /dev/null "http://127.0.0.1:$http_port/healthz"
  check "shim serves the web UI at / (the React build: script, styles, icon)" \
    bash -c "curl -sf 'http://127.0.0.1:$http_port/' | grep -q '<title>taskmgmt</title>' && curl -sf 'http://127.0.0.1:$http_port/app.js' | grep -q 'api/v1/notifications/ws' \
             && curl -sf -o /dev/null 'http://127.0.0.1:$http_port/app.css' && curl -sf -o /dev/null 'http://127.0.0.1:$http_port/favicon.svg'"
  check "shim serves /openapi.json and the /docs page with its script" \
    bash -c "curl -sf 'http://127.0.0.1:$http_port/openapi.json' | jq -e .openapi >/dev/null && curl -sf -o /dev/null 'http://127.0.0.1:$http_port/docs' && curl -sf -o /dev/null 'http://127.0.0.1:$http_port/docs/redoc.standalone.js'"
  check "HTTP round trip: register → token → create task → get task" \
    http_round_trip "http://127.0.0.1:$http_port"
  check "shim runs as uid 10001" \
    test "$("$P" exec "$shim" sh -c 'stat -c %u /proc/1')" = 10001
  step "shim while the database is down, then back"
  "$P" stop -t 10 "$db" >/dev/null
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/readyz")
  check "/readyz says 503 while the database is down (got $code)" test "$code" = 503
  "$P" start "$db" >/dev/null
  check "shim recovers by itself when the database is back" \
    wait_until 60 curl -sf "http://127.0.0.1:$http_port/readyz"
else
  skip "shim container: the image has no taskmgmt-shim (shim/ not built in this tree)"
fi
cleanup

# ---- docker-compose.yml with podman-compose
step "docker-compose.yml: up -d --build"
project=tm-$tag-compose
export TASKMGMT_IMAGE=$IMAGE TASKMGMT_HTTP_PORT=$(free_port) TASKMGMT_DB_PORT=$(free_port)
export TASKMGMT_SMTP_UI_PORT=$(free_port)
export TASKMGMT_DB_PASSWORD="compose-$RANDOM$RANDOM" TASKMGMT_MAILER_PASSWORD="mailer-$RANDOM$RANDOM"
compose() { CONTAINERS_CONF=$root/deploy/containers.conf podman-compose -p "$project" -f docker-compose.yml "$@"; }
compose_cleanup() {
  compose down -v >/dev/null 2>&1
  "$P" network rm -f "${project}_default" >/dev/null 2>&1   # podman-compose 1.0.3 keeps it
}
compose_running() { "$P" ps -a --filter "label=io.podman.compose.project=$project" --format '{{.Names}}'; }
trap 'compose_cleanup; cleanup' EXIT
compose_cleanup
if compose up -d --build > "$root/.run/deploy-compose.log" 2>&1; then
  ok "podman-compose up -d --build"
else
  not_ok "podman-compose up -d --build"
  tail -30 "$root/.run/deploy-compose.log"
fi
echo "# running: $(compose_running | tr '\n' ' ')"
db_port=$TASKMGMT_DB_PORT app_pw=$TASKMGMT_DB_PASSWORD
if wait_until 90 db_ready; then
  ok "compose: database reachable on 127.0.0.1:$db_port"
  check "compose: SQL round trip as taskmgmt_client_login" sql_round_trip "$db_port" "$app_pw"
else
  not_ok "compose: database reachable on 127.0.0.1:$db_port"
  compose logs db 2>&1 | tail -30
fi
if [ "$has_shim" = 1 ]; then
  base="http://127.0.0.1:$TASKMGMT_HTTP_PORT"
  check "compose: shim /readyz through the published port" wait_until 90 curl -sf "$base/readyz"
  check "compose: HTTP round trip through the published port" http_round_trip "$base"
  # The UI served by the shim container opens its websocket (same origin)
  # and updates live, in a real browser.
  if msg=$(test/web/install.sh 2>&1); then
    check "compose: the web UI updates live across two browsers (Chromium, websocket not refused)" \
      bash -c "BASE_URL='$base' node --test --test-reporter=tap test/web/live.test.mjs > '$root/.run/deploy-compose-live.out' 2>&1 \
               || { grep -vE '^\s*(duration_ms|\.\.\.|---)' '$root/.run/deploy-compose-live.out' | tail -30; exit 1; }"
  else
    not_ok "compose: the web UI updates live across two browsers ($msg)"
  fi
fi
if [ "$has_mailer" = 1 ]; then
  check "compose: the mailer is running" \
    bash -c "'$P' ps --filter label=io.podman.compose.project=$project --format '{{.Names}} {{.Status}}' | grep -qE 'mailer.* Up'"
  if rcpt=$(sql_assign_for_mail "$db_port" "$app_pw"); then
    mail_arrived() { curl -sf "http://127.0.0.1:$TASKMGMT_SMTP_UI_PORT/messages" | jq -e --arg to "$rcpt" 'any(.[]; .to == $to)'; }
    check "compose: an assignment email goes db → mailer → SMTP sink" wait_until 60 mail_arrived
  else
    not_ok "compose: an assignment email goes db → mailer → SMTP sink (could not assign)"
  fi
fi
check "compose: the SMTP sink is running" \
  bash -c "'$P' ps --filter label=io.podman.compose.project=$project --format '{{.Names}} {{.Status}}' | grep -qE 'smtp.* Up'"
check "compose: published ports are bound to 127.0.0.1 only" \
  bash -c "'$P' ps --filter label=io.podman.compose.project=$project --format '{{.Ports}}' | tr ',' '\n' | grep -- '->' | grep -v '^ *127\.0\.0\.1:' | grep -q . && exit 1 || exit 0"
step "docker-compose.yml: down"
compose down -v > "$root/.run/deploy-compose-down.log" 2>&1
left=$(compose_running)
check "compose: down leaves no container running or stopped (left: ${left:-none})" test -z "$left"
left_vol=$("$P" volume ls --filter "label=io.podman.compose.project=$project" --format '{{.Name}}')
check "compose: down -v removes its volumes (left: ${left_vol:-none})" test -z "$left_vol"
trap cleanup EXIT

finish
