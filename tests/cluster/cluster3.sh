#!/usr/bin/env bash
# The three-guest cluster test of redd and dm-red (guest side): node 1 is the
# writer, nodes 2 and 3 the copiers of resource r0, redd on every node, one
# boot for six scenarios.  Node 1 prints the TAP lines ("ok N - ...").
#
# Usage (host): tools/vm/cluster3-check.sh (it runs, in effect)
#   tools/vm/run-cluster.sh --kver KVER --nodes 3 --lun-size 320 --lun L \
#       --expect-kill 3 -- tests/cluster/cluster3.sh
# Needs build/KVER/dm-red.ko, build/redd/daemon/redd,
# build/redd/probe/redd-probe and tests/build/red-xoracle.
#
# Layout of the red devices (they cover the LUN but its last MiB, which is
# the nodes' mailbox, see lib.sh); chunk 32 KiB:
#   X  [0, 16M)      1: red-xoracle, pattern filled before the copiers join
#   F  [32M, 128M)   2: ext4 (dm-linear over the red device), mkfs'd before
#   R5 [128M, 144M)  5: red-xoracle, pattern filled before the copiers join
#   J  [160M, 168M)  3: sequence-stamped single-block writes (zeros before)
#   P  [168M, 172M)  6: blocks written after the probes (zeros before)
#   K  [176M, 304M)  4: first writes to one chunk after another (zeros)
# Order (the node killed in 4 is not needed afterwards):
#   setup: node 1 writer + redd, fills X and R5, mkfs F; nodes 2, 3 join
#   1+2  at once: red-xoracle on X and an ext4 workload on F on all three
#        nodes (ext4 "under load": the oracle's I/O runs beside it)
#   3    node 2 unmounts, gc's and rejoins while node 1 writes J
#   5    red-xoracle on R5 on all three; kill -9 + restart of redd on node 1,
#        then on node 2
#   6    node 3 runs redd-probe against nodes 1 and 2; nodes 1, 2 check
#        their logs; node 1 writes P, the copiers check isolation
#   4    node 1 writes K, asks the harness to kill node 3's QEMU; the
#        longest write stall must stay within lease + margin + slack
# Environment: RED_CLUSTER_WAIT (default 240) bounds every wait for a peer;
# RED_C3_LOAD_S (default 30) is the length of the load of 1+2.
set -euo pipefail

: "${RED_NODE:?}" "${RED_LUN:?}" "${RED_ADDRS:?}" "${RED_RUN_ID:?}" "${RED_KVER:?}"
repo=$(pwd -P)
work=/tmp/cluster3
mkdir -p "$work"
t0=$SECONDS
# shellcheck source=tests/cluster/lib.sh
. "$repo/tests/cluster/lib.sh"

# The read lease: short, so that 4 is quick, long enough for a restarted
# redd to reconnect on a loaded TCG host before the copiers' leases run out.
LEASE_MS=10000
MARGIN_MS=1000 # redd's default lease_margin_ms: max(lease_ms / 10, 100)
SLACK_MS=2500 # TCG scheduling, heartbeat period, the expiry tick
CHUNK=32768
MB=$((1024 * 1024))
X_OFF=0 X_LEN=$((16 * MB))
F_OFF=$((32 * MB)) F_LEN=$((96 * MB))
R5_OFF=$((128 * MB)) R5_LEN=$((16 * MB))
J_OFF=$((160 * MB)) J_LEN=$((8 * MB))
P_OFF=$((168 * MB)) P_LEN=$((4 * MB))
K_OFF=$((176 * MB)) K_LEN=$((128 * MB))
SEED_X=$((0x$(printf %s "$RED_RUN_ID" | cut -c1-8) | 1))
SEED_R5=$((SEED_X + 5))
SEED_J=$((SEED_X + 3))
LOAD_S=${RED_C3_LOAD_S:-30}
xo=$repo/tests/build/red-xoracle
probe=$repo/build/redd/probe/redd-probe
dev=c
[ "$RED_NODE" = 1 ] && dev=w

abort() {
	say "ABORT: $*"
	post abort "$*" || :
	[ -f "$work/redd.log" ] && redd_log | tail -n 300
	dmsetup status 2>/dev/null | sed 's/^/  status: /'
	exit 1
}
for f in "$xo" "$probe" "${RED_REDD:-$repo/build/redd/daemon/redd}" "$repo/build/$RED_KVER/dm-red.ko"; do
	[ -x "$f" ] || [ -f "$f" ] || abort "$f missing"
done

modprobe dm-mod
modprobe zram num_devices=1 || :
insmod "$repo/build/$RED_KVER/dm-red.ko"
write_config "$LEASE_MS" 256M
LEN=$(($(lun_sectors) - 2048)) # sectors under red; a multiple of the chunk
if [ $((LEN % 64)) != 0 ] || [ $((LEN * 512)) -lt $((K_OFF + K_LEN)) ]; then abort "the LUN must be $(((K_OFF + K_LEN) / MB + 1)) MiB or more (a whole number of MiB)"; fi
linear_fs() { # create the ext4 device over this node's red device
	dmsetup create fs --table "0 $((F_LEN / 512)) linear /dev/mapper/$dev $((F_OFF / 512))"
}
# xorun NAME OFF LEN SEED SECONDS [ARGS]: red-xoracle run in the background.
xorun() {
	local name=$1 off=$2 len=$3 seed=$4 secs=$5 role=copier extra=()
	shift 5
	if [ "$RED_NODE" = 1 ]; then role=writer extra=(--lun "$RED_LUN"); fi
	"$xo" run --dev "/dev/mapper/$dev" --offset "$off" --length "$len" --seed "$seed" \
		--chunk-bytes "$CHUNK" --node "$RED_NODE" --role "$role" --seconds "$secs" \
		--threads 2 "${extra[@]}" "$@" >"$work/$name.out" 2>&1 &
	echo $! >"$work/$name.pid"
}
# xowait NAME: wait for it (in this shell, not in $(...)); sets xo_result
# to its "# result" line; status = its.
xowait() {
	local rc=0
	wait "$(cat "$work/$1.pid")" || rc=$?
	sed 's/^/  xoracle: /' "$work/$1.out" | grep -v '^  xoracle: # result' | tail -n 25
	xo_result=$(grep '^# result' "$work/$1.out" | tail -n 1 | sed 's/^# result: //')
	[ -n "$xo_result" ] || xo_result="no result (exit $rc)"
	return "$rc"
}
# want N: scenario N is to run (RED_C3_ONLY, e.g. "3 5", empty = all)
want() { [ -z "${RED_C3_ONLY:-}" ] || [[ " $RED_C3_ONLY " == *" $1 "* ]]; }
verdict() { # RC: ok / fail
	if [ "$1" = 0 ]; then echo ok; else echo fail; fi
}

basefile() { { yes "cluster3 base file $1 run $RED_RUN_ID" || :; } | head -c $(($1 * 3000)); }
for i in $(seq 1 12); do
	printf '%s  base/b%s\n' "$(basefile "$i" | sha256sum | cut -d' ' -f1)" "$i"
done >"$work/base.manifest"

# Before the harness's time-out: leave redd's log and the state in the
# guest's output (its /tmp is lost with it).
if [ -n "${RED_C3_DUMP_AFTER:-}" ]; then
	(
		sleep "$RED_C3_DUMP_AFTER"
		say "still running after ${RED_C3_DUMP_AFTER}s: redd's log and state follow"
		redd_diag
		redd_log | tail -n 1500
	) &
	dumper=$!
fi

# ---- setup ----------------------------------------------------------------
if [ "$RED_NODE" = 1 ]; then
	dmsetup create w --table "0 $LEN red $RED_LUN - 64 writer r0"
	start_redd
	wait_for "writer active at epoch 1" 60 epoch_ge w 1 || abort "writer not active"
	"$xo" fill --dev /dev/mapper/w --offset $X_OFF --length $X_LEN --seed $SEED_X >/dev/null ||
		abort "fill X"
	"$xo" fill --dev /dev/mapper/w --offset $R5_OFF --length $R5_LEN --seed $SEED_R5 >/dev/null ||
		abort "fill R5"
	say "X and R5 filled"
	linear_fs
	mkfs.ext4 -q -F -b 4096 /dev/mapper/fs ||
		abort "mkfs.ext4"
	mkdir -p /tmp/mnt
	mount /dev/mapper/fs /tmp/mnt
	say "ext4 made"
	mkdir /tmp/mnt/base
	for i in $(seq 1 12); do basefile "$i" >"/tmp/mnt/base/b$i"; done
	umount /tmp/mnt
	say "writer ready at epoch $(field w 3): X and R5 filled, ext4 on F"
	post setup-done
	await 2 joined || abort "node 2 did not join"
	await 3 joined || abort "node 3 did not join"
	say "both copiers joined; writer at epoch $(field w 3)"
	post s12-go
else
	await 1 setup-done || abort "no writer"
	echo 1 >/sys/block/zram0/reset
	echo 256M >/sys/block/zram0/disksize
	dmsetup create c --table "0 $LEN red $RED_LUN /dev/zram0 64 copier r0"
	start_redd
	wait_for "the join" 90 state_is c active || abort "copier did not join"
	say "joined at epoch $(field c 3)"
	post joined "$(field c 3)"
	await 1 s12-go || abort "no go for scenarios 1 and 2"
fi

# ---- 1 + 2: the oracle on X and ext4 on F, on all three at once ------------
s1_s2() {
	local rc1=0 rc2=0 r1 load i
	[ "$RED_NODE" = 1 ] || linear_fs
	mkdir -p /tmp/mnt
	if ! mount /dev/mapper/fs /tmp/mnt; then
		post s1 fail "no mount"
		post s2 fail "mount failed"
		return 1
	fi
	xorun s1 $X_OFF $X_LEN $SEED_X $((LOAD_S + 5))
	load=$(ext4_load "/tmp/mnt/node$RED_NODE" "$LOAD_S") || rc2=1
	case $load in *" bad=0") ;; *) rc2=1 ;; esac
	# the base files, written before the join, are intact everywhere
	if ! (cd /tmp/mnt && sha256sum -c --quiet "$work/base.manifest") >"$work/base.check" 2>&1; then
		rc2=1 load+=" base-files-BAD"
		head -n 5 "$work/base.check"
	fi
	# nobody sees what another node wrote after the join point
	for i in 1 2 3; do
		if [ "$i" != "$RED_NODE" ] && [ -e "/tmp/mnt/node$i" ]; then
			rc2=1 load+=" SEES-node$i-files"
		fi
	done
	umount /tmp/mnt || rc2=1
	if fsck.ext4 -n -f /dev/mapper/fs >"$work/fsck.out" 2>&1; then
		load+=" fsck-n=clean"
	else
		rc2=1 load+=" fsck-n=ERRORS"
		tail -n 20 "$work/fsck.out"
	fi
	dmsetup remove fs
	if [ "$RED_NODE" != 1 ] && ! state_is c active; then
		say "1+2: the copier device is $(field c 2): redd's log follows"
		redd_log | tail -n 200
	fi
	xowait s1 || rc1=1
	r1=$xo_result
	say "1: $r1"
	say "2: $load"
	post s1 "$(verdict $rc1)" "$r1"
	post s2 "$(verdict $rc2)" "$load"
}

# ---- 3: a copier joins while the writer writes ----------------------------
s3_writer() {
	local rc=0 S final r lun
	rm -f "$work/s3.stop"
	"$xo" seq-write --dev /dev/mapper/w --offset $J_OFF --length $J_LEN --seed $SEED_J \
		--chunk-bytes $CHUNK --node 1 --seconds 180 --stop-file "$work/s3.stop" \
		--log "$work/s3.log" >"$work/s3.out" 2>&1 &
	local pid=$!
	wait_for "30 sequenced writes" 60 lines_ge "$work/s3.log" 30 || rc=1
	post s3-writing "$(wc -l <"$work/s3.log")"
	await 2 s3 || rc=1
	await 3 s3 || rc=1
	touch "$work/s3.stop"
	wait "$pid" || rc=1
	final=$(sed -n 's/^# result: .* writes=\([0-9]*\).*/\1/p' "$work/s3.out")
	S=$(fact 2 s3 | sed -n 's/^ok S=\([0-9]*\) .*/\1/p')
	# the LUN holds exactly the writer's writes, all of them
	lun=$("$xo" seq-check --dev "$RED_LUN" --offset $J_OFF --length $J_LEN --seed $SEED_J \
		--chunk-bytes $CHUNK --expect "${final:-0}" 2>&1) || { rc=1; printf '%s\n' "$lun" | tail -n 5; }
	[ "$(fact 2 s3 | cut -d' ' -f1)" = ok ] || rc=1
	[ "$(fact 3 s3 | cut -d' ' -f1)" = ok ] || rc=1
	# the join really happened in the middle of the writes
	{ [ "${S:-0}" -ge 1 ] && [ "${final:-0}" -gt "${S:-0}" ]; } || rc=1
	r="join point S=${S:-?} of ${final:-?} writes; node 2: $(fact 2 s3); node 3: $(fact 3 s3);"
	r+=" writer: $(grep '^# seq-write' "$work/s3.out" | sed 's/^# seq-write [^:]*: //')"
	tap $rc 3 "a copier joins while the writer writes: its view is the LUN after exactly S writes, and stays frozen ($r)"
}
s3_copier2() {
	local rc=0 v1 v2 S epoch lunS=0 deadline
	await 1 s3-writing || return 1
	dmsetup message c 0 gc
	wait_for "the rejoin after gc" 90 state_is c active || { post s3 fail "no rejoin"; return 1; }
	epoch=$(field c 3)
	v1=$("$xo" seq-check --dev /dev/mapper/c --offset $J_OFF --length $J_LEN --seed $SEED_J \
		--chunk-bytes $CHUNK 2>&1) || rc=1
	S=$(printf '%s\n' "$v1" | sed -n 's/^# result: .* S=\([0-9]*\).*/\1/p')
	say "3: rejoined at epoch $epoch; view = LUN after S=$S writes"
	[ "$rc" = 0 ] || printf '%s\n' "$v1" | tail -n 8
	# let the writer go on well past the join point, watching the LUN
	deadline=$((SECONDS + 60))
	while [ "$SECONDS" -lt "$deadline" ]; do
		lunS=$("$xo" seq-check --dev "$RED_LUN" --offset $J_OFF --length $J_LEN --seed $SEED_J \
			--chunk-bytes $CHUNK 2>&1 | sed -n 's/^# result: .* S=\([0-9]*\).*/\1/p')
		[ "${lunS:-0}" -ge $((${S:-0} + 100)) ] && break
		sleep 1
	done
	[ "${lunS:-0}" -ge $((${S:-0} + 100)) ] || rc=1
	v2=$("$xo" seq-check --dev /dev/mapper/c --offset $J_OFF --length $J_LEN --seed $SEED_J \
		--chunk-bytes $CHUNK --expect "${S:-0}" 2>&1) || { rc=1; printf '%s\n' "$v2" | tail -n 8; }
	say "3: the LUN went on to S=$lunS; the view still reads S=${S:-?}: $(verdict $rc)"
	post s3 "$(verdict $rc)" "S=${S:-?} epoch=$epoch later-lun-S=${lunS:-?} frozen=$(verdict "$rc")"
}
s3_copier3() {
	local rc=0 v
	await 2 s3 || return 1
	# joined before the first sequenced write: it must read zeros only
	v=$("$xo" seq-check --dev /dev/mapper/c --offset $J_OFF --length $J_LEN --seed $SEED_J \
		--chunk-bytes $CHUNK --expect 0 2>&1) || { rc=1; printf '%s\n' "$v" | tail -n 8; }
	post s3 "$(verdict $rc)" "earlier-joiner-S=$(printf '%s\n' "$v" | sed -n 's/^# result: .* S=\([0-9]*\).*/\1/p')"
}

# ---- 5: kill -9 of redd under application I/O -----------------------------
s5() {
	local rc=0 r grace_line resumed_line errors0
	[ "$RED_NODE" = 1 ] && post s5-go
	await 1 s5-go || return 1
	rm -f "$work/s5.stop"
	errors0=$(field "$dev" 11)
	xorun s5 $R5_OFF $R5_LEN $SEED_R5 240 --stop-file "$work/s5.stop"
	case $RED_NODE in
	1)
		sleep 5
		grace_line=$(log_lines)
		kill9_redd
		start_redd
		say "5: redd killed with -9 and restarted under load"
		if ! wait_for "the restarted writer's grace" 45 log_has "$grace_line" "restart grace over"; then
			rc=1
			redd_diag
		fi
		sleep 3
		post s5-wrestarted
		await 2 s5-crestarted || rc=1
		sleep 5
		post s5-stop
		;;
	2)
		await 1 s5-wrestarted || rc=1
		sleep 2
		resumed_line=$(log_lines)
		kill9_redd
		start_redd
		say "5: redd killed with -9 and restarted under load"
		if ! wait_for "the restarted copier to resume" 45 log_has "$resumed_line" "membership resumed"; then
			rc=1
			redd_diag
		fi
		sleep 3
		post s5-crestarted
		;;
	esac
	await 1 s5-stop || rc=1
	touch "$work/s5.stop"
	# the oracle stops within seconds unless its I/O is stuck
	if ! timeout 90 tail --pid="$(cat "$work/s5.pid")" -f /dev/null; then
		say "5: the oracle is stuck 90 s after the stop"
		redd_diag
		redd_log | tail -n 600
		rc=1
	fi
	xowait s5 || rc=1
	r=$xo_result
	# no error counted, the copiers still active
	[ "$(field "$dev" 11)" = "$errors0" ] || { rc=1; r+=" errors=$errors0->$(field "$dev" 11)"; }
	[ "$RED_NODE" = 1 ] || state_is c active || { rc=1; r+=" state=$(field c 2)"; }
	say "5: $r"
	post s5 "$(verdict $rc)" "$r"
}

# ---- 6: hostile peers -------------------------------------------------------
s6_prober() { # node 3
	local rc=0 out n1=${RED_ADDRS%% *} n2 epoch c
	n2=$(echo "$RED_ADDRS" | cut -d' ' -f2)
	epoch=$(awaitv 1 s6-go) || return 1
	epoch=${epoch#epoch=}
	: >"$work/probe.out"
	for c in "$n1:7788 wrong-key $work/wrong.key 4" "$n2:7788 wrong-key $work/wrong.key 1" \
		"$n1:7788 garbage" "$n1:7788 oversize" "$n1:7788 bad-version 9" \
		"$n1:7788 stale-epoch $work/red.key 4 r0 $epoch" "$n2:7788 garbage"; do
		# shellcheck disable=SC2086  # the case's words
		if out=$(timeout 60 "$probe" --timeout-ms 3000 $c 2>&1); then
			echo "probe $c: rejected" >>"$work/probe.out"
		else
			rc=1
			echo "probe $c: NOT REJECTED" >>"$work/probe.out"
		fi
		printf '%s\n' "$out" | sed "s|^|  probe($c): |"
	done
	say "6: $(grep -c ': rejected$' "$work/probe.out") of 7 probes rejected"
	post s6-probed "$(verdict $rc)" "$(grep -c ': rejected$' "$work/probe.out")/7-rejected"
	await 1 s6-written || return 1
	s6_isolated
}
# pseq MODE DEV [ARGS]: red-xoracle MODE over P, one block per chunk
pseq() {
	local mode=$1 dev=$2
	shift 2
	"$xo" "$mode" --dev "$dev" --offset $P_OFF --length $P_LEN --seed 6 --chunk-bytes $CHUNK \
		--order stride --stride $CHUNK "$@"
}
s6_isolated() { # a copier: P still reads zeros, the LUN has the writer's 16 blocks
	local rc=0
	pseq seq-check /dev/mapper/c --expect 0 >"$work/s6c.out" 2>&1 || rc=1
	pseq seq-check "$RED_LUN" --expect 16 >>"$work/s6c.out" 2>&1 || rc=1
	[ "$rc" = 0 ] || tail -n 8 "$work/s6c.out"
	state_is c active || rc=1
	post s6c "$(verdict $rc)" "16-chunks-isolated=$(verdict $rc) state=$(field c 2)"
}
s6_writer() { # node 1
	local rc=0 before after line r want
	line=$(log_lines)
	post s6-go "epoch=$(field w 3)"
	await 3 s6-probed || rc=1
	sleep 1
	log_since "$line" >"$work/s6.log"
	for want in "handshake failed: authentication failed (wrong key)" \
		"malformed frame: bad magic" "malformed frame: frame too large" \
		"malformed frame: unsupported version" \
		"for stale epoch $(($(field w 3) - 1)) of 'r0' (current $(field w 3))"; do
		if grep -qF -- "$want" "$work/s6.log"; then
			say "6: redd logged: $(grep -F -- "$want" "$work/s6.log" | head -n 1)"
		else
			rc=1
			say "6: redd did NOT log '$want'"
		fi
	done
	# the cluster still works: new writes to unstable chunks get stabilized
	before=$(field w 9)
	timeout 120 "$xo" seq-write --dev /dev/mapper/w --offset $P_OFF --length $P_LEN --seed 6 \
		--chunk-bytes $CHUNK --order stride --stride $CHUNK --count 16 >"$work/s6w.out" 2>&1 ||
		{ rc=1; cat "$work/s6w.out"; }
	after=$(field w 9)
	[ $((after - before)) -ge 16 ] || rc=1
	post s6-written
	await 2 s6c || rc=1
	await 3 s6c || rc=1
	for n in 2 3; do [ "$(fact $n s6c | cut -d' ' -f1)" = ok ] || rc=1; done
	[ "$(fact 2 s6log | cut -d' ' -f1)" = ok ] || rc=1
	[ "$(fact 3 s6-probed | cut -d' ' -f1)" = ok ] || rc=1
	r="probes: $(fact 3 s6-probed); writer log: $(grep -c -e 'incoming connection dropped' -e 'node 4: disconnected' "$work/s6.log") rejections;"
	r+=" copier 2 log: $(fact 2 s6log); after: $((after - before)) chunks stabilized; isolation: node 2 $(fact 2 s6c), node 3 $(fact 3 s6c)"
	tap $rc 6 "wrong key and malformed frames are rejected and logged, the cluster keeps working ($r)"
}
s6_copier2() {
	local rc=0 line want
	line=$(log_lines)
	await 3 s6-probed || return 1
	sleep 1
	for want in "handshake failed: authentication failed (wrong key)" "malformed frame: bad magic"; do
		if log_since "$line" | grep -qF -- "$want"; then
			say "6: redd logged: $(log_since "$line" | grep -F -- "$want" | head -n 1)"
		else
			rc=1
			say "6: redd did NOT log '$want'"
		fi
	done
	post s6log "$(verdict $rc)" "wrong-key+garbage-logged=$(verdict $rc)"
	await 1 s6-written || return 1
	s6_isolated
}

# ---- 4: a copier guest dies ---------------------------------------------------
s4_writer() {
	local rc=0 start kill_ms pid line stall bound r after k_final v
	bound=$((LEASE_MS + MARGIN_MS + SLACK_MS))
	line=$(log_lines)
	post s4-go
	await 3 s4-ready || rc=1
	rm -f "$work/s4.stop"
	start=$EPOCHREALTIME
	"$xo" seq-write --dev /dev/mapper/w --offset $K_OFF --length $K_LEN --seed 4 \
		--chunk-bytes $CHUNK --node 1 --order stride --stride $CHUNK --seconds 120 \
		--stop-file "$work/s4.stop" --log "$work/s4.log" >"$work/s4.out" 2>&1 &
	pid=$!
	sleep 5
	kill_ms=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
	echo "RED-KILL-NODE 3"
	say "4: asked the harness to kill node 3 at +${kill_ms} ms of the writes"
	wait_for "the writer to stop waiting for node 3" 60 log_has "$line" "no longer waiting for node 3" ||
		rc=1
	sleep 6
	touch "$work/s4.stop"
	wait "$pid" || rc=1
	sed 's/^/  /' "$work/s4.out"
	# the longest stall, and the writes that went on after it
	stall=$(awk 'BEGIN { m = 0 } $4 > m { m = $4; s = $1; t = $3 } END { printf "%d %d %d", m, s, t }' "$work/s4.log")
	read -r stall_ms stall_seq stall_at <<<"$stall"
	after=$(awk -v s="$stall_seq" '$1 > s' "$work/s4.log" | wc -l)
	k_final=$(wc -l <"$work/s4.log")
	[ "$stall_ms" -le "$bound" ] || rc=1
	[ "$after" -ge 20 ] || rc=1
	log_since "$line" | grep "no longer waiting for node 3" | head -n 1 | sed 's/^/  /' || :
	post s4-done "$k_final"
	await 2 s4 || rc=1
	[ "$(fact 2 s4 | cut -d' ' -f1)" = ok ] || rc=1
	v=$("$xo" seq-check --dev "$RED_LUN" --offset $K_OFF --length $K_LEN --seed 4 --chunk-bytes $CHUNK \
		--order stride --stride $CHUNK --expect "$k_final" 2>&1) || { rc=1; printf '%s\n' "$v" | tail -n 5; }
	r="kill at +${kill_ms} ms; longest stall ${stall_ms} ms (write $stall_seq at +${stall_at} ms),"
	r+=" bound lease ${LEASE_MS} + margin ${MARGIN_MS} + slack ${SLACK_MS} = ${bound} ms;"
	r+=" $k_final first writes, $after after the stall; node 2: $(fact 2 s4)"
	tap $rc 4 "a copier guest is killed: the writer stalls no longer than the lease, then goes on without it ($r)"
}
s4_copier2() {
	local rc=0 v
	await 1 s4-done || return 1
	# still a member, still isolated: K reads zeros, the LUN has every write
	v=$("$xo" seq-check --dev /dev/mapper/c --offset $K_OFF --length $K_LEN --seed 4 --chunk-bytes $CHUNK \
		--order stride --stride $CHUNK --expect 0 2>&1) || { rc=1; printf '%s\n' "$v" | tail -n 5; }
	state_is c active || rc=1
	# the kernel still holds a read lease renewed by redd
	[ "$(field c 12)" -gt 0 ] || rc=1
	post s4 "$(verdict $rc)" "K-isolated=$(verdict $rc) preserves=$(field c 9) state=$(field c 2) lease-left-ms=$(field c 12)"
}

# tap RC N DESCRIPTION (node 1)
tap() {
	if [ "$1" = 0 ]; then
		echo "ok $2 - $3"
	else
		echo "not ok $2 - $3"
		failed=1
	fi
}
failed=0
results() { # N: node 1 reports scenario N (1, 2, 5) from every node's post
	local n=$1 rc=0 i r='' desc
	for i in 1 2 3; do
		await "$i" "s$n" 120 || { rc=1; r+=" node $i: no result;"; continue; }
		[ "$(fact "$i" "s$n" | cut -d' ' -f1)" = ok ] || rc=1
		r+=" node $i: $(fact "$i" "s$n");"
	done
	case $n in
	1) desc="byte-exact oracle across machines: writer and both copiers under concurrent random I/O, every read and each full view exact, LUN = writer model" ;;
	2) desc="ext4 on all three nodes at once under load, own files intact, nobody sees the others' files, fsck -n clean on every view" ;;
	5) desc="kill -9 of redd on the writer and on a copier under application I/O, restarted: no I/O error, no divergence" ;;
	esac
	tap $rc "$n" "$desc (${r% })"
}

# ---- the run ---------------------------------------------------------------
if want 1 || want 2; then s1_s2 || :; fi
case $RED_NODE in
1)
	if want 1; then results 1; fi
	if want 2; then results 2; fi
	if want 3; then s3_writer; fi
	if want 5; then
		s5 || :
		results 5
	fi
	if want 6; then s6_writer; fi
	if want 4; then s4_writer; fi
	post all-done
	;;
2)
	if want 3; then s3_copier2 || :; fi
	if want 5; then s5 || :; fi
	if want 6; then s6_copier2 || :; fi
	if want 4; then s4_copier2 || :; fi
	await 1 all-done || :
	;;
3)
	if want 3; then s3_copier3 || :; fi
	if want 5; then s5 || :; fi
	if want 6; then s6_prober || :; fi
	if want 4; then
		await 1 s4-go || abort "no scenario 4"
		redd_log | tail -n 300
		post s4-ready
		say "4: waiting to be killed"
		sleep 300
		redd_log | tail -n 1500
		abort "node 3 was not killed within 300 s"
	fi
	await 1 all-done || :
	;;
esac
stop_redd
[ -z "${dumper:-}" ] || kill "$dumper" 2>/dev/null || :
if [ "$RED_NODE" = 1 ]; then
	say "writer status: $(dmsetup status w)"
	[ "$failed" = 0 ] || exit 1
fi
# redd's log, for the record (the guest's /tmp goes with it)
redd_log | tail -n 1500
say "done"
