#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The three-guest cluster test: redd on a writer and two copiers sharing one
# LUN (tools/vm/run-cluster.sh), six scenarios in one boot
# (tests/cluster/cluster3.sh): the byte-exact oracle across machines, ext4
# on every node, a join during writes, a killed copier guest, kill -9 of
# redd, hostile peers.  Prints TAP (the six scenarios, then the harness's
# verdict: every guest finished, node 3 died as asked, dmesg clean).
#
# Usage: tools/vm/cluster3-check.sh          (CLUSTER_KVER selects the
#        kernel, default the newest 6.12; CLUSTER3_IDLE: the guests are
#        stopped when none of them has printed a line for this long,
#        default 300 s; CLUSTER3_TIMEOUT is the run's total backstop,
#        default 1800 s, about three times a run on an idle host (512 s
#        on 2026-12-05; 674 s beside stress-ng --cpu 1);
#        CLUSTER3_ONLY="3 5" runs only those scenarios,
#        for development; CLUSTER3_REDD=PATH tests another redd binary).  Needs redd and redd-probe built by redd/check.sh.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$top"
kver=${CLUSTER_KVER:-$(find /lib/modules -maxdepth 1 -name '6.12*-amd64' -printf '%f\n' | sort -V | tail -n 1)}
tmo=${CLUSTER3_TIMEOUT:-1800}
idle=${CLUSTER3_IDLE:-300}
case $tmo:$idle in *[!0-9:]* | :* | *:) echo "cluster3-check: CLUSTER3_TIMEOUT and CLUSTER3_IDLE must be seconds" >&2; exit 2 ;; esac
for f in build/redd/daemon/redd build/redd/probe/redd-probe; do
	[ -x "$f" ] || { echo "cluster3-check: $f missing (run redd/check.sh)" >&2; exit 1; }
done
make -s KVER="$kver" >/dev/null
make -s -C tests "$top/tests/build/red-xoracle" >/dev/null
mkdir -p build/vm build/logs
lun=build/vm/cluster3-lun-$kver.img
logdir=build/logs/cluster3-$kver
out=build/logs/cluster3-$kver.out
rm -f "$lun"
start=$(date +%s)
rc=0
timeout -k 30 $((tmo + 60)) tools/vm/run-cluster.sh --kver "$kver" --nodes 3 \
	--lun "$lun" --lun-size 320 --timeout "$tmo" --idle-timeout "$idle" --mem 1024 --expect-kill 3 \
	--log-dir "$logdir" --env "RED_C3_ONLY=${CLUSTER3_ONLY:-}" \
	--env "RED_C3_DUMP_AFTER=$((tmo - 90))" \
	${CLUSTER3_REDD:+--env "RED_REDD=$(realpath "$CLUSTER3_REDD")"} -- tests/cluster/cluster3.sh >"$out" 2>&1 || rc=$?
secs=$(($(date +%s) - start))
rm -f "$lun"

echo "TAP version 13"
echo "1..7"
fail=0
for n in 1 2 3 4 5 6; do
	line=$(sed -n "s/^\[n1\] \(\(not \)\{0,1\}ok $n - .*\)/\1/p" "$out" | head -n 1)
	if [ -n "${CLUSTER3_ONLY:-}" ] && [[ " $CLUSTER3_ONLY " != *" $n "* ]]; then
		line="ok $n # SKIP not in CLUSTER3_ONLY"
	elif [ -z "$line" ]; then
		line="not ok $n - scenario $n reported no result (see $out)"
	fi
	case $line in ok*) ;; *) fail=1 ;; esac
	echo "$line"
done
if [ "$rc" = 0 ]; then
	echo "ok 7 - three guests on $kver: every node finished, node 3 killed as asked, dmesg clean (${secs}s)"
else
	fail=1
	grep -E '^\[harness\]|ABORT|FAIL|MISMATCH|not ok' "$out" | tail -n 40 | sed 's/^/# /'
	echo "not ok 7 - three guests on $kver: run-cluster exit $rc after ${secs}s (see $out and $logdir)"
fi
exit "$fail"
