#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Guest side of tools/bench/stab-figures.sh: the stabilization figures of
# redd on three QEMU guests sharing one LUN (node 1 the writer, nodes 2 and
# 3 copiers of resource r0).  Run by tools/vm/run-cluster.sh.
#
# The writer measures, with 0, 1 and 2 copiers joined:
#   - sequential first writes (1 MiB, O_DIRECT, chunks never stabilized in
#     this epoch) and the same range written again (every chunk stable: the
#     steady state), in MiB/s;
#   - redd's statistics over each first-write run (control socket,
#     reset-stats before): STABILIZE requests, chunks, chunks per request,
#     round trip p50/p99/max;
#   - one 4 KiB write per chunk at queue depth 1 (fio), for the round trip
#     of a lone first write.
# Nodes coordinate through marker blocks on the LUN (never in a measured
# range).  Results: lines "FIG key=value ..." on the writer's output.
set -euo pipefail

: "${RED_NODE:?}" "${RED_LUN:?}" "${RED_ADDRS:?}" "${RED_RUN_ID:?}" "${RED_KVER:?}"
repo=$(pwd -P)
redd=${RED_REDD:-$repo/build/redd/daemon/redd}
wait_s=${RED_FIG_WAIT:-300}
mib=${RED_FIG_MIB:-48}		# size of each measured range
chunk=${RED_FIG_CHUNK:-64}	# chunk sectors (32 KiB)
sock=/tmp/redd.sock
t0=$SECONDS
say() { printf 'figures[%s] +%ss: %s\n' "$RED_NODE" "$((SECONDS - t0))" "$*"; }
die() {
	say "FAIL: $*"
	[ -f /tmp/redd.log ] && tail -40 /tmp/redd.log | sed 's/^/  redd: /'
	dmsetup status 2>/dev/null | sed 's/^/  status: /'
	exit 1
}
field() { dmsetup status "$1" | awk -v n="$2" '{ print $(3 + n) }'; }
wait_for() {
	local what=$1 deadline=$((SECONDS + wait_s))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || die "timed out waiting for $what"
		sleep 0.3
	done
}
ctl() {	# ctl JSON-REQUEST -> the reply line
	/usr/bin/python3 - "$sock" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    d = s.recv(65536)
    if not d:
        break
    buf += d
print(buf.decode().strip())
EOF
}
stats() {	# stats -> "stabilize=N chunks=N per=X p50=N p99=N max=N count=N"
	ctl '{"cmd":"status","resource":"r0"}' | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
if not r.get("ok"):
    sys.exit("status: " + r.get("error", "?"))
st = r["resources"][0]["stats"]
rt = st["rtt_us"]
print("stabilize=%d chunks=%d per=%.1f p50_us=%d p99_us=%d max_us=%d count=%d" % (
    st["stabilize"], st["chunks"], st["chunks_per_stabilize"],
    rt["p50"], rt["p99"], rt["max"], rt["count"]))'
}
epoch_ge() { [ "$(field "$1" 3)" -ge "$2" ]; }
state_is() { [ "$(field "$1" 2)" = "$2" ]; }
marker() { printf '%-4096s' "figures $1 $RED_RUN_ID"; }
lun_blocks=$(($(blockdev --getsz "$RED_LUN") / 8))
mark_blk() { echo $((lun_blocks - 1 - $1)); }	# marker slots at the end
has_marker() {
	dd if="$RED_LUN" bs=4096 skip="$(mark_blk "$1")" count=1 iflag=direct status=none |
		cmp -s - <(marker "$2")
}
seq_write() {	# seq_write OFFSET_MIB -> MiB/s
	local s e
	s=$(date +%s%N)
	dd if=/dev/zero of=/dev/mapper/w bs=1M seek="$1" count="$mib" oflag=direct status=none
	e=$(date +%s%N)
	awk -v m="$mib" -v ns="$((e - s))" 'BEGIN { printf "%.1f", m * 1e9 / ns }'
}

modprobe dm-mod
modprobe zram num_devices=1 || :
insmod "$repo/build/$RED_KVER/dm-red.ko"
read -r -a addrs <<<"$RED_ADDRS"
printf 'red-figures-key-%s-0123456789abcdef' "$RED_RUN_ID" >/tmp/red.key
chmod 600 /tmp/red.key
{
	printf '[global]\nnode_id = %s\nkey_file = /tmp/red.key\n' "$RED_NODE"
	printf 'listen = 0.0.0.0:7788\nheartbeat_ms = 500\nlease_ms = 15000\n'
	printf 'log_level = info\ncontrol_socket = %s\n' "$sock"
	for i in "${!addrs[@]}"; do
		printf '[node.%s]\naddress = %s:7788\n' "$((i + 1))" "${addrs[i]}"
	done
	printf '[resource.r0]\nlun = %s\nchunk_sectors = %s\nstore_size = 192M\nwriter = 1\n' \
		"$RED_LUN" "$chunk"
} >/tmp/red.conf
# the red device ends 1 MiB before the LUN does: redd keeps its metadata there
N=$(($(blockdev --getsz "$RED_LUN") - 2048))
N=$((N / chunk * chunk))

if [ "$RED_NODE" = 1 ]; then
	dmsetup create w --table "0 $N red $RED_LUN - $chunk writer r0"
	"$redd" --config /tmp/red.conf >>/tmp/redd.log 2>&1 &
	wait_for "writer active" epoch_ge w 1
	wait_for "the control socket" test -S "$sock"
	# markers go through the writer device: only the LUN is shared
	put_marker() {
		marker "$2" | dd of=/dev/mapper/w bs=4096 seek="$(mark_blk "$1")" \
			count=1 oflag=direct status=none
	}
	run_phase() {	# run_phase COPIERS OFFSET_MIB
		local first steady
		ctl '{"cmd":"reset-stats","resource":"r0"}' >/dev/null
		first=$(seq_write "$2")
		local st
		st=$(stats)
		steady=$(seq_write "$2")
		echo "FIG copiers=$1 seq_first_mibs=$first seq_steady_mibs=$steady $st"
		ctl '{"cmd":"reset-stats","resource":"r0"}' >/dev/null
		# one 4 KiB write per 32 KiB chunk, queue depth 1, fresh range
		fio --name=lone --filename=/dev/mapper/w --direct=1 --ioengine=psync \
			--rw=write:28k --bs=4k --offset=$(($2 + mib))M --size=$((mib / 4))M \
			--output-format=json >/tmp/fio.json 2>/dev/null || die "fio failed"
		iops=$(/usr/bin/python3 -c 'import json, sys; print("%.1f" % json.load(open(sys.argv[1]))["jobs"][0]["write"]["iops"])' /tmp/fio.json)
		echo "FIG copiers=$1 lone_4k_iops=$iops $(stats)"
	}
	run_phase 0 0
	put_marker 0 join2
	wait_for "copier 2's join (epoch 2)" epoch_ge w 2
	sleep 2
	run_phase 1 $((2 * mib))
	put_marker 1 join3
	wait_for "copier 3's join (epoch 3)" epoch_ge w 3
	sleep 2
	run_phase 2 $((4 * mib))
	put_marker 2 finished
	say "writer status: $(dmsetup status w)"
	[ "$(field w 11)" = 0 ] || die "writer errors: $(dmsetup status w)"
else
	slot=$((RED_NODE - 2))
	wait_for "my turn to join" has_marker "$slot" "join$RED_NODE"
	echo 1 >/sys/block/zram0/reset
	echo 192M >/sys/block/zram0/disksize
	dmsetup create c --table "0 $N red $RED_LUN /dev/zram0 $chunk copier r0"
	"$redd" --config /tmp/red.conf >>/tmp/redd.log 2>&1 &
	wait_for "copier active" state_is c active
	say "joined: $(dmsetup status c)"
	wait_for "the end of the measurements" has_marker 2 finished
	say "copier status: $(dmsetup status c)"
	[ "$(field c 2)" = active ] || die "copier not active at the end"
fi
pkill -TERM -x redd || :
sleep 1
say "PASS"
