#!/usr/bin/env bash
# Boot N QEMU/TCG guests at once, sharing one LUN and one isolated network
# segment, and run the same command on every one of them.
#
# Usage:
#   tools/vm/run-cluster.sh --kver KVER --nodes N --lun FILE [--lun-size MiB]
#       [--timeout SEC] [--idle-timeout SEC] [--log-dir DIR] [--mem MiB] [--smp N]
#       [--expect-kill I[,J...]] [--mcast GROUP:PORT] [--env NAME=VALUE]...
#       [--node-disk MiB] [--tcg-thread auto|multi|single] -- CMD [ARGS...]
#
#   --nodes N        1..4 guests (2..4 for a real cluster)
#   --lun FILE       raw image attached to every guest (created, sparse, if
#                    missing; an existing file is used as is)
#   --lun-size MiB   size of a newly created LUN (default 256)
#   --timeout SEC    the run's total backstop, boot included (default 600)
#   --idle-timeout SEC  stop the guests when none of them has printed a
#                    line for SEC seconds (default 0 = off): the guests
#                    share one progress file (LOGDIR/progress, see
#                    run-guest.sh), so a node that waits for another's
#                    work is not idle while that one works
#   --log-dir DIR    default build/logs/cluster-KVER
#   --mem/--smp      per guest (default 1024 MiB, 2 vCPUs)
#   --expect-kill L  nodes that may die without finishing (e.g. they power
#                    themselves off); also read from $RED_EXPECT_KILL
#   --mcast G:P      multicast group:port of the segment (default
#                    230.0.0.1:<random free port>)
#   --env NAME=VALUE passed to every guest (RED_PEER_WAIT=S: how long the
#                    peer barrier waits; default min(180, timeout/3), 0 = off)
#   --node-disk MiB  also give every node a private disk of its own: LOGDIR/
#                    node-I-disk.img, created sparse and empty for each run
#                    (kept across a node's reboots), virtio-blk serial
#                    reddisk; the guest gets RED_DISK=/dev/vdX (default: none)
#   --tcg-thread M   QEMU's TCG threading for every guest (run-guest.sh):
#                    auto (default) is single when the guests' vCPUs together
#                    outnumber the host's CPUs, else multi.  On an
#                    overcommitted host, single-threaded TCG was faster (the
#                    three-node PostgreSQL check, clean-clone runs: 655 s
#                    against 833 s on 6.1, 715 s against 759 s on 6.12) and has no
#                    cross-vCPU races in the emulator (the suspected cause
#                    of an "Oops: int3" at boot); each guest's vCPUs still run
#                    interleaved, so guest SMP code is still exercised, and
#                    the single-guest suites (tools/vm/check.sh) keep
#                    multi-threaded TCG.
#
# Each guest is tools/vm/run-guest.sh (host root on 9p, read-only) plus
#   -drive file=LUN,format=raw,if=none,id=lun,cache=none,aio=native
#   -device virtio-blk-pci,drive=lun,share-rw=on,serial=redlun
#   -netdev socket,id=n0,mcast=G:P,localaddr=127.0.0.1
#   -device virtio-net-pci,netdev=n0,mac=52:54:00:77:00:0I
# (no user-mode networking; the segment is carried over host loopback only)
# and, with --node-disk, -drive file=LOGDIR/node-I-disk.img,...,id=disk plus
# -device virtio-blk-pci,drive=disk,serial=reddisk.
# The guest runs tools/vm/cluster-node.sh, which loads virtio_net/virtio_blk,
# configures 192.168.77.(10+I)/24, finds the LUN by serial, writes
# /tmp/red-node, waits until every peer answers ping, then execs CMD with
#   RED_NODE=I RED_NODES=N RED_ADDR RED_ADDRS="a1 a2 ..." RED_PEERS
#   RED_IFACE RED_LUN=/dev/vdX RED_RUN_ID RED_EXPECT_KILL RED_BOOT=B
# (and RED_DISK=/dev/vdY with --node-disk)
# (B = 1 on the first boot, 2 after one reboot, ...) besides run-guest.sh's
# DM_DISABLE_UDEV=1 RED_GUEST=1 RED_KVER HOME=/tmp.
#
# Output: live, each line prefixed "[nI] "; per node in LOGDIR:
#   node-I.log, node-I.console.log  (run-guest.sh logs, dmesg included)
#   node-I.pid    QEMU's pid while it runs (kill -KILL it to cut power)
#   node-I.rc     run-guest.sh's exit status
#   node-I.ready, node-I.cready  seconds from start to RED-NODE-READY /
#                 RED-CLUSTER-READY;  summary.txt
# Killing a node from a test: a guest prints the line "RED-KILL-NODE J" on
# its stdout and the harness SIGKILLs node J's QEMU (J may be the guest
# itself: print, then sleep); such a node counts as expected to die.  A guest
# may also power itself off with `echo o >/proc/sysrq-trigger`; list it in
# --expect-kill for that to pass.
# Marks: a guest that prints "RED-MARK NAME" gets the line "SECONDS nI NAME"
# in LOGDIR/marks.txt, SECONDS on the harness's clock (from the start); the
# harness adds "SECONDS nJ killed" for every node it kills.  Durations
# across nodes are measured there, on one clock.
# Timeline: every line of every guest, "SECONDS nI LINE" on the same clock,
# in LOGDIR/timeline.txt (where a story spends its time).
# Rebooting a node: a guest prints "RED-REBOOT-NODE J" and the harness
# SIGKILLs node J's QEMU as for RED-KILL-NODE, then boots node J again: same
# LUN, network, address and --env, RED_BOOT one more, and a time-out of what
# is left of --timeout (60 s at least).  At most 3 boots per node.  The
# killed boot's logs are kept as node-J.bootB.log / node-J.bootB.console.log
# (node-J.bootB.rc: its exit status); only its kernel log is judged (by
# check-dmesg.sh, up to the kill), and node J's verdict is its last boot's.
#
# Exit status: 0 if every node's command exited 0 (or an expected-to-die
# node died cleanly) with no kernel problem report; 1 otherwise; 2 usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)

usage() {
	sed -n '5,43p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	echo "Guest environment, logs and killing nodes: see the header of $0." >&2
	exit 2
}
die() { echo "run-cluster: $*" >&2; exit 2; }
say() { printf '[harness] %s\n' "$*"; }

kver='' nodes='' lun='' lun_size=256 tmo=600 idle_tmo=0 logdir='' mem=1024 smp=2 max_boots=3
expect_kill=${RED_EXPECT_KILL:-} mcast='' envs=() node_disk='' tcg_thread=auto
while [ $# -gt 0 ]; do
	case $1 in
	--kver) kver=${2:?}; shift 2 ;;
	--nodes) nodes=${2:?}; shift 2 ;;
	--lun) lun=${2:?}; shift 2 ;;
	--lun-size) lun_size=${2:?}; shift 2 ;;
	--timeout) tmo=${2:?}; shift 2 ;;
	--idle-timeout) idle_tmo=${2:?}; shift 2 ;;
	--log-dir) logdir=${2:?}; shift 2 ;;
	--mem) mem=${2:?}; shift 2 ;;
	--smp) smp=${2:?}; shift 2 ;;
	--expect-kill) expect_kill=${2:?}; shift 2 ;;
	--mcast) mcast=${2:?}; shift 2 ;;
	--env) envs+=("${2:?}"); shift 2 ;;
	--node-disk) node_disk=${2:?}; shift 2 ;;
	--tcg-thread) tcg_thread=${2:?}; shift 2 ;;
	--) shift; break ;;
	-h | --help) usage ;;
	*) echo "run-cluster: unknown argument $1" >&2; usage ;;
	esac
done
[ -n "$kver" ] || die "--kver is required"
[ -n "$nodes" ] || die "--nodes is required"
[ -n "$lun" ] || die "--lun is required"
[ $# -gt 0 ] || die "no command given after --"
case $nodes$lun_size$tmo$idle_tmo$mem$smp in *[!0-9]*) die "--nodes/--lun-size/--timeout/--idle-timeout/--mem/--smp take integers" ;; esac
case $node_disk in *[!0-9]*) die "--node-disk takes MiB" ;; esac
[ -z "$node_disk" ] || [ "$node_disk" -gt 0 ] || die "--node-disk must be at least 1 MiB"
{ [ "$nodes" -ge 1 ] && [ "$nodes" -le 4 ]; } || die "--nodes must be 1..4"
case $tcg_thread in
auto) tcg_thread=multi; [ $((nodes * smp)) -le "$(nproc)" ] || tcg_thread=single ;;
multi | single) ;;
*) die "--tcg-thread takes auto, multi or single, not '$tcg_thread'" ;;
esac
expect_kill=${expect_kill//,/ }
for k in $expect_kill; do
	case $k in *[!0-9]*) die "--expect-kill takes node numbers" ;; esac
done
for e in "${envs[@]}"; do
	[[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "bad --env '$e' (want NAME=VALUE)"
done
[ -r "/boot/vmlinuz-$kver" ] || die "/boot/vmlinuz-$kver not found/readable"

# The shared LUN.
mkdir -p "$(dirname "$lun")"
lun=$(cd "$(dirname "$lun")" && pwd -P)/$(basename "$lun")
case $lun in *,* | *[[:space:]]*) die "LUN path $lun contains a comma or space" ;; esac
if [ ! -e "$lun" ]; then
	truncate -s "${lun_size}M" "$lun"
	echo "run-cluster: created LUN $lun (${lun_size} MiB)" >&2
fi
{ [ -f "$lun" ] && [ -w "$lun" ]; } || die "LUN $lun is not a writable regular file"

# The segment: one multicast group on host loopback, a free port per run.
if [ -z "$mcast" ]; then
	used=$(ss -Hunla 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }')
	for _ in $(seq 1 50); do
		p=$(shuf -i 20000-59999 -n 1)
		grep -qx "$p" <<<"$used" || break
	done
	mcast=230.0.0.1:$p
fi
[[ $mcast =~ ^2(2[4-9]|3[0-9])\.[0-9]+\.[0-9]+\.[0-9]+:[0-9]+$ ]] || die "--mcast wants a multicast GROUP:PORT"

[ -n "$logdir" ] || logdir=$repo/build/logs/cluster-$kver
mkdir -p "$logdir"
logdir=$(cd "$logdir" && pwd -P)
case $logdir in *,*) die "log dir $logdir contains a comma" ;; esac
rm -f "$logdir"/node-[0-9]*.* "$logdir/summary.txt" "$logdir/marks.txt" "$logdir/timeline.txt"
touch "$logdir/progress"
# The private disks (--node-disk): empty for every run.
if [ -n "$node_disk" ]; then
	for i in $(seq 1 "$nodes"); do truncate -s "${node_disk}M" "$logdir/node-$i-disk.img"; done
fi

addrs='' macs=''
for i in $(seq 1 "$nodes"); do
	addrs+=${addrs:+ }192.168.77.$((10 + i))
	macs+=${macs:+ }$(printf '52:54:00:77:00:%02x' "$i")
done
run_id=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')

# Build the initramfs once, before the guests race to do it.
timeout 300 "$here/mkinitramfs.sh" "$kver" "$repo/build/initramfs/initramfs-$kver.cpio.gz"

tmp=$(mktemp -d "$repo/build/vm/cluster.XXXXXX")
start=$EPOCHREALTIME
elapsed() { awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
# the same into $el, in bash alone: for every line of output, no process
start_us=${start/./}
el=''
elapsed_b() {
	local us=$((${EPOCHREALTIME/./} - start_us))
	printf -v el '%d.%d' $((us / 1000000)) $((us / 100000 % 10))
}

# SIGKILL node $1's QEMU (requested by node $2); $3 = 1: then boot it again
# (run_node does that when it finds node-J.reboot).
kill_node() {
	local j=$1 by=$2 reboot=${3:-0} pid what=RED-KILL-NODE how=
	[ "$reboot" = 0 ] || what=RED-REBOOT-NODE
	case $j in '' | *[!0-9]*) say "n$by: bad $what '$j'"; return 0 ;; esac
	if [ "$j" -lt 1 ] || [ "$j" -gt "$nodes" ]; then
		say "n$by: $what $j: no such node"
		return 0
	fi
	if [ "$reboot" = 1 ] && [ -f "$logdir/node-$j.reboots" ] &&
		[ "$(wc -l <"$logdir/node-$j.reboots")" -ge $((max_boots - 1)) ]; then
		say "n$by: $what $j: node $j was booted $max_boots times already: killed, not rebooted"
		reboot=0 what=RED-KILL-NODE
	fi
	pid=$(cat "$logdir/node-$j.pid" 2>/dev/null || :)
	if [ -n "$pid" ] && grep -q '^qemu' "/proc/$pid/comm" 2>/dev/null; then
		if [ "$reboot" = 1 ]; then
			touch "$logdir/node-$j.reboot"
			how=", to be rebooted"
		else
			touch "$logdir/node-$j.killed"
		fi
		kill -KILL "$pid" 2>/dev/null || :
		printf '%s n%s killed\n' "$(elapsed)" "$j" >>"$logdir/marks.txt"
		say "node $j (QEMU pid $pid) killed with SIGKILL at $(elapsed)s, requested by node $by$how"
		[ "$reboot" = 1 ] || return 0
		printf '%s\n' "$(elapsed)" >>"$logdir/node-$j.reboots"
	else
		say "n$by: $what $j: node $j is not running"
	fi
}

# Prefix node $1's output, note readiness, act on kill requests.
filter() {
	local i=$1 line
	while IFS= read -r line || [ -n "$line" ]; do
		printf '[n%d] %s\n' "$i" "$line"
		elapsed_b
		printf '%s n%d %s\n' "$el" "$i" "$line" >>"$logdir/timeline.txt"
		case $line in
		"RED-NODE-READY $i") elapsed >"$logdir/node-$i.ready" ;;
		"RED-CLUSTER-READY $i") elapsed >"$logdir/node-$i.cready" ;;
		"RED-KILL-NODE "*) kill_node "${line#RED-KILL-NODE }" "$i" ;;
		"RED-REBOOT-NODE "*) kill_node "${line#RED-REBOOT-NODE }" "$i" 1 ;;
		"RED-MARK "*) printf '%s n%d %s\n' "$(elapsed)" "$i" "${line#RED-MARK }" >>"$logdir/marks.txt" ;;
		esac
	done
}

run_node() {
	local i=$1 mac rc boot=1 btmo=$tmo left fpid
	shift
	mac=$(printf '52:54:00:77:00:%02x' "$i")
	while :; do
		rc=0
		local args=(--kver "$kver" --mem "$mem" --smp "$smp" --timeout "$btmo"
			--idle-timeout "$idle_tmo" --progress "$logdir/progress"
			--tcg-thread "$tcg_thread"
			--log "$logdir/node-$i.log"
			--env "RED_NODE=$i" --env "RED_NODES=$nodes" --env "RED_ADDRS=$addrs"
			--env "RED_MACS=$macs" --env RED_PREFIX=24 --env RED_LUN_SERIAL=redlun
			--env "RED_RUN_ID=$run_id" --env "RED_EXPECT_KILL=$expect_kill"
			--env "RED_BOOT=$boot")
		# The peer barrier gives up well before the guest time-out.
		args+=(--env "RED_PEER_WAIT=$((btmo / 3 < 180 ? btmo / 3 : 180))")
		for e in "${envs[@]}"; do args+=(--env "$e"); done
		args+=(--qemu-arg -drive
			--qemu-arg "file=$lun,format=raw,if=none,id=lun,cache=none,aio=native"
			--qemu-arg -device --qemu-arg "virtio-blk-pci,drive=lun,share-rw=on,serial=redlun"
			--qemu-arg -netdev --qemu-arg "socket,id=n0,mcast=$mcast,localaddr=127.0.0.1"
			--qemu-arg -device --qemu-arg "virtio-net-pci,netdev=n0,mac=$mac"
			--qemu-arg -pidfile --qemu-arg "$logdir/node-$i.pid")
		if [ -n "$node_disk" ]; then
			args+=(--env RED_DISK_SERIAL=reddisk --qemu-arg -drive
				--qemu-arg "file=$logdir/node-$i-disk.img,format=raw,if=none,id=disk,cache=none,aio=native"
				--qemu-arg -device --qemu-arg "virtio-blk-pci,drive=disk,serial=reddisk")
		fi
		args+=(-- "$here/cluster-node.sh" "$@")
		mkfifo "$tmp/out-$i-$boot"
		filter "$i" <"$tmp/out-$i-$boot" &
		fpid=$!
		# Backstop beyond run-guest.sh's own QEMU time-out.
		timeout -k 10 $((btmo + 120)) "$here/run-guest.sh" "${args[@]}" \
			</dev/null >"$tmp/out-$i-$boot" 2>&1 &
		echo $! >"$tmp/rg-$i.pid"
		wait $! || rc=$?
		wait "$fpid" || :
		[ -e "$logdir/node-$i.reboot" ] || break
		# Killed to be rebooted: keep this boot's logs, boot again.
		rm -f "$logdir/node-$i.reboot" "$logdir/node-$i.pid"
		mv "$logdir/node-$i.log" "$logdir/node-$i.boot$boot.log"
		mv "$logdir/node-$i.console.log" "$logdir/node-$i.boot$boot.console.log" 2>/dev/null || :
		echo "$rc" >"$logdir/node-$i.boot$boot.rc"
		boot=$((boot + 1))
		left=$(awk -v a="$start" -v b="$EPOCHREALTIME" -v t="$tmo" 'BEGIN { printf "%d", t - (b - a) }')
		btmo=$((left < 60 ? 60 : left))
		say "node $i: boot $boot (RED_BOOT=$boot), time-out ${btmo}s"
	done
	echo "$rc" >"$logdir/node-$i.rc"
}

pids=()
# shellcheck disable=SC2317  # invoked by trap
cleanup() { rm -rf "$tmp"; }
# shellcheck disable=SC2317  # invoked by trap
interrupted() {
	trap - INT TERM
	local f
	for f in "$tmp"/rg-*.pid; do
		if [ -f "$f" ]; then kill -TERM "$(cat "$f")" 2>/dev/null || :; fi
	done
	wait 2>/dev/null || :
	echo "run-cluster: interrupted" >&2
	exit 130
}
trap cleanup EXIT
trap interrupted INT TERM

say "$nodes x $kver, ${mem} MiB/${smp} vCPU each (TCG $tcg_thread-threaded), LUN $lun${node_disk:+, a private ${node_disk} MiB disk each}, segment mcast $mcast on 127.0.0.1, time-out ${tmo}s, logs $logdir"
for i in $(seq 1 "$nodes"); do
	run_node "$i" "$@" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || :; done
total=$(elapsed)

# Verdicts.
fail=0
{
	echo "run-cluster: $nodes x $kver, run $run_id, total ${total}s"
	maxr=0 maxc=0
	for i in $(seq 1 "$nodes"); do
		rc=$(cat "$logdir/node-$i.rc" 2>/dev/null || echo 125)
		r=$(cat "$logdir/node-$i.ready" 2>/dev/null || echo -)
		c=$(cat "$logdir/node-$i.cready" 2>/dev/null || echo -)
		[ "$r" = - ] || maxr=$(awk -v a="$maxr" -v b="$r" 'BEGIN { print (b > a ? b : a) }')
		[ "$c" = - ] || maxc=$(awk -v a="$maxc" -v b="$c" 'BEGIN { print (b > a ? b : a) }')
		expected=0
		[ -e "$logdir/node-$i.killed" ] && expected=1
		for k in $expect_kill; do [ "$k" = "$i" ] && expected=1; done
		verdict=ok
		if [ "$rc" -ne 0 ]; then
			verdict="FAIL (exit $rc)"
			if [ "$expected" = 1 ] && ! grep -aq '^RED-GUEST-EXIT [0-9]*$' "$logdir/node-$i.log"; then
				# Died before finishing, as announced: only its kernel must be clean.
				if "$here/check-dmesg.sh" "$logdir/node-$i.console.log" >/dev/null 2>&1; then
					verdict="ok (killed/powered off as expected)"
				else
					verdict="FAIL (kernel problem report before it died)"
				fi
			fi
		fi
		for b in $(seq 1 $((max_boots - 1))); do
			[ -e "$logdir/node-$i.boot$b.log" ] || continue
			if "$here/check-dmesg.sh" "$logdir/node-$i.boot$b.console.log" >/dev/null 2>&1; then
				verdict+="; boot $b killed for a reboot at $(sed -n "${b}p" "$logdir/node-$i.reboots" 2>/dev/null)s, kernel clean"
			else
				verdict="FAIL (kernel problem report in boot $b before its reboot)"
			fi
		done
		case $verdict in ok*) ;; *) fail=1 ;; esac
		echo "  node $i: $verdict; node ready ${r}s, cluster ready ${c}s"
	done
	echo "  all nodes ready ${maxr}s, all cluster-ready ${maxc}s, total ${total}s"
	if [ "$fail" -eq 0 ]; then echo "run-cluster: PASS"; else echo "run-cluster: FAIL"; fi
} | tee "$logdir/summary.txt" | sed 's/^/[harness] /'
grep -q '^run-cluster: PASS$' "$logdir/summary.txt"
