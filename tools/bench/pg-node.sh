#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Comparison c5 of issue 5, guest side: PostgreSQL on three guests, dm-red
# (config R: one shared LUN, the primary on the writer, hot standbys on
# copiers, as tests/cluster/pg3.sh) against shared-nothing streaming
# replication (config S: every node's own disk, standbys made by
# pg_basebackup).  Both clusters live in the same boot: R on the red device
# (port 5432, /tmp/rd), S on the private disk (port 5433, /tmp/sn); node 1
# is the primary of both.  Host side and usage: tools/bench/pg.sh, which
# runs, in effect,
#   tools/vm/run-cluster.sh --nodes 3 --lun L --node-disk M -- tools/bench/pg-node.sh
#
# Node 1 drives; nodes 2 and 3 run what it asks through the LUN's mailbox
# (tests/cluster/lib.sh): node 1 posts "cN TARGETS ACTION ARGS", each target
# answers "rN RESULT".  Order (alternating R and S inside each repetition):
#   setup    both primaries (template tar, pgbench -i at the small scale),
#            nodes 2 and 3 join both as standbys (R: redctl up as copier +
#            mount, one node at a time; S: pg_basebackup), commits
#            synchronous to ANY 1 (n2, n3)
#   pgbench  per rep, R then S: checkpoint + sync everywhere, disk counters,
#            pgbench -n -c 4 -j 2 -T T on node 1, checkpoint (restartpoints
#            on the standbys once they replayed it) + sync, counters again
#   replica-add-s<small>  node 3 leaves both clusters, then per rep, R then
#            S: node 3 becomes a standby again, timed until it streams
#   replica-add-s<large>  both databases re-made at the large scale with
#            no standby (node 2 leaves both clusters and commits are local
#            meanwhile: a 2 GiB TCG guest holding a copier's store of the
#            whole re-init plus a standby replaying it ran out of memory),
#            node 2 back as a standby of both, then as above.  The workloads run
#            one after the other, not interleaved per rep: each large-scale
#            init takes minutes under TCG, so the scale changes once.
# Environment (from pg.sh): RED_BENCH_REPS, RED_BENCH_T (pgbench seconds),
# RED_BENCH_SCALES ("small large"), RED_BENCH_TEMPLATE (initdb tar),
# RED_BENCH_QUICK (0/1, for the record).
# Output: BENCH / BENCHINFO lines (bench-spec.md) on node 1's stdout.
set -euo pipefail

: "${RED_NODE:?}" "${RED_LUN:?}" "${RED_DISK:?}" "${RED_ADDRS:?}" "${RED_RUN_ID:?}" "${RED_KVER:?}"
repo=$(pwd -P)
work=/tmp/bench-pg
mkdir -p "$work"
t0=$SECONDS
RED_CLUSTER_WAIT=${RED_CLUSTER_WAIT:-900}
# shellcheck source=tests/cluster/lib.sh
. "$repo/tests/cluster/lib.sh"
say() { printf 'pg-node[%s] +%ss: %s\n' "$RED_NODE" "$((SECONDS - t0))" "$*" >&2; }

REPS=${RED_BENCH_REPS:-2}
RUN_T=${RED_BENCH_T:-60}
read -r SMALL LARGE <<<"${RED_BENCH_SCALES:-10 50}"
CLIENTS=4
THREADS=2
LEASE_MS=10000
CHUNK_SECTORS=128
PGBIN=/usr/lib/postgresql/15/bin
DEV=/dev/mapper/r0
read -r -a addr <<<"$RED_ADDRS"
node1=${addr[0]}

abort() {
	say "ABORT: $*"
	post abort "n$RED_NODE: $*" || :
	[ -f "$work/redd.log" ] && tail -n 40 "$work/redd.log" | sed 's/^/  redd.log: /' >&2
	for f in "$work"/pg-*.log; do [ -f "$f" ] && tail -n 20 "$f" | sed "s|^|  ${f##*/}: |" >&2; done
	dmesg | tail -n 30 | sed 's/^/  dmesg: /' >&2
	(sleep 60 && echo o >/proc/sysrq-trigger) >/dev/null 2>&1 &
	exit 1
}
for f in "${RED_REDCTL:-$repo/build/redd/redctl/redctl}" "${RED_REDD:-$repo/build/redd/daemon/redd}" \
	"$repo/build/$RED_KVER/dm-red.ko" "$PGBIN/pg_basebackup" "$PGBIN/pgbench" "${RED_BENCH_TEMPLATE:-}"; do
	[ -e "$f" ] || abort "$f missing"
done
cp "${RED_REDCTL:-$repo/build/redd/redctl/redctl}" "$work/redctl"
rc_() { "$work/redctl" -c "$work/red.conf" "$@"; }

# ---- the two configurations -------------------------------------------------
name_of() { case $1 in R) echo dm-red ;; S) echo shared-nothing ;; esac; }
mnt_of() { case $1 in R) echo /tmp/rd ;; S) echo /tmp/sn ;; esac; }
port_of() { case $1 in R) echo 5432 ;; S) echo 5433 ;; esac; }
# the device whose writes a configuration is charged with
dev_of() { case $1 in R) echo "$RED_LUN" ;; S) echo "$RED_DISK" ;; esac; }
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups -- env HOME=/tmp "$@"; }
pgctl() { # C ARGS...
	local c=$1
	shift
	as_pg "$PGBIN/pg_ctl" -D "$(mnt_of "$c")/data" "$@"
}
q() { # C SQL: on this node's server of C
	timeout 300 setpriv --reuid=postgres --regid=postgres --init-groups -- env HOME=/tmp \
		"$PGBIN/psql" -h /tmp -p "$(port_of "$1")" -U postgres -d postgres -XAtq -v ON_ERROR_STOP=1 -c "$2"
}
pg_start() { # C
	local log=$work/pg-$1.log
	touch "$log"
	chown postgres:postgres "$log"
	pgctl "$1" -l "$log" -w -t 600 start >"$work/pg_ctl.out" 2>&1 ||
		{ cat "$work/pg_ctl.out" >&2; tail -n 30 "$log" >&2; return 1; }
}
pg_stop() { [ ! -f "$(mnt_of "$1")/data/postmaster.pid" ] || pgctl "$1" -m fast -w -t 300 stop >/dev/null; }
streaming() { [ "$(q "$1" "select status from pg_stat_wal_receiver" 2>/dev/null)" = streaming ]; }
replayed() { [ "$(q "$1" "select pg_last_wal_replay_lsn() >= '$2'::pg_lsn" 2>/dev/null)" = t ]; }
written() { awk '{ print $7 * 512 }' "/sys/block/${1#/dev/}/stat"; }
store_mm() { # "orig mem_used" of this node's red store (zram), "0 0" without one
	local s
	s=$(dmsetup table r0 2>/dev/null | awk '{ print $5 }') || s=''
	case $s in /dev/zram*) awk '{ print $1, $3 }' "/sys/block/${s#/dev/}/mm_stat" ;; *) echo "0 0" ;; esac
}
du_data() { du -s -B1 "$(mnt_of "$1")/data" | awk '{ print $1 }'; }
# the filesystem never reaches into the LUN's last 2 MiB (mailbox, redd's record)
fs_blocks() { echo $((($(lun_sectors) * 512 - 2 * 1024 * 1024) / 4096)); }
mkfs_() { mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 "$@"; }

pg_conf() { # C: the primary's settings, shared by both configurations
	local d
	d=$(mnt_of "$1")/data
	cat >>"$d/postgresql.conf" <<-EOF
		listen_addresses = '*'
		port = $(port_of "$1")
		unix_socket_directories = '/tmp'
		wal_level = replica
		hot_standby = on
		max_wal_senders = 10
		wal_keep_size = 128MB
		max_wal_size = 256MB
		synchronous_commit = on
		shared_buffers = 64MB
		wal_receiver_timeout = 60s
		wal_sender_timeout = 60s
	EOF
	cat >>"$d/pg_hba.conf" <<-EOF
		host all all 192.168.77.0/24 trust
		host replication all 192.168.77.0/24 trust
	EOF
}
# prepare_standby C: this node's data directory of C follows node 1's server
prepare_standby() {
	local d
	d=$(mnt_of "$1")/data
	rm -f "$d/postmaster.pid"
	find "$d/pg_replslot" -mindepth 1 -delete
	touch "$d/standby.signal"
	sed -i '/^primary_conninfo\|^primary_slot_name\|^synchronous_standby_names/d' "$d/postgresql.auto.conf"
	echo "primary_conninfo = 'host=$node1 port=$(port_of "$1") user=postgres application_name=n$RED_NODE keepalives_idle=3 keepalives_interval=1 keepalives_count=3'" \
		>>"$d/postgresql.auto.conf"
	chown postgres:postgres "$d/standby.signal" "$d/postgresql.auto.conf"
}

# ---- worker actions (nodes 2, 3); each prints its result on one line -----------
# add C: become a standby of node 1 in C, timed until it streams
act_add() {
	local c=$1 t t1 up_s mnt_s copy_s start_s
	t=$(now)
	if [ "$c" = R ]; then
		rc_ up r0 >"$work/up.out" 2>&1 || { cat "$work/up.out" >&2; return 1; }
		[ "$(field "$DEV" 1)" = copier ] || { say "came up as $(field "$DEV" 1)"; return 1; }
		wait_for "the join" 300 state_is "$DEV" active || return 1
		up_s=$(since "$t")
		t1=$(now)
		mount -o noatime "$DEV" /tmp/rd || return 1
		mnt_s=$(since "$t1")
		copy_s=0
	else
		up_s=0 mnt_s=0
		t1=$(now)
		as_pg "$PGBIN/pg_basebackup" -h "$node1" -p 5433 -U postgres -D /tmp/sn/data -X stream -c fast \
			>"$work/basebackup.out" 2>&1 || { cat "$work/basebackup.out" >&2; return 1; }
		copy_s=$(since "$t1")
	fi
	prepare_standby "$c"
	t1=$(now)
	pg_start "$c" || return 1
	start_s=$(since "$t1")
	wait_for "streaming" 900 streaming "$c" || return 1
	local secs
	secs=$(since "$t")
	read -r orig mem <<<"$(store_mm)"
	[ "$c" = R ] || { orig=0 mem=0; }
	echo "seconds=$secs join_s=$up_s mount_s=$mnt_s basebackup_s=$copy_s start_s=$start_s" \
		"copied_bytes=$([ "$c" = S ] && du_data S || echo "$orig") store_mem_bytes=$mem"
}
# del C: stop being a standby in C (R: leave the red cluster; S: drop the copy)
act_del() {
	local c=$1
	pg_stop "$c" || return 1
	if [ "$c" = R ]; then
		if mountpoint -q /tmp/rd; then umount /tmp/rd || return 1; fi
		if dmsetup info r0 >/dev/null 2>&1; then rc_ down r0 >&2 || return 1; fi
	else
		rm -rf /tmp/sn/data
	fi
	echo ok
}
# snap C [LSN]: once this node's server of C has replayed LSN: a checkpoint
# (a restartpoint on a standby), sync, then the counters
act_snap() {
	local c=$1 lsn=${2:-} orig=0 mem=0 du=0
	if [ -n "$lsn" ]; then wait_for "replay up to $lsn" 900 replayed "$c" "$lsn" || return 1; fi
	q "$c" checkpoint >/dev/null || return 1
	sync
	[ "$c" != R ] || read -r orig mem <<<"$(store_mm)"
	# R: the copiers' views are the writer's database plus their stores
	[ "$c" = R ] && [ "$RED_NODE" != 1 ] || du=$(du_data "$c")
	echo "w=$(written "$(dev_of "$c")") orig=$orig mem=$mem du=$du"
}
act_end() {
	act_del R >/dev/null || return 1
	pg_stop S || return 1
	umount /tmp/sn || return 1
	echo ok
}

# ---- node 1's side of the mailbox -------------------------------------------------
ncmd=0
declare -A res
# cmd "NODES" ACTION ARGS...: run ACTION on NODES, their results in res[NODE]
cmd() {
	local nodes=$1 i v
	shift
	ncmd=$((ncmd + 1))
	post "c$ncmd" "${nodes// /,} $*"
	for i in $nodes; do
		v=$(awaitv "$i" "r$ncmd" 3600) || abort "node $i did not answer '$*'"
		case $v in FAIL*) abort "node $i: '$*': $v" ;; esac
		res[$i]=$v
	done
}
# kv "k=v k=v" KEY: a value of a result line
kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# worker loop: wait for command N of node 1, run it if it names this node
serve() {
	local n=1 line nodes action v deadline
	while :; do
		deadline=$((SECONDS + 3600))
		until line=$(fact 1 "c$n" 2>/dev/null); do
			fact 1 abort >/dev/null 2>&1 && abort "node 1 aborted: $(fact 1 abort)"
			[ "$SECONDS" -lt "$deadline" ] || abort "no command $n from node 1 within an hour"
			sleep 1
		done
		read -r nodes action args <<<"$line"
		if [[ ,$nodes, == *,$RED_NODE,* ]]; then
			say "command $n: $action $args"
			# shellcheck disable=SC2086 # the arguments, split
			if v=$("act_$action" $args); then
				post "r$n" "$v"
				say "  -> $v"
			else
				post "r$n" "FAIL $action $args"
				abort "$action $args failed"
			fi
			[ "$action" != end ] || return 0
		fi
		n=$((n + 1))
	done
}

# ---- BENCH lines -------------------------------------------------------------------
num() { [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]; }
# bench WORKLOAD C REP k=v...: one raw result line, every value a number
bench() {
	local w=$1 c=$2 rep=$3 m='' kvp
	shift 3
	for kvp in "$@"; do
		num "${kvp#*=}" || abort "BENCH $w $c: ${kvp%%=*} is '${kvp#*=}', not a number"
		m+=${m:+,}"\"${kvp%%=*}\":${kvp#*=}"
	done
	printf 'BENCH {"cmp":"c5","workload":"%s","config":"%s","rep":%s,"metrics":{%s}}\n' "$w" "$(name_of "$c")" "$rep" "$m"
}
calc() { awk "BEGIN { printf \"%.6g\", $1 }"; }

# pgbench on node 1 against C, with every node's disk counters around it
bench_pgbench() { # C REP
	local c=$1 rep=$2 lsn out i tps tx bytes=0 orig=0 mem=0 stored
	local -a before=() after=() b=() w=()
	q "$c" checkpoint >/dev/null
	lsn=$(q "$c" "select pg_current_wal_lsn()")
	cmd "2 3" snap "$c" "$lsn"
	for i in 2 3; do before[i]=${res[$i]}; done
	before[1]=$(act_snap "$c") || abort "counters on node 1"
	out=$work/pgbench-$c-$rep.out
	timeout $((RUN_T + 600)) setpriv --reuid=postgres --regid=postgres --init-groups -- env HOME=/tmp \
		"$PGBIN/pgbench" -h /tmp -p "$(port_of "$c")" -U postgres -n -c "$CLIENTS" -j "$THREADS" -T "$RUN_T" postgres \
		>"$out" 2>&1 || { cat "$out" >&2; abort "pgbench on $(name_of "$c") failed"; }
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out")
	tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\)$/\1/p' "$out")
	if [ -z "$tps" ] || [ "${tx:-0}" -le 0 ]; then
		cat "$out" >&2
		abort "no transactions in $out"
	fi
	q "$c" checkpoint >/dev/null
	lsn=$(q "$c" "select pg_current_wal_lsn()")
	after[1]=$(act_snap "$c") || abort "counters on node 1"
	cmd "2 3" snap "$c" "$lsn"
	for i in 2 3; do after[i]=${res[$i]}; done
	for i in 1 2 3; do
		b[i]=$(($(kv "${after[$i]}" w) - $(kv "${before[$i]}" w)))
		bytes=$((bytes + b[i]))
		orig=$((orig + $(kv "${after[$i]}" orig) - $(kv "${before[$i]}" orig)))
		mem=$((mem + $(kv "${after[$i]}" mem) - $(kv "${before[$i]}" mem)))
	done
	# stored: R one database plus the copiers' stores (memory zram uses),
	# S the three databases
	if [ "$c" = R ]; then
		stored=$(($(kv "${after[1]}" du) + $(kv "${after[2]}" mem) + $(kv "${after[3]}" mem)))
	else
		stored=$(($(kv "${after[1]}" du) + $(kv "${after[2]}" du) + $(kv "${after[3]}" du)))
	fi
	w=(tps="$tps" transactions="$tx" bytes_per_tx="$(calc "$bytes / $tx")"
		bytes_per_tx_n1="$(calc "${b[1]} / $tx")" bytes_per_tx_n2="$(calc "${b[2]} / $tx")"
		bytes_per_tx_n3="$(calc "${b[3]} / $tx")" stored_bytes="$stored" db_bytes="$(kv "${after[1]}" du)")
	[ "$c" != R ] || w+=(store_orig_bytes_per_ktx="$(calc "$orig * 1000 / $tx")"
		store_mem_bytes_per_ktx="$(calc "$mem * 1000 / $tx")"
		store_orig_bytes="$(($(kv "${after[2]}" orig) + $(kv "${after[3]}" orig)))"
		store_mem_bytes="$(($(kv "${after[2]}" mem) + $(kv "${after[3]}" mem)))")
	bench pgbench "$c" "$rep" "${w[@]}"
}

# node 3 becomes a replica of C again, timed on node 3; then leaves again
bench_add() { # C SCALE WORKLOAD REP
	local c=$1 scale=$2 wl=$3 rep=$4 r db
	q "$c" checkpoint >/dev/null
	db=$(du_data "$c")
	cmd 3 add "$c"
	r=${res[3]}
	bench "$wl" "$c" "$rep" seconds="$(kv "$r" seconds)" db_bytes="$db" scale="$scale" \
		join_s="$(kv "$r" join_s)" mount_s="$(kv "$r" mount_s)" basebackup_s="$(kv "$r" basebackup_s)" \
		start_s="$(kv "$r" start_s)" copied_bytes="$(kv "$r" copied_bytes)" store_mem_bytes="$(kv "$r" store_mem_bytes)"
	cmd 3 del "$c"
}

pg_init() { # C SCALE
	as_pg "$PGBIN/pgbench" -h /tmp -p "$(port_of "$1")" -U postgres -i -s "$2" -q postgres \
		>"$work/pgbench-i-$1.out" 2>&1 || { cat "$work/pgbench-i-$1.out" >&2; return 1; }
	q "$1" checkpoint >/dev/null
}
sync_names() { # VALUE: synchronous_standby_names of both primaries
	local c
	for c in R S; do
		q "$c" "alter system set synchronous_standby_names = '$1'" >/dev/null
		q "$c" "select pg_reload_conf()" >/dev/null
	done
}
init_both() { # SCALE: both primaries at once (not measured)
	local t pr ps
	t=$(now)
	pg_init R "$1" &
	pr=$!
	pg_init S "$1" &
	ps=$!
	wait "$pr" || abort "pgbench -i -s $1 on dm-red"
	wait "$ps" || abort "pgbench -i -s $1 on shared-nothing"
	say "pgbench -i -s $1 on both primaries in $(since "$t")s: dm-red $(du_data R) B, shared-nothing $(du_data S) B"
}

# ---- every node: modules, redd, the private disk ------------------------------------
modprobe dm-mod
modprobe zram num_devices=0 2>/dev/null || modprobe zram || :
insmod "$repo/build/$RED_KVER/dm-red.ko"
lun_mib=$(($(lun_sectors) / 2048))
# a store as large as the LUN never overflows, whatever the writer changes
write_config_nodes "$LEASE_MS" "${lun_mib}M" "$CHUNK_SECTORS" 1
start_redd
wait_for "redd's control socket" 60 rc_ status r0 >/dev/null 2>&1 || abort "redd did not start"
mkdir -p /tmp/rd /tmp/sn
mkfs_ "$RED_DISK" || abort "mkfs of the private disk"
mount -o noatime "$RED_DISK" /tmp/sn || abort "mount of the private disk"
chown postgres:postgres /tmp/sn

if [ "$RED_NODE" != 1 ]; then
	await 1 primary-ready || abort "no primary"
	# one red join at a time (as pg3.sh): node 3 makes its pg_basebackup
	# meanwhile
	order="R S"
	[ "$RED_NODE" = 2 ] || order="S R"
	for c in $order; do
		[ "$c$RED_NODE" != R3 ] || await 2 joined-R || abort "node 2 did not join"
		v=$(act_add "$c") || abort "standby of $(name_of "$c")"
		say "standby of $(name_of "$c"): $v"
		post "joined-$c"
	done
	post standby-ready
	serve
	stop_redd
	say "done"
	exit 0
fi

# ---- node 1 ------------------------------------------------------------------------
say "setup: the writer, both filesystems, both primaries"
rc_ up r0 >"$work/up.out" 2>&1 || { cat "$work/up.out" >&2; abort "redctl up"; }
[ "$(field "$DEV" 1)" = writer ] || abort "node 1 came up as $(field "$DEV" 1)"
mkfs_ "$DEV" "$(fs_blocks)" || abort "mkfs of the red device"
mount -o noatime "$DEV" /tmp/rd || abort "mount of the red device"
chown postgres:postgres /tmp/rd
for c in R S; do
	d=$(mnt_of "$c")/data
	mkdir -p "$d"
	tar -C "$d" --same-owner -xf "$RED_BENCH_TEMPLATE" || abort "untar the template"
	chown -R postgres:postgres "$d"
	chmod 700 "$d"
	pg_conf "$c"
	pg_start "$c" || abort "primary of $(name_of "$c")"
done
init_both "$SMALL"
post primary-ready
await 2 standby-ready || abort "node 2 is no standby"
await 3 standby-ready || abort "node 3 is no standby"
sync_names 'ANY 1 (n2, n3)'
sleep 2
for c in R S; do
	say "$(name_of "$c"): $(q "$c" "select string_agg(application_name || ':' || sync_state, ' ') from pg_stat_replication")"
done

printf 'BENCHINFO {"cmp":"c5","kernel":"%s","guests":3,"guest_mem_kib":%s,"guest_vcpus":%s,' \
	"$RED_KVER" "$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)" "$(nproc)"
printf '"lun_mib":%s,"lun_kind":"raw sparse file on the host, virtio-blk cache=none aio=native, shared by the 3 guests",' "$lun_mib"
printf '"node_disk_mib":%s,"node_disk_kind":"one raw sparse file per guest, virtio-blk cache=none aio=native",' \
	"$(($(blockdev --getsz "$RED_DISK") / 2048))"
printf '"chunk_kib":%s,"store":"zram, store_size %s MiB","lease_ms":%s,"fs":"ext4 4 KiB, noatime",' \
	"$((CHUNK_SECTORS / 2))" "$lun_mib" "$LEASE_MS"
printf '"postgres":"%s","pgbench":"-n -c %s -j %s -T %s, scale %s, on node 1 over its Unix socket","sync":"ANY 1 (n2, n3)",' \
	"$("$PGBIN/postgres" --version | awk '{ print $3 }')" "$CLIENTS" "$THREADS" "$RUN_T" "$SMALL"
printf '"scales":[%s,%s],"reps":%s,"quick":%s,"date":"%s",' "$SMALL" "$LARGE" "$REPS" "${RED_BENCH_QUICK:-0}" "$(date -u +%FT%TZ)"
printf '"order":"pgbench reps, then replica-add at the small scale, then at the large one (one re-init); R and S alternate inside each rep; both clusters run in the same boot, the other one idle",'
printf '"lun_meta":"redd writes a 4 KiB heartbeat slot per node every 500 ms on the LUN (Documentation/lun-metadata.rst): counted in the dm-red bytes, it is most of the copiers bytes_per_tx_n2/n3 and depends on wall time, not on transactions",'
printf '"bytes":"bytes_per_tx: sectors written (/sys/block/vdX/stat) on the counted disks of all 3 nodes from a checkpoint+sync before pgbench to one after it (restartpoints on the standbys included), per transaction; dm-red counts the LUN only, its copiers store in zram (store_*); stored_bytes: du of the data directories (dm-red: the one database plus the copiers stores mem_used)"}\n'

for rep in $(seq 1 "$REPS"); do
	for c in R S; do
		say "pgbench, rep $rep, $(name_of "$c")"
		bench_pgbench "$c" "$rep"
	done
done
say "node 3 leaves both clusters"
cmd 3 del R
cmd 3 del S
add_rounds() {	# add_rounds SCALE WORKLOAD: dm-red and shared nothing alternating
	local rep c
	for rep in $(seq 1 "$REPS"); do
		for c in R S; do
			say "replica-add at scale $1, rep $rep, $(name_of "$c")"
			bench_add "$c" "$1" "$2" "$rep"
		done
	done
}
add_rounds "$SMALL" "replica-add-s$SMALL"
say "node 2 leaves both clusters for the re-init at scale $LARGE (commits local meanwhile)"
sync_names ''
cmd 2 del R
cmd 2 del S
init_both "$LARGE"
for c in R S; do
	cmd 2 add "$c"
	say "node 2 is a standby of $(name_of "$c") again: ${res[2]}"
done
sync_names 'ANY 1 (n2, n3)'
add_rounds "$LARGE" "replica-add-s$LARGE"
say "the end: standbys first, then the primaries and the writer"
cmd "2 3" end
pg_stop R
pg_stop S
umount /tmp/rd
umount /tmp/sn
rc_ down r0 >&2 || abort "redctl down on the writer"
stop_redd
say "done"
