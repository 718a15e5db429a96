#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Guest side of tools/bench/fio.sh: the fio comparisons c1, c2, c3 and the
# fio half of c4 (issue 5, contract in tools/bench/ and the bench spec), all
# in this one guest, on one LUN (a host raw image attached as virtio-blk,
# found by serial; a loop device on tmpfs if there is none), red-testd
# playing redd.  Prints the raw result lines "BENCH {...}" and one
# "BENCHINFO {...}" on stdout; progress lines start with "fio-bench:".
#
# Environment (set by fio.sh; defaults for a manual run):
#   BENCH_PARTS    c1,c2,c2a,c2k,c3,c4     BENCH_REPS     3
#   BENCH_RUNTIME  seconds per fio job (5)
#   BENCH_CHUNKS   c4 chunk sizes in KiB (4,8,16,32,64,128,256,512,1024)
#   BENCH_SERIAL   virtio serial of the LUN (benchlun)
#
# What is measured (fio: direct=1, ioengine=libaio, one job):
#   c1  the writer with every chunk of the measured region stable, against
#       dm-linear on the same LUN, alternately.  "Stable" as in a cluster:
#       an epoch that has members (a copier joined, then left, so that
#       stabilizing the region costs no preserve) and a region written once
#       through the writer in that epoch; not the no-member fast path.
#   c2a stabilize_ahead: sequential first writes (1 MiB and 4 KiB, queue
#       depth 1) with one copier, the writer's table without the feature
#       (ahead-0) and with stabilize_ahead 64 (ahead-64); a new writer and
#       a fresh epoch for each, the region of c2's first writes
#   c2k the copier's preserve copies: c2's copiers-2 jobs, the copies of
#       preserved runs made by dm-red's own path (copy-runs, the default)
#       and, with the TEST ONLY parameter test_copy_kcopyd, by kcopyd one
#       job per run (copy-kcopyd, the path before the run copies)
#   c2  the writer's first writes, each configuration in a fresh epoch
#       (copiers re-created, so every chunk is unstable and every store is
#       empty): copiers-0 = an epoch whose only member left (the daemon's
#       STABILIZE round trip, fanned out to nobody), copiers-1, copiers-2;
#       stable = the same workload on a region written once in the current
#       epoch.  4 KiB first writes: one write at the start of every chunk
#       of the region, in a random order, never a chunk twice (a replayed
#       iolog, see fio_run); 1 MiB first writes are sequential; a first-write
#       job stops at the end of its region or of its run time (never wraps
#       onto stable chunks).  stabilize_per_chunk
#       and chunks_per_stabilize: STABILIZE requests (red-testd's log) and
#       chunks newly stable (the writer's preserves counter) over the job.
#   c3  a copier against dm-snapshot (transient store on zram, same chunk
#       size), each re-created for every job on the same zram device:
#       read-lun = random reads of chunks never written through the
#       device, read-store = of chunks written through it (64 MiB written
#       first), firstwrite = 4 KiB writes one per untouched chunk (as c2),
#       rewrite = random 4 KiB writes into the chunks already in the store.
#   c4  per chunk size a new writer (and red-testd) and one copier:
#       firstwrite-4k-qd1 (one per chunk, as c2), firstwrite-1m-qd1
#       (sequential), jobs of at most 3 s, and preserve-4k-qd1: the copier-side cost of one
#       preserve = p50 (and mean) completion latency of firstwrite-4k-qd1
#       with the copier, minus the same job run right after the copier left
#       (the STABILIZE round trip with nothing to preserve); in us.
set -euo pipefail

repo=$(pwd -P)
RED_TMP=/tmp/red-bench
export RED_TMP
# shellcheck source=../../tests/lib.sh
. "$repo/tests/lib.sh"

parts=${BENCH_PARTS:-c1,c2,c2a,c2k,c3,c4}
reps=${BENCH_REPS:-3}
rt=${BENCH_RUNTIME:-5}
rt_c4=$((rt < 3 ? rt : 3))	# c4's jobs end at their region's end mostly: 3 s at most
c4_kib=${BENCH_CHUNKS:-4,8,16,32,64,128,256,512,1024}
serial=${BENCH_SERIAL:-benchlun}
chunk=128		# the default chunk size (sectors) of tests/ and redd
zsize=1G		# every store's zram disksize (memory is used as written)
t0=$SECONDS

say() { printf 'fio-bench +%ss: %s\n' "$((SECONDS - t0))" "$*" >&2; }
die() {
	say "FAIL: $*"
	dmsetup status 2>/dev/null | sed 's/^/  status: /' >&2 || :
	[ -f "$RED_TMP/testd.log" ] && tail -n 20 "$RED_TMP/testd.log" | sed 's/^/  testd: /' >&2
	exit 1
}
has_part() { [[ ",$parts," == *",$1,"* ]]; }

# ---- the LUN: layout in MiB (offset, size) of the regions used -------------
# The host fills the image with random data first (fio.sh), so that every
# region holds incompressible data and host blocks are allocated.
R_C1=0 S_C1=256		# c1: random/sequential, time-based
R_ST=256 S_ST=32	# c2 stable
R_F1=320 S_F1=256	# first writes (c2, c3, c4 firstwrite-4k)
R_F2=576 S_F2=256	# c4 firstwrite-1m
R_F3=832 S_F3=256	# c4 firstwrite-4k after the copier left
R_L=1088 S_L=256	# c3 read-lun
R_P=1344 S_P=64		# c3 store region: written first, read-store, rewrite
lun_need=1408

red_modules
timeout 60 modprobe virtio_blk 2>/dev/null || :
rm -rf "$RED_TMP"
mkdir -p "$RED_TMP"
trap red_teardown EXIT
lun='' lun_kind=''
for _ in $(seq 1 50); do
	for d in /sys/block/vd*; do
		[ -r "$d/serial" ] && [ "$(cat "$d/serial")" = "$serial" ] && lun=/dev/${d##*/} && break
	done
	[ -n "$lun" ] && [ -b "$lun" ] && break
	lun=''
	sleep 0.2
done
if [ -n "$lun" ]; then
	lun_kind="virtio-blk (host raw image, cache=none, aio=native)"
else
	# fallback: the LUN in guest RAM (1.4 GiB: give the guest memory for
	# it and the stores)
	say "no virtio disk with serial $serial: falling back to a loop device on tmpfs"
	lun=$(red_lun "$lun_need" random)
	lun_kind="loop on guest tmpfs"
fi
lun_mib=$(($(blockdev --getsize64 "$lun") / 1048576))
[ "$lun_mib" -ge "$lun_need" ] || die "LUN $lun has $lun_mib MiB, need $lun_need"
N=$(($(blockdev --getsz "$lun") / 2048 * 2048))	# a multiple of every chunk size
say "LUN $lun ($lun_kind), $lun_mib MiB, device length $N sectors"

# ---- fio ---------------------------------------------------------------
# The programs run between and around the jobs (fio with its 84 MB of
# libraries: librbd, ceph, icu...; dmsetup, awk...) are copied to tmpfs
# once: an exec from the 9p root (no cache) reads them again every time,
# which under a loaded TCG host took longer than a short job.
bin=$RED_TMP/bin
mkdir -p "$bin/lib"
for p in fio dmsetup awk grep sleep mv cat; do
	f=$(command -v "$p")
	cp -L "$f" "$bin/$p"
	ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'
done | sort -u | xargs cp -L -t "$bin/lib"
export PATH=$bin:$PATH LD_LIBRARY_PATH=$bin/lib
hash -r

# fio_run SPEC...: one fio run of the jobs SPEC, one after the other
# (stonewall), its JSON kept as res/$run.json.  SPEC is
# "DEV RW BS QD OFF_MIB SIZE_MIB time|size|perm [CHUNK_BYTES]":
#   time: time_based over the region (wraps); size: stops at the end of the
#   region or of the run time, whichever comes first; perm: one 4 KiB write
#   at the start of every chunk of the region, in a random order, never a
#   chunk twice, until the list or the run time ends (a replayed iolog: fio's
#   blockalign turns its random map off, so chunks would be written twice,
#   and its LFSR generator does no I/O with blockalign).
# perm_log OFF_MIB SIZE_MIB CHUNK_BYTES -> the iolog (made once)
perm_log() {
	local f=$RED_TMP/perm-$1-$2-$3.log
	[ -s "$f" ] || python3 - "$1" "$2" "$3" >"$f" <<'EOF' || die "cannot make $f"
import random, sys
off, size, cb = int(sys.argv[1]) << 20, int(sys.argv[2]) << 20, int(sys.argv[3])
offs = list(range(off, off + size, cb))
random.Random(5).shuffle(offs)
out = ["fio version 2 iolog", "lun add", "lun open"]
out += ["lun write %d 4096" % o for o in offs]
out.append("lun close")
print("\n".join(out))
EOF
	echo "$f"
}
run=0
fio_run() {
	local spec dev rw bs qd off size mode ba j=0 t=$SECONDS
	{
		printf '[global]\ndirect=1\nioengine=libaio\nruntime=%s\nstonewall\n' "$rt"
		for spec in "$@"; do
			read -r dev rw bs qd off size mode ba <<<"$spec"
			if [ "$mode" = perm ]; then
				printf '[j%s]\nfilename=%s\nreplay_redirect=%s\nread_iolog=%s\niodepth=%s\n' \
					"$j" "$dev" "$dev" "$(perm_log "$off" "$size" "$ba")" "$qd"
			else
				printf '[j%s]\nfilename=%s\nrw=%s\nbs=%s\niodepth=%s\noffset=%sM\nsize=%sM\n' \
					"$j" "$dev" "$rw" "$bs" "$qd" "$off" "$size"
				[ "$mode" = time ] && printf 'time_based\n'
			fi
			j=$((j + 1))
		done
	} >"$RED_TMP/job.fio"
	run=$((run + 1))
	fio --eta=never --output-format=json --output="$res/$run.json" "$RED_TMP/job.fio" \
		>/dev/null 2>"$RED_TMP/fio.err" ||
		die "fio $*: $(tail -n 3 "$RED_TMP/fio.err")"
	say "fio run $run: $j job(s) (${1}${2:+, ...}) took $((SECONDS - t))s"
}
# Results: every fio job is indexed (res/index: "RUN JOB CMP WORKLOAD CONFIG
# REP [k=v...]", JOB its index in the run); flush turns the jobs not yet
# printed into BENCH lines with one python3 run (python's start-up over 9p
# is slow under TCG: not once per job).  A job indexed with a workload
# starting with "_" is not printed: _rtt-4k-qd1 (c4) is combined with
# firstwrite-4k-qd1 of the same config and rep into preserve-4k-qd1.
res=$RED_TMP/res
emit() {	# emit JOB CMP WORKLOAD CONFIG REP [k=v...]: index a job of the last run
	echo "$run $*" >>"$res/index"
}
flush() {
	python3 - "$res" <<'EOF' || die "cannot parse the fio results"
import json, os, sys
res = sys.argv[1]
def load(n, j):
    with open(os.path.join(res, "%s.json" % n)) as f:
        text = f.read()
    job = json.loads(text[text.index("{"):])["jobs"][j]
    if job.get("error"):
        sys.exit("fio job %s: error %s" % (n, job["error"]))
    d = job["write"] if job["write"]["total_ios"] > job["read"]["total_ios"] else job["read"]
    if d["total_ios"] == 0:
        sys.exit("fio job %s did no I/O" % n)
    pct = d["clat_ns"].get("percentile", {})
    return {
        "iops": round(d["iops"], 1),
        "mibs": round(d["bw_bytes"] / 1048576.0, 2),
        "lat_p50_us": round(pct.get("50.000000", 0) / 1000.0, 1),
        "lat_p99_us": round(pct.get("99.000000", 0) / 1000.0, 1),
        "lat_mean_us": round(d["clat_ns"]["mean"] / 1000.0, 1),
        "ios": d["total_ios"],
        "seconds": round(d["runtime"] / 1000.0, 2),
    }
def line(cmp_, wl, cfg, rep, m):
    print("BENCH " + json.dumps({"cmp": cmp_, "workload": wl, "config": cfg,
                                 "rep": int(rep), "metrics": m}, separators=(",", ":")))
done_path = os.path.join(res, "printed")  # runs printed
done = int(open(done_path).read()) if os.path.exists(done_path) else 0
info = os.path.join(res, "info.tsv")
if not os.path.exists(info + ".printed"):
    open(info + ".printed", "w").close()
    o = {}
    for l in open(info):
        k, v = l.rstrip("\n").split("\t", 1)
        o[k] = int(v) if v.isdigit() else v
    print("BENCHINFO " + json.dumps(o, separators=(",", ":")))
jobs = {}
last = done
for l in open(os.path.join(res, "index")):
    f = l.split()
    n, j, cmp_, wl, cfg, rep = int(f[0]), int(f[1]), f[2], f[3], f[4], f[5]
    m = load(n, j)
    for kv in f[6:]:
        k, v = kv.split("=", 1)
        m[k] = float(v) if "." in v else int(v)
    jobs[(cmp_, wl, cfg, rep)] = m
    if n <= done:
        continue
    last = max(last, n)
    if not wl.startswith("_"):
        line(cmp_, wl, cfg, rep, m)
    if wl == "_rtt-4k-qd1":
        fw = jobs[(cmp_, "firstwrite-4k-qd1", cfg, rep)]
        line(cmp_, "preserve-4k-qd1", cfg, rep, {
            "preserve_us": round(fw["lat_p50_us"] - m["lat_p50_us"], 1),
            "preserve_mean_us": round(fw["lat_mean_us"] - m["lat_mean_us"], 1),
            "firstwrite_p50_us": fw["lat_p50_us"], "roundtrip_p50_us": m["lat_p50_us"],
            "roundtrip_mean_us": m["lat_mean_us"]})
with open(done_path, "w") as f:
    f.write(str(last))
sys.stdout.flush()
EOF
}

# ---- red devices -------------------------------------------------------
W=w		# the writer's device and resource name
field() { red_status_field "$1" "$2"; }
stab_count() { grep -c 'STABILIZE .* preserve(s)$' "$RED_TMP/testd.log" 2>/dev/null || :; }

writer_up() {	# writer_up CHUNK_SECTORS [AHEAD]: new writer, new red-testd, epoch 1
	local feat=''
	[ "${2:-0}" = 0 ] || feat=" 2 stabilize_ahead $2"
	dmsetup create "$W" --table "0 $N red $lun - $1 writer $W$feat" || die "create writer"
	RED_WRITER=$W RED_WRITER_RES=$W
	red_testd_start "$W"
	red_wait_state "$W" active 60 || die "writer not active"
	local i
	for ((i = 0; i < 300; i++)); do
		[ "$(field "$W" 3)" -ge 1 ] && return 0
		sleep 0.1
	done
	die "writer got no epoch"
}
writer_down() {
	copiers_down
	timeout 120 dmsetup remove "$W" || die "remove writer"
	red_testd_stop
}
copiers=()
copier_up() {	# copier_up INDEX CHUNK_SECTORS: fresh store on zramINDEX, joined
	local z ep
	z=$(red_zram "$1" "$zsize")
	ep=$(field "$W" 3)
	dmsetup create "c$1" --table "0 $N red $lun $z $2 copier c$1" || die "create copier c$1"
	copiers+=("c$1")
	local t=$SECONDS
	red_wait_state "c$1" active 60 || die "copier c$1 did not join"
	say "copier c$1 joined in $((SECONDS - t))s"
	[ "$(field "$W" 3)" -gt "$ep" ] || die "no new epoch on the writer for c$1"
}
copiers_down() {
	local c
	for c in "${copiers[@]}"; do
		timeout 120 dmsetup remove "$c" || die "remove $c"
		echo 1 >"/sys/block/zram${c#c}/reset"
	done
	copiers=()
}
# fresh_epoch N [CHUNK]: every chunk unstable, N fresh copiers as members
# (N = 0: a copier joins and leaves again)
fresh_epoch() {
	local c=${2:-$chunk} i
	copiers_down
	if [ "$1" -eq 0 ]; then
		copier_up 0 "$c"
		copiers_down
	fi
	for ((i = 0; i < $1; i++)); do copier_up "$i" "$c"; done
}
prewrite() {	# prewrite DEV OFF_MIB SIZE_MIB: one sequential pass, 1 MiB, qd 16
	local t=$SECONDS
	fio --name=pre --filename="$1" --rw=write --bs=1M --iodepth=16 --offset="$2M" \
		--size="$3M" --direct=1 --ioengine=libaio --eta=never --output=/dev/null ||
		die "prewrite $1 $2+$3 MiB"
	say "prewrite $1 ${2}M+${3}M took $((SECONDS - t))s"
}

# workload -> "RW BS QD"
wl_args() {
	local qd=${1##*-qd} bs
	case $1 in
	*-4k-*) bs=4k ;;
	*-1m-*) bs=1M ;;
	*) die "workload $1" ;;
	esac
	case $1 in
	randread-* | read-*) echo "randread $bs $qd" ;;
	randwrite-* | rewrite-* | firstwrite-4k-*) echo "randwrite $bs $qd" ;;
	seqwrite-* | firstwrite-1m-*) echo "write $bs $qd" ;;
	*) die "workload $1" ;;
	esac
}

# ---- BENCHINFO ---------------------------------------------------------
zram_alg=$(sed 's/.*\[\(.*\)\].*/\1/' /sys/block/zram0/comp_algorithm 2>/dev/null || echo '?')
mkdir -p "$res"
: >"$res/index"
{
	printf 'part\tfio\nkernel\t%s\nguest_mem_mib\t%s\nguest_vcpus\t%s\n' "$(uname -r)" \
		"$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)" "$(nproc)"
	printf 'lun_kind\t%s\nlun_mib\t%s\nchunk_sectors\t%s\nchunk_kib\t%s\n' \
		"$lun_kind" "$lun_mib" "$chunk" "$((chunk / 2))"
	printf 'store\tzram (%s), disksize %s per device; LUN data incompressible\n' "$zram_alg" "$zsize"
	printf 'fio\t%s\nfio_opts\tdirect=1 ioengine=libaio, one job\n' "$(fio --version)"
	printf 'runtime_c4_s\t%s\n' "$rt_c4"
	printf 'runtime_s\t%s\nreps\t%s\nparts\t%s\nc4_chunks_kib\t%s\n' "$rt" "$reps" "$parts" "$c4_kib"
	printf 'daemon\ttests/red-testd (plays redd on one kernel)\n'
	printf 'c1\twriter in an epoch with members, the region written once in it (every chunk stable), not the no-member fast path\n'
	printf 'c2\teach config in a fresh epoch with fresh copiers; copiers-0 = its only member left (STABILIZE round trip, no preserve); 4k first writes one per chunk, at its start, random order, no chunk twice (replayed iolog), 1m sequential; first-write jobs stop at the end of the region (%s MiB) or of the run time, never rewrite; stable = same job, region written once in the copiers-2 epoch\n' "$S_F1"
	printf 'c2k\tc2 copiers-2 jobs; copy-runs = preserved runs copied by dm-red (read, then parallel write pieces), copy-kcopyd = the same runs copied by kcopyd (test_copy_kcopyd=1); fresh epoch per job\n'
	printf 'c2a\tsequential first writes, 1 MiB and 4 KiB at qd 1, one copier; ahead-0 = writer table without stabilize_ahead, ahead-64 = with stabilize_ahead 64; new writer and fresh epoch per job\n'
	printf 'c3\tdevices re-created per job on the same zram device; read-store and rewrite in %s MiB written through the device first; firstwrite as c2\n' "$S_P"
	printf 'c4\tper chunk size a new writer and one copier; firstwrite-4k-qd1 one write per chunk, firstwrite-1m-qd1 sequential\n'
	printf 'c4_preserve\tpreserve-4k-qd1: preserve_us = p50 completion latency of firstwrite-4k-qd1 with one copier minus that of the same job after the copier left (the STABILIZE round trip without a preserve); preserve_mean_us the same with means\n'
	printf 'date\t%s\n' "$(date -u '+%F %H:%M UTC')"
} >"$res/info.tsv"

writer_up "$chunk"

# ---- c1 ----------------------------------------------------------------
if has_part c1; then
	say "c1: writer on stable chunks vs dm-linear"
	dmsetup create lin --table "0 $N linear $lun 0" || die "create dm-linear"
	fresh_epoch 0
	prewrite "/dev/mapper/$W" "$R_C1" "$S_C1"
	[ "$(field "$W" 6)" = 0 ] || die "writer holds bios after the c1 prewrite"
	idx=()
	# one fio run per repetition: its jobs alternate the two devices
	for rep in $(seq 1 "$reps"); do
		specs=() j=0
		p0=$(field "$W" 9)
		for wl in randread-4k-qd1 randread-4k-qd16 randwrite-4k-qd1 randwrite-4k-qd16 \
			seqwrite-1m-qd1 seqwrite-1m-qd16; do
			read -r rw bs qd <<<"$(wl_args "$wl")"
			for cfg in dm-linear dm-red; do
				dev=/dev/mapper/lin
				[ "$cfg" = dm-red ] && dev=/dev/mapper/$W
				specs+=("$dev $rw $bs $qd $R_C1 $S_C1 time")
				idx+=("$j c1 $wl $cfg $rep")
				j=$((j + 1))
			done
		done
		fio_run "${specs[@]}"
		[ "$(field "$W" 9)" = "$p0" ] || die "c1: chunks were stabilized during the jobs"
		for e in "${idx[@]}"; do
			# shellcheck disable=SC2086  # the words of the index line
			emit $e
		done
		idx=()
		flush
	done
	dmsetup remove lin
fi

# ---- c2 ----------------------------------------------------------------
if has_part c2; then
	say "c2: first writes with 0, 1, 2 copiers and stable"
	for rep in $(seq 1 "$reps"); do
		for wl in randwrite-4k-qd1 randwrite-4k-qd16 seqwrite-1m-qd1 seqwrite-1m-qd16; do
			read -r rw bs qd <<<"$(wl_args "$wl")"
			ba=''
			[ "$bs" = 4k ] && ba=$((chunk * 512))
			for cfg in copiers-0 copiers-1 copiers-2 stable; do
				if [ "$cfg" = stable ]; then
					# the epoch of copiers-2: its region written once
					prewrite "/dev/mapper/$W" "$R_ST" "$S_ST"
					off=$R_ST size=$S_ST mode=time
				else
					fresh_epoch "${cfg#copiers-}"
					off=$R_F1 size=$S_F1 mode=size
					[ "$bs" = 4k ] && mode=perm
				fi
				s0=$(stab_count) p0=$(field "$W" 9)
				fio_run "/dev/mapper/$W $rw $bs $qd $off $size $mode $ba"
				ns=$(($(stab_count) - s0)) nc=$(($(field "$W" 9) - p0))
				extra=()
				if [ "$nc" -gt 0 ] && [ "$ns" -gt 0 ]; then
					extra=("stabilize_per_chunk=$(awk -v a="$ns" -v b="$nc" 'BEGIN { printf "%.4f", a / b }')"
						"chunks_per_stabilize=$(awk -v a="$ns" -v b="$nc" 'BEGIN { printf "%.3f", b / a }')"
						"stabilize=$ns" "chunks=$nc")
				fi
				[ "$cfg" != stable ] || [ "$nc" = 0 ] || die "c2 stable: $nc chunks stabilized"
				emit 0 c2 "$wl" "$cfg" "$rep" "${extra[@]}"
			done
		done
		flush
	done
	copiers_down
fi

# ---- c2k ---------------------------------------------------------------
if has_part c2k; then
	say "c2k: first writes with 2 copiers, preserves copied by dm-red or by kcopyd"
	kpar=/sys/module/dm_red/parameters/test_copy_kcopyd
	[ -w "$kpar" ] || die "c2k: no $kpar (dm-red too old?)"
	for rep in $(seq 1 "$reps"); do
		for wl in randwrite-4k-qd1 randwrite-4k-qd16 seqwrite-1m-qd1 seqwrite-1m-qd16; do
			read -r rw bs qd <<<"$(wl_args "$wl")"
			ba='' mode=size
			[ "$bs" = 4k ] && ba=$((chunk * 512)) mode=perm
			for cfg in copy-kcopyd copy-runs; do
				if [ "$cfg" = copy-kcopyd ]; then echo 1 >"$kpar"; else echo 0 >"$kpar"; fi
				fresh_epoch 2
				s0=$(stab_count) p0=$(field "$W" 9)
				fio_run "/dev/mapper/$W $rw $bs $qd $R_F1 $S_F1 $mode $ba"
				ns=$(($(stab_count) - s0)) nc=$(($(field "$W" 9) - p0))
				[ "$ns" -gt 0 ] || die "c2k $wl $cfg: no stabilization"
				emit 0 c2k "$wl" "$cfg" "$rep" "stabilize=$ns" "chunks=$nc"
			done
		done
		flush
	done
	echo 0 >"$kpar"
	copiers_down
fi

# ---- c2a ---------------------------------------------------------------
if has_part c2a; then
	say "c2a: sequential first writes with one copier, stabilize_ahead 0 and 64"
	for rep in $(seq 1 "$reps"); do
		for wl in seqwrite-1m-qd1 seqwrite-4k-qd1; do
			read -r rw bs qd <<<"$(wl_args "$wl")"
			for cfg in ahead-0 ahead-64; do
				writer_down
				writer_up "$chunk" "${cfg#ahead-}"
				fresh_epoch 1
				s0=$(stab_count) p0=$(field "$W" 9)
				fio_run "/dev/mapper/$W $rw $bs $qd $R_F1 $S_F1 size"
				ns=$(($(stab_count) - s0)) nc=$(($(field "$W" 9) - p0))
				[ "$ns" -gt 0 ] || die "c2a $wl $cfg: no stabilization"
				emit 0 c2a "$wl" "$cfg" "$rep" "stabilize=$ns" "chunks=$nc" \
					"chunks_per_stabilize=$(awk -v a="$ns" -v b="$nc" 'BEGIN { printf "%.3f", b / a }')"
			done
		done
		flush
	done
	writer_down
	writer_up "$chunk"
fi

# ---- c3 ----------------------------------------------------------------
if has_part c3; then
	say "c3: copier vs dm-snapshot"
	fresh_epoch 0
	for rep in $(seq 1 "$reps"); do
		for wl in read-lun-4k-qd1 read-lun-4k-qd16 read-store-4k-qd1 read-store-4k-qd16 \
			firstwrite-4k-qd1 firstwrite-4k-qd16 rewrite-4k-qd1 rewrite-4k-qd16; do
			read -r rw bs qd <<<"$(wl_args "$wl")"
			for cfg in dm-snapshot dm-red-copier; do
				if [ "$cfg" = dm-snapshot ]; then
					z=$(red_zram 2 "$zsize")
					dmsetup create snap --table "0 $N snapshot $lun $z N $chunk" ||
						die "create dm-snapshot"
					dev=/dev/mapper/snap
				else
					copier_up 2 "$chunk"
					dev=/dev/mapper/c2
				fi
				ba='' mode=time
				case $wl in
				read-lun-*) off=$R_L size=$S_L ;;
				read-store-* | rewrite-*)
					prewrite "$dev" "$R_P" "$S_P"
					off=$R_P size=$S_P ;;
				firstwrite-*) off=$R_F1 size=$S_F1 mode=perm ba=$((chunk * 512)) ;;
				esac
				fio_run "$dev $rw $bs $qd $off $size $mode $ba"
				used=$(awk '{ print $3 }' /sys/block/zram2/mm_stat)
				emit 0 c3 "$wl" "$cfg" "$rep" "store_mem_bytes=$used"
				if [ "$cfg" = dm-snapshot ]; then
					dmsetup remove snap || die "remove dm-snapshot"
					echo 1 >/sys/block/zram2/reset
				else
					copiers_down
				fi
			done
		done
		flush
	done
fi

# ---- c4 ----------------------------------------------------------------
if has_part c4; then
	say "c4: chunk size sweep"
	rt=$rt_c4
	IFS=, read -r -a kibs <<<"$c4_kib"
	for rep in $(seq 1 "$reps"); do
		for kib in "${kibs[@]}"; do
			cfg="chunk-${kib}k"
			[ "$kib" != 1024 ] || cfg="chunk-1m"
			cs=$((kib * 2))
			writer_down
			writer_up "$cs"
			fresh_epoch 1 "$cs"
			for wl in firstwrite-4k-qd1 firstwrite-1m-qd1; do
				read -r rw bs qd <<<"$(wl_args "$wl")"
				off=$R_F1 size=$S_F1 ba=$((cs * 512)) mode=perm
				[ "$bs" = 4k ] || off=$R_F2 size=$S_F2 ba='' mode=size
				s0=$(stab_count) p0=$(field "$W" 9)
				fio_run "/dev/mapper/$W $rw $bs $qd $off $size $mode $ba"
				ns=$(($(stab_count) - s0)) nc=$(($(field "$W" 9) - p0))
				if [ "$nc" -eq 0 ] || [ "$ns" -eq 0 ]; then
					die "c4 $wl $cfg: no stabilization ($ns requests, $nc chunks)"
				fi
				emit 0 c4 "$wl" "$cfg" "$rep" \
					"stabilize_per_chunk=$(awk -v a="$ns" -v b="$nc" 'BEGIN { printf "%.4f", a / b }')" \
					"chunks_per_stabilize=$(awk -v a="$ns" -v b="$nc" 'BEGIN { printf "%.3f", b / a }')"
			done
			# the copier leaves: the same first writes, round trip only
			copiers_down
			fio_run "/dev/mapper/$W randwrite 4k 1 $R_F3 $S_F3 perm $((cs * 512))"
			emit 0 c4 _rtt-4k-qd1 "$cfg" "$rep"
		done
		flush
	done
fi

say "writer: $(dmsetup status "$W")"
[ "$(field "$W" 11)" = 0 ] || die "writer errors: $(dmsetup status "$W")"
writer_down
say "done"
