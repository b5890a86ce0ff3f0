#!/usr/bin/env bash
# make run: taskmgmt-mailer, draining the outbox of the 'taskmgmt' database.
# By default it sends to the development sink (55-smtp-sink.sh, mail lands in
# .run/mail/); set SMTP_URL, SMTP_USER, SMTP_PASSWORD, SMTP_TLS and MAIL_FROM
# before `make run` to use a real server instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
sock=${TASKMGMT_DB_SOCKET_DIR:?started by make run}
port=${TASKMGMT_DB_PORT:?started by make run}

# the mailer's own login role: a member of taskmgmt_mailer, the only role
# that may read the outbox
scripts/pgcluster.sh as-owner psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres -d taskmgmt <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'taskmgmt_mailer_login') THEN
    CREATE ROLE taskmgmt_mailer_login LOGIN;
  END IF;
END $$;
GRANT taskmgmt_mailer TO taskmgmt_mailer_login;
SQL

export DATABASE_URL="host=$sock port=$port dbname=taskmgmt user=taskmgmt_mailer_login"
export SMTP_URL=${SMTP_URL:-smtp://127.0.0.1:${TASKMGMT_SMTP_SINK_PORT:-2525}}
export SMTP_TLS=${SMTP_TLS:-none}
export MAIL_FROM=${MAIL_FROM:-taskmgmt@localhost}
echo "mailer: sending to $(echo "$SMTP_URL" | sed -E 's#//[^/@]*@#//#'); with the development sink, mail lands in $root/.run/mail/"
exec mailer/taskmgmt-mailer
