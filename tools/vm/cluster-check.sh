#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The multi-guest part of make check, on one kernel (CLUSTER_KVER, default
# the newest 6.12):
#   1    redd on two QEMU guests (redd/daemon/cluster-smoke.sh): join over
#        TCP, stabilization, kill -9 of both daemons, gc and rejoin, and the
#        control socket;
#   2-8  redd on three guests, a writer and two copiers, six scenarios in one
#        boot (tools/vm/cluster3-check.sh, tests/cluster/cluster3.sh): the
#        byte-exact oracle across machines, ext4 on every node, a join during
#        writes, a killed copier guest, kill -9 of redd under I/O, hostile
#        peers; then the harness's verdict (dmesg clean).
# CLUSTER_CHECK=smoke or =three runs only one of them.  Needs redd and
# redd-probe built by redd/check.sh.  Prints TAP; exits non-zero on failure.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$top"
kver=${CLUSTER_KVER:-$(find /lib/modules -maxdepth 1 -name '6.12*-amd64' -printf '%f\n' | sort -V | tail -n 1)}
what=${CLUSTER_CHECK:-both}
case $what in
both | smoke | three) ;;
*) echo "cluster-check: CLUSTER_CHECK must be both, smoke or three" >&2; exit 2 ;;
esac
[ -x build/redd/daemon/redd ] || { echo "cluster-check: build/redd/daemon/redd missing (run redd/check.sh)" >&2; exit 1; }
make -s KVER="$kver" >/dev/null
mkdir -p build/vm build/logs
echo "TAP version 13"
case $what in both) echo "1..8" ;; smoke) echo "1..1" ;; three) echo "1..7" ;; esac
fail=0
if [ "$what" != three ]; then
	rm -f build/vm/cluster-lun.img
	start=$(date +%s)
	if timeout 900 tools/vm/run-cluster.sh --kver "$kver" --nodes 2 \
		--lun build/vm/cluster-lun.img --lun-size 64 --timeout 600 --idle-timeout 300 \
		--log-dir "build/logs/cluster-$kver" -- redd/daemon/cluster-smoke.sh \
		>"build/logs/cluster-$kver.out" 2>&1; then
		echo "ok 1 - redd two-node cluster smoke on $kver ($(($(date +%s) - start))s)"
	else
		tail -n 40 "build/logs/cluster-$kver.out" | sed 's/^/# /'
		echo "not ok 1 - redd two-node cluster smoke on $kver (see build/logs/cluster-$kver.out)"
		fail=1
	fi
fi
if [ "$what" != smoke ]; then
	shift=0
	[ "$what" = both ] && shift=1
	# its TAP, renumbered after the smoke test
	CLUSTER_KVER=$kver tools/vm/cluster3-check.sh | awk -v s="$shift" '
		/^TAP version|^1\.\./ { next }
		/^(not )?ok [0-9]+/ { n = ($1 == "not") ? 3 : 2; $n = $n + s }
		{ print }' || fail=1 # pipefail: its status
fi
exit "$fail"
