#!/usr/bin/env bash
# Install the Debian packages the container tests (tests/containers) need:
# podman, buildah and their runtime helpers, fuse-overlayfs (the reference
# mount program the tests compare layerfs with), and busybox-static (the
# rootfs of the test images). Idempotent: when everything is installed it
# only asks dpkg and returns without touching the network.
#
# Usage: sudo scripts/containers-deps.sh
set -euo pipefail

PACKAGES=(
	podman
	buildah
	runc
	uidmap          # newuidmap/newgidmap for rootless podman
	slirp4netns     # rootless networking helper podman expects to find
	fuse-overlayfs  # reference mount program
	fuse3           # fusermount3
	busybox-static  # the test image's rootfs
	containernetworking-plugins
	skopeo          # not required; handy to inspect oci: layouts by hand
	tar
	util-linux      # unshare, nsenter
	python3
	python3-pytest
)

missing=()
for pkg in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	[[ "$status" == "installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
	echo "containers-deps.sh: all ${#PACKAGES[@]} packages are installed"
	exit 0
fi
echo "containers-deps.sh: missing packages: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
	echo "containers-deps.sh: error: installing packages needs root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"

still=()
for pkg in "${missing[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	[[ "$status" == "installed" ]] || still+=("$pkg")
done
if [[ ${#still[@]} -ne 0 ]]; then
	echo "containers-deps.sh: error: still not installed: ${still[*]}" >&2
	exit 1
fi
echo "containers-deps.sh: installed ${#missing[@]} package(s)"
