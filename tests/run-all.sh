#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Run every dm-red test script (tests/t*.sh) in this guest and report TAP 13.
# Usage: tests/run-all.sh [NAME-PATTERN]
# Time-outs follow progress: a test is stopped (TERM to its process group,
# KILL 10 s later) when it has printed nothing for RED_TEST_IDLE seconds
# (default 180), or, as a backstop, after RED_TEST_TIMEOUT seconds in all
# (default 900).  Each result line gives the test's time and its longest
# silence.
# Exit status: 0 if every test passed or skipped, 1 otherwise.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
pattern=${1:-}
idle_limit=${RED_TEST_IDLE:-180}
cap=${RED_TEST_TIMEOUT:-900}
case $idle_limit$cap in *[!0-9]*) echo "run-all: RED_TEST_IDLE and RED_TEST_TIMEOUT take seconds" >&2; exit 2 ;; esac
mapfile -t tests < <(find "$here" -maxdepth 1 -name 't[0-9]*.sh' | sort)
if [ -n "$pattern" ]; then
	mapfile -t tests < <(printf '%s\n' "${tests[@]}" | grep -- "$pattern")
fi
scratch=$(mktemp -d /tmp/run-all.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# run_test SCRIPT: runs it with its output indented as TAP comments; sets
# rc (124: stopped), silence (its longest silence, s) and why.
run_test() {
	local t=$1 tpid fpid at idle
	rm -f "$scratch/out" "$scratch/stamp" "$scratch/idle"
	mkfifo "$scratch/out"
	echo "$EPOCHSECONDS" >"$scratch/stamp"
	# the filter stamps every line (no fork per line)
	while IFS= read -r line || [ -n "$line" ]; do
		echo "$EPOCHSECONDS" >"$scratch/stamp"
		line="# $line"
		printf '%s\n' "${line/#'# # '/# }"
	done <"$scratch/out" &
	fpid=$!
	timeout --kill-after=10 "$cap" bash "$t" >"$scratch/out" 2>&1 </dev/null &
	tpid=$!
	silence=0 why=''
	while kill -0 "$tpid" 2>/dev/null; do
		sleep 1
		read -r at <"$scratch/stamp" || at=$EPOCHSECONDS
		idle=$((EPOCHSECONDS - at))
		[ "$idle" -le "$silence" ] || silence=$idle
		if [ "$idle" -ge "$idle_limit" ] && [ ! -e "$scratch/idle" ]; then
			# timeout(1) passes the TERM on to the test's process group
			touch "$scratch/idle"
			why="no output for ${idle}s"
			echo "# run-all: $why: stopping $(basename "$t" .sh)"
			kill -TERM "$tpid" 2>/dev/null || :
			(sleep 10 && kill -KILL "$tpid" 2>/dev/null) &
		fi
	done
	rc=0
	wait "$tpid" || rc=$?
	wait "$fpid" || :
	[ ! -e "$scratch/idle" ] || rc=124
	[ "$rc" != 124 ] || [ -n "$why" ] || why="still running after ${cap}s"
}

echo "TAP version 13"
echo "1..${#tests[@]}"
n=0 failed=0
for t in "${tests[@]}"; do
	n=$((n + 1))
	name=$(basename "$t" .sh)
	start=$EPOCHSECONDS
	run_test "$t"
	secs=$((EPOCHSECONDS - start))
	case $rc in
	0) echo "ok $n - $name (${secs}s, longest silence ${silence}s)" ;;
	4) echo "ok $n - $name # SKIP" ;;
	124) echo "not ok $n - $name (stopped: $why, ${secs}s)"; failed=$((failed + 1)) ;;
	*) echo "not ok $n - $name (exit $rc, ${secs}s)"; failed=$((failed + 1)) ;;
	esac
done
echo "# $((n - failed)) of $n passed"
[ "$failed" -eq 0 ]
