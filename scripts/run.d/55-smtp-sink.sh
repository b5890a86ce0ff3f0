#!/usr/bin/env bash
# make run: a development SMTP sink on 127.0.0.1:${TASKMGMT_SMTP_SINK_PORT:-2525}.
# Every message the mailer sends lands in .run/mail/*.eml (read them with
# any text viewer or mail client); nothing leaves the machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .run/mail
exec /usr/bin/python3 mailer/smtp_sink.py --port "${TASKMGMT_SMTP_SINK_PORT:-2525}" --dir .run/mail
