#!/usr/bin/env bash
# Notifications and email figures (prints them; asserts nothing):
# 1. task updates by 8 clients for 10 s each, with the notification trigger
#    off (baseline), each update notifying a different user, and every update
#    notifying the same user (commits serialise on that user's lock, and on
#    NOTIFY's own queue lock);
# 2. taskmgmt-mailer draining 1000 messages into the loopback SMTP sink.
#
# Own cluster: .run/bench-notify on port 54370 (BENCH_CLUSTER/BENCH_PORT),
# default durability (synchronous_commit on: commit latency is what NOTIFY
# serialises).  SKIP_BUILD=1 uses what is installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
CLUSTER=${BENCH_CLUSTER:-bench-notify}
PORT=${BENCH_PORT:-54370}
db=bench_notify
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  make -s all >/dev/null
  make -s install >/dev/null
fi
scripts/pgcluster.sh start "$CLUSTER" "$PORT" "shared_buffers = 256MB" >/dev/null
trap 'scripts/pgcluster.sh stop "$CLUSTER" >/dev/null' EXIT
export PGHOST=$(readlink -f ".run/$CLUSTER") PGPORT=$PORT PGUSER=postgres
psql_() { psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql_ -c "SET client_min_messages = warning" -c "CREATE EXTENSION taskmgmt CASCADE"

psql_ <<'SQL'
DELETE FROM taskmgmt.tasks WHERE title LIKE 'bench-notify%';
DELETE FROM taskmgmt.users WHERE email LIKE '%@bench-notify.example';
INSERT INTO taskmgmt.users (email, display_name)
SELECT 'u' || g || '@bench-notify.example', 'u' || g FROM generate_series(1, 65) g;
-- 64 tasks whose creator is one user ("same") and 64 with a creator each ("different")
INSERT INTO taskmgmt.tasks (title, creator_id)
SELECT 'bench-notify same ' || g, (SELECT id FROM taskmgmt.users WHERE email = 'u1@bench-notify.example')
FROM generate_series(1, 64) g;
INSERT INTO taskmgmt.tasks (title, creator_id)
SELECT 'bench-notify diff ' || g, (SELECT id FROM taskmgmt.users WHERE email = 'u' || (g + 1) || '@bench-notify.example')
FROM generate_series(1, 64) g;
SQL
same_lo=$(psql_ -Atc "SELECT min(id) FROM taskmgmt.tasks WHERE title LIKE 'bench-notify same%'")
diff_lo=$(psql_ -Atc "SELECT min(id) FROM taskmgmt.tasks WHERE title LIKE 'bench-notify diff%'")
tmp=$(mktemp -d)
run_updates() {  # label lo [clients]
  cat > "$tmp/u.sql" <<EOF2
\set t random($2, $(($2 + 63)))
UPDATE taskmgmt.tasks SET priority = CASE WHEN priority = 'low' THEN 'high'::taskmgmt.task_priority ELSE 'low' END WHERE id = :t;
EOF2
  local c=${3:-8}
  tps=$(pgbench -n -c "$c" -j "$(( c < 2 ? 1 : 2 ))" -T 10 -f "$tmp/u.sql" "$db" 2>/dev/null | sed -n 's/^tps = \([0-9]*\).*/\1/p')
  echo "task updates, $c client(s), $1: $tps tps"
}
psql_ -c "ALTER TABLE taskmgmt.tasks DISABLE TRIGGER tasks_notify"
run_updates "notifications off (baseline)" "$diff_lo" 1
run_updates "notifications off (baseline)" "$diff_lo"
psql_ -c "ALTER TABLE taskmgmt.tasks ENABLE TRIGGER tasks_notify"
run_updates "each notifying a different user" "$diff_lo" 1
run_updates "each notifying a different user" "$diff_lo"
run_updates "all notifying the same user" "$same_lo"
psql_ -c "DELETE FROM taskmgmt.email_outbox"
psql_ <<'SQL'
INSERT INTO taskmgmt.email_outbox (recipient, kind, items, message_id)
SELECT 'u' || g || '@bench-notify.example', 'single',
       jsonb_build_array(jsonb_build_object('event', 'assigned', 'task_id', g, 'message', 'bench message ' || g)),
       '<bench' || g || '@bench>'
FROM generate_series(1, 1000) g;
SQL
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
/usr/bin/python3 mailer/smtp_sink.py --port "$port" --dir "$tmp/mail" >/dev/null &
sink=$!
trap 'kill $sink 2>/dev/null; rm -rf "$tmp"; scripts/pgcluster.sh stop "$CLUSTER" >/dev/null' EXIT
sleep 1
for batch in 10 100; do
  psql_ -c "UPDATE taskmgmt.email_outbox SET status = 'pending', attempts = 0, claim_token = NULL, claimed_until = NULL, sent_at = NULL"
  start=$(date +%s.%N)
  DATABASE_URL="host=$PGHOST port=$PGPORT user=postgres dbname=$db" SMTP_URL="smtp://127.0.0.1:$port" SMTP_TLS=none MAILER_ONCE=1 \
    MAILER_BATCH_SIZE=$batch mailer/taskmgmt-mailer 2>/dev/null
  end=$(date +%s.%N)
  sent=$(psql_ -Atc "SELECT count(*) FROM taskmgmt.email_outbox WHERE status = 'sent'")
  awk -v b="$batch" -v n="$sent" -v s="$start" -v e="$end" \
    'BEGIN { printf "mailer to the loopback sink, batch %d: %d messages in %.2f s (%d msg/s)\n", b, n, e - s, n / (e - s) }'
done
psql_ <<'SQL'
DELETE FROM taskmgmt.email_outbox;
DELETE FROM taskmgmt.tasks WHERE title LIKE 'bench-notify%';
DELETE FROM taskmgmt.users WHERE email LIKE '%@bench-notify.example';
SQL
