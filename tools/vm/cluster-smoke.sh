#!/usr/bin/env bash
# Guest-side smoke test of tools/vm/run-cluster.sh (shared LUN + network).
#
# Usage (host):
#   tools/vm/run-cluster.sh --kver KVER --nodes 3 --lun build/vm/lun.img \
#       -- tools/vm/cluster-smoke.sh
#
# On every node: ping every peer (3 packets, all must come back).
# Node 1: writes a 4 KiB pattern (containing RED_RUN_ID) at offset 1 MiB of
#   the shared LUN with O_DIRECT, then a 4 KiB marker block at 2 MiB; then
#   accepts one TCP message from every other node on port 7777 and answers
#   each on its port 7778.
# Nodes 2..N: poll (bounded) the marker with O_DIRECT reads, then read the
#   pattern with O_DIRECT and compare; send "hello" to node 1:7777 (bash
#   /dev/tcp) and wait for node 1's answer on 7778 (busybox nc -l).
# Every wait is bounded by RED_SMOKE_WAIT seconds (default 120).
set -euo pipefail

: "${RED_NODE:?}" "${RED_NODES:?}" "${RED_LUN:?}" "${RED_ADDRS:?}" "${RED_RUN_ID:?}"
# shellcheck source=/dev/null
. /tmp/red-node
wait_s=${RED_SMOKE_WAIT:-120}
t0=$SECONDS
say() { printf 'smoke[%s] +%ss: %s\n' "$RED_NODE" "$((SECONDS - t0))" "$*"; }
die() { say "FAIL: $*"; exit 1; }

read -r -a addrs <<<"$RED_ADDRS"
node1=${addrs[0]}

# 4 KiB blocks, unique to this run.
block() { { yes "$1" || :; } | head -c 4096; }
block "red-smoke pattern $RED_RUN_ID" >/tmp/smoke-pattern
block "red-smoke marker $RED_RUN_ID" >/tmp/smoke-marker
readblk() { # OFFSET_IN_4K_BLOCKS OUTFILE
	dd if="$RED_LUN" of="$2" bs=4096 skip="$1" count=1 iflag=direct status=none
}
writeblk() { # INFILE OFFSET_IN_4K_BLOCKS
	dd if="$1" of="$RED_LUN" bs=4096 seek="$2" count=1 oflag=direct conv=fsync status=none
}

# 1. ping every peer
for p in $RED_PEERS; do
	out=$(busybox ping -c 3 -W 2 "$p" 2>&1) || die "ping $p: $out"
	grep -q '3 packets received' <<<"$out" || die "ping $p lost packets: $out"
	say "ping $p: $(grep -E 'round-trip|rtt' <<<"$out")"
done

if [ "$RED_NODE" = 1 ]; then
	# 2. shared LUN: write pattern, then marker
	writeblk /tmp/smoke-pattern 256 # 1 MiB
	writeblk /tmp/smoke-marker 512  # 2 MiB
	say "wrote pattern at 1 MiB and marker at 2 MiB of $RED_LUN (O_DIRECT)"

	# 3. TCP: one hello from each other node, then an answer to each
	: >/tmp/smoke-hellos
	for _ in $(seq 2 "$RED_NODES"); do
		timeout "$wait_s" busybox nc -l -p 7777 >>/tmp/smoke-hellos ||
			die "no TCP hello within ${wait_s}s ($(wc -l </tmp/smoke-hellos) received)"
	done
	for i in $(seq 2 "$RED_NODES"); do
		grep -qx "hello from node $i run $RED_RUN_ID" /tmp/smoke-hellos ||
			die "no hello from node $i: $(tr '\n' '|' </tmp/smoke-hellos)"
		a=${addrs[i - 1]}
		deadline=$((SECONDS + wait_s))
		until (echo "ack from node 1 to node $i run $RED_RUN_ID" >"/dev/tcp/$a/7778") 2>/dev/null; do
			[ "$SECONDS" -lt "$deadline" ] || die "cannot connect to $a:7778"
			sleep 0.5
		done
	done
	say "TCP: hellos from nodes 2..$RED_NODES received, acks sent"
else
	# 2. shared LUN: poll for the marker, then check the pattern
	deadline=$((SECONDS + wait_s))
	until readblk 512 /tmp/got-marker && cmp -s /tmp/got-marker /tmp/smoke-marker; do
		[ "$SECONDS" -lt "$deadline" ] || die "marker not seen on $RED_LUN within ${wait_s}s"
		sleep 0.5
	done
	readblk 256 /tmp/got-pattern
	cmp -s /tmp/got-pattern /tmp/smoke-pattern || die "pattern at 1 MiB differs"
	say "read node 1's pattern from $RED_LUN (O_DIRECT)"

	# 3. TCP: hello to node 1, answer back
	busybox nc -l -p 7778 >/tmp/smoke-ack &
	lpid=$!
	deadline=$((SECONDS + wait_s))
	until (echo "hello from node $RED_NODE run $RED_RUN_ID" >"/dev/tcp/$node1/7777") 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || die "cannot connect to $node1:7777"
		sleep 0.5
	done
	rc=0
	timeout "$wait_s" tail --pid="$lpid" -f /dev/null || rc=$?
	[ "$rc" -eq 0 ] || { kill "$lpid" 2>/dev/null; die "no TCP answer from node 1 within ${wait_s}s"; }
	wait "$lpid" || :
	grep -qx "ack from node 1 to node $RED_NODE run $RED_RUN_ID" /tmp/smoke-ack ||
		die "bad answer from node 1: $(cat /tmp/smoke-ack)"
	say "TCP: hello sent to $node1:7777, answer received on 7778"
fi
say "PASS"
