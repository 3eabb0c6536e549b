#!/usr/bin/env bash
# Install every Debian package that building, testing and demonstrating
# layerfs needs. Safe to run again and again: when everything is already
# installed it only asks dpkg and returns, without touching the network.
#
# Usage: scripts/deps.sh        (as root: it installs packages)
set -euo pipefail

# Keep this list sorted by purpose; every entry must be a Debian package name.
PACKAGES=(
	# toolchain and build system (gcc brings libasan/libubsan for the sanitizer build)
	build-essential
	pkg-config
	meson
	ninja-build
	# libraries: the daemon (fuse3, io_uring) and layerctl (archive, json, digests,
	# gzip, HTTP for registries)
	libfuse3-dev
	liburing-dev
	libarchive-dev
	libjansson-dev
	nettle-dev
	zlib1g-dev
	libcurl4-openssl-dev
	# tests: unit tests (cmocka) and real-mount tests (pytest)
	libcmocka-dev
	python3
	python3-pytest
	# runtime of a mount: fusermount3 and mount.fuse3, mount/umount
	fuse3
	mount
	util-linux
	# tools the tests and the demo call: xattrs, ACLs, scratch filesystems, listings
	attr
	acl
	e2fsprogs
	xfsprogs
	coreutils
	findutils
	procps
	tree
	libcap2-bin
	# layerctl's tests: a real container (runc, crun, busybox), readers of
	# the images it exports (skopeo, umoci), compressed layers (zstd, xz)
	runc
	crun
	busybox-static
	skopeo
	umoci
	zstd
	xz-utils
	# registry tests (tests/registry): a real registry, its TLS certificates and
	# bcrypt htpasswd file
	docker-registry
	openssl
	apache2-utils
	# containers (tests/containers): podman and buildah with layerfs, and with
	# fuse-overlayfs to prove the tests (see scripts/containers-deps.sh too)
	podman
	buildah
	uidmap
	slirp4netns
	fuse-overlayfs
	containernetworking-plugins
	tar
	# hardening: load, memory checking, fault injection (strace kills the daemon
	# at a chosen system call), fuzzing (libFuzzer comes with clang's runtime)
	stress-ng
	valgrind
	strace
	# the benchmark (tools/bench): random I/O
	fio
	clang
	libclang-rt-14-dev
)

missing=()
for pkg in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	if [[ "$status" != "installed" ]]; then
		missing+=("$pkg")
	fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
	echo "deps.sh: all ${#PACKAGES[@]} packages are installed"
	exit 0
fi

echo "deps.sh: missing packages: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
	echo "deps.sh: error: installing packages needs root; run $0 as root" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"

# Check that the install really produced what we asked for.
still=()
for pkg in "${missing[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	[[ "$status" == "installed" ]] || still+=("$pkg")
done
if [[ ${#still[@]} -ne 0 ]]; then
	echo "deps.sh: error: still not installed: ${still[*]}" >&2
	exit 1
fi
echo "deps.sh: installed ${#missing[@]} package(s)"
