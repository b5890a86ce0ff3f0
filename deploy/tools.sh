#!/usr/bin/env bash
# Installs the container tools the deploy suites and `make image` use, from
# Debian's archive, when missing.  Exit 0: all there; 1: could not install.
set -uo pipefail
packages=(podman buildah podman-compose mmdebstrap runc uidmap slirp4netns fuse-overlayfs yamllint
          golang-github-containernetworking-plugin-dnsname  # service-name DNS on podman networks
          catatonit)  # the pause process of `podman kube play` pods
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "deploy tools: missing ${missing[*]} (run as root or apt-get install them)" >&2
  exit 1
fi
echo "deploy tools: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/dev/null 2>&1 \
  || { echo "deploy tools: apt-get could not install ${missing[*]}" >&2; exit 1; }
