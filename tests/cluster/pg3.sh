#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# PostgreSQL on three nodes and one shared LUN (guest side; issue 4): node 1
# is the first writer and the primary, nodes 2 and 3 copiers running hot
# standbys on their own views of the same filesystem, redd on every node.
#
# Usage (host): tools/vm/pg3-check.sh, which runs, in effect,
#   tools/vm/run-cluster.sh --kver KVER --nodes 3 --mem 1536 --lun-size 512 \
#       --lun L -- tests/cluster/pg3.sh
# Needs build/KVER/dm-red.ko, build/redd/daemon/redd,
# build/redd/redctl/redctl and PostgreSQL 15 (/usr/lib/postgresql/15/bin).
#
# The story (node 2, the survivor, prints the report and the TAP lines):
#   a  node 1: redctl up r0 (writer), mkfs.ext4, initdb, a primary with
#      physical slots n2 and n3, pgbench -i, CHECKPOINT
#   b  nodes 2, 3: redctl up r0 (the copier joins: its view is a crash-
#      consistent image of the running primary's filesystem), mount (ext4
#      replays its journal into the store), make that private copy a
#      standby (no postmaster.pid, no slots, standby.signal, primary_conninfo
#      and primary_slot_name), start it, wait until it streams; then the
#      primary commits synchronously to ANY 1 (n2, n3)
#   c  node 3 runs pgbench -c 4 -j 2 -l against node 1 over TCP; both
#      standbys run a read query every 2 s
#   d  node 3's standby is stopped, unmounted, its store dropped (redctl
#      gc), remounted, made a standby again and restarted, under the load
#   e  (failover; when redctl has "promote") node 1 is lost, as
#      RED_PG3_LOSS says.  cutoff (make check): node 1 is cut off (its
#      network down, its redd stopped with SIGSTOP) under the load; its
#      write lease runs out and its writes are held.  reboot (make demo):
#      node 1 prints RED-REBOOT-NODE 1, the harness kills it and boots it
#      again.  Then the standby with the highest
#      received WAL position (ties: the smaller store, redctl's promotion
#      score) runs redctl promote r0 (twice at once: redd takes one, the
#      other follows it) and pg_ctl promote; the other standby
#      follows it; node 3 runs pgbench again, against the new primary
#   f  cutoff: node 1 comes back once the new writer's storage is promoted
#      (network up, SIGCONT): its redd reads the newer epoch record and
#      fences the device (LEASE 0), the write held meanwhile ends with EIO
#      and PostgreSQL stops; the runbook's "returning old writer": stop the
#      database, umount, redctl down r0.  Then (reboot: on RED_BOOT=2)
#      redctl up r0 must make node 1 a copier; it becomes a standby of the
#      new primary
#   i  the runbook's planned switchover back to node 1: the primary stops
#      cleanly and resigns (redctl demote --force), node 1, once it has
#      replayed the shutdown checkpoint, is promoted at once (no fencing
#      wait) and pg_ctl promote'd, the other standby follows it, the old
#      primary comes back as a copier (redctl up) and a standby of node 1
#   j  the runbook's damaged epoch record, at the end (the database
#      stopped, every view unmounted): random bytes over the record; node
#      1, the writer, sees DAMAGED in redctl status, goes down (--force:
#      copiers are joined) and up --force (a new record: node 1 the writer,
#      no copiers); the copiers, members no more, are gc'd and rejoin; every
#      view is still fsck-clean
#   g  checks, on the primary at the end (node 1): acknowledged
#      transactions (pgbench -l lines) all in pgbench_history, amcheck
#      clean, the standbys' reads succeeded, fsck.ext4 -n clean on every
#      node's view
#   h  the report: timings, LUN bytes written, store sizes, stabilization
#      counts, TPS per phase
# Without "promote" in redctl (or with RED_PG3_FAILOVER=0) e, f and i are
# skipped (TAP "# SKIP") and node 1 stays the primary to the end.
# Environment: RED_PG3_LOSS (cutoff, the default, or reboot),
# RED_PG3_SCALE (pgbench scale, default 3), RED_PG3_LOAD2_S
# (the second pgbench run, default 10 s), RED_PG3_LOAD1_S (the first run
# without failover, default 100 s), RED_PG3_FAILOVER (auto | 0 | 1),
# RED_CLUSTER_WAIT (default 300: every wait for a peer), RED_PG3_TEMPLATE (a
# tar of "initdb -U postgres -A trust -E UTF8 --no-locale" made on the host,
# used instead of initdb, which takes minutes under TCG).
set -euo pipefail

: "${RED_NODE:?}" "${RED_LUN:?}" "${RED_ADDRS:?}" "${RED_RUN_ID:?}" "${RED_KVER:?}"
boot=${RED_BOOT:-1}
repo=$(pwd -P)
work=/tmp/pg3
mkdir -p "$work"
t0=$SECONDS
RED_CLUSTER_WAIT=${RED_CLUSTER_WAIT:-300}
# shellcheck source=tests/cluster/lib.sh
. "$repo/tests/cluster/lib.sh"
say() { printf 'pg3[%s.%s] +%ss: %s\n' "$RED_NODE" "$boot" "$((SECONDS - t0))" "$*"; }
# mark NAME: the harness notes NAME with its own clock (run-cluster.sh,
# LOGDIR/marks.txt): the failover's figures across nodes are taken there,
# on one clock.  Written to fd 3, the command's stdout, so that background
# jobs whose stdout goes to a file can mark too.
exec 3>&1
mark() { printf 'RED-MARK %s\n' "$*" >&3; }

LEASE_MS=10000
CHUNK_SECTORS=128
STORE=256M
SCALE=${RED_PG3_SCALE:-3}
LOAD2_S=${RED_PG3_LOAD2_S:-10}
CLIENTS=4
PGBIN=/usr/lib/postgresql/15/bin
# psql and pgbench from $PGBIN: /usr/bin/psql and /usr/bin/pgbench are
# Debian's pg_wrapper, a Perl script that loads its modules over 9p on every
# call (seconds each under TCG; the standbys' reader calls psql twice a
# second)
PSQL=$PGBIN/psql
PGBENCH=$PGBIN/pgbench
redctl_bin=${RED_REDCTL:-$repo/build/redd/redctl/redctl}
MNT=/tmp/pg
PGDATA=$MNT/data
DEV=/dev/mapper/r0
read -r -a addr <<<"$RED_ADDRS"
addr_of() { echo "${addr[$1 - 1]}"; }

# diag: what this node is doing (for a stuck run)
diag() {
	say "diag: $*"
	ps -eo pid,stat,wchan:28,etime,args 2>/dev/null | awk 'NR == 1 || $2 ~ /D/ || /redd|redctl|postgres|psql|pgbench|python3/' |
		grep -v 'awk \|ps -eo' | cut -c1-160 | head -n 40 | sed 's/^/  ps: /'
	dmsetup status 2>/dev/null | sed 's/^/  status: /'
	[ -f "$work/events.log" ] && tail -n 25 "$work/events.log" | cut -c1-300 | sed 's/^/  events: /'
	[ -f "$work/redd.log" ] && tail -n 60 "$work/redd.log" | sed 's/^/  redd.log: /'
	[ -f "$work/pg.log" ] && tail -n 20 "$work/pg.log" | sed 's/^/  pg.log: /'
	echo w >/proc/sysrq-trigger 2>/dev/null || :
	dmesg | tail -n 60 | sed 's/^/  dmesg: /'
}
abort() {
	say "ABORT: $*"
	post abort "n$RED_NODE: $*" || :
	diag "at the abort" 2>&1 | head -n 250
	# a device that holds its I/O can stall the guest's shutdown: power off
	# anyway a minute after the exit (the exit status is in the log by then)
	(sleep 60 && echo o >/proc/sysrq-trigger) >/dev/null 2>&1 &
	exit 1
}
for f in "$redctl_bin" "${RED_REDD:-$repo/build/redd/daemon/redd}" "$repo/build/$RED_KVER/dm-red.ko" \
	"$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBENCH" "$PSQL"; do
	[ -e "$f" ] || abort "$f missing"
done
cp "$redctl_bin" "$work/redctl"
rc_() { "$work/redctl" -c "$work/red.conf" "$@"; }

failover=${RED_PG3_FAILOVER:-auto}
if [ "$failover" = auto ]; then
	failover=0
	rc_help=$("$work/redctl" --help 2>&1 || :)
	case $rc_help in *promote*) failover=1 ;; esac
fi
loss=${RED_PG3_LOSS:-cutoff}
case $loss in cutoff | reboot) ;; *) abort "RED_PG3_LOSS must be cutoff or reboot, not '$loss'" ;; esac
LOAD1_S=${RED_PG3_LOAD1_S:-100} # covers the gc cycle (about 80 s under TCG)
# with a failover the first run ends when node 1 dies; -T is a backstop
[ "$failover" = 0 ] || LOAD1_S=400

# ---- PostgreSQL helpers -----------------------------------------------------
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups -- env HOME=/tmp "$@"; }
pgctl() { as_pg "$PGBIN/pg_ctl" -D "$PGDATA" "$@"; }
# q SQL: a query on the local server, unaligned, tuples only
q() { timeout 60 setpriv --reuid=postgres --regid=postgres --init-groups -- env HOME=/tmp "$PSQL" -h /tmp -p 5432 -U postgres -d postgres -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
# qn NODE SQL: the same over TCP on NODE's server
conn() { echo "host=$(addr_of "$1") port=5432 user=postgres dbname=postgres connect_timeout=10 tcp_user_timeout=10000 keepalives_idle=3 keepalives_interval=1 keepalives_count=3"; }
qn() { timeout 60 setpriv --reuid=postgres --regid=postgres --init-groups -- env HOME=/tmp "$PSQL" "$(conn "$1")" -XAtq -v ON_ERROR_STOP=1 -c "$2"; }
pg_start() {
	touch "$work/pg.log"
	chown postgres:postgres "$work/pg.log"
	pgctl -l "$work/pg.log" -w -t 300 start >"$work/pg_ctl.out" 2>&1 ||
		{ cat "$work/pg_ctl.out"; tail -n 30 "$work/pg.log"; return 1; }
}
pg_stop() { pgctl -m fast -w -t 120 stop >/dev/null 2>&1 || :; }
streaming_from() { # NODE: the local standby streams from NODE
	[ "$(q "select status || ' ' || sender_host from pg_stat_wal_receiver" 2>/dev/null)" = "streaming $(addr_of "$1")" ]
}
# prepare_standby PRIMARY_NODE NAME: the private copy on this node's view
# becomes a standby of PRIMARY_NODE's server under the name NAME.
prepare_standby() {
	rm -f "$PGDATA/postmaster.pid"
	find "$PGDATA/pg_replslot" -mindepth 1 -delete
	touch "$PGDATA/standby.signal"
	sed -i '/^primary_conninfo\|^primary_slot_name\|^synchronous_standby_names/d' "$PGDATA/postgresql.auto.conf"
	{
		echo "primary_conninfo = 'host=$(addr_of "$1") port=5432 user=postgres application_name=$2 keepalives_idle=3 keepalives_interval=1 keepalives_count=3 tcp_user_timeout=10000'"
		echo "primary_slot_name = '$2'"
	} >>"$PGDATA/postgresql.auto.conf"
	chown postgres:postgres "$PGDATA/standby.signal" "$PGDATA/postgresql.auto.conf"
}
lsn_num() { # X/Y -> a number
	local h=${1%/*} l=${1#*/}
	echo $(((16#$h << 32) + 16#$l))
}
lun_written() { awk '{ print $7 * 512 }' "/sys/block/${RED_LUN#/dev/}/stat"; }
store_dev() { dmsetup table r0 2>/dev/null | awk '{ print $5 }'; }
zram_mm() { # the store's mm_stat: orig compr mem_used
	local s
	s=$(store_dev)
	case $s in /dev/zram*) awk '{ printf "orig=%dK compr=%dK mem=%dK\n", $1 / 1024, $2 / 1024, $3 / 1024 }' "/sys/block/${s#/dev/}/mm_stat" ;; *) echo "-" ;; esac
}
# js PYEXPR: a value from redctl status r0 --json (d = the document,
# r = the resource), "-" when missing
js() {
	timeout 30 "$work/redctl" -c "$work/red.conf" status --json r0 2>/dev/null | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
r = (d.get("resources") or [{}])[0]
try:
    v = eval(sys.argv[1])
except Exception:
    v = None
print("-" if v is None else (json.dumps(v) if isinstance(v, (dict, list)) else v))
' "$1"
}
stab_counts() {
	js '"stabilize=%s chunks=%s preserves=%s" % (r["redd"]["stats"]["stabilize"], r["redd"]["stats"]["chunks"], r["redd"]["stats"]["preserves"])'
}
# reader: a read query on the local standby every 2 s, "TIME ok|fail"
start_reader() {
	(
		while [ ! -e "$work/reader.stop" ]; do
			# (no timeout(1): psql in a background process group of its own
			# does not get through; psql's own time-outs bound it)
			if setpriv --reuid=postgres --regid=postgres --init-groups -- env HOME=/tmp \
				PGCONNECT_TIMEOUT=10 PGOPTIONS='-c statement_timeout=10000' \
				"$PSQL" -h /tmp -p 5432 -U postgres -d postgres -XAtq \
				-c 'select count(*) from pgbench_history' </dev/null >/dev/null 2>"$work/read.err"; then
				echo "$EPOCHREALTIME ok"
			else
				echo "$EPOCHREALTIME fail"
				[ -s "$work/reads.firsterr" ] || cp "$work/read.err" "$work/reads.firsterr"
			fi
			sleep 2
		done
	) >>"$work/reads.log" 2>/dev/null &
	echo $! >"$work/reader.pid"
}
stop_reader() {
	touch "$work/reader.stop"
	if [ -f "$work/reader.pid" ]; then wait "$(cat "$work/reader.pid")" 2>/dev/null || :; fi
}
reads_between() { # FROM TO RESULT: reads with RESULT between two times
	awk -v a="$1" -v b="$2" -v r="$3" '$1 >= a && $1 <= b && $2 == r' "$work/reads.log" | wc -l
}
# the WAL position the walreceiver reports in its process title, sampled:
# readable when the device holds I/O and no new connection gets through.
# In bash alone (/proc/PID/cmdline holds the title): no process a sample
start_lsn_sampler() {
	(
		pid='' title=''
		while :; do
			title=''
			if [ -n "$pid" ]; then
				{ IFS= read -r -d '' title <"/proc/$pid/cmdline"; } 2>/dev/null || :
			fi
			if [[ $title != "postgres: walreceiver "* ]]; then
				pid=''
				for f in /proc/[0-9]*/cmdline; do
					title=''
					{ IFS= read -r -d '' title <"$f"; } 2>/dev/null || :
					if [[ $title == "postgres: walreceiver "* ]]; then
						pid=${f#/proc/}
						pid=${pid%/cmdline}
						break
					fi
				done
			fi
			if [[ $title =~ ^postgres:\ walreceiver\ streaming\ ([0-9A-F]+/[0-9A-F]+) ]]; then
				echo "${BASH_REMATCH[1]}" >"$work/lsn.last"
			fi
			sleep 0.5
		done
	) &
}
# the event stream, each line stamped with this node's clock
start_events() {
	(
		rc_ events --json 2>&1 | while IFS= read -r l; do
			printf '%s %s\n' "$EPOCHREALTIME" "$l"
			case $l in
			*'"what":"lease-expired"'*) mark "lost-writer lease-expired" ;;
			*'"what":"peer-disconnected"'*'"node":1'[',}']*) mark "lost-writer peer-disconnected" ;;
			esac
		done
	) >>"$work/events.log" &
}
# pgbench's per-transaction logs: acknowledged transactions of a run
acked() { cat "$work/pgb/$1".[0-9]* 2>/dev/null | awk '$3 ~ /^[0-9]+$/' | wc -l; }
# txn_time PREFIX first|last: the end time of a run's first or last
# acknowledged transaction (pgbench's log: this node's clock, as now())
txn_time() {
	cat "$work/pgb/$1".[0-9]* 2>/dev/null | awk -v w="$2" '
		$3 ~ /^[0-9]+$/ { t = $5 + $6 / 1e6; if (!n++ || (w == "first" ? t < m : t > m)) m = t }
		END { if (n) printf "%.6f\n", m; else exit 1 }'
}
# tps_window PREFIX FROM TO: acknowledged transactions per second in
# [FROM, TO), times on this node's clock; "-" for an empty window
tps_window() {
	cat "$work/pgb/$1".[0-9]* 2>/dev/null | awk -v a="$2" -v b="$3" '
		$3 ~ /^[0-9]+$/ { t = $5 + $6 / 1e6; if (t >= a && t < b) n++ }
		END { if (b > a) printf "%.1f", n / (b - a); else printf "-" }'
}

# ---- setup: every node, every boot -----------------------------------------
modprobe dm-mod
modprobe zram num_devices=0 2>/dev/null || modprobe zram || :
insmod "$repo/build/$RED_KVER/dm-red.ko"
[ "$boot" = 1 ] || mbox_resume
write_config_nodes "$LEASE_MS" "$STORE" "$CHUNK_SECTORS" 1
start_redd
wait_for "redd's control socket" 60 rc_ status r0 >/dev/null 2>&1 || abort "redd did not start"
sleep 1
start_events
mkdir -p "$MNT" "$work/pgb"
chown postgres:postgres "$work/pgb" # pgbench's -l logs
if [ -n "${RED_PG3_DUMP_AFTER:-}" ] && [ "$boot" = 1 ]; then
	(sleep "$RED_PG3_DUMP_AFTER" && diag "still running after ${RED_PG3_DUMP_AFTER}s") &
fi
say "failover part: $([ "$failover" = 1 ] && echo yes || echo "no (RED_PG3_FAILOVER=0, or redctl has no promote)"); scale $SCALE"

# redctl up r0, timed; prints the role the kernel shows
up_r0() {
	local t
	t=$(now)
	rc_ up r0 >"$work/up.out" 2>&1 || { cat "$work/up.out"; return 1; }
	sed 's/^/  redctl up: /' "$work/up.out" | head -n 3
	if [ "$(field "$DEV" 1)" = copier ]; then
		wait_for "the join" 120 state_is "$DEV" active || return 1
	fi
	echo "$(field "$DEV" 1) $(since "$t")" >"$work/up.res"
}
# the filesystem never reaches into the LUN's last 2 MiB (mailbox, redd's
# record), whatever the red device's length
fs_blocks() { echo $((($(lun_sectors) * 512 - 2 * 1024 * 1024) / 4096)); }

# ---- node 1, first boot: the primary ----------------------------------------
primary_setup() {
	local t ti tb tm ts
	up_r0 || abort "redctl up"
	read -r role up_s <"$work/up.res"
	[ "$role" = writer ] || abort "node 1 came up as $role"
	t=$(now)
	mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 "$DEV" "$(fs_blocks)" || abort mkfs
	tm=$(since "$t")
	mount -o noatime "$DEV" "$MNT" || abort mount
	mkdir -p "$PGDATA"
	chown postgres:postgres "$MNT" "$PGDATA"
	chmod 700 "$PGDATA"
	t=$(now)
	if [ -r "${RED_PG3_TEMPLATE:-}" ]; then
		# the same initdb, made on the host (minutes under TCG)
		tar -C "$PGDATA" --same-owner -xf "$RED_PG3_TEMPLATE" || abort "untar $RED_PG3_TEMPLATE"
		chown -R postgres:postgres "$PGDATA"
		chmod 700 "$PGDATA"
	else
		as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --no-locale -N >"$work/initdb.out" 2>&1 ||
			{ cat "$work/initdb.out"; abort initdb; }
	fi
	sync
	ti=$(since "$t")
	cat >>"$PGDATA/postgresql.conf" <<-EOF
		listen_addresses = '*'
		port = 5432
		unix_socket_directories = '/tmp'
		wal_level = replica
		hot_standby = on
		max_wal_senders = 10
		max_replication_slots = 10
		wal_keep_size = 256MB
		max_wal_size = 256MB
		synchronous_commit = on
		shared_buffers = 64MB
		wal_receiver_timeout = 20s
		wal_sender_timeout = 20s
		# a standby starts from a crash image of this directory (its
		# copier's view): one syncfs at its start, not an fsync of every
		# file (tens of seconds under TCG, each fsync a copy-on-write)
		recovery_init_sync_method = syncfs
		# a standby whose primary went away retries every second, not 5 s
		wal_retrieve_retry_interval = 1s
		# a long step of a start (the sync, redo) in the log every 2 s
		log_startup_progress_interval = 2s
	EOF
	cat >>"$PGDATA/pg_hba.conf" <<-EOF
		host all all 192.168.77.0/24 trust
		host replication all 192.168.77.0/24 trust
	EOF
	t=$(now)
	pg_start || abort "primary start"
	ts=$(since "$t")
	q "select pg_create_physical_replication_slot('n2', true), pg_create_physical_replication_slot('n3', true)" >/dev/null ||
		abort "slots"
	t=$(now)
	as_pg "$PGBENCH" -h /tmp -p 5432 -U postgres -i -s "$SCALE" -q postgres >"$work/pgbench-i.out" 2>&1 ||
		{ cat "$work/pgbench-i.out"; abort "pgbench -i"; }
	tb=$(since "$t")
	q checkpoint >/dev/null
	sync
	say "a: writer up in ${up_s}s, mkfs ${tm}s, initdb ${ti}s, start ${ts}s, pgbench -i -s $SCALE ${tb}s; $(tail -n 1 "$work/pgbench-i.out")"
	post m-a "up=${up_s}s mkfs=${tm}s initdb=${ti}s start=${ts}s pgbench-i=${tb}s"
	post primary-ready "failover=$failover"
}

# ---- standby (b): join, mount, prepare, start, stream ----------------------
standby_setup() { # PRIMARY_NODE
	local p=$1 t up_s t_mount t_start t_stream role
	up_r0 || abort "redctl up"
	read -r role up_s <"$work/up.res"
	[ "$role" = copier ] || abort "node $RED_NODE came up as $role"
	post joined "$(field "$DEV" 3)"
	t=$(now)
	mount -o noatime "$DEV" "$MNT" || abort "mount of the copier's view"
	t_mount=$(since "$t")
	prepare_standby "$p" "n$RED_NODE"
	t=$(now)
	pg_start || abort "standby start"
	t_start=$(since "$t")
	wait_for "streaming from node $p" 180 streaming_from "$p" || abort "the standby does not stream"
	t_stream=$(since "$t")
	say "joined as copier in ${up_s}s (epoch $(field "$DEV" 3)), mounted in ${t_mount}s, standby started in ${t_start}s, streaming after ${t_stream}s"
	echo "join=${up_s}s mount=${t_mount}s start=${t_start}s streaming=${t_stream}s" >"$work/standby.res"
}

# ---- d: node 3's standby: stop, umount, gc, mount, restart -----------------
gc_cycle() { # PRIMARY_NODE
	local p=$1 t ts t_stop t_gc t_start t_stream t_sync gco before lag lines
	before=$(zram_mm)
	ts=$(now)
	t=$ts
	pg_stop
	umount "$MNT" || abort "umount before gc"
	t_stop=$(since "$t")
	t=$(now)
	gco=$(rc_ gc r0 2>&1) || { printf '%s\n' "$gco"; abort "redctl gc"; }
	t_gc=$(since "$t")
	printf '%s\n' "$gco" | sed 's/^/  redctl gc: /'
	mount -o noatime "$DEV" "$MNT" || abort "mount after gc"
	prepare_standby "$p" "n$RED_NODE"
	t=$(now)
	lines=$(wc -l <"$work/pg.log")
	pg_start || abort "standby restart after gc"
	t_start=$(since "$t")
	wait_for "streaming again" 180 streaming_from "$p" || abort "no streaming after gc"
	t_stream=$(since "$ts")
	# what the standby did between its start and streaming, on its clock
	say "d: pg_ctl start at $(date -u -d "@${t%.*}" +%T), streaming $(date -u +%T)"
	tail -n +"$((lines + 1))" "$work/pg.log" | head -n 20 | cut -c1-200 | sed 's/^/  pg.log: /'
	# replay lag as the primary measures it (one clock)
	lagok() {
		lag=$(qn "$p" "select coalesce(extract(epoch from replay_lag), 0) from pg_stat_replication where application_name = 'n$RED_NODE' and state = 'streaming'" 2>/dev/null) &&
			[ -n "$lag" ] && awk -v l="$lag" 'BEGIN { exit !(l < 1) }'
	}
	wait_for "replay lag < 1 s" 180 lagok || abort "the standby does not catch up after gc"
	t_sync=$(since "$ts")
	echo "$ts $(now)" >"$work/gc.window"
	say "d: gc cycle: stop+umount ${t_stop}s, redctl gc ${t_gc}s, restart ${t_start}s, streaming ${t_stream}s and lag<1s ${t_sync}s after the stop; store before: $before, after: $(zram_mm)"
	post m-gc "stop=${t_stop}s gc=${t_gc}s start=${t_start}s streaming=${t_stream}s insync=${t_sync}s"
	post m-gcstore "before: $before; after: $(zram_mm); $(printf '%s\n' "$gco" | grep -i freed | head -n 1 | cut -c1-120)"
}

# ---- e: the failover -----------------------------------------------------------
# writer_lost: redd on this node no longer sees node 1: its event, or (every
# tenth call: Python is slow to start under TCG) its status
lost_polls=0
writer_lost() {
	local c
	awk -v a="$(cat "$work/kill.seen")" '$1 >= a - 30 && (/"what":"lease-expired"/ || /"what":"peer-disconnected"/ && /"node":1[,}]/) { f = 1 } END { exit !f }' \
		"$work/events.log" && return 0
	lost_polls=$((lost_polls + 1))
	[ $((lost_polls % 10)) = 0 ] || return 1
	c=$(js '[p["connected"] for p in d["redd"]["peers"] if p["node"] == 1][0]')
	[ "$c" = False ] || [ "$c" = false ]
}
failover_standby() { # on nodes 2 and 3, after the kill
	local lsn score mine other cand3 lsn_o score_o newp
	# node 1 is dead: what this standby received is final; read it before
	# the read lease runs out and the device holds I/O
	lsn=$(cat "$work/lsn.last" 2>/dev/null) || lsn=0/0
	# (how long after the kill: the harness's clock, marks lost-writer)
	wait_for "redd to report node 1 lost" 120 writer_lost || abort "redd never lost node 1"
	# redd's promotion score is the store's used chunks (daemon_lun.cpp),
	# read here from the kernel's status line: no Python on this path
	score=$(field "$DEV" 4 | cut -d/ -f1)
	say "e: redd reports node 1 lost; received up to $lsn, promotion score $score"
	post cand "$lsn $score"
	mine="$lsn $score"
	other=$((5 - RED_NODE))
	cand3=$(awaitv "$other" cand 120) || cand3=''
	newp=$RED_NODE
	if [ -n "$cand3" ]; then
		read -r lsn_o score_o <<<"$cand3"
		read -r lsn score <<<"$mine"
		if [ "$(lsn_num "$lsn_o")" -gt "$(lsn_num "$lsn")" ] ||
			{ [ "$(lsn_num "$lsn_o")" -eq "$(lsn_num "$lsn")" ] &&
				{ [ "$score_o" -lt "$score" ] || { [ "$score_o" -eq "$score" ] && [ "$other" -lt "$RED_NODE" ]; }; }; }; then
			newp=$other
		fi
	fi
	echo "$newp" >"$work/newp"
	say "e: the new primary is node $newp (node $RED_NODE: $mine; node $other: ${cand3:-none})"
}
promoted_dev() { [ "$(field "$DEV" 1)" = writer ] && state_is "$DEV" active; }
promote_here() {
	local t tp tw tg tc out slots
	mark promote-begin
	t=$(now)
	# Two redctl promote at once, as an operator and a script might (issue
	# 18 item 4): redd accepts one; the other must say that a promotion is
	# under way, follow it, and exit 0 when it completes.
	local i rc1 rc2 acc=0 busy=0 pids=()
	for i in 1 2; do
		{
			if rc_ promote r0 --timeout 180 >"$work/promote$i.out" 2>&1; then
				echo 0 >"$work/promote$i.rc"
			else
				echo $? >"$work/promote$i.rc"
			fi
		} &
		pids+=($!)
	done
	wait "${pids[@]}"
	tp=$(since "$t")
	rc1=$(cat "$work/promote1.rc") rc2=$(cat "$work/promote2.rc")
	for i in 1 2; do
		sed "s/^/  redctl promote ($i): /" "$work/promote$i.out"
		grep -q 'promotion accepted by redd' "$work/promote$i.out" && acc=$((acc + 1))
		grep -q 'a promotion is already under way' "$work/promote$i.out" && busy=$((busy + 1))
	done
	post m-promote2 "exit $rc1 $rc2, accepted $acc, already-under-way $busy"
	if [ "$rc1" != 0 ] || [ "$rc2" != 0 ]; then
		abort "redctl promote: exit $rc1 and $rc2"
	fi
	t2=$(now)
	wait_for "the device to be the writer, write-back done" 300 promoted_dev || abort "not promoted"
	tw=$(since "$t2")
	mark storage-promoted
	post storage-promoted
	t2=$(now)
	pgctl promote -w -t 120 >/dev/null || abort "pg_ctl promote"
	tg=$(since "$t2")
	mark pg-promoted
	# the survivors' slots, and commits synchronous to one of them again
	slots='' qslots=''
	for n in 1 2 3; do
		[ "$n" = "$RED_NODE" ] && continue
		slots+="${slots:+, }n$n"
		qslots+="${qslots:+, }'n$n'"
	done
	q "select pg_create_physical_replication_slot(s, true) from unnest(array[$qslots]) s" >/dev/null ||
		abort "slots on the new primary"
	post promoted "$(lun_written)"
	q "alter system set synchronous_standby_names = 'ANY 1 ($slots)'" >/dev/null
	q "select pg_reload_conf()" >/dev/null
	t2=$(now)
	# (timeout(1) runs programs, not functions: setpriv spelled out)
	timeout 300 setpriv --reuid=postgres --regid=postgres --init-groups -- env HOME=/tmp \
		"$PSQL" -h /tmp -p 5432 -U postgres -d postgres -XAtq -v ON_ERROR_STOP=1 \
		-c "create table failover_probe(at timestamptz default now())" -c "insert into failover_probe default values" >/dev/null ||
		abort "no commit on the new primary"
	tc=$(since "$t2")
	mark first-commit
	echo "$tp $tw $tg $tc" >"$work/promote.res"
	post m-promote "redctl promote (fencing wait, PROMOTE accepted) ${tp}s; PROMOTE -> writer active (write-back) ${tw}s; pg_ctl promote ${tg}s; first synchronous commit ${tc}s"
	say "e: redctl promote ${tp}s, then writer+active ${tw}s, pg_ctl promote ${tg}s, first synchronous commit ${tc}s"
}
repoint() { # NEWP: follow the new primary
	local p=$1 t ts
	t=$(now)
	sed -i "s/host=[0-9.]* /host=$(addr_of "$p") /" "$PGDATA/postgresql.auto.conf"
	q "select pg_reload_conf()" >/dev/null
	wait_for "streaming from node $p" 240 streaming_from "$p" || abort "does not stream from node $p"
	ts=$(since "$t")
	mark streaming-new-primary
	say "e: streaming from node $p ${ts}s after the re-point, timeline $(q 'select received_tli from pg_stat_wal_receiver')"
	post m-repoint "${ts}s"
}

# ---- e + f, cutoff: node 1 cut off, back, fenced, down ---------------------------
# cut_off: node 1 loses its network and its redd stops (SIGSTOP): to the
# others, as if the node were gone; to itself, the write lease runs out and
# the writes are held.  Back once the new writer's storage is promoted: the
# runbook's returning old writer, as written: redd reports fenced, the
# database is stopped, the filesystem unmounted, redctl down.
lease_out() { [ "$(field "$DEV" 12)" = 0 ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }
no_postgres() { ! pgrep -x postgres >/dev/null; }
cut_off() {
	local pid t tf probe_rc=running r pgs
	pid=$(cat "$work/redd.pid")
	# held from the end of the lease to the fence: lease + detection +
	# fencing wait + promotion, above the guests' 30 s hung-task limit on a
	# loaded TCG host (the runbook: raise it above the failover time)
	echo 300 >/proc/sys/kernel/hung_task_timeout_secs
	ip link set dev "$RED_IFACE" down
	kill -STOP "$pid"
	mark cut-off
	say "e: cut off: network down, redd (pid $pid) stopped"
	wait_for "the write lease to run out" 60 lease_out || abort "the write lease never ran out"
	# a write issued now is held for the lease: it must end with EIO once
	# fenced, never reach the LUN
	dd if=/dev/urandom of="$MNT/cutoff.probe" bs=4096 count=1 oflag=direct conv=fsync status=none 2>"$work/probe.err" &
	probe=$!
	sleep 3
	kill -0 "$probe" 2>/dev/null || abort "the write after the lease ran out was not held: $(cat "$work/probe.err")"
	say "e: lease run out, a write held ($(field "$DEV" 6) held bios)"
	newp=$(awaitv 2 newp 600) || abort "no new primary"
	await "$newp" storage-promoted 600 || abort "node $newp never promoted"
	kill -0 "$probe" 2>/dev/null || abort "the held write ended before this node came back: $(cat "$work/probe.err")"
	# back
	t=$(now)
	mark back
	ip link set dev "$RED_IFACE" up
	kill -CONT "$pid"
	say "e: back: network up, redd continued; node $newp is the writer"
	wait_for "redd to report fenced" 120 grep -q '"what":"fenced"' "$work/events.log" || abort "redd never reported fenced"
	wait_for "the device to fail (LEASE 0)" 60 state_is "$DEV" failed || abort "the device did not fail after the fence"
	tf=$(since "$t")
	mark fenced
	if wait_for "the held write to end" 60 gone "$probe"; then
		probe_rc=0
		wait "$probe" || probe_rc=$?
	fi
	say "e: fenced ${tf}s after coming back; the held write: exit $probe_rc ($(tr '\n' ' ' <"$work/probe.err" | cut -c1-120))"
	[ "$probe_rc" != running ] || abort "the held write still hangs after the fence"
	# the runbook: stop the database (it may have stopped by itself on EIO)
	t=$(now)
	pgctl -m immediate -w -t 60 stop >"$work/pgstop.out" 2>&1 || :
	wait_for "PostgreSQL to exit" 60 no_postgres ||
		abort "PostgreSQL does not exit: $(ps -o pid,stat,wchan:20,args -C postgres | tr '\n' ';' | cut -c1-300)"
	pgs=$(since "$t")
	r=ok
	umount "$MNT" || r=umount-failed
	rc_ down r0 >"$work/down.out" 2>&1 || r="down-exit-$?"
	sed 's/^/  redctl down: /' "$work/down.out"
	mark n1-down
	post m-fence "probe=$probe_rc fenced=${tf}s pg-stopped=${pgs}s $r; $(tr '\n' ' ' <"$work/probe.err" | cut -c1-80)"
	[ "$r" = ok ] || abort "the returning old writer: $r"
	say "e: the returning old writer: PostgreSQL stopped in ${pgs}s, unmounted, redctl down"
}
# back_as_copier: f, redctl up r0 makes node 1 a copier, then a standby
back_as_copier() {
	local t newp role up_s
	# (after the promotion: this test does not race redctl up against it)
	newp=$(awaitv 2 newp) || abort "no new primary"
	await "$newp" promoted || abort "node $newp never promoted"
	up_r0 || abort "redctl up after the $loss"
	read -r role up_s <"$work/up.res"
	post m-f1 "role=$role join=${up_s}s epoch=$(field "$DEV" 3) lun=$(js 'r["lun"]' | cut -c1-120)"
	[ "$role" = copier ] || abort "node 1 came back as $role, not as a copier"
	t=$(now)
	mount -o noatime "$DEV" "$MNT" || abort "mount"
	prepare_standby "$newp" n1
	pg_start || abort "standby start"
	wait_for "streaming from node $newp" 240 streaming_from "$newp" || abort "node 1 does not stream"
	say "f: node 1 back as a copier in ${up_s}s, standby of node $newp streaming $(since "$t")s after the mount"
	mark n1-streaming
	post n1-streaming "join=${up_s}s streaming=$(since "$t")s"
	start_reader
}

# ---- i: the planned switchover back to node 1 (the runbook) -----------------------
replayed() { # LSN: this standby has replayed up to LSN
	local r
	r=$(q "select pg_last_wal_replay_lsn()") || return 1
	[ -n "$r" ] && [ "$(lsn_num "$r")" -ge "$(lsn_num "$1")" ]
}
switchover() { # P: the primary now (2 or 3); every node runs it
	local p=$1 o=$((5 - $1)) t ckpt rc role up_s tp tg
	echo 180 >/proc/sys/kernel/hung_task_timeout_secs
	case $RED_NODE in
	"$p")
		# 1. stop the primary cleanly (every standby gets all its WAL), unmount
		t=$(now)
		mark sw-begin
		pg_stop
		ckpt=$(as_pg "$PGBIN/pg_controldata" -D "$PGDATA" | sed -n 's/^Latest checkpoint location: *//p')
		umount "$MNT" || abort "switchover: umount"
		# 2. resign (--force: copiers are joined)
		rc=0
		rc_ demote r0 --force >"$work/demote.out" 2>&1 || rc=$?
		sed 's/^/  redctl demote: /' "$work/demote.out"
		[ "$rc" = 0 ] || abort "switchover: redctl demote exit $rc"
		post sw-demoted "$ckpt $(since "$t")"
		say "i: primary stopped (shutdown checkpoint $ckpt), unmounted, demoted in $(since "$t")s"
		# 4. back as a copier and a standby of node 1
		await 1 sw-promoted 600 || abort "switchover: node 1 never promoted"
		up_r0 || abort "switchover: redctl up after the demote"
		read -r role up_s <"$work/up.res"
		[ "$role" = copier ] || abort "switchover: node $p came back as $role, not as a copier"
		t=$(now)
		mount -o noatime "$DEV" "$MNT" || abort "switchover: mount"
		prepare_standby 1 "n$p"
		pg_start || abort "switchover: standby start"
		wait_for "streaming from node 1" 240 streaming_from 1 || abort "switchover: node $p does not stream from node 1"
		mark sw-back
		post sw-back "role=$role join=${up_s}s streaming=$(since "$t")s"
		say "i: back as a copier in ${up_s}s, a standby of node 1 streaming $(since "$t")s after the mount"
		;;
	1)
		# 3. the chosen copier: redctl promote, then pg_ctl promote.  (Its
		# I/O may be held from the end of its read lease, which the demoted
		# writer no longer renews, to redctl promote: replay waits for it.)
		read -r ckpt _ <<<"$(awaitv "$p" sw-demoted 600)" || abort "switchover: node $p did not demote"
		[ -n "$ckpt" ] || abort "switchover: node $p posted no checkpoint"
		t=$(now)
		rc=0
		rc_ promote r0 --timeout 180 >"$work/sw-promote.out" 2>&1 || rc=$?
		sed 's/^/  redctl promote: /' "$work/sw-promote.out"
		[ "$rc" = 0 ] || abort "switchover: redctl promote exit $rc"
		wait_for "the device to be the writer, write-back done" 300 promoted_dev || abort "switchover: not promoted"
		tp=$(since "$t")
		# the stopped primary's every record is here, its shutdown
		# checkpoint included: nothing it acknowledged is lost
		wait_for "replay up to $ckpt" 120 replayed "$ckpt" || abort "switchover: node 1 never replayed $ckpt"
		t=$(now)
		pgctl promote -w -t 120 >/dev/null || abort "switchover: pg_ctl promote"
		q "select pg_create_physical_replication_slot(s, true) from unnest(array['n2', 'n3']) s" >/dev/null ||
			abort "switchover: slots on node 1"
		q "alter system set synchronous_standby_names = 'ANY 1 (n2, n3)'" >/dev/null
		q "select pg_reload_conf()" >/dev/null
		tg=$(since "$t")
		mark sw-promoted
		post sw-promoted "redctl promote + write-back ${tp}s (resigned: no fencing wait), pg_ctl promote ${tg}s"
		say "i: node 1 promoted: redctl promote ${tp}s, pg_ctl promote ${tg}s"
		await "$o" sw-repoint 600 || abort "switchover: node $o does not follow"
		timeout 300 setpriv --reuid=postgres --regid=postgres --init-groups -- env HOME=/tmp \
			"$PSQL" -h /tmp -p 5432 -U postgres -d postgres -XAtq -v ON_ERROR_STOP=1 \
			-c "insert into failover_probe default values" >/dev/null ||
			abort "switchover: no synchronous commit on node 1"
		post sw-commit
		;;
	"$o")
		# the other standby follows node 1
		await 1 sw-promoted 600 || abort "switchover: node 1 never promoted"
		t=$(now)
		sed -i "s/host=[0-9.]* /host=$(addr_of 1) /" "$PGDATA/postgresql.auto.conf"
		q "select pg_reload_conf()" >/dev/null
		wait_for "streaming from node 1" 240 streaming_from 1 || abort "switchover: node $o does not stream from node 1"
		post sw-repoint "$(since "$t")s"
		say "i: streaming from node 1 $(since "$t")s after the re-point"
		;;
	esac
}

# ---- j: a damaged epoch record (the runbook), every node at the end ---------------
damaged_drill() {
	local rc st t r
	await 2 dmg-go 600 || abort "no go for the damaged-record drill"
	t=$(now)
	if [ "$RED_NODE" = 1 ]; then
		# the record block: the LUN's last 256 KiB (lun-metadata.rst)
		dd if=/dev/urandom of="$RED_LUN" bs=4096 seek=$(($(lun_sectors) / 8 - 64)) count=1 \
			oflag=direct conv=notrunc status=none
		wait_for "redd to report the damaged record" 60 grep -q '"what":"record-damaged"' "$work/events.log" ||
			abort "drill: redd never reported the damaged record"
		# 1. find the writer: this node, and its status says DAMAGED
		rc_ status r0 >"$work/dmg-status.out" 2>&1 || :
		st=ok
		grep -q 'DAMAGED' "$work/dmg-status.out" || st=no-DAMAGED-in-status
		# 2. down (--force: copiers are joined), then up --force
		rc=0
		rc_ down --force r0 >"$work/dmg-down.out" 2>&1 || rc=$?
		[ "$rc" = 0 ] || st="down-exit-$rc"
		rc=0
		rc_ up --force r0 >"$work/dmg-up.out" 2>&1 || rc=$?
		sed 's/^/  redctl up --force: /' "$work/dmg-up.out" | head -n 4
		[ "$rc" = 0 ] || st="up-force-exit-$rc"
		[ "$(field "$DEV" 1)" = writer ] || st="not-a-writer"
		post dmg-writer "$st $(since "$t")s"
		say "j: damaged record: $st; down --force and up --force in $(since "$t")s"
		[ "$st" = ok ] || abort "drill: $st: $(tr '\n' ' ' <"$work/dmg-status.out" | cut -c1-200)"
	else
		# 3. each copier: gc, it is no member of the new record (one after
		# the other: two joins at once, redd expels the second joiner)
		await 1 dmg-writer 600 || abort "drill: node 1 did not repair the record"
		[ "$RED_NODE" = 2 ] || await 2 dmg-fin 600 || abort "drill: node 2 did not rejoin"
		rc=0
		rc_ gc r0 >"$work/dmg-gc.out" 2>&1 || rc=$?
		sed 's/^/  redctl gc: /' "$work/dmg-gc.out" | head -n 4
		[ "$rc" = 0 ] || abort "drill: redctl gc exit $rc"
		wait_for "the rejoin" 120 state_is "$DEV" active || abort "drill: the copier did not rejoin"
	fi
	r=fsck-clean
	fsck.ext4 -n -f "$DEV" >"$work/dmg-fsck.out" 2>&1 || r=fsck-ERRORS
	post dmg-fin "$r $(field "$DEV" 1) $(field "$DEV" 2) epoch $(field "$DEV" 3) $(since "$t")s"
}

# ---- g: the end on every node ---------------------------------------------------
finish_node() {
	local r=ok out st mm lw
	stop_reader
	pg_stop
	umount "$MNT" || r=umount-failed
	if out=$(fsck.ext4 -n -f "$DEV" 2>&1); then
		r+=" fsck-clean"
	else
		r="fsck-ERRORS"
		printf '%s\n' "$out" | tail -n 15
	fi
	# (each figure read once: Python is slow to start under TCG)
	st=$(stab_counts)
	mm=$(zram_mm)
	lw=$(lun_written)
	say "g: $(field "$DEV" 1) view: $r; store $mm; stabilization $st; LUN written by this node $lw bytes"
	post fin "$r $(field "$DEV" 1)"
	post m-store "$mm"
	post m-stab "$st"
	post m-lunw "$lw"
}

# ================================= the run =====================================
case $RED_NODE:$boot in
1:1)
	primary_setup
	await 2 streaming || abort "node 2 does not stream"
	await 3 streaming || abort "node 3 does not stream"
	q "alter system set synchronous_standby_names = 'ANY 1 (n2, n3)'" >/dev/null
	q "select pg_reload_conf()" >/dev/null
	sleep 1
	q "select string_agg(application_name || ':' || sync_state, ' ') from pg_stat_replication" |
		sed 's/^/  replication: /'
	post load-go
	if [ "$failover" = 1 ]; then
		# (the load goes on after the gc while this node posts its figures)
		await 3 gc-done || abort "no gc on node 3"
		# (redctl's text status: Python is slow to start under TCG)
		post m-1 "$(rc_ status r0 2>/dev/null | sed -n 's/^ *\(stabilize: .*\)$/\1/p' | head -n 1); lunw=$(lun_written)"
		post kill-at "$(now)"
		if [ "$loss" = reboot ]; then
			say "e: asking the harness to kill and reboot this node"
			echo "RED-REBOOT-NODE 1"
			sleep 600
			abort "not killed within 600 s"
		fi
		cut_off
		back_as_copier
		await 2 sw-go 900 || abort "no go for the switchover"
		switchover "$(awaitv 2 newp)"
	fi
	# the primary (again) to the end
	await 2 all-done 900 || :
	finish_node
	damaged_drill
	await 2 report-done 300 || :
	;;
1:*)
	# f: back as a copier of the new primary, after the reboot
	back_as_copier
	await 2 sw-go 900 || abort "no go for the switchover"
	switchover "$(awaitv 2 newp)"
	await 2 all-done 900 || :
	finish_node
	damaged_drill
	await 2 report-done 300 || :
	;;
2:* | 3:*)
	pr=$(awaitv 1 primary-ready 600) || abort "no primary"
	# node 1 decides whether the failover part runs
	failover=${pr#failover=}
	# one join at a time: with both at once, redd (2026-11-21) expels the
	# second joiner ("not a member of epoch N on the LUN")
	[ "$RED_NODE" = 2 ] || await 2 joined 600 || abort "node 2 did not join"
	standby_setup 1
	post streaming "$(cat "$work/standby.res")"
	if [ "$RED_NODE" = 2 ]; then
		# a promotion while the writer is alive: refused, nothing changes.
		# Role and state are compared, not the epoch: node 3 may join
		# meanwhile, and that moves the epoch on its own.
		b="$(field "$DEV" 1) $(field "$DEV" 2)"
		prc=0
		rc_ promote r0 --timeout 30 >"$work/refused.out" 2>&1 || prc=$?
		a="$(field "$DEV" 1) $(field "$DEV" 2)"
		post m-refused "$prc|$b|$a|$(tr '\n' ' ' <"$work/refused.out" | cut -c1-200)"
		say "b: promote while node 1 is alive: exit $prc: $(head -n 1 "$work/refused.out")"
	fi
	start_lsn_sampler
	await 1 load-go || abort "no load"
	start_reader
	if [ "$RED_NODE" = 3 ]; then
		# c: the load, from node 3 against node 1 over TCP
		tl=$(now)
		echo "$tl" >"$work/load1.start"
		(as_pg "$PGBENCH" "$(conn 1)" -n -c "$CLIENTS" -j 2 -T "$LOAD1_S" -l --log-prefix="$work/pgb/log1" -P 2 \
			>"$work/pgbench1.out" 2>&1 || echo "exit $?" >>"$work/pgbench1.out") &
		load_pid=$!
		# the gc under load: once pgbench reports (its first -P line)
		wait_for "pgbench's first progress report" 120 grep -q '^progress:' "$work/pgbench1.out" ||
			abort "pgbench run 1 does not report progress: $(tail -n 3 "$work/pgbench1.out" | tr '\n' ' ')"
		say "c: pgbench runs ($(grep -m1 '^progress:' "$work/pgbench1.out")), $(since "$tl")s after its start"
		gc_cycle 1
		post gc-done
	fi
	newp=1
	if [ "$failover" = 1 ]; then
		# the copiers' I/O is held from the end of their read lease to the
		# promotion: lease + fencing + promotion, more than the guests' 30 s
		# hung-task limit on a loaded TCG host
		echo 180 >/proc/sys/kernel/hung_task_timeout_secs
		await 1 kill-at 600 || abort "node 1 never killed itself"
		now >"$work/kill.seen"
		(sleep 150 && [ ! -e "$work/failover.done" ] && diag "failover not done 150 s after the kill") &
		failover_standby
		newp=$(cat "$work/newp")
		[ "$RED_NODE" != 2 ] || post newp "$newp"
		if [ "$newp" = "$RED_NODE" ]; then
			promote_here
		else
			await "$newp" promoted 600 || abort "node $newp did not promote"
			repoint "$newp"
		fi
		touch "$work/failover.done"
	fi
	if [ "$RED_NODE" = 3 ]; then
		wait "$load_pid" || :
		sed 's/^/  pgbench 1: /' "$work/pgbench1.out" | grep -v '^  pgbench 1: progress' | tail -n 25
		acked1=$(acked log1)
		# -n: no vacuum, and above all no truncation of pgbench_history
		as_pg "$PGBENCH" "$(conn "$newp")" -n -c "$CLIENTS" -j 2 -T "$LOAD2_S" -l --log-prefix="$work/pgb/log2" \
			>"$work/pgbench2.out" 2>&1 || { cat "$work/pgbench2.out"; abort "pgbench run 2"; }
		acked2=$(acked log2)
		read -r g0 g1 <"$work/gc.window"
		# one clock, node 3's: pgbench's log and the gc window.  Run 1
		# from its first acknowledged transaction to its last (node 1's
		# kill ends it); run 2 as pgbench reports it
		f1=$(txn_time log1 first) || f1=$g0
		l1=$(txn_time log1 last) || l1=$g1
		r2=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$work/pgbench2.out")
		post m-tps "pre-gc=$(tps_window log1 "$f1" "$g0") gc=$(tps_window log1 "$g0" "$g1") post-gc=$(tps_window log1 "$g1" "$l1") run2=${r2:--}"
		post load-done "$acked1 $acked2 $(grep -c 'client [0-9]* aborted' "$work/pgbench1.out" || :)"
		say "c: run 1 acknowledged $acked1 transactions, run 2 $acked2"
	fi
	# i: the switchover back to node 1, once the load is done and node 1 streams
	finalp=$newp
	if [ "$failover" = 1 ]; then
		if [ "$RED_NODE" = 2 ]; then
			await 3 load-done 900 || abort "no end of the load"
			await 1 n1-streaming 600 || abort "node 1 never streamed"
			post sw-go
		else
			await 2 sw-go 900 || abort "no go for the switchover"
		fi
		switchover "$newp"
		finalp=1
	fi
	if [ "$RED_NODE" = 2 ]; then
		# ---- g + h: checks and the report, on the survivor -------------------
		await 3 load-done 900 || abort "no end of the load"
		[ "$failover" = 0 ] || { await 1 sw-commit 600 && await "$newp" sw-back 600; } || :
		read -r acked1 acked2 aborted <<<"$(fact 3 load-done)"
		acked=$((acked1 + acked2))
		hist=$(qn "$finalp" "select count(*) from pgbench_history") || hist=-1
		n=0
		failed=0
		tap() { # RC DESC
			n=$((n + 1))
			if [ "$1" = 0 ]; then echo "ok $n - $2"; else
				echo "not ok $n - $2"
				failed=1
			fi
		}
		slack=0
		[ "$failover" = 0 ] || slack=$CLIENTS
		r=0
		{ [ "$hist" -ge "$acked" ] && [ "$hist" -le $((acked + slack)) ]; } || r=1
		[ "$acked1" -gt 0 ] || r=1
		tap $r "every acknowledged transaction is in pgbench_history on the primary at the end (node $finalp): $hist rows, $acked acknowledged ($acked1 + $acked2), at most $slack more allowed"
		# amcheck runs on the new primary while the standbys stop and check
		# their views.  The extension first: its commit waits for a
		# synchronous standby; the checks themselves write nothing.
		amc=$(qn "$finalp" "create extension if not exists amcheck" 2>&1) || :
		amcheck() {
			local v
			v=$(qn "$finalp" </dev/null "select count(*) from (select bt_index_check(c.oid) from pg_index i join pg_class c on c.oid = i.indexrelid join pg_am a on a.oid = c.relam where a.amname = 'btree' and c.relpersistence = 'p') x" 2>&1) || v="ERROR: $v"
			printf '%s\n' "$v" >"$work/amcheck.idx"
			v=$(qn "$finalp" </dev/null "select count(*) from pg_class c, verify_heapam(c.oid) v where c.relkind in ('r', 'm', 't') and c.relpersistence = 'p'" 2>&1) || v="ERROR: $v"
			printf '%s\n' "$v" >"$work/amcheck.heap"
			v=$(qn "$finalp" </dev/null "select count(*) from pg_class where relkind in ('r', 'm', 't') and relpersistence = 'p'" 2>&1) || :
			printf '%s\n' "$v" >"$work/amcheck.ntab"
		}
		if [ "$finalp" = "$RED_NODE" ]; then
			amcheck
			post standbys-fin
		else
			amcheck &
			amc_pid=$!
			post standbys-fin
			# this standby's reads end here, then its view is checked
			stop_reader
			finish_node
			wait "$amc_pid" || :
		fi
		idx=$(cat "$work/amcheck.idx")
		heap=$(cat "$work/amcheck.heap")
		ntab=$(cat "$work/amcheck.ntab")
		r=0
		case $idx in *ERROR* | '' | 0) r=1 ;; esac
		[ "$heap" = 0 ] || r=1
		tap $r "amcheck on the primary at the end (node $finalp): bt_index_check of $idx btree indexes, verify_heapam of $ntab tables: ${heap} corruption rows ${amc:+($amc)}"
		stop_reader
		r=0
		desc=''
		for i in 2 3; do
			if [ "$i" = 2 ]; then
				rd="$(grep -c ' ok$' "$work/reads.log" || :) $(grep -c ' fail$' "$work/reads.log" || :)"
			else rd=$(awaitv 3 reads 120) || rd="0 0 0"; fi
			read -r ok fl after <<<"$rd"
			# every read on an undisturbed standby works (a failover holds
			# their I/O for a while); node 3's work again after its gc
			[ "${ok:-0}" -ge 3 ] || r=1
			[ "$i" != 2 ] || [ "$failover" = 1 ] || [ "${fl:-1}" = 0 ] || r=1
			[ "$i" != 3 ] || [ "${after:-0}" -ge 1 ] || r=1
			desc+=" node $i: $ok ok, $fl failed${after:+, $after ok after its gc};"
		done
		[ "$r" = 0 ] || [ ! -s "$work/reads.firsterr" ] || desc+=" node 2's first error: $(head -c 200 "$work/reads.firsterr" | tr '\n' ' ')"
		tap $r "the standbys' read queries succeeded (${desc% })"
		r=0
		[ "$(fact 3 m-gc | grep -c insync)" = 1 ] || r=1
		tap $r "gc of node 3's standby under load: back streaming with replay lag < 1 s ($(fact 3 m-gc); $(fact 3 m-gcstore))"
		if [ "$failover" = 1 ]; then
			r=0
			[ -f "$work/promote.res" ] || [ "$newp" != 2 ] || r=1
			fact "$newp" promoted >/dev/null || r=1
			[ "$(fact "$newp" m-promote2 2>/dev/null)" = "exit 0 0, accepted 1, already-under-way 1" ] || r=1
			tap $r "failover: node $newp promoted (redctl promote + pg_ctl promote; two promotes at once: $(fact "$newp" m-promote2 2>/dev/null || echo -)), the other standby follows it ($(fact $((5 - newp)) m-repoint 2>/dev/null || echo -))"
			r=0
			case $(fact 1 m-f1 2>/dev/null) in role=copier*) ;; *) r=1 ;; esac
			fact 1 n1-streaming >/dev/null || r=1
			if [ "$loss" = cutoff ]; then
				# the held write ended with an error, the rest of the runbook held
				case $(fact 1 m-fence 2>/dev/null) in probe=[1-9]*\ *\ ok\;*) ;; *) r=1 ;; esac
				tap $r "node 1 cut off and back: fenced, its held write ended with an error, PostgreSQL stopped, umount and redctl down worked ($(fact 1 m-fence 2>/dev/null || echo -)); redctl up made it a copier and a standby of node $newp ($(fact 1 m-f1 2>/dev/null); $(fact 1 n1-streaming 2>/dev/null))"
			else
				tap $r "node 1 rebooted comes back as a copier and a standby of node $newp ($(fact 1 m-f1 2>/dev/null); $(fact 1 n1-streaming 2>/dev/null))"
			fi
			r=0
			fact 1 sw-promoted >/dev/null || r=1
			fact 1 sw-commit >/dev/null || r=1
			fact $((5 - newp)) sw-repoint >/dev/null || r=1
			case $(fact "$newp" sw-back 2>/dev/null) in role=copier*) ;; *) r=1 ;; esac
			tap $r "planned switchover back to node 1: node $newp stopped and resigned (redctl demote --force) in $(fact "$newp" sw-demoted 2>/dev/null | cut -d' ' -f2)s; node 1: $(fact 1 sw-promoted 2>/dev/null || echo -), a synchronous commit; node $((5 - newp)) follows in $(fact $((5 - newp)) sw-repoint 2>/dev/null || echo -); node $newp back as a copier and a standby ($(fact "$newp" sw-back 2>/dev/null || echo -))"
		else
			tap 0 "failover # SKIP redctl has no promote yet"
			tap 0 "node 1 back as a copier # SKIP no failover"
			tap 0 "planned switchover # SKIP no failover"
		fi
		IFS='|' read -r prc pb pa pout <<<"$(fact 2 m-refused)"
		r=0
		[ "$prc" = 12 ] || r=1
		[ -n "$pb" ] && [ "$pb" = "$pa" ] || r=1
		case $pout in *refused*) ;; *) r=1 ;; esac
		tap $r "promote refused while the writer is alive (exit $prc, device '$pb' -> '$pa'): ${pout:0:160}"
		post all-done
		[ "$finalp" != "$RED_NODE" ] || finish_node
		r=0
		fins=''
		for i in 1 2 3; do
			f=$(awaitv "$i" fin 300) || f="no-result"
			case $f in ok\ fsck-clean*) ;; *) r=1 ;; esac
			fins+=" node $i: $f;"
		done
		tap $r "PostgreSQL stopped, fsck.ext4 -n -f clean on every view (${fins% })"
		# j: the damaged record drill, on every node
		post dmg-go
		damaged_drill
		r=0
		dmgs=''
		case $(fact 1 dmg-writer 2>/dev/null) in ok\ *) ;; *) r=1 ;; esac
		for i in 1 2 3; do
			f=$(awaitv "$i" dmg-fin 300) || f="no-result"
			case $f in "fsck-clean writer active"* | "fsck-clean copier active"*) ;; *) r=1 ;; esac
			dmgs+=" node $i: $f;"
		done
		tap $r "damaged epoch record (the runbook): node 1 saw DAMAGED, down --force and up --force made it the writer of a new record ($(fact 1 dmg-writer 2>/dev/null || echo -)); the copiers gc'd and rejoined; every view fsck-clean (${dmgs% })"

		# ---- h: the report -------------------------------------------------------
		# every node has posted its last fact: the mailbox is read once
		# (into an array: a lookup is no process under TCG)
		declare -A F=()
		while read -r fn fk fv; do F[$fn,$fk]=$fv; done < <(mbox_dump)
		fact() { [ -n "${F[$1,$2]+set}" ] || return 1; printf '%s\n' "${F[$1,$2]}"; }
		echo "== pg3 report (scale $SCALE, chunk $((CHUNK_SECTORS / 2)) KiB, lease $((LEASE_MS / 1000)) s, failover $failover)"
		echo "== step a: primary on node 1: $(fact 1 m-a)"
		echo "== step b: standbys: node 2: $(fact 2 streaming); node 3: $(fact 3 streaming)"
		echo "== step c: load: node 3 pgbench -c $CLIENTS -j 2, run 1 $acked1 acknowledged (aborted clients: ${aborted:-0}), run 2 $acked2 in ${LOAD2_S}s"
		echo "== step c: TPS per phase (pgbench's log on node 3: run 1 from its first acknowledged transaction to the gc, during the gc, after it to its last; run 2 as pgbench reports it): $(fact 3 m-tps)"
		echo "== step d: gc of node 3's standby: $(fact 3 m-gc)"
		echo "== step d: node 3's store: $(fact 3 m-gcstore)"
		if [ "$failover" = 1 ]; then
			echo "== step e: node 1 lost ($loss), failover to node $newp (from node 1's loss, on the harness's clock: the line 'failover on the harness clock' below)"
			echo "== step e: $(fact "$newp" m-promote 2>/dev/null || echo -)"
			echo "== step e: node $((5 - newp)) re-pointed and streaming in $(fact $((5 - newp)) m-repoint 2>/dev/null || echo -)"
			[ "$loss" != cutoff ] || echo "== step f: node 1 back from the cut-off: $(fact 1 m-fence 2>/dev/null || echo -)"
			echo "== step f: node 1 back as a copier: $(fact 1 m-f1 2>/dev/null || echo -); $(fact 1 n1-streaming 2>/dev/null || echo -)"
			echo "== step i: switchover to node 1: node $newp demoted in $(fact "$newp" sw-demoted 2>/dev/null | cut -d' ' -f2)s; node 1 $(fact 1 sw-promoted 2>/dev/null || echo -); node $((5 - newp)) re-pointed in $(fact $((5 - newp)) sw-repoint 2>/dev/null || echo -); node $newp back: $(fact "$newp" sw-back 2>/dev/null || echo -)"
		fi
		echo "== step g: checks: history $hist rows, acknowledged $acked; amcheck $idx indexes, $heap corrupt rows"
		echo "== summary"
		printf '  %-6s %-8s %-40s %-34s %s\n' node role "store (zram mm_stat)" "stabilization" "LUN bytes written"
		for i in 1 2 3; do
			printf '  %-6s %-8s %-40s %-34s %s\n' "$i" "$(fact "$i" fin 2>/dev/null | awk '{ print $NF }')" \
				"$(fact "$i" m-store 2>/dev/null || echo -)" "$(fact "$i" m-stab 2>/dev/null || echo -)" \
				"$(fact "$i" m-lunw 2>/dev/null || echo -)"
		done
		[ "$failover" = 0 ] || echo "  node 1 before its loss: $(fact 1 m-1 2>/dev/null || echo -)"
		echo "1..$n"
		post report-done
		[ "$failed" = 0 ] || exit 1
	else
		# node 3: its reads for the report, then the end
		stop_reader
		read -r g0 g1 <"$work/gc.window"
		post reads "$(grep -c ' ok$' "$work/reads.log" || :) $(grep -c ' fail$' "$work/reads.log" || :) $(awk -v b="$g1" '$1 > b && $2 == "ok"' "$work/reads.log" | wc -l)"
		# the new primary serves amcheck to the end; a standby stops first
		if [ "$finalp" = "$RED_NODE" ]; then await 2 all-done 900 || :; else await 2 standbys-fin 900 || :; fi
		finish_node
		damaged_drill
		await 2 report-done 300 || :
	fi
	;;
esac
stop_redd
say "done"
