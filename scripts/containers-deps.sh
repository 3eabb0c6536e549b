#!/usr/bin/env bash
# The packages the container tests (tests/containers) need: podman, buildah
# and their helpers, fuse-overlayfs (the reference mount program), busybox.
# They are in the project's one package list, scripts/deps.sh; this name
# stays because the container test harness calls it when a tool is missing.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/deps.sh"
