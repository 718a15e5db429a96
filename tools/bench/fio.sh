#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The fio part of make bench (issue 5): c1 (writer on stable chunks against
# dm-linear), c2 (first writes with 0, 1, 2 copiers against stable writes),
# c3 (copier against dm-snapshot) and the fio half of c4 (chunk size sweep
# of the first-write and preserve costs), in one QEMU/TCG guest on one LUN.
# What each comparison measures, and how: tools/bench/fio-node.sh (guest).
#
# Usage: tools/bench/fio.sh [--kver K] [--reps N] [--quick] [--out FILE]
#                           [--parts c1,c2,c2a,c2k,c3,c4]
#   --kver   guest kernel (default: the newest installed 6.12)
#   --reps   repetitions (default 3; 1 with --quick)
#   --quick  2 s per fio job instead of 5, c4 with 4k, 64k, 1m chunks only
#   --out    raw result lines (default build/bench/raw-fio-K.jsonl)
#   --parts  the comparisons to run (default all six; c2a: stabilize_ahead
#            off and on, sequential first writes with one copier; c2k: the
#            preserve copies by dm-red or by kcopyd, c2's jobs with 2 copiers)
# The LUN is a raw image (build/bench/fio-lun-K.img, 1.5 GiB of random data,
# removed at the end) attached as a virtio-blk disk, cache=none.  Guest log:
# build/logs/bench-fio-K.log (kernel console: .console.log).
# Exit status: 0 when the run completed, every expected line is in --out
# and the guest's dmesg is clean; 1 otherwise; 2 on usage errors.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$top"

usage() {
	sed -n '9,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
die() { echo "fio.sh: $*" >&2; exit 1; }

kver='' reps='' quick=0 out='' parts=c1,c2,c2a,c2k,c3,c4
while [ $# -gt 0 ]; do
	case $1 in
	--kver) kver=${2:?--kver needs a value}; shift 2 ;;
	--reps) reps=${2:?--reps needs a value}; shift 2 ;;
	--quick) quick=1; shift ;;
	--out) out=${2:?--out needs a value}; shift 2 ;;
	--parts) parts=${2:?--parts needs a value}; shift 2 ;;
	-h | --help) usage ;;
	*) echo "fio.sh: unknown argument '$1'" >&2; usage ;;
	esac
done
if [ -z "$kver" ]; then
	kver=$(find /lib/modules -maxdepth 1 -name '6.12*-amd64' -printf '%f\n' | sort -V | tail -n 1)
	[ -n "$kver" ] || { echo "fio.sh: no 6.12 kernel installed; give --kver" >&2; exit 2; }
fi
[ -d "/lib/modules/$kver" ] || { echo "fio.sh: kernel $kver is not installed" >&2; exit 2; }
if [ -n "$reps" ]; then
	case $reps in *[!0-9]* | 0*) echo "fio.sh: --reps must be a positive integer" >&2; exit 2 ;; esac
elif [ "$quick" = 1 ]; then
	reps=1
else
	reps=3
fi
IFS=, read -r -a plist <<<"$parts"
[ "${#plist[@]}" -gt 0 ] || { echo "fio.sh: --parts is empty" >&2; exit 2; }
for p in "${plist[@]}"; do
	case $p in c1 | c2 | c2a | c2k | c3 | c4) ;; *) echo "fio.sh: unknown part '$p' (c1, c2, c2a, c2k, c3, c4)" >&2; exit 2 ;; esac
done
if [ "$quick" = 1 ]; then
	runtime=2 chunks=4,64,1024
else
	runtime=5 chunks=4,8,16,32,64,128,256,512,1024
fi
[ -n "$out" ] || out=build/bench/raw-fio-$kver.jsonl

command -v fio >/dev/null || die "fio is not installed (tools/install-deps.sh)"
mkdir -p build/bench build/logs "$(dirname "$out")"
mlog=build/logs/bench-fio-make-$kver.log
if ! { make -s KVER="$kver" && make -s -C tests; } >"$mlog" 2>&1; then
	tail -n 20 "$mlog" >&2
	die "the build failed (log $mlog)"
fi
log=build/logs/bench-fio-$kver.log
conlog=build/logs/bench-fio-$kver.console.log
img=build/bench/fio-lun-$kver.img
rm -f "$img" "$out"
# The LUN: 1.5 GiB of incompressible data (a 64 MiB random block repeated:
# zram compresses page by page), so that preserves and copy-on-write copy
# real data and every host block is allocated before the first measurement.
rnd=build/bench/fio-random-64m.bin
if [ "$(stat -c %s "$rnd" 2>/dev/null || echo 0)" != 67108864 ]; then
	head -c 67108864 /dev/urandom >"$rnd.tmp"
	mv "$rnd.tmp" "$rnd"
fi
for _ in $(seq 1 24); do cat "$rnd"; done >"$img"
sync "$img"
# shellcheck disable=SC2317  # invoked by trap
cleanup() { rm -f "$img"; }
trap cleanup EXIT

# the expected (cmp, workload, config, rep) tuples, one per line
expected() {
	python3 - "$parts" "$reps" "$chunks" <<'EOF'
import sys
parts, reps, chunks = sys.argv[1].split(","), int(sys.argv[2]), sys.argv[3].split(",")
W = {
    "c1": (["randread-4k-qd1", "randread-4k-qd16", "randwrite-4k-qd1", "randwrite-4k-qd16",
            "seqwrite-1m-qd1", "seqwrite-1m-qd16"], ["dm-linear", "dm-red"]),
    "c2": (["randwrite-4k-qd1", "randwrite-4k-qd16", "seqwrite-1m-qd1", "seqwrite-1m-qd16"],
           ["copiers-0", "copiers-1", "copiers-2", "stable"]),
    "c2a": (["seqwrite-1m-qd1", "seqwrite-4k-qd1"], ["ahead-0", "ahead-64"]),
    "c2k": (["randwrite-4k-qd1", "randwrite-4k-qd16", "seqwrite-1m-qd1", "seqwrite-1m-qd16"],
            ["copy-kcopyd", "copy-runs"]),
    "c3": (["read-lun-4k-qd1", "read-lun-4k-qd16", "read-store-4k-qd1", "read-store-4k-qd16",
            "firstwrite-4k-qd1", "firstwrite-4k-qd16", "rewrite-4k-qd1", "rewrite-4k-qd16"],
           ["dm-snapshot", "dm-red-copier"]),
    "c4": (["firstwrite-4k-qd1", "firstwrite-1m-qd1", "preserve-4k-qd1"],
           ["chunk-1m" if c == "1024" else "chunk-%sk" % c for c in chunks]),
}
for p in parts:
    wls, cfgs = W[p]
    for r in range(1, reps + 1):
        for w in wls:
            for c in cfgs:
                print(p, w, c, r)
EOF
}
njobs=$(expected | wc -l)
# boot, then per job: run time plus set-up
tmo=$((900 + njobs * (runtime + 15)))

echo "fio.sh: $kver, parts $parts, $reps rep(s), ${runtime}s per job, $njobs result lines expected, time-out ${tmo}s" >&2
grc=0
tools/vm/run-guest.sh --kver "$kver" --mem 2048 --smp 2 --timeout "$tmo" --log "$log" \
	--env "BENCH_PARTS=$parts" --env "BENCH_REPS=$reps" --env "BENCH_RUNTIME=$runtime" \
	--env "BENCH_CHUNKS=$chunks" --env BENCH_SERIAL=benchlun \
	--qemu-arg -drive --qemu-arg "file=$top/$img,format=raw,if=none,id=lun,cache=none,aio=native" \
	--qemu-arg -device --qemu-arg "virtio-blk-pci,drive=lun,serial=benchlun" \
	-- tools/bench/fio-node.sh >&2 || grc=$?

grep -a -E '^BENCH(INFO)? \{' "$log" >"$out" || :
bad=0
if [ "$grc" -ne 0 ]; then
	echo "fio.sh: FAIL: the guest run exited $grc (log $log)" >&2
	bad=1
fi
missing=$(expected | python3 -c '
import json, sys
have = set()
with open(sys.argv[1]) as f:
    for line in f:
        if line.startswith("BENCH {"):
            o = json.loads(line[6:])
            have.add("%s %s %s %d" % (o["cmp"], o["workload"], o["config"], o["rep"]))
for line in sys.stdin:
    if line.strip() not in have:
        print(line.strip())
' "$out")
if [ -n "$missing" ]; then
	echo "fio.sh: FAIL: $(printf '%s\n' "$missing" | wc -l) of $njobs result lines missing, e.g.:" >&2
	printf '%s\n' "$missing" | head -n 5 | sed 's/^/  /' >&2
	bad=1
fi
grep -q '^BENCHINFO ' "$out" || { echo "fio.sh: FAIL: no BENCHINFO line" >&2; bad=1; }
for f in "$log" "$conlog"; do
	if [ -f "$f" ] && ! tools/vm/check-dmesg.sh "$f" >&2; then
		echo "fio.sh: FAIL: kernel problem report in $f" >&2
		bad=1
	fi
done

# medians, for a look (tools/bench/report.py makes the report)
python3 - "$out" <<'EOF' || :
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if line.startswith("BENCH {"):
        o = json.loads(line[6:])
        rows.setdefault((o["cmp"], o["workload"]), {}).setdefault(o["config"], []).append(o["metrics"])
for (c, w), cfgs in rows.items():
    cells = []
    for cfg, ms in cfgs.items():
        key = "iops" if "iops" in ms[0] else "preserve_us"
        cells.append("%s %s=%.1f" % (cfg, key, statistics.median(m[key] for m in ms)))
    print("%s %-20s %s" % (c, w, "  ".join(cells)))
EOF
[ "$bad" = 0 ] || exit 1
echo "fio.sh: OK, $njobs result lines in $out" >&2
