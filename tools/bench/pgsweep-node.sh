#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Guest side of tools/bench/pgsweep.sh (issue 5, comparison c4, its pgbench
# half): how fast a copier's store grows under pgbench, per chunk size, on
# one QEMU guest (red-testd plays redd; tests/lib.sh).
#
# For each repetition and each chunk size (the order reversed on every
# other repetition, so that drift does not line up with the size):
#   1. the LUN gets the saved image again (an ext4 filesystem with a
#      PostgreSQL 15 cluster after pgbench -i, made on the host);
#   2. the writer (chunk size C) comes up on the LUN, red-testd gives it its
#      epoch; the primary starts on it (port 5432);
#   3. a copier (same C, zram store) joins while the primary runs; its view
#      is mounted and made a hot standby (port 5433) streaming from the
#      primary over 127.0.0.1;
#   4. counters before; pgbench -n -c CLIENTS -j 2 -t TX on the
#      primary; then CHECKPOINT on the primary, the standby catches up,
#      CHECKPOINT on the standby (a restartpoint), sync: every write the
#      run caused has reached the store; counters after;
#   5. one BENCH line (cmp c4, workload pgbench, config chunk-<size>).
#
# Environment (set by pgsweep.sh): RED_PGS_SIZES (e.g. "4k 64k 1m"),
# RED_PGS_REPS, RED_PGS_TX (transactions per client), RED_PGS_CLIENTS (4), RED_PGS_SCALE (the
# scale of the saved image, for BENCHINFO), RED_PGS_GOLD_PATH (the saved
# image as a host path: the fallback when there is no "benchgold" disk),
# RED_PGS_MEM / RED_PGS_SMP (for BENCHINFO).
set -euo pipefail

repo=$(pwd -P)
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"

sizes=${RED_PGS_SIZES:-4k 8k 16k 32k 64k 128k 256k 512k 1m}
reps=${RED_PGS_REPS:-2}
# a fixed number of transactions, not a duration: the store growth per
# transaction is then comparable whatever the host load did to the TPS
txper=${RED_PGS_TX:-100}
clients=${RED_PGS_CLIENTS:-4}
PGBIN=/usr/lib/postgresql/15/bin
MW=/tmp/pgs-w
MC=/tmp/pgs-c
t0=$SECONDS
say() { printf 'pgsweep +%ss: %s\n' "$((SECONDS - t0))" "$*"; }
die() {
	say "FAIL: $*"
	dmsetup status 2>/dev/null | sed 's/^/  status: /'
	[ -f "$RED_TMP/testd.log" ] && tail -n 20 "$RED_TMP/testd.log" | sed 's/^/  testd: /'
	for f in "$RED_TMP"/pg-*.log; do
		[ -f "$f" ] && tail -n 20 "$f" | sed "s|^|  ${f##*/}: |"
	done
	exit 1
}

as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups -- env HOME=/tmp "$@"; }
q() {	# q PORT SQL
	timeout 120 setpriv --reuid=postgres --regid=postgres --init-groups -- env HOME=/tmp \
		psql -h /tmp -p "$1" -U postgres -d postgres -XAtq -v ON_ERROR_STOP=1 -c "$2"
}
pg_start() {	# pg_start DATADIR NAME
	touch "$RED_TMP/pg-$2.log"
	chown postgres:postgres "$RED_TMP/pg-$2.log"
	as_pg "$PGBIN/pg_ctl" -D "$1" -l "$RED_TMP/pg-$2.log" -w -t 300 start >/dev/null
}
pg_stop() { as_pg "$PGBIN/pg_ctl" -D "$1" -m fast -w -t 120 stop >/dev/null 2>&1 || :; }
wait_for() {	# wait_for WHAT SECONDS CMD...
	local what=$1 limit=$2 deadline=$((SECONDS + $2))
	shift 2
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || die "timed out after ${limit}s waiting for $what"
		sleep 0.5
	done
}
streaming() { [ "$(q 5433 'select status from pg_stat_wal_receiver')" = streaming ]; }
caught_up() { [ "$(q 5433 "select pg_last_wal_replay_lsn() >= '$1'::pg_lsn")" = t ]; }

cleanup() {
	pg_stop "$MC/data"
	pg_stop "$MW/data"
	umount "$MC" 2>/dev/null || :
	umount "$MW" 2>/dev/null || :
	red_teardown
}

# ---- set-up -------------------------------------------------------------------
red_begin
trap cleanup EXIT
timeout 60 modprobe virtio_blk || :
ip link set lo up	# the standby streams from the primary over 127.0.0.1
by_serial() {	# by_serial SERIAL -> /dev/vdX, or nothing
	local d
	for d in /sys/block/vd*; do
		[ -r "$d/serial" ] && [ "$(cat "$d/serial")" = "$1" ] && echo "/dev/${d##*/}" && return 0
	done
	return 0
}
LUN='' GOLD=''
for _ in $(seq 1 100); do
	LUN=$(by_serial benchlun)
	GOLD=$(by_serial benchgold)
	[ -n "$LUN" ] && [ -n "$GOLD" ] && break
	sleep 0.1
done
[ -n "$GOLD" ] || GOLD=${RED_PGS_GOLD_PATH:?no benchgold disk and no RED_PGS_GOLD_PATH}
[ -r "$GOLD" ] || die "the saved image $GOLD is not readable"
gold_bytes=$(blockdev --getsize64 "$GOLD" 2>/dev/null || stat -c %s "$GOLD")
lun_kind="virtio-blk raw image on the host (cache=none, aio=native)"
if [ -z "$LUN" ]; then
	# the fallback: a loop device on the guest's tmpfs
	lun_kind="loop device on guest tmpfs"
	LUN=$(red_lun $((gold_bytes / 1048576)) zero)
fi
lun_bytes=$(blockdev --getsize64 "$LUN")
[ "$lun_bytes" -ge "$gold_bytes" ] || die "LUN $LUN ($lun_bytes bytes) smaller than the image ($gold_bytes)"
mkdir -p "$MW" "$MC"
store_size=$((lun_bytes / 1048576))M	# room for every chunk of the LUN
say "LUN $LUN ($((lun_bytes / 1048576)) MiB, $lun_kind), saved image $GOLD, sizes: $sizes, $reps repetition(s), pgbench -t $txper -c $clients"

# the restore: discard + sparse copy when the LUN can discard (zeros read
# back), else a full copy
discard=0
blkdiscard "$LUN" 2>/dev/null && discard=1
say "the LUN can discard: $discard"
restore() {
	if [ "$discard" = 1 ]; then
		blkdiscard "$LUN" || die "blkdiscard $LUN"
		dd if="$GOLD" of="$LUN" bs=4M conv=sparse,fsync status=none || die "restore of $LUN"
	else
		dd if="$GOLD" of="$LUN" bs=4M oflag=direct status=none || die "restore of $LUN"
	fi
}

sectors_of() {	# 4k .. 1m -> 512-byte sectors
	case $1 in
	*k) echo $((${1%k} * 2)) ;;
	*m) echo $((${1%m} * 2048)) ;;
	*) die "bad chunk size $1" ;;
	esac
}
zstat() { awk '{ print $1, $2, $3 }' /sys/block/zram0/mm_stat; }	# orig compr mem
stab_lines() { grep -c ' STABILIZE .* preserve(s)$' "$RED_TMP/testd.log" 2>/dev/null || :; }
counters() {	# counters -> "orig compr mem w_pres c_pres c_cow c_used stab"
	local c_used
	c_used=$(red_status_field c 4)
	echo "$(zstat) $(red_status_field w 9) $(red_status_field c 9) $(red_status_field c 10) ${c_used%/*} $(stab_lines)"
}

# ---- one measurement --------------------------------------------------------
run_one() {	# run_one SIZE REP
	local size=$1 rep=$2 cs n before after out tps tx lsn t
	cs=$(sectors_of "$size")
	t=$SECONDS
	restore
	say "chunk $size rep $rep: LUN restored in $((SECONDS - t))s"
	n=$(($(blockdev --getsz "$LUN") / cs * cs))
	dmsetup create w --table "0 $n red $LUN - $cs writer e-w" || die "writer table"
	RED_WRITER=w RED_WRITER_RES=e-w
	red_testd_start e-w
	red_wait_state w active 60 || die "writer not active"
	mount -o noatime /dev/mapper/w "$MW" || die "mount of the writer"
	pg_start "$MW/data" w || die "primary start"
	say "chunk $size rep $rep: primary up after $((SECONDS - t))s"
	red_zram 0 "$store_size" >/dev/null
	dmsetup create c --table "0 $n red $LUN /dev/zram0 $cs copier e-c" || die "copier table"
	red_wait_state c active 120 || die "copier did not join"
	mount -o noatime /dev/mapper/c "$MC" || die "mount of the copier's view"
	say "chunk $size rep $rep: copier joined and mounted after $((SECONDS - t))s"
	# the copier's private copy of the running primary becomes its standby
	rm -f "$MC/data/postmaster.pid"
	touch "$MC/data/standby.signal"
	{
		echo "port = 5433"
		echo "primary_conninfo = 'host=127.0.0.1 port=5432 user=postgres application_name=copier'"
	} >>"$MC/data/postgresql.auto.conf"
	chown postgres:postgres "$MC/data/standby.signal" "$MC/data/postgresql.auto.conf"
	pg_start "$MC/data" c || die "standby start"
	wait_for "the standby to stream" 180 streaming
	sync
	sleep 2
	say "chunk $size rep $rep: ready after $((SECONDS - t))s (writer $(red_status_field w 3), copier $(red_status_field c 4) chunks)"
	before=$(counters)
	out=$(as_pg pgbench -h /tmp -p 5432 -U postgres -n -c "$clients" -j 2 -t "$txper" postgres 2>&1) ||
		{ printf '%s\n' "$out"; die "pgbench"; }
	tps=$(printf '%s\n' "$out" | sed -n 's/^tps = \([0-9.]*\) .*without initial.*/\1/p')
	tx=$(printf '%s\n' "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
	{ [ -n "$tps" ] && [ -n "$tx" ] && [ "$tx" -gt 0 ]; } || { printf '%s\n' "$out"; die "no tps in pgbench's output"; }
	# everything the run dirtied goes to disk on both sides
	say "chunk $size rep $rep: pgbench done after $((SECONDS - t))s: $tx transactions, $tps tps"
	q 5432 checkpoint >/dev/null || die "checkpoint on the primary"
	say "chunk $size rep $rep: primary checkpoint done after $((SECONDS - t))s"
	lsn=$(q 5432 'select pg_current_wal_lsn()') || die "primary lsn"
	wait_for "the standby to replay up to $lsn" 300 caught_up "$lsn"
	say "chunk $size rep $rep: standby caught up after $((SECONDS - t))s"
	q 5433 checkpoint >/dev/null || die "restartpoint on the standby"
	sync
	after=$(counters)
	[ "$(red_status_field w 11)" = 0 ] || die "writer errors: $(dmsetup status w)"
	[ "$(red_state c)" = active ] || die "copier not active: $(dmsetup status c)"
	# (awk: python3's start-up costs tens of seconds on a loaded TCG host)
	awk -v size="$size" -v rep="$rep" -v tps="$tps" -v tx="$tx" -v b="$before" -v a="$after" 'BEGIN {
		split(b, x, " "); split(a, y, " ")
		for (i = 1; i <= 8; i++) d[i] = y[i] - x[i]
		mem = d[3] > 0 ? d[3] : 1
		printf "BENCH {\"cmp\":\"c4\",\"workload\":\"pgbench\",\"config\":\"chunk-%s\",\"rep\":%d,\"metrics\":{", size, rep
		printf "\"tps\":%.2f,\"transactions\":%d,", tps, tx
		printf "\"store_orig_bytes\":%d,\"store_compr_bytes\":%d,\"store_mem_bytes\":%d,", d[1], d[2], d[3]
		printf "\"store_orig_bytes_per_ktx\":%.1f,\"store_mem_bytes_per_ktx\":%.1f,", d[1] * 1000 / tx, d[3] * 1000 / tx
		printf "\"store_chunks\":%d,\"preserves_per_tx\":%.4f,\"cow_copies_per_tx\":%.4f,", d[7], d[5] / tx, d[6] / tx
		printf "\"stabilize_per_tx\":%.4f,\"chunks_stabilized_per_tx\":%.4f,", d[8] / tx, d[4] / tx
		printf "\"gc_interval_tx_per_gib\":%d}}\n", 1073741824 * tx / mem
	}'
	pg_stop "$MC/data"
	umount "$MC" || die "umount of the copier's view"
	timeout 60 dmsetup remove c || die "copier remove"
	pg_stop "$MW/data"
	umount "$MW" || die "umount of the writer"
	timeout 60 dmsetup remove w || die "writer remove"
	red_testd_stop
	RED_WRITER=''
	echo 1 >/sys/block/zram0/reset
	say "chunk $size rep $rep: done in $((SECONDS - t))s"
}

read -r -a order <<<"$sizes"
pgv=$("$PGBIN/postgres" --version | awk '{ print $3 }')
printf 'BENCHINFO {"part":"pgsweep","cmp":"c4","kernel":"%s","guest_mem_mib":%d,"guest_vcpus":%d,' \
	"$(uname -r)" "${RED_PGS_MEM:-0}" "${RED_PGS_SMP:-0}"
printf '"lun_bytes":%d,"lun_kind":"%s","chunk_sizes":"%s",' "$lun_bytes" "$lun_kind" "$sizes"
printf '"store":"zram0, disksize %s (the LUN size), mm_stat deltas","postgresql":"%s",' "$store_size" "$pgv"
printf '"pgbench":"-n -c %s -j 2 -t %s, scale %s",' "$clients" "$txper" "${RED_PGS_SCALE:-0}"
printf '"standby":"hot standby on the copier view, async streaming over 127.0.0.1",'
printf '"after_run":"CHECKPOINT on the primary, standby replays to its LSN, CHECKPOINT on the standby, sync",'
printf '"daemon":"tests/red-testd (one kernel)","reps":%d,"order":"sizes ascending on odd repetitions, descending on even",' "$reps"
printf '"fresh_lun":"saved image restored before every run","date":"%s"}\n' "$(date -u +%FT%TZ)"
for ((rep = 1; rep <= reps; rep++)); do
	if [ $((rep % 2)) = 1 ]; then
		list=("${order[@]}")
	else
		list=()
		for ((i = ${#order[@]} - 1; i >= 0; i--)); do list+=("${order[i]}"); done
	fi
	for size in "${list[@]}"; do
		run_one "$size" "$rep"
	done
done
say "PASS"
