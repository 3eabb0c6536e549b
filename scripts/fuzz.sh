#!/usr/bin/env bash
# Build the libFuzzer targets of tests/fuzz/ (meson -Dfuzz=true, clang,
# ASan + UBSan) and run each for a bounded time. Fails on any crash, leak, timeout or
# sanitizer report; prints the executions per target.
#
# Usage: scripts/fuzz.sh [SECONDS]     (default 60 per target)
# Needs: clang and libclang-rt-14-dev (libFuzzer's runtime), Debian packages.
# Environment: FUZZ_BUILDDIR (default build-fuzz), FUZZ_TARGETS (names to run),
# FUZZ_REPORT (a file that gets, for each failed target, its first error lines
# and its reproducer in base64, so that a run seen only by its log's tail can
# be replayed: base64 -d > crash; build-fuzz/tests/fuzz/TARGET crash).
set -euo pipefail

seconds=${1:-60}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
out=${FUZZ_BUILDDIR:-build-fuzz}
mkdir -p "$out"

if ! command -v clang >/dev/null; then
	echo "fuzz.sh: clang is not installed (apt-get install clang libclang-rt-14-dev)" >&2
	exit 1
fi

# The targets are built by meson (tests/fuzz/meson.build) with clang,
# libFuzzer's coverage on every file, ASan and UBSan.
if [[ ! -f "$out/meson-private/coredata.dat" ]]; then
	CC=clang meson setup "$out" -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debugoptimized >/dev/null
else
	meson setup --reconfigure "$out" -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false >/dev/null
fi
mapfile -t targets < <(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')
echo "==== build: ${targets[*]}"
ninja -C "$out" "${targets[@]/#/tests/fuzz/}" >/dev/null

failed=0
summary=()
report=${FUZZ_REPORT:-}
[[ -z $report ]] || : >"$report"

# report_failure NAME LOG: what FUZZ_REPORT keeps of a failed target.
report_failure() {
	local name=$1 log=$2 f
	[[ -n $report ]] || return 0
	{
		echo "fuzz target $name failed:"
		grep -m1 -E -A24 "ERROR:|runtime error:|==[0-9]+== " "$log" |
			grep -v -E "fuzzer::|__sanitizer_print" | head -16 || tail -12 "$log"
		for f in "$out/$name-"*; do
			[[ -f $f ]] || continue
			echo "reproducer $(basename "$f") ($(stat -c %s "$f") bytes), base64:"
			head -c 8192 "$f" | base64 -w 100
		done
	} >>"$report" 2>&1
}
for name in "${targets[@]}"; do
	if [[ -n "${FUZZ_TARGETS:-}" && " $FUZZ_TARGETS " != *" $name "* ]]; then
		continue
	fi
	bin="$out/tests/fuzz/$name"
	work="$out/$name.corpus"
	rm -rf "$work" "$out/$name-"*
	mkdir -p "$work"
	seeds="tests/fuzz/corpus/$name"
	log="$out/$name.log"
	echo "==== $name: run ${seconds}s"
	rc=0
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$out/$name-" \
		"$work" "$seeds" >"$log" 2>&1 || rc=$?
	execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log" | tail -1)
	if [[ $rc -ne 0 ]] || grep -qE "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY: " "$log"; then
		echo "fuzz.sh: $name FAILED (exit $rc); log $log:" >&2
		grep -E -A30 "ERROR:|runtime error:" "$log" | head -60 >&2 || tail -40 "$log" >&2
		ls "$out/$name-"* 2>/dev/null | sed 's/^/  reproducer: /' >&2 || true
		report_failure "$name" "$log"
		failed=1
		summary+=("$name: FAILED after ${execs:-?} executions")
	else
		summary+=("$name: ok, ${execs:-?} executions in ${seconds}s")
	fi
done

echo "==== fuzz summary"
printf '%s\n' "${summary[@]}"
[[ ${#summary[@]} -gt 0 ]] || { echo "fuzz.sh: no target ran" >&2; exit 1; }
exit $failed
