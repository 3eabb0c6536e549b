#!/usr/bin/env bash
# Build layerfs and run its whole test suite, twice, then the fuzzers:
#   (a) a normal build with -Werror            in build/
#   (b) a build with AddressSanitizer and UBSan in build-asan/
#   (c) scripts/fuzz.sh: every libFuzzer target for LAYERFS_FUZZ_SECONDS (60)
#   (d) tools/bench/bench.py --quick: the benchmark, so it never rots
# This is the one test command of the project (README.md, .ci/run).
#
# Usage (as root): scripts/test.sh [--no-asan | --only-asan] [--no-fuzz] [--no-bench] [-- MESON-TEST-ARGS...]
#   --no-asan     leave out pass (b)
#   --only-asan   run only pass (b)
#   --no-fuzz     leave out pass (c)
#   --no-bench    leave out pass (d)
#   -- ARGS       handed to `meson test` (e.g. `-- --suite unit`)
# Environment: LAYERFS_BUILDDIR (default build), LAYERFS_ASAN_BUILDDIR
# (default build-asan), both relative to the repository root or absolute.
#
# The real-mount tests need root and /dev/fuse. The script fails when any
# build or test fails, when a pass runs no test at all, or when a pass leaves
# a layerfs mount under /tmp behind (it unmounts it first; outside CI only
# the mounts of this run's own daemons count, see "mounts" below). Its last
# line is "N passed, N failed", counted over both passes.
set -euo pipefail

usage() {
	sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
}

run_plain=1
run_asan=1
run_fuzz=1
run_bench=1
meson_test_args=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--no-asan) run_asan=0 ;;
	--no-fuzz) run_fuzz=0 ;;
	--no-bench) run_bench=0 ;;
	--only-asan) run_plain=0 run_fuzz=0 ;;
	-h | --help) usage; exit 0 ;;
	--) shift; meson_test_args=("$@"); break ;;
	*) echo "test.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [[ $run_plain -eq 0 && $run_asan -eq 0 ]]; then
	echo "test.sh: --no-asan and --only-asan together leave nothing to run" >&2
	exit 2
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
builddir=${LAYERFS_BUILDDIR:-build}
asandir=${LAYERFS_ASAN_BUILDDIR:-build-asan}

# ---------------------------------------------------------------- mounts --
#
# A layerfs mount under /tmp that outlives a pass is a failure: it is
# unmounted and counted. On a shared development machine other people's test
# runs may have layerfs mounts under /tmp at the same time, so a mount only
# counts as ours when its daemon carries this run's LAYERFS_TEST_RUN marker
# in its environment (every process the tests start inherits it). A mount
# whose daemon is gone cannot be attributed; under CI (CI=true, nothing else
# runs on the machine) such mounts, and every other layerfs mount under
# /tmp, are taken to be ours, otherwise they are only reported.

run_marker="test.sh-$$-$(date +%s%N)"
export LAYERFS_TEST_RUN=$run_marker
if [[ "${CI:-}" == "true" ]]; then ci=1; else ci=0; fi

# Print "MOUNT-ID MOUNTPOINT" for every layerfs mount under /tmp, innermost
# last. A mount is layerfs's when its type is fuse.layerfs, or when it is
# plain fuse and its source names layerfs.
layerfs_mounts_under_tmp() {
	local id mp
	awk '{
		for (i = 7; i <= NF; i++) if ($i == "-") break
		fstype = $(i + 1); source = $(i + 2)
		if (fstype == "fuse.layerfs" || (fstype ~ /^fuse/ && source ~ /layerfs/))
			print $1, $5
	}' /proc/self/mountinfo |
		while read -r id mp; do
			mp=$(printf '%b' "$mp") # undo the \040-style escapes of mountinfo
			if [[ "$mp" == /tmp/* ]]; then
				printf '%s %s\n' "$id" "$mp"
			fi
		done
}

# Whose is the mount at $1? Prints "ours", "other" (a live daemon of another
# run) or "orphan" (no daemon found).
mount_owner() {
	local mp=$1 d pid owner=orphan
	local -a argv
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[[ $pid -ne $$ ]] || continue
		mapfile -d '' -t argv 2>/dev/null <"$d/cmdline" || continue
		[[ ${#argv[@]} -gt 0 && "$(basename -- "${argv[0]}")" == layerfs ]] || continue
		local a match=0
		for a in "${argv[@]:1}"; do
			if [[ "$a" == "$mp" || "${a%/}" == "$mp" ]]; then match=1; break; fi
		done
		[[ $match -eq 1 ]] || continue
		if tr '\0' '\n' 2>/dev/null <"$d/environ" | grep -qxF "LAYERFS_TEST_RUN=$run_marker"; then
			echo ours
			return
		fi
		owner=other
	done
	echo "$owner"
}

start_mounts=""
# unmount_leftovers WHEN: unmount the layerfs mounts under /tmp that are
# ours (see above). Returns 1 when it found any of ours.
unmount_leftovers() {
	local when=$1 found=0 line id mp owner i
	local -a lines=()
	mapfile -t lines < <(layerfs_mounts_under_tmp)
	for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
		line=${lines[i]}
		id=${line%% *}
		mp=${line#* }
		owner=$(mount_owner "$mp")
		if [[ $ci -eq 1 ]]; then
			owner=ours
		elif [[ "$owner" == orphan ]]; then
			if grep -qxF -- "$line" <<<"$start_mounts"; then
				continue # was there before we started: reported at the start
			fi
			echo "test.sh: warning: layerfs mount without a daemon at $mp;" \
				"it may be another run's, so it is left alone (fusermount3 -u -z $mp)" >&2
			continue
		elif [[ "$owner" == other ]]; then
			continue # a concurrent run's live mount: not ours to judge
		fi
		found=1
		echo "test.sh: unmounting layerfs mount left $when: $mp (mount id $id)" >&2
		fusermount3 -u -z "$mp" 2>/dev/null || umount -l "$mp" ||
			echo "test.sh: could not unmount $mp" >&2
	done
	return $((found))
}

final_check_done=0
on_exit() {
	local rc=$?
	if [[ $final_check_done -eq 0 ]]; then
		# Interrupted or aborted early: still never leave a mount behind.
		unmount_leftovers "by an aborted run" || true
	fi
	exit "$rc"
}
trap on_exit EXIT

# ------------------------------------------------------------------ deps --

"$repo/scripts/deps.sh"

if [[ $ci -eq 1 ]]; then
	unmount_leftovers "by an earlier run" || true
else
	start_mounts=$(layerfs_mounts_under_tmp)
	if [[ -n "$start_mounts" ]]; then
		echo "test.sh: note: layerfs mounts under /tmp that are not this run's (left alone):" >&2
		while read -r _ mp; do echo "  $mp" >&2; done <<<"$start_mounts"
	fi
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "test.sh: warning: not root; the real-mount tests need root (run it as root)" >&2
fi

# ---------------------------------------------------------------- passes --

total_pass=0
total_fail=0
total_skip=0
overall_ok=1
summaries=()

# Pull one count out of meson's closing table ("Ok:   3").
meson_count() {
	local label=$1 log=$2
	awk -v l="$label:" '$0 ~ "^" l { n = $NF } END { print n + 0 }' "$log"
}

# run_pass NAME BUILDDIR MESON-SETUP-OPTIONS...
run_pass() {
	local name=$1 dir=$2
	shift 2
	local -a opts=("$@")

	echo
	echo "==================== pass $name: $dir ===================="
	if [[ -f "$dir/meson-private/coredata.dat" ]]; then
		if ! meson setup --reconfigure "$dir" "${opts[@]}"; then
			echo "test.sh: reconfigure of $dir failed; wiping it" >&2
			meson setup --wipe "$dir" "${opts[@]}" || return 1
		fi
	else
		meson setup "$dir" "${opts[@]}" || return 1
	fi
	ninja -C "$dir" || return 1

	local log rc=0
	log=$(mktemp /tmp/test.sh-meson-log.XXXXXX)
	meson test -C "$dir" --print-errorlogs "${meson_test_args[@]}" 2>&1 | tee "$log" || rc=$?

	local ok xfail fail upass skip timeout passed failed
	ok=$(meson_count 'Ok' "$log")
	xfail=$(meson_count 'Expected Fail' "$log")
	fail=$(meson_count 'Fail' "$log")
	upass=$(meson_count 'Unexpected Pass' "$log")
	skip=$(meson_count 'Skipped' "$log")
	timeout=$(meson_count 'Timeout' "$log")
	rm -f "$log"

	passed=$((ok + xfail))
	failed=$((fail + upass + timeout))
	total_pass=$((total_pass + passed))
	total_fail=$((total_fail + failed))
	total_skip=$((total_skip + skip))

	local note=""
	if [[ $((passed + failed + skip)) -eq 0 ]]; then
		echo "test.sh: ERROR: pass $name ran no tests at all" >&2
		note=" -- RAN NO TESTS"
		overall_ok=0
	elif [[ $passed -eq 0 && $failed -eq 0 ]]; then
		echo "test.sh: ERROR: pass $name skipped every test" >&2
		note=" -- EVERY TEST SKIPPED"
		overall_ok=0
	fi
	if [[ $rc -ne 0 ]]; then
		overall_ok=0
		if [[ $failed -eq 0 ]]; then
			note+=" -- meson test exited $rc"
		fi
	fi
	[[ $failed -eq 0 ]] || overall_ok=0
	summaries+=("pass $name ($dir): $passed passed, $failed failed, $skip skipped$note")
	return 0
}

build_failed() {
	echo
	echo "test.sh: FAILED: could not configure or build pass $1 (see above)" >&2
	exit 1
}

# After each pass: a layerfs mount left under /tmp counts as one failure.
check_leftovers() {
	if ! unmount_leftovers "by pass $1"; then
		echo "test.sh: ERROR: pass $1 left layerfs mounts behind (unmounted now)" >&2
		summaries+=("pass $1: left layerfs mounts under /tmp behind: 1 failed")
		total_fail=$((total_fail + 1))
		overall_ok=0
	fi
}

if [[ $run_plain -eq 1 ]]; then
	run_pass "a/plain" "$builddir" -Dwerror=true -Db_sanitize=none -Db_lundef=true ||
		build_failed "a/plain"
	check_leftovers "a/plain"
fi
if [[ $run_asan -eq 1 ]]; then
	run_pass "b/asan+ubsan" "$asandir" -Dwerror=true \
		-Db_sanitize=address,undefined -Db_lundef=false ||
		build_failed "b/asan+ubsan"
	check_leftovers "b/asan+ubsan"
fi
# single_check_pass NAME WHAT CMD...: a pass that is one check, counted as
# one test in the summary.
single_check_pass() {
	local name=$1 what=$2
	shift 2
	if "$@"; then
		summaries+=("pass $name: 1 passed, 0 failed ($what)")
		total_pass=$((total_pass + 1))
	else
		summaries+=("pass $name: 0 passed, 1 failed")
		total_fail=$((total_fail + 1))
		overall_ok=0
	fi
}

# (c) the libFuzzer targets of tests/fuzz/, each for a bounded time
# (LAYERFS_FUZZ_SECONDS, default 60): any crash, leak or sanitizer report
# fails the run.
if [[ $run_fuzz -eq 1 ]]; then
	echo
	echo "==================== pass c/fuzz ===================="
	# Outside the fuzz build directory, which FUZZ_BUILDDIR may move.
	fuzz_report=$(mktemp /tmp/layerfs-fuzz-failures.XXXXXX)
	export FUZZ_REPORT=$fuzz_report
	single_check_pass "c/fuzz" "every target ran clean" \
		"$repo/scripts/fuzz.sh" "${LAYERFS_FUZZ_SECONDS:-60}"
fi
# (d) the benchmark's quick mode, so that it never rots: every workload on
# every system (layerfs, kernel overlayfs, fuse-overlayfs), tiny fixtures, no
# timing asserted; any failed mount, wrong merged tree or failed workload fails.
if [[ $run_bench -eq 1 && $run_plain -eq 1 ]]; then
	echo
	echo "==================== pass d/bench --quick ===================="
	bench_bin=$builddir/layerfs
	[[ $bench_bin == /* ]] || bench_bin=$repo/$bench_bin
	single_check_pass "d/bench" "quick mode ran every workload" \
		/usr/bin/python3 "$repo/tools/bench/bench.py" --quick --layerfs "$bench_bin"
fi
final_check_done=1

# ---------------------------------------------------------------- summary --

echo
echo "==================== summary ===================="
for s in "${summaries[@]}"; do
	echo "$s"
done
if [[ $overall_ok -eq 1 ]]; then
	echo "result: OK ($total_skip skipped)"
else
	echo "result: FAILED ($total_skip skipped)"
fi
# A failed fuzz target's reproducer, last, where a log's tail still shows it.
if [[ -s ${fuzz_report:-} ]]; then
	echo
	echo "==================== failed fuzz targets ===================="
	cat "$fuzz_report"
fi
[[ -z ${fuzz_report:-} ]] || rm -f "$fuzz_report"
echo "$total_pass passed, $total_fail failed"
[[ $overall_ok -eq 1 ]]
