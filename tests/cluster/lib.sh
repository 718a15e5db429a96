# shellcheck shell=bash
# Helpers of the three-guest cluster test (tests/cluster/cluster3.sh), guest
# side.  Sourced; expects RED_NODE, RED_LUN, RED_RUN_ID, and the caller's
# $work (a scratch directory) and $repo.
#
# The mailbox: the nodes coordinate through the last MiB of the shared LUN,
# which no red device covers.  Node i owns 256 sectors there; each fact it
# posts is one line "RUN_ID nI KEY VALUE..." in a sector of its own (a
# 512-byte O_DIRECT write is atomic), so a reader never sees half a fact.
# Facts are never overwritten: the latest post of a KEY wins.  A reader
# reads every node's sectors in one O_DIRECT read (mbox_dump): a poll is
# three processes, which counts under TCG.

: "${work:?}" "${repo:?}"
MBOX_SLOTS=256
WAIT_S=${RED_CLUSTER_WAIT:-240}
t0=${t0:-$SECONDS}

say() { printf 'cluster3[%s] +%ss: %s\n' "$RED_NODE" "$((SECONDS - t0))" "$*"; }

lun_sectors() { blockdev --getsz "$RED_LUN"; }
mbox_lun_sectors=''
mbox_base() { # NODE
	[ -n "$mbox_lun_sectors" ] || mbox_lun_sectors=$(lun_sectors)
	echo $((mbox_lun_sectors - 2048 + ($1 - 1) * MBOX_SLOTS))
}

# post KEY [VALUE...]: publish a fact of this node.
post() {
	local slot
	slot=$(cat "$work/mbox-next" 2>/dev/null || echo 0)
	[ "$slot" -lt "$MBOX_SLOTS" ] || { say "mailbox full"; return 1; }
	printf '%s n%s %s\n' "$RED_RUN_ID" "$RED_NODE" "$*" |
		dd of="$RED_LUN" bs=512 seek=$(($(mbox_base "$RED_NODE") + slot)) count=1 \
			conv=sync,notrunc oflag=direct status=none
	echo $((slot + 1)) >"$work/mbox-next"
}

# mbox_dump: every node's facts of this run, "NODE KEY VALUE..." a line,
# each node's in the order it posted them.
mbox_dump() {
	dd if="$RED_LUN" bs=512 skip="$(mbox_base 1)" count=$((MBOX_SLOTS * ${RED_NODES:-4})) \
		iflag=direct status=none | tr -d '\0' | sed -n "s/^$RED_RUN_ID n\([0-9]*\) /\1 /p"
}

# facts NODE: every fact of NODE, one per line, without the run id.
facts() {
	mbox_dump | awk -v n="$1" '$1 == n { sub(/^[^ ]+ /, ""); print }'
}

# fact NODE KEY: the value of NODE's latest KEY (status 1 if none).
fact() {
	local v
	v=$(facts "$1" | awk -v k="$2" '$1 == k { sub("^[^ ]+ ?", ""); v = $0; n = 1 } END { if (n) print v; exit !n }') ||
		return 1
	printf '%s\n' "$v"
}

# await NODE KEY [SECONDS]: wait for a fact.  Gives up on time-out or when
# any node posted "abort".  awaitv also prints the value.
await() { awaitv "$@" >/dev/null; }
awaitv() {
	local node=$1 key=$2 deadline=$((SECONDS + ${3:-$WAIT_S})) r
	while :; do
		# one read of the mailbox: "F VALUE" (found), "A NODE WHY" (another
		# node aborted), or nothing
		r=$(mbox_dump | awk -v n="$node" -v k="$key" -v me="$RED_NODE" '
			$1 == n && $2 == k { v = $0; sub(/^[^ ]+ [^ ]+ ?/, "", v); found = 1 }
			$2 == "abort" && $1 != me && !ab { ab = $1; why = $0; sub(/^[^ ]+ [^ ]+ ?/, "", why) }
			END { if (found) print "F " v; else if (ab) print "A " ab " " why }')
		case $r in
		"F "*)
			printf '%s\n' "${r#F }"
			return 0
			;;
		"A "*)
			r=${r#A }
			say "node ${r%% *} aborted (${r#* }) while waiting for node $node's $key" >&2
			return 1
			;;
		esac
		if [ "$SECONDS" -ge "$deadline" ]; then
			say "timed out waiting for node $node's $key" >&2
			return 1
		fi
		sleep 0.5
	done
}

# wait_for DESCRIPTION SECONDS COMMAND...: poll COMMAND until it succeeds.
wait_for() {
	local what=$1 deadline=$((SECONDS + $2))
	shift 2
	until "$@"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			say "timed out waiting for $what"
			return 1
		fi
		sleep 0.3
	done
}

# lines_ge FILE N: FILE exists and has N lines or more.
lines_ge() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }

# field DEV N: the Nth of the 13 fields of the red status line.
field() { dmsetup status "$1" | awk -v n="$2" '{ print $(3 + n) }'; }
state_is() { [ "$(field "$1" 2)" = "$2" ]; }
epoch_ge() { [ "$(field "$1" 3)" -ge "$2" ]; }

# redd, its log in $work/redd.log.
start_redd() {
	# redd and its libraries copied to tmpfs: a restart under load must not
	# wait for 9p (it has a lease's time to reconnect)
	if [ ! -x "$work/redd" ]; then
		mkdir -p "$work/lib"
		cp "${RED_REDD:-$repo/build/redd/daemon/redd}" "$work/redd"
		ldd "$work/redd" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | xargs -r cp -t "$work/lib"
	fi
	# each line stamped with CLOCK_MONOTONIC, as dmesg is
	# niced up: its heartbeats must not starve behind the test's own load
	LD_LIBRARY_PATH=$work/lib nice -n -10 "$work/redd" --config "$work/red.conf" > >(perl -MTime::HiRes=clock_gettime,CLOCK_MONOTONIC \
		-ne '$|=1; printf "[%10.3f] %s", clock_gettime(CLOCK_MONOTONIC), $_' >>"$work/redd.log") 2>&1 &
	echo $! >"$work/redd.pid"
}
kill9_redd() {
	local pid
	pid=$(cat "$work/redd.pid")
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || :
	echo "---- kill -9 of redd $pid at +$((SECONDS - t0))s ----" >>"$work/redd.log"
}
stop_redd() {
	local pid
	pid=$(cat "$work/redd.pid" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null || :
	timeout 20 tail --pid="$pid" -f /dev/null || kill -KILL "$pid" 2>/dev/null || :
	wait "$pid" 2>/dev/null || :
}
# redd_diag: what a stuck redd is doing.
redd_diag() {
	local pid
	pid=$(cat "$work/redd.pid")
	say "redd $pid: $(grep -E '^State' "/proc/$pid/status" 2>/dev/null || echo gone), wchan $(cat "/proc/$pid/wchan" 2>/dev/null || :)"
	sed 's/^/  stack: /' "/proc/$pid/stack" 2>/dev/null || :
	for t in /proc/"$pid"/task/*; do
		echo "  thread ${t##*/}: $(cat "$t/wchan" 2>/dev/null) $(grep -E '^State' "$t/status" 2>/dev/null)"
	done
	dmsetup status | sed 's/^/  status: /'
	redd_log | tail -n 60
	echo w >/proc/sysrq-trigger || :
	dmesg | tail -n 80 | sed 's/^/  dmesg: /'
}

# redd_log: its log for the record, without the probe identity's dial noise
redd_log() { grep -v 'node 4: connection dropped: connect failed' "$work/redd.log" | sed 's/^/  redd.log: /'; }

# log_since LINE: redd's log from line LINE on.
log_lines() { wc -l <"$work/redd.log"; }
log_since() { tail -n +"$(($1 + 1))" "$work/redd.log"; }
log_has() { log_since "$1" | grep -qF -- "$2"; } # LINE TEXT

# The configuration every node shares (node 4 is the probe's identity: a
# configured node that never runs redd; nothing listens on its address).
write_config() { # LEASE_MS STORE_SIZE
	local addrs i
	read -r -a addrs <<<"$RED_ADDRS"
	printf 'red-cluster3-shared-key-%s-0123456789abcdef' "$RED_RUN_ID" >"$work/red.key"
	printf 'not-the-cluster-key-%s-fedcba9876543210' "$RED_RUN_ID" >"$work/wrong.key"
	chmod 600 "$work/red.key" "$work/wrong.key"
	{
		printf '[global]\nnode_id = %s\nkey_file = %s\n' "$RED_NODE" "$work/red.key"
		printf 'listen = 0.0.0.0:7788\nheartbeat_ms = 500\nlease_ms = %s\nlog_level = info\n' "$1"
		for i in "${!addrs[@]}"; do
			printf '[node.%s]\naddress = %s:7788\n' "$((i + 1))" "${addrs[i]}"
		done
		printf '[node.4]\naddress = 127.0.0.1:7799\n'
		printf '[resource.r0]\nlun = %s\nchunk_sectors = 64\nstore_size = %s\nwriter = 1\n' \
			"$RED_LUN" "$2"
	} >"$work/red.conf"
}

# ext4_load DIR SECONDS: files of random sizes written, some deleted, a
# manifest of the survivors' checksums; then every survivor is checked
# after dropping the caches.  Prints "files=N deleted=N mib=N bad=N".
ext4_load() {
	local dir=$1 end=$((SECONDS + $2)) i=0 del=0 kib=0 n j bad
	mkdir -p "$dir"
	: >"$dir.manifest"
	while [ "$SECONDS" -lt "$end" ]; do
		i=$((i + 1))
		n=$((4 + RANDOM % 252))
		head -c "$((n * 1024))" /dev/urandom >"$dir/f$i"
		kib=$((kib + n))
		sha256sum "$dir/f$i" >>"$dir.manifest"
		if [ $((i % 5)) = 0 ]; then
			j=$((1 + RANDOM % i))
			if [ -e "$dir/f$j" ]; then
				rm -f "$dir/f$j"
				sed -i "\| $dir/f$j\$|d" "$dir.manifest"
				del=$((del + 1))
			fi
		fi
		if [ $((i % 7)) = 0 ] && [ -e "$dir/f$i" ]; then
			mv "$dir/f$i" "$dir/g$i"
			sed -i "s| $dir/f$i\$| $dir/g$i|" "$dir.manifest"
		fi
		[ $((i % 10)) = 0 ] && sync
	done
	sync
	echo 3 >/proc/sys/vm/drop_caches
	bad=$(sha256sum -c --quiet "$dir.manifest" 2>&1 | grep -c -v '^$' || :)
	echo "files=$i deleted=$del kib=$kib survivors=$(wc -l <"$dir.manifest") bad=$bad"
}

# write_config_nodes LEASE_MS STORE_SIZE CHUNK_SECTORS WRITER: the shared
# configuration of exactly the run's RED_NODES nodes (no probe identity, so
# a majority is a majority of the real nodes), resource r0 on the LUN.
write_config_nodes() {
	local addrs i
	read -r -a addrs <<<"$RED_ADDRS"
	printf 'red-cluster-shared-key-%s-0123456789abcdef' "$RED_RUN_ID" >"$work/red.key"
	chmod 600 "$work/red.key"
	{
		printf '[global]\nnode_id = %s\nkey_file = %s\n' "$RED_NODE" "$work/red.key"
		printf 'listen = 0.0.0.0:7788\nheartbeat_ms = 500\nlease_ms = %s\nlog_level = info\n' "$1"
		for i in "${!addrs[@]}"; do
			printf '[node.%s]\naddress = %s:7788\n' "$((i + 1))" "${addrs[i]}"
		done
		printf '[resource.r0]\nlun = %s\nchunk_sectors = %s\nstore_size = %s\nwriter = %s\n' \
			"$RED_LUN" "$3" "$2" "$4"
	} >"$work/red.conf"
}

# now: seconds since the epoch with microseconds; since T: seconds from T,
# one decimal.
now() { printf '%s\n' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", b - a }'; }

# mbox_resume: after a reboot (/tmp is new), post after this node's earlier
# facts instead of over them.
mbox_resume() { facts "$RED_NODE" | wc -l >"$work/mbox-next"; }
