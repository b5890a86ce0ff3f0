#!/usr/bin/env bash
# Installs the Debian packages the project needs, when any is missing.
# Idempotent and quiet when everything is already there.
set -euo pipefail

packages=(
  # database and extension build
  postgresql-15 postgresql-server-dev-15 postgresql-15-cron postgresql-15-pgtap
  libpq-dev libssl-dev build-essential pkg-config
  # test runners
  libtap-parser-sourcehandler-pgtap-perl python3-pytest python3-requests python3-websockets python3-aiosmtpd
  # CalDAV tested with real clients: vdirsyncer + todoman, python3-caldav, python3-icalendar
  vdirsyncer todoman python3-caldav python3-icalendar
  # shim, mailer and benchmarks
  libh2o-evloop-dev libwslay-dev libcurl4-openssl-dev wrk clang libclang-rt-14-dev curl
  # PDF reports (libharu, an embedded TrueType font) and their tests
  libhpdf-dev fonts-dejavu-core poppler-utils
  # iCalendar with libical: recurring tasks' RRULEs, CalDAV, feeds (the image's runtime gets libical3)
  libical-dev
  # web UI tests: Debian's chromium, driven by playwright-core from npm
  chromium
  # high availability (make run HA=1, suite ha) and the pooler (suite pgbouncer)
  postgresql-15-auto-failover pg-auto-failover-cli pgbouncer
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm-installed tools (the web UI's build with Vite, Redoc, the OpenAPI
# validator, Playwright) need node and npm; use the machine's own when it has
# them, else Debian's (Node 18 in bookworm, enough for Vite 6).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages: ${missing[*]}" >&2
  echo "deps: run as root (or install them with apt-get) and try again" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Debian's postgresql-common would create and start a 'main' cluster we never use.
mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/taskmgmt-no-main.conf
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
