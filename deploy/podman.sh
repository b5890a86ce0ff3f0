#!/usr/bin/env bash
# podman with the settings these machines need (deploy/containers.conf),
# unless the caller already chose a CONTAINERS_CONF.  Used by make image and
# the deploy test suites; `deploy/podman.sh build ...` is plain podman.
here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
exec podman "$@"
