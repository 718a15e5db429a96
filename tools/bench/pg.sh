#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Comparison c5 of issue 5 (tools/bench, see /work/notes/bench-spec.md):
# PostgreSQL on three QEMU/TCG guests, dm-red (one shared LUN: the primary
# on the writer, hot standbys on two copiers) against shared-nothing
# streaming replication (a private disk per guest, standbys made by
# pg_basebackup), both in one boot, alternating.  Guest side and the order
# of the steps: tools/bench/pg-node.sh.
#
# Usage: tools/bench/pg.sh [--kver K] [--reps N] [--quick] [--out FILE]
#   --kver K    kernel (default: the newest installed 6.12)
#   --reps N    repetitions of each workload (default 2; --quick: 1)
#   --quick     pgbench -T 20 (default 60), replica-add at scales 2 and 5
#               (default 10 and 50; the pgbench workload runs at the small
#               scale)
#   --out FILE  raw lines (default build/bench/raw-pg-K.jsonl)
# Workloads: pgbench (tps, bytes_per_tx, stored_bytes, store_*_per_ktx),
# replica-add-sS for each of the two scales S (seconds, db_bytes).  Needs
# PostgreSQL 15 on the host (the guests see the host's root).  Logs:
# build/logs/bench-pg-K.out and build/logs/bench-pg-K/ (per node).  Exit 0
# only when every expected line arrived and every guest finished cleanly.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$top"
die() { echo "bench-pg: $*" >&2; exit "${2:-1}"; }
kver='' reps='' quick=0 out=''
while [ $# -gt 0 ]; do
	case $1 in
	--kver) kver=${2:?}; shift 2 ;;
	--reps) reps=${2:?}; shift 2 ;;
	--quick) quick=1; shift ;;
	--out) out=${2:?}; shift 2 ;;
	-h | --help) sed -n '10,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	*) die "unknown argument $1 (see --help)" 2 ;;
	esac
done
[ -n "$kver" ] || kver=$(find /lib/modules -maxdepth 1 -name '6.12*-amd64' -printf '%f\n' | sort -V | tail -n 1)
[ -n "$kver" ] || die "no 6.12 kernel installed"
[ -n "$reps" ] || reps=$((quick ? 1 : 2))
case $reps in '' | 0 | *[!0-9]*) die "--reps takes a positive integer" 2 ;; esac
# time-outs: about twice what a run takes on a 2-core host busy with other
# guests (quick: 25 minutes there, 12 alone)
if [ "$quick" = 1 ]; then run_t=20 scales="2 5" tmo=3000; else run_t=60 scales="10 50" tmo=5400; fi
# more repetitions, more time
tmo=$((tmo + (reps - 1) * (quick ? 600 : 1200)))
[ -n "$out" ] || out=build/bench/raw-pg-$kver.jsonl
for f in /usr/lib/postgresql/15/bin/initdb /usr/lib/postgresql/15/bin/pg_basebackup /usr/lib/postgresql/15/bin/pgbench; do
	[ -e "$f" ] || die "$f missing (apt-get install postgresql-15 postgresql-contrib)"
done

echo "bench-pg: building dm-red for $kver, redd and redctl" >&2
make -s KVER="$kver" >/dev/null
cmake -S redd -B build/redd -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=g++ >/dev/null
cmake --build build/redd --target redd redctl -j "$(nproc)" >/dev/null
mkdir -p build/vm build/bench build/pg3 "$(dirname "$out")"
# the initdb template tests/cluster/pg3.sh uses (tools/vm/pg3-check.sh
# makes the same): initdb takes minutes under TCG
tpl=build/pg3/pgdata-15.tar
if [ ! -s "$tpl" ] || [ "$tpl" -ot /usr/lib/postgresql/15/bin/initdb ]; then
	d=$(mktemp -d /tmp/bench-pg-initdb.XXXXXX)
	chown postgres:postgres "$d"
	setpriv --reuid=postgres --regid=postgres --init-groups -- env HOME=/tmp \
		/usr/lib/postgresql/15/bin/initdb -D "$d/data" -U postgres -A trust -E UTF8 --no-locale -N >/dev/null ||
		{ rm -rf "$d"; die "initdb failed"; }
	tar -C "$d/data" -cf "$tpl.tmp" .
	mv "$tpl.tmp" "$tpl"
	rm -rf "$d"
fi

lun=build/vm/bench-pg-lun-$kver.img
logdir=build/logs/bench-pg-$kver
log=build/logs/bench-pg-$kver.out
rm -f "$lun"
start=$(date +%s)
rc=0
# 2 GiB: the scale-50 database (about 800 MB), its WAL and the reserved
# last MiB, on the LUN and on every private disk alike
timeout -k 30 $((tmo + 180)) tools/vm/run-cluster.sh --kver "$kver" --nodes 3 \
	--lun "$lun" --lun-size 2048 --node-disk 2048 --timeout "$tmo" --mem 2048 --log-dir "$logdir" \
	--env "RED_BENCH_REPS=$reps" --env "RED_BENCH_T=$run_t" --env "RED_BENCH_SCALES=$scales" \
	--env "RED_BENCH_QUICK=$quick" --env "RED_BENCH_TEMPLATE=$top/$tpl" \
	-- tools/bench/pg-node.sh >"$log" 2>&1 || rc=$?
secs=$(($(date +%s) - start))
rm -f "$lun" "$logdir"/node-[0-9]-disk.img

sed -n 's/^\[n1\] \(BENCH\(INFO\)\{0,1\} {.*}\)$/\1/p' "$log" >"$out.tmp"
# every expected line, each one JSON
missing=$(python3 - "$out.tmp" "$reps" "$scales" <<'EOF'
import json, sys
adds = tuple("replica-add-s" + s for s in sys.argv[3].split())
want = {(w, c, r) for w in ("pgbench",) + adds
        for c in ("dm-red", "shared-nothing") for r in range(1, int(sys.argv[2]) + 1)}
info = 0
for line in open(sys.argv[1]):
    kind, _, doc = line.partition(" ")
    d = json.loads(doc, parse_constant=lambda c: sys.exit("bad number %s" % c))
    if kind == "BENCHINFO":
        info += 1
        continue
    want.discard((d["workload"], d["config"], d["rep"]))
    if d["workload"] == "pgbench" and not {"tps", "bytes_per_tx", "stored_bytes"} <= d["metrics"].keys():
        print("metrics of", line.strip())
    if d["workload"] != "pgbench" and "seconds" not in d["metrics"]:
        print("metrics of", line.strip())
for w in sorted(want):
    print("missing", *w)
if info != 1:
    print("BENCHINFO lines:", info)
EOF
) || missing="unreadable raw lines: $missing"
mv "$out.tmp" "$out"
grep '^\[harness\]' "$log" | tail -n 6 >&2
if [ "$rc" != 0 ] || [ -n "$missing" ]; then
	grep -E 'ABORT|FAIL' "$log" | head -n 20 >&2 || :
	[ -z "$missing" ] || printf '%s\n' "$missing" | sed 's/^/bench-pg: /' >&2
	die "run failed after ${secs}s (run-cluster exit $rc; log $log, guests $logdir)"
fi
echo "bench-pg: $(grep -c '^BENCH ' "$out") results in $out (${secs}s)" >&2
