#!/usr/bin/env bash
# CalDAV and iCalendar with real clients from Debian (scripts/deps.sh
# installs them): python3-caldav, vdirsyncer + todoman, python3-icalendar,
# against a shim of their own (the HTTP suite's machinery, test/caldav).
# Ends with "caldav: N passed, M failed".
for tool in vdirsyncer todoman; do
  command -v "$tool" >/dev/null || { echo "caldav: $tool is missing (scripts/deps.sh installs it)"; echo "caldav: 0 passed, 1 failed"; exit 1; }
done
exec env SUITE_NAME=caldav PYTEST_ARGS=test/caldav bash "$(dirname "$0")/50-http.sh"
