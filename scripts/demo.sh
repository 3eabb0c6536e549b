#!/usr/bin/env bash
# The layerfs demo on layers-example/: install what is needed, build, mount
# the three example layers under an empty read-write branch, show the merged
# tree, delete and change a few things through the mount, show what landed in
# the read-write branch (whiteouts, copied-up files), and unmount.
#
# Usage: scripts/demo.sh [--keep]      (as root)
#   --keep   keep the scratch directory (layers, rw branch) for a closer look
# Environment: LAYERFS_BUILDDIR (default build).
#
# The checked-out layers-example/ is never mounted nor changed: the demo
# works on a copy in a fresh directory under /tmp.
set -euo pipefail

keep=0
for arg in "$@"; do
	case "$arg" in
	--keep) keep=1 ;;
	-h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "demo.sh: unknown argument: $arg (see --help)" >&2; exit 2 ;;
	esac
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
builddir=${LAYERFS_BUILDDIR:-build}

section() {
	echo
	echo "=== $* ==="
}

# Print a command, then run it.
show() {
	echo "\$ $*"
	"$@"
}

# A listing of a tree with modes, or find | sort where tree is missing.
list_tree() {
	if command -v tree >/dev/null 2>&1; then
		(cd "$1" && tree -a -p --noreport .)
	else
		(cd "$1" && find . -printf '%M %p\n' | sort -k2)
	fi
}

# ------------------------------------------------------------------ setup --

section "1. packages and build"
"$repo/scripts/deps.sh"
if [[ -f "$builddir/meson-private/coredata.dat" ]]; then
	echo "(reusing the configured build directory $builddir)"
else
	meson setup "$builddir"
fi
ninja -C "$builddir"
bin=$(cd "$builddir" && pwd)/layerfs
ctl=$(cd "$builddir" && pwd)/tools/layerctl
[[ -x "$bin" ]] || { echo "demo.sh: no layerfs binary at $bin" >&2; exit 1; }
"$bin" --version || true

scratch=$(mktemp -d /tmp/layerfs-demo.XXXXXX)
rw=$scratch/rw
mnt=$scratch/mnt
l1=$scratch/layer1
l2=$scratch/layer2
l3=$scratch/layer3

store=$scratch/store
cmnt=""
cleanup() {
	local rc=$?
	if [[ -n "$cmnt" ]] && mountpoint -q "$cmnt" 2>/dev/null; then
		"$ctl" --store "$store" umount --force demo >/dev/null 2>&1 ||
			umount -l "$cmnt" 2>/dev/null || true
	fi
	if mountpoint -q "$mnt" 2>/dev/null; then
		echo "demo.sh: unmounting $mnt" >&2
		fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt" 2>/dev/null ||
			umount -l "$mnt" || true
	fi
	if mountpoint -q "$mnt" 2>/dev/null; then
		echo "demo.sh: $mnt is still mounted; leaving $scratch in place" >&2
	elif [[ $keep -eq 1 ]]; then
		echo "demo.sh: scratch directory kept: $scratch"
	else
		rm -rf "$scratch"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp -a "$repo/layers-example/layer1" "$repo/layers-example/layer2" \
	"$repo/layers-example/layer3" "$scratch/"
mkdir "$rw" "$mnt"

section "2. the image layers (aufs diff directories, whiteouts are .wh.* files)"
for layer in "$l3" "$l2" "$l1"; do
	echo "--- $(basename "$layer")"
	(cd "$layer" && find . -mindepth 1 \( -type f -o -type l \) -printf '%p\n' | sort)
done

# --------------------------------------------------------------- mounting --

br="$rw=rw:$l3=ro+wh:$l2=ro+wh:$l1=ro+wh"
section "3. mount"
show "$bin" -o "br=$br" "$mnt"
if ! mountpoint -q "$mnt"; then
	echo "demo.sh: layerfs returned but $mnt is not a mount point" >&2
	exit 1
fi

section "4. branches"
echo "mountinfo:"
awk -v mp="$mnt" '$5 == mp { print "  " $0 }' /proc/self/mountinfo
echo "branches (branch 0 is the top):"
n=0
IFS=: read -r -a branches <<<"$br"
for b in "${branches[@]}"; do
	printf '  br%d  %-6s %s\n' "$n" "${b##*=}" "${b%=*}"
	n=$((n + 1))
done
# The daemon's inspection directory, when it has one for this mount.
si=$(awk -v mp="$mnt" '$5 == mp' /proc/self/mountinfo |
	grep -oE 'si[_=]?[0-9a-f]{16}' | grep -oE '[0-9a-f]{16}$' | head -n1 || true)
if [[ -n "$si" ]]; then
	# made by the daemon just after the mount goes live
	for _ in $(seq 100); do
		[[ -d "/run/layerfs/si_$si" || -d "${XDG_RUNTIME_DIR:-/nonexistent}/layerfs/si_$si" ]] && break
		sleep 0.03
	done
	for d in "/run/layerfs/si_$si" "${XDG_RUNTIME_DIR:-/nonexistent}/layerfs/si_$si"; do
		[[ -d "$d" ]] || continue
		echo "$d:"
		for f in "$d"/br*; do
			if [[ -f "$f" ]]; then
				printf '  %s: %s\n' "$(basename "$f")" "$(cat "$f")"
			fi
		done
		break
	done
fi
echo
show "$ctl" branches "$mnt"
show "$ctl" which "$mnt/etc/motd"

section "5. the merged tree"
list_tree "$mnt"
echo
show cat "$mnt/etc/motd"
show cat "$mnt/app/config.json"

# ----------------------------------------------------------------- change --

section "6. changes through the mount"
show rm "$mnt/usr/share/doc/a.txt"
echo "\$ echo 'Changed through the layerfs mount.' >> $mnt/etc/motd"
echo 'Changed through the layerfs mount.' >>"$mnt/etc/motd"
show chmod 0600 "$mnt/etc/os-release"
echo "\$ echo 'a new file' > $mnt/app/notes.txt"
echo 'a new file' >"$mnt/app/notes.txt"

section "7. what landed in the rw branch ($rw)"
(cd "$rw" && find . -mindepth 1 -printf '%p\t%M\t%n\t%s\n' | sort) |
	while IFS=$'\t' read -r path mode links size; do
		what=""
		case "$(basename "$path")" in
		.wh..wh..opq) what="opaque marker" ;;
		.wh..wh.*) what="layerfs metadata" ;;
		.wh.*) what="whiteout of $(basename "$path" | sed 's/^\.wh\.//')" ;;
		esac
		case "$path" in ./.wh..wh.*/*) what="layerfs metadata" ;; esac
		line=$(printf '%s %2s links %5s bytes  %-28s %s' "$mode" "$links" "$size" "$path" "$what")
		printf '%s\n' "${line%"${line##*[! ]}"}"
	done
echo
show "$ctl" branches "$mnt"
show "$ctl" which "$mnt/usr/share/doc/a.txt" || true
echo
for f in etc/motd etc/os-release app/notes.txt; do
	if [[ -f "$rw/$f" ]]; then
		echo "--- rw/$f ($(stat -c '%A' "$rw/$f")):"
		cat "$rw/$f"
	else
		echo "--- rw/$f: MISSING"
	fi
done

section "8. the merged tree after the changes"
list_tree "$mnt"
echo
show cat "$mnt/etc/motd"

# ------------------------------------------------------------------ check --

section "9. checks"
problems=0
empty_file() { [[ -f "$1" && ! -s "$1" ]]; }
check() {
	local what=$1
	shift
	if "$@"; then
		echo "ok:     $what"
	else
		echo "FAILED: $what"
		problems=$((problems + 1))
	fi
}
check "a.txt is gone from the merged view" test ! -e "$mnt/usr/share/doc/a.txt"
check "rw holds the whiteout usr/share/doc/.wh.a.txt" test -f "$rw/usr/share/doc/.wh.a.txt"
check "the whiteout is an empty regular file" empty_file "$rw/usr/share/doc/.wh.a.txt"
check "rw holds the copied-up etc/motd" grep -q '^Changed through the layerfs mount\.$' "$rw/etc/motd"
check "the copy-up kept layer2's text" grep -q 'layer2' "$rw/etc/motd"
check "etc/os-release was copied up with mode 0600" \
	test "$(stat -c '%a' "$rw/etc/os-release" 2>/dev/null)" = 600
check "no .wh. name is visible through the mount" \
	test -z "$(find "$mnt" -name '.wh.*' -print -quit)"
for layer in layer1 layer2 layer3; do
	check "$layer is unchanged" diff -r --no-dereference "$repo/layers-example/$layer" "$scratch/$layer"
done

# --------------------------------------------------------------- unmount --

section "10. unmount"
show fusermount3 -u "$mnt"
check "nothing is mounted on $mnt any more" test -z "$(awk -v mp="$mnt" '$5 == mp' /proc/self/mountinfo)"

# ------------------------------------------------------- through layerctl --

# The same three layers as an image, the way docker save writes one: a layer
# tarball per layer (whiteouts as .wh. entries), a config naming their
# digests, a manifest.
make_image() {
	local img=$scratch/image diff_ids="" layers="" n sum config
	mkdir -p "$img"
	for n in 1 2 3; do
		tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 \
			-C "$repo/layers-example/layer$n" -cf "$img/layer$n.tar" .
		sum=$(sha256sum "$img/layer$n.tar" | cut -d' ' -f1)
		diff_ids+="${diff_ids:+,}\"sha256:$sum\""
		layers+="${layers:+,}\"layer$n.tar\""
	done
	printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"],"WorkingDir":"/app"},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
		"$diff_ids" >"$img/config.json"
	config=$(sha256sum "$img/config.json" | cut -d' ' -f1).json
	mv "$img/config.json" "$img/$config"
	printf '[{"Config":"%s","RepoTags":["example:latest"],"Layers":[%s]}]' \
		"$config" "$layers" >"$img/manifest.json"
	tar -C "$img" -cf "$scratch/example-image.tar" manifest.json "$config" layer1.tar layer2.tar layer3.tar
}

section "11. the same layers as an image, through layerctl"
make_image
show "$ctl" --store "$store" unpack -q "$scratch/example-image.tar"
show "$ctl" --store "$store" images
show "$ctl" --store "$store" create example:latest demo
echo "\$ $ctl --store $store mount demo"
cmnt=$("$ctl" --store "$store" mount demo)
echo "$cmnt"
show "$ctl" branches "$cmnt"
list_tree "$cmnt"
show rm "$cmnt/usr/share/doc/a.txt"
echo "\$ echo 'hello from the container layer' >> $cmnt/etc/motd"
echo 'hello from the container layer' >>"$cmnt/etc/motd"
show "$ctl" --store "$store" diff demo
check "the container's rw layer holds the whiteout" \
	test -f "$store/containers/demo/rw/usr/share/doc/.wh.a.txt"
check "the container's rw layer holds the copied-up etc/motd" \
	grep -q 'hello from the container layer' "$store/containers/demo/rw/etc/motd"
check "the init layer supplies etc/hostname" grep -qx demo "$cmnt/etc/hostname"
show "$ctl" --store "$store" umount demo
check "the container's rootfs is unmounted" test -z "$(awk -v mp="$cmnt" '$5 == mp' /proc/self/mountinfo)"

echo
if [[ $problems -ne 0 ]]; then
	echo "demo.sh: $problems check(s) failed"
	exit 1
fi
echo "demo.sh: done, all checks passed"
