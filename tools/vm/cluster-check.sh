#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The multi-guest part of make check: redd on two QEMU guests sharing one
# LUN (tools/vm/run-cluster.sh), end to end (redd/daemon/cluster-smoke.sh):
# join over TCP, stabilization, kill -9 of both daemons, gc and rejoin.
# Runs on one kernel (CLUSTER_KVER, default the newest 6.12); needs redd
# built by redd/check.sh.  Prints TAP and exits non-zero on failure.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$top"
kver=${CLUSTER_KVER:-$(find /lib/modules -maxdepth 1 -name '6.12*-amd64' -printf '%f\n' | sort -V | tail -n 1)}
[ -x build/redd/daemon/redd ] || { echo "cluster-check: build/redd/daemon/redd missing (run redd/check.sh)" >&2; exit 1; }
make -s KVER="$kver" >/dev/null
mkdir -p build/vm build/logs
rm -f build/vm/cluster-lun.img
echo "TAP version 13"
echo "1..1"
start=$(date +%s)
if timeout 900 tools/vm/run-cluster.sh --kver "$kver" --nodes 2 \
	--lun build/vm/cluster-lun.img --lun-size 64 --timeout 600 \
	--log-dir "build/logs/cluster-$kver" -- redd/daemon/cluster-smoke.sh \
	>"build/logs/cluster-$kver.out" 2>&1; then
	echo "ok 1 - redd two-node cluster smoke on $kver ($(($(date +%s) - start))s)"
else
	tail -n 40 "build/logs/cluster-$kver.out" | sed 's/^/# /'
	echo "not ok 1 - redd two-node cluster smoke on $kver (see build/logs/cluster-$kver.out)"
	exit 1
fi
