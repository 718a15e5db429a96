#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# make bench: dm-red measured side by side with dm-linear, dm-snapshot and a
# shared-nothing PostgreSQL cluster, in QEMU/TCG guests (issue 5).
#
# Usage: tools/bench/bench.sh [--kver KVER] [--reps N] [--quick]
#                             [--parts fio,pgsweep,pg]
#
# The parts (each boots its guests once and alternates the configurations
# it compares, A B A B ..., over the repetitions):
#   fio      one guest: c1 writer on stable chunks vs dm-linear, c2 first
#            writes with 0/1/2 copiers, c2a stabilize_ahead off and on, c2k
#            the preserve copies by dm-red or kcopyd, c3 copier vs
#            dm-snapshot, c4 chunk size sweep of the first-write and
#            preserve costs (tools/bench/fio.sh)
#   pgsweep  one guest: c4 store growth under pgbench per chunk size
#            (tools/bench/pgsweep.sh)
#   pg       three guests: c5 PostgreSQL, one shared copy vs shared
#            nothing: TPS, bytes written per transaction, store growth,
#            time to add a read replica at two database sizes
#            (tools/bench/pg.sh)
# Results in build/bench/: raw-PART-KVER.jsonl (one line per measurement),
# report.txt (medians, spread, ratios, the issue's goals), results.json,
# plots/*.png.  Guest logs in build/logs/bench-*.
# Exit status: 0 when every part ran and the report was made (a missed goal
# is a finding, shown in the report, not a failure); 1 if a part failed
# (the report is still made from the parts that ran); 2 usage.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$top"

usage() {
	sed -n '6,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

kver=''
reps=''
quick=()
parts=fio,pgsweep,pg
while [ $# -gt 0 ]; do
	case $1 in
	--kver) kver=${2:?}; shift 2 ;;
	--reps) reps=${2:?}; shift 2 ;;
	--quick) quick=(--quick); shift ;;
	--parts) parts=${2:?}; shift 2 ;;
	-h | --help) usage ;;
	*) echo "bench: unknown argument '$1'" >&2; usage ;;
	esac
done
if [ -n "$reps" ]; then
	case $reps in '' | *[!0-9]* | 0) echo "bench: --reps must be a positive integer" >&2; exit 2 ;; esac
fi
IFS=, read -r -a plist <<<"$parts"
for p in "${plist[@]}"; do
	case $p in fio | pgsweep | pg) ;; *) echo "bench: unknown part '$p' (fio, pgsweep, pg)" >&2; exit 2 ;; esac
done
if [ -z "$kver" ]; then
	kver=$(find /lib/modules -maxdepth 1 -name '6.12*-amd64' -printf '%f\n' | sort -V | tail -n 1)
	[ -n "$kver" ] || { echo "bench: no Debian 6.12 kernel installed; give --kver" >&2; exit 2; }
fi
[ -d "/lib/modules/$kver" ] || { echo "bench: kernel $kver is not installed" >&2; exit 2; }

out=build/bench
mkdir -p "$out"
host="$out/host-$kver.jsonl"
# the machine, for the report and Documentation/performance.rst
python3 - "$kver" >"$host" <<'EOF'
import json, os, platform, sys, time
model = ""
with open("/proc/cpuinfo") as f:
    for l in f:
        if l.startswith("model name"):
            model = l.split(":", 1)[1].strip()
            break
mem = 0
with open("/proc/meminfo") as f:
    for l in f:
        if l.startswith("MemTotal:"):
            mem = int(l.split()[1]) // 1024
print("BENCHINFO " + json.dumps({"part": "host", "host_cpus": os.cpu_count(), "host_cpu": model,
      "host_mem_mib": mem, "host_kernel": platform.release(), "guest_kernel": sys.argv[1],
      "accel": "tcg", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}))
EOF

rc=0
raws=("$host")
t0=$(date +%s)
for p in "${plist[@]}"; do
	raw="$out/raw-$p-$kver.jsonl"
	rm -f "$raw"
	args=(--kver "$kver" --out "$raw" "${quick[@]}")
	[ -z "$reps" ] || args+=(--reps "$reps")
	echo "== bench part $p: tools/bench/$p.sh ${args[*]}"
	ts=$(date +%s)
	if "tools/bench/$p.sh" "${args[@]}"; then
		echo "== bench part $p: done in $(($(date +%s) - ts)) s"
	else
		echo "== bench part $p: FAILED after $(($(date +%s) - ts)) s (logs in build/logs/bench-$p-*)" >&2
		rc=1
	fi
	[ ! -s "$raw" ] || raws+=("$raw")
done

if [ "${#raws[@]}" -gt 1 ]; then
	python3 tools/bench/report.py "${raws[@]}" --json "$out/results.json" \
		--text "$out/report.txt" --plots "$out/plots" || rc=1
else
	echo "bench: no part produced results" >&2
	rc=1
fi
echo "== bench finished in $(($(date +%s) - t0)) s (exit $rc); build/bench/report.txt, results.json, plots/"
exit "$rc"
