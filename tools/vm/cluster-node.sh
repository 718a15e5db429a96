#!/usr/bin/env bash
# Guest side of tools/vm/run-cluster.sh: set up one cluster node, then exec
# the test command.  Runs inside a QEMU guest (RED_GUEST=1), never on the host.
#
# Usage (inserted by run-cluster.sh, not meant to be called by hand):
#   tools/vm/cluster-node.sh CMD [ARGS...]
#
# Input environment (set by run-cluster.sh):
#   RED_NODE     this node's index, 1..RED_NODES
#   RED_NODES    number of nodes
#   RED_ADDRS    every node's address, space separated, in node order
#   RED_PREFIX   prefix length of the segment (24)
#   RED_MACS     every node's MAC, space separated, in node order
#   RED_LUN_SERIAL  virtio-blk serial of the shared LUN (redlun)
#   RED_DISK_SERIAL virtio-blk serial of the node's private disk (reddisk,
#                   with run-cluster.sh --node-disk; unset: no such disk)
#   RED_PEER_WAIT   seconds to wait for every peer to answer ping (default
#                   180; 0 = do not wait)
# Steps (each bounded):
#   1. modprobe virtio_net virtio_blk (there is no udev);
#   2. find the NIC by MAC (/sys/class/net/*/address), give it
#      RED_ADDR/RED_PREFIX, bring it and lo up;
#   3. find the LUN by serial (/sys/block/vd*/serial == RED_LUN_SERIAL),
#      and the private disk by RED_DISK_SERIAL when that is set;
#   4. write /tmp/red-node (shell-sourceable: RED_NODE RED_NODES RED_ADDR
#      RED_ADDRS RED_PEERS RED_IFACE RED_LUN [RED_DISK]) and print
#      "RED-NODE-READY i";
#   5. wait until every peer answers one ping, print "RED-CLUSTER-READY i";
#   6. exec CMD with RED_ADDR, RED_PEERS, RED_IFACE, RED_LUN (and RED_DISK)
#      exported too.
set -euo pipefail

say() { printf 'cluster-node[%s]: %s\n' "${RED_NODE:-?}" "$*"; }
die() { say "FAIL: $*" >&2; exit 1; }

[ "${RED_GUEST:-}" = 1 ] || die "runs inside a run-cluster.sh guest only"
[ $# -gt 0 ] || die "no command"
: "${RED_NODE:?}" "${RED_NODES:?}" "${RED_ADDRS:?}" "${RED_MACS:?}"
prefix=${RED_PREFIX:-24}
serial=${RED_LUN_SERIAL:-redlun}
peer_wait=${RED_PEER_WAIT:-180}

read -r -a addrs <<<"$RED_ADDRS"
read -r -a macs <<<"$RED_MACS"
{ [ "${#addrs[@]}" -eq "$RED_NODES" ] && [ "${#macs[@]}" -eq "$RED_NODES" ]; } ||
	die "RED_ADDRS/RED_MACS do not have $RED_NODES entries"
addr=${addrs[RED_NODE - 1]}
mac=${macs[RED_NODE - 1]}

# 1. drivers
timeout 60 modprobe -a virtio_net virtio_blk || die "modprobe virtio_net virtio_blk"

# 2. the NIC, by MAC
iface=''
for _ in $(seq 1 100); do
	for d in /sys/class/net/*; do
		[ "$(cat "$d/address" 2>/dev/null)" = "$mac" ] && iface=${d##*/} && break
	done
	[ -n "$iface" ] && break
	sleep 0.1
done
[ -n "$iface" ] || die "no interface with MAC $mac after 10 s"
ip link set lo up
ip addr add "$addr/$prefix" dev "$iface"
ip link set "$iface" up

# 3. the LUN (and the private disk), by virtio serial
by_serial() { # SERIAL: prints /dev/vdX
	local dev=''
	for _ in $(seq 1 100); do
		for d in /sys/block/vd*; do
			[ -r "$d/serial" ] && [ "$(cat "$d/serial")" = "$1" ] && dev=/dev/${d##*/} && break
		done
		[ -n "$dev" ] && [ -b "$dev" ] && break
		dev=''
		sleep 0.1
	done
	[ -n "$dev" ] || die "no virtio disk with serial $1 after 10 s"
	echo "$dev"
}
lun=$(by_serial "$serial")
disk=''
[ -z "${RED_DISK_SERIAL:-}" ] || disk=$(by_serial "$RED_DISK_SERIAL")

peers=''
for a in "${addrs[@]}"; do
	[ "$a" = "$addr" ] || peers+=${peers:+ }$a
done

# 4. describe the node
{
	printf 'RED_NODE=%q\n' "$RED_NODE"
	printf 'RED_NODES=%q\n' "$RED_NODES"
	printf 'RED_ADDR=%q\n' "$addr"
	printf 'RED_ADDRS=%q\n' "$RED_ADDRS"
	printf 'RED_PEERS=%q\n' "$peers"
	printf 'RED_IFACE=%q\n' "$iface"
	printf 'RED_LUN=%q\n' "$lun"
	[ -z "$disk" ] || printf 'RED_DISK=%q\n' "$disk"
} >/tmp/red-node
export RED_ADDR=$addr RED_PEERS=$peers RED_IFACE=$iface RED_LUN=$lun
[ -z "$disk" ] || export RED_DISK=$disk
say "$iface $addr/$prefix, LUN $lun ($(($(cat "/sys/block/${lun#/dev/}/size") / 2048)) MiB)${disk:+, private disk $disk ($(($(cat "/sys/block/${disk#/dev/}/size") / 2048)) MiB)}, peers: $peers"
echo "RED-NODE-READY $RED_NODE"

# 5. barrier: every peer's network is up
if [ "$peer_wait" -gt 0 ]; then
	deadline=$((SECONDS + peer_wait))
	for p in $peers; do
		until busybox ping -q -c 1 -W 1 "$p" >/dev/null 2>&1; do
			[ "$SECONDS" -lt "$deadline" ] || die "peer $p not reachable within ${peer_wait}s"
			sleep 0.5
		done
	done
	echo "RED-CLUSTER-READY $RED_NODE"
fi

# 6. the test
exec "$@"
