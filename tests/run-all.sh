#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Run every dm-red test script (tests/t*.sh) in this guest and report TAP 13.
# Usage: tests/run-all.sh [NAME-PATTERN]
# Exit status: 0 if every test passed or skipped, 1 otherwise.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
pattern=${1:-}
mapfile -t tests < <(find "$here" -maxdepth 1 -name 't[0-9]*.sh' | sort)
if [ -n "$pattern" ]; then
	mapfile -t tests < <(printf '%s\n' "${tests[@]}" | grep -- "$pattern")
fi

echo "TAP version 13"
echo "1..${#tests[@]}"
n=0 failed=0
for t in "${tests[@]}"; do
	n=$((n + 1))
	name=$(basename "$t" .sh)
	start=$(date +%s)
	set +e
	timeout --kill-after=10 "${RED_TEST_TIMEOUT:-300}" bash "$t" 2>&1 |
		sed -e 's/^/# /' -e 's/^# # /# /'
	rc=${PIPESTATUS[0]}
	set -e
	secs=$(($(date +%s) - start))
	case $rc in
	0) echo "ok $n - $name (${secs}s)" ;;
	4) echo "ok $n - $name # SKIP" ;;
	*) echo "not ok $n - $name (exit $rc, ${secs}s)"; failed=$((failed + 1)) ;;
	esac
done
echo "# $((n - failed)) of $n passed"
[ "$failed" -eq 0 ]
