#!/usr/bin/env bash
# Makes sure the base image debian:bookworm-slim exists in local container
# storage.  With no registry reachable, it is built from Debian's archive
# with mmdebstrap (minbase + ca-certificates, docs and man pages excluded)
# and imported under the name a Dockerfile's FROM resolves to.
# Idempotent: does nothing when the image is already there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
image=docker.io/library/debian:bookworm-slim
podman=("$here/podman.sh")
if "${podman[@]}" image exists "$image"; then
  echo "base image: $image present"
  exit 0
fi
command -v mmdebstrap >/dev/null || { echo "base image: mmdebstrap is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "base image: building $image from the Debian archive (mmdebstrap, ~30-60 s)"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
mmdebstrap --quiet --variant=minbase --include=ca-certificates \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
  bookworm "$tmp/rootfs.tar" \
  "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main"
"${podman[@]}" import --quiet \
  --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  "$tmp/rootfs.tar" "$image" >/dev/null
echo "base image: $image imported"
