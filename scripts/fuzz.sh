#!/usr/bin/env bash
# Build the libFuzzer targets of tests/fuzz/ with clang (ASan + UBSan) and
# run each for a bounded time. Fails on any crash, leak, timeout or
# sanitizer report; prints the executions per target.
#
# Usage: scripts/fuzz.sh [SECONDS]     (default 60 per target)
# Needs: clang and libclang-rt-14-dev (libFuzzer's runtime), Debian packages.
# Environment: FUZZ_BUILDDIR (default build-fuzz), FUZZ_TARGETS (names to run).
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

cflags=(-g -O1 -std=gnu11 -D_GNU_SOURCE -fno-omit-frame-pointer
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
	-Iinclude -Itools)
common=(src/common/whiteout.c src/common/branchspec.c src/common/pathutil.c)

declare -A extra=(
	[fuzz_branchspec]=""
	[fuzz_names]=""
	[fuzz_tarcheck]="tools/tarcheck.c"
	[fuzz_image]="tools/image.c tools/digest.c"
	[fuzz_reference]="tools/reference.c"
	[fuzz_registry]="tools/manifest.c tools/auth.c tools/image.c tools/digest.c"
)
# Libraries a target links with.
declare -A libs=(
	[fuzz_image]="-ljansson -lnettle -larchive"
	[fuzz_registry]="-ljansson -lnettle -larchive"
)

failed=0
summary=()
for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	if [[ -n "${FUZZ_TARGETS:-}" && " $FUZZ_TARGETS " != *" $name "* ]]; then
		continue
	fi
	srcs=("$src" "${common[@]}")
	for f in ${extra[$name]:-}; do
		if [[ ! -f "$f" ]]; then
			echo "fuzz.sh: $name: $f does not exist yet; skipped"
			continue 2
		fi
		srcs+=("$f")
	done
	echo "==== $name: build"
	# shellcheck disable=SC2086 # word splitting of the library list is wanted
	clang "${cflags[@]}" -o "$out/$name" "${srcs[@]}" ${libs[$name]:-}
	work="$out/$name.corpus"
	rm -rf "$work"
	mkdir -p "$work"
	seeds="tests/fuzz/corpus/$name"
	log="$out/$name.log"
	echo "==== $name: run ${seconds}s"
	rc=0
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$out/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$out/$name-" \
		"$work" "$seeds" >"$log" 2>&1 || rc=$?
	execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log" | tail -1)
	if [[ $rc -ne 0 ]] || grep -qE "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY: " "$log"; then
		echo "fuzz.sh: $name FAILED (exit $rc); log $log:" >&2
		grep -E -A30 "ERROR:|runtime error:" "$log" | head -60 >&2 || tail -40 "$log" >&2
		ls "$out/$name-"* 2>/dev/null | sed 's/^/  reproducer: /' >&2 || true
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
