#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Issue 5, comparison c4, the pgbench half: store growth of a copier under
# pgbench as a function of the chunk size, in one QEMU/TCG guest (guest
# side: tools/bench/pgsweep-node.sh, red-testd in place of redd).
#
# Usage: tools/bench/pgsweep.sh [--kver K] [--reps N] [--quick] [--out FILE]
#   --kver   kernel (default: the newest installed 6.12)
#   --reps   repetitions (default 2; 1 with --quick)
#   --quick  chunk sizes 4k 64k 1m and pgbench -t 40 per client (default:
#            4k .. 1m, every power of two, -t 100)
#   --out    raw lines (default build/bench/raw-pgsweep-K.jsonl)
# The saved LUN image (ext4 with a PostgreSQL 15 cluster after pgbench -i
# -s 5) is made on the host, where initdb and pgbench -i take seconds, and
# handed to the guest as a read-only disk; the guest restores it onto the
# LUN before every run.  Guest log: build/logs/bench-pgsweep-K.log.
# Exit 0 only if every BENCH line arrived and the guest's dmesg is clean.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$top"
usage() { sed -n '7,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "pgsweep: $*" >&2; exit 1; }

kver='' reps='' quick=0 out=''
while [ $# -gt 0 ]; do
	case $1 in
	--kver) kver=${2:?}; shift 2 ;;
	--reps) reps=${2:?}; shift 2 ;;
	--quick) quick=1; shift ;;
	--out) out=${2:?}; shift 2 ;;
	-h | --help) usage ;;
	*) echo "pgsweep: unknown argument $1" >&2; usage ;;
	esac
done
[ -n "$kver" ] || kver=$(find /lib/modules -maxdepth 1 -name '6.12*-amd64' -printf '%f\n' | sort -V | tail -n 1)
[ -n "$kver" ] || die "no 6.12 kernel installed; give --kver"
if [ "$quick" = 1 ]; then
	sizes="4k 64k 1m" txper=40 reps=${reps:-1}
else
	sizes="4k 8k 16k 32k 64k 128k 256k 512k 1m" txper=100 reps=${reps:-2}
fi
case $reps in '' | *[!0-9]* | 0) die "--reps takes a positive integer" ;; esac
out=${out:-build/bench/raw-pgsweep-$kver.jsonl}
scale=5 clients=4 mem=2048 smp=2 lun_mib=320
PGBIN=/usr/lib/postgresql/15/bin
for f in "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/postgres" /usr/bin/pgbench /usr/bin/psql; do
	[ -x "$f" ] || die "$f missing (apt-get install postgresql-15 postgresql-client-15)"
done

make -s KVER="$kver" >/dev/null
make -s -C tests >/dev/null
mkdir -p build/bench build/vm build/logs "$(dirname "$out")"

# ---- the saved image, made on the host --------------------------------------
gold=build/bench/pgsweep-gold-s$scale.img
if [ ! -s "$gold" ] || [ "$gold" -ot "$top/tools/bench/pgsweep.sh" ] || [ "$gold" -ot "$PGBIN/postgres" ]; then
	echo "pgsweep: making $gold (initdb, pgbench -i -s $scale, mkfs.ext4 -d)" >&2
	d=$(mktemp -d /tmp/pgsweep-gold.XXXXXX)
	# shellcheck disable=SC2317  # invoked by trap
	gold_cleanup() {
		setpriv --reuid=postgres --regid=postgres --init-groups -- env HOME=/tmp \
			"$PGBIN/pg_ctl" -D "$d/root/data" -m immediate -w stop >/dev/null 2>&1 || :
		rm -rf "$d"
	}
	trap gold_cleanup EXIT
	chmod 755 "$d"
	mkdir -p "$d/root/data" "$d/sock"
	chown postgres:postgres "$d/root/data" "$d/sock"
	chmod 700 "$d/root/data"
	as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups -- env HOME=/tmp "$@"; }
	as_pg "$PGBIN/initdb" -D "$d/root/data" -U postgres -A trust -E UTF8 --no-locale -N >/dev/null ||
		die "initdb failed"
	cat >>"$d/root/data/postgresql.conf" <<-EOF
		# pgsweep: the primary in the guest (the standby overrides port)
		listen_addresses = '127.0.0.1'
		port = 5432
		unix_socket_directories = '/tmp'
		wal_level = replica
		hot_standby = on
		max_wal_senders = 4
		wal_keep_size = 64MB
		max_wal_size = 128MB
		shared_buffers = 64MB
		wal_receiver_timeout = 60s
		wal_sender_timeout = 60s
	EOF
	# on the host: no TCP, a private socket directory
	as_pg "$PGBIN/pg_ctl" -D "$d/root/data" -l "$d/sock/pg.log" -w -t 120 \
		-o "-c listen_addresses='' -c unix_socket_directories='$d/sock'" start >/dev/null ||
		{ cat "$d/sock/pg.log" >&2; die "host postgres start failed"; }
	as_pg pgbench -h "$d/sock" -p 5432 -U postgres -i -s "$scale" -q postgres >"$d/init.out" 2>&1 ||
		{ cat "$d/init.out" >&2; die "pgbench -i failed"; }
	as_pg psql -h "$d/sock" -p 5432 -U postgres -d postgres -XAtq -c checkpoint >/dev/null
	as_pg "$PGBIN/pg_ctl" -D "$d/root/data" -m fast -w -t 120 stop >/dev/null || die "host postgres stop failed"
	rm -f "$gold.tmp"
	truncate -s "${lun_mib}M" "$gold.tmp"
	mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 -d "$d/root" "$gold.tmp" ||
		die "mkfs.ext4 -d failed"
	mv "$gold.tmp" "$gold"
	gold_cleanup
	trap - EXIT
fi

# ---- one guest, every run -----------------------------------------------------
lun=build/vm/pgsweep-lun-$kver.img
log=build/logs/bench-pgsweep-$kver.log
raw=build/logs/bench-pgsweep-$kver.out
rm -f "$lun"
truncate -s "${lun_mib}M" "$lun"
nsizes=$(wc -w <<<"$sizes")
expect=$((nsizes * reps))
# time-out: up to one second per transaction on a loaded TCG host
tmo=$((600 + expect * (txper * clients + 450)))
echo "pgsweep: $kver, sizes: $sizes, $reps repetition(s), pgbench -t $txper per client; guest time-out ${tmo}s, log $log" >&2
start=$(date +%s)
rc=0
timeout -k 30 $((tmo + 120)) tools/vm/run-guest.sh --kver "$kver" --mem "$mem" --smp "$smp" \
	--timeout "$tmo" --log "$log" \
	--qemu-arg "-drive" --qemu-arg "file=$top/$lun,format=raw,if=none,id=lun,cache=none,aio=native,discard=unmap" \
	--qemu-arg "-device" --qemu-arg "virtio-blk-pci,drive=lun,serial=benchlun" \
	--qemu-arg "-drive" --qemu-arg "file=$top/$gold,format=raw,if=none,id=gold,readonly=on" \
	--qemu-arg "-device" --qemu-arg "virtio-blk-pci,drive=gold,serial=benchgold" \
	--env "RED_PGS_SIZES=$sizes" --env "RED_PGS_REPS=$reps" --env "RED_PGS_TX=$txper" \
	--env "RED_PGS_CLIENTS=$clients" --env "RED_PGS_SCALE=$scale" --env "RED_PGS_GOLD_PATH=$top/$gold" \
	--env "RED_PGS_MEM=$mem" --env "RED_PGS_SMP=$smp" \
	-- tools/bench/pgsweep-node.sh >"$raw" 2>&1 || rc=$?
secs_run=$(($(date +%s) - start))
rm -f "$lun"
grep -a -E '^(BENCH|BENCHINFO) \{' "$raw" >"$out" || :
got=$(grep -c '^BENCH ' "$out" || :)
fail=0
if [ "$rc" != 0 ]; then
	grep -a -E 'pgsweep|FAIL|run-guest' "$raw" | tail -n 40 >&2
	echo "pgsweep: the guest failed (exit $rc after ${secs_run}s; see $raw and $log)" >&2
	fail=1
fi
tools/vm/check-dmesg.sh "$log" >&2 || { echo "pgsweep: kernel problem report in $log" >&2; fail=1; }
if [ "$got" != "$expect" ] || ! grep -q '^BENCHINFO ' "$out"; then
	echo "pgsweep: $got of $expect BENCH lines (and BENCHINFO?) in $out" >&2
	fail=1
fi
# a table of the medians, for the eye (report.py does the real one)
/usr/bin/python3 - "$out" <<'EOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if line.startswith("BENCH "):
        r = json.loads(line[6:])
        rows.setdefault(r["config"], []).append(r["metrics"])
def size(c):
    s = c.split("-")[1]
    return int(s[:-1]) * (1024 if s.endswith("m") else 1)
keys = ["tps", "store_orig_bytes_per_ktx", "store_mem_bytes_per_ktx", "preserves_per_tx",
        "stabilize_per_tx", "gc_interval_tx_per_gib"]
print("%-11s %4s " % ("config", "n") + " ".join("%14s" % k[:14] for k in keys))
for c in sorted(rows, key=size):
    print("%-11s %4d " % (c, len(rows[c])) +
          " ".join("%14.5g" % statistics.median(m[k] for m in rows[c]) for k in keys))
EOF
echo "pgsweep: $got BENCH lines in $out, ${secs_run}s" >&2
exit "$fail"
