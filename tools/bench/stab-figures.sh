#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The stabilization figures of issue 3, measured (not asserted) on three
# QEMU/TCG guests sharing one LUN: redd's stabilization round trip p50/p99
# with 1 and 2 copiers, chunks per STABILIZE under sequential first writes,
# and the writer's first-write throughput as a fraction of its steady state.
# Guest side: tools/bench/stab-figures-node.sh.
#
# Usage: tools/bench/stab-figures.sh [KVER]   (default: the newest 6.12)
# Needs redd built (bash redd/check.sh).  Prints a table and writes
# build/bench/stab-figures.txt (the raw FIG lines).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$top"
kver=${1:-$(find /lib/modules -maxdepth 1 -name '6.12*-amd64' -printf '%f\n' | sort -V | tail -n 1)}
[ -x build/redd/daemon/redd ] || { echo "stab-figures: build redd first (bash redd/check.sh)" >&2; exit 1; }
make -s KVER="$kver" >/dev/null
mkdir -p build/bench build/vm
rm -f build/vm/figures-lun.img
out=build/bench/stab-figures.out
if ! timeout 1500 tools/vm/run-cluster.sh --kver "$kver" --nodes 3 \
	--lun build/vm/figures-lun.img --lun-size 320 --timeout 1200 \
	--log-dir "build/logs/figures-$kver" -- tools/bench/stab-figures-node.sh >"$out" 2>&1; then
	tail -n 40 "$out" >&2
	echo "stab-figures: the cluster run failed (log $out)" >&2
	exit 1
fi
grep -o 'FIG .*' "$out" >build/bench/stab-figures.txt
echo "stabilization figures, $kver, 3 QEMU/TCG guests on $(nproc) host cores, $(date -u +%F)"
awk '
/seq_first_mibs/ {
	for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	c = v["copiers"]; first[c] = v["seq_first_mibs"]; steady[c] = v["seq_steady_mibs"]
	per[c] = v["per"]; sp50[c] = v["p50_us"]; sp99[c] = v["p99_us"]; nst[c] = v["stabilize"]
}
/lone_4k_iops/ {
	for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	c = v["copiers"]; iops[c] = v["lone_4k_iops"]; lp50[c] = v["p50_us"]; lp99[c] = v["p99_us"]
}
END {
	printf "%-8s %10s %10s %6s %10s %10s %10s %12s %10s %10s\n", "copiers", "first MB/s", "steady", "ratio", "STABILIZE", "chunks/req", "seq p50us", "seq p99us", "lone p50us", "lone p99us"
	for (c = 0; c <= 2; c++)
		printf "%-8s %10s %10s %6.2f %10s %10s %10s %12s %10s %10s\n", c, first[c], steady[c], (steady[c] > 0 ? first[c] / steady[c] : 0), nst[c], per[c], sp50[c], sp99[c], lp50[c], lp99[c]
}' build/bench/stab-figures.txt
