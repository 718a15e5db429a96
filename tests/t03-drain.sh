#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The drain race.  The copier reads the LUN through dm-delay (reads held
# for 3 s, or longer on a slow machine: calibrated below), so a copier read
# of chunk C is in flight for a long time.
#
# A: the copier fills C itself (full-chunk write) while its read of C is in
#    flight; then the writer writes C.  The writer's write may only reach
#    the LUN after the copier's old read has returned: the read must see the
#    old data or the copier's data, never the writer's.  With the drain
#    disabled (test_skip_drain) the same run must show the violation: this
#    proves the test can fail.
# B: a preserve of C while a copier read of C is in flight (no copier
#    write): the read returns the old data.
. "$(dirname "$0")/lib.sh"
red_begin

CH=65536
L=$(red_lun 16 zero)
N=$(red_sectors "$L")
Z=$(red_zram 0 16M)
P=/sys/module/dm_red/parameters/test_skip_drain

for p in OLD CPY NEW; do
	yes "$p" | head -c "$CH" >"$RED_TMP/$p" || true
done
now() { date +%s.%N | cut -c 7-14; }

# run_case NAME CHUNK SKIP_DRAIN COPIER_FILL -> prints what the read saw
run_case() {
	local chunk=$2 rpid
	echo "$3" >"$P"
	# old data on the LUN, before the copier touches the chunk
	dd if="$RED_TMP/OLD" of="$L" bs=$CH seek="$chunk" oflag=direct conv=notrunc status=none
	# 1. the copier's read of C, held 3 s below the copier
	diag "$1: $(now) copier read of chunk $chunk issued" >&2
	dd if=/dev/mapper/c bs=4096 count=1 skip=$((chunk * CH / 4096)) iflag=direct \
		of="$RED_TMP/read-$1" status=none &
	rpid=$!
	sleep 0.5
	# 2. (A) the copier fills C with a full-chunk write
	if [ "$4" = fill ]; then
		dd if="$RED_TMP/CPY" of=/dev/mapper/c bs=$CH seek="$chunk" oflag=direct status=none
		diag "$1: $(now) copier full-chunk write done" >&2
	fi
	# 3. the writer writes C: stabilize -> preserve(C) on the copier
	dd if="$RED_TMP/NEW" of=/dev/mapper/w bs=$CH seek="$chunk" oflag=direct status=none
	diag "$1: $(now) writer write done" >&2
	wait "$rpid"
	diag "$1: $(now) copier read done: $(head -c 3 "$RED_TMP/read-$1")" >&2
	head -c 3 "$RED_TMP/read-$1"
}

dmsetup create dly --table "0 $N delay $L 0 3000 $L 0 0"
RED_WRITER=w RED_WRITER_RES=d-w
dmsetup create w --table "0 $N red $L - 128 writer d-w"
red_testd_start d-w
dmsetup create c --table "0 $N red /dev/mapper/dly $Z 128 copier d-c"
check "copier joined" red_wait_state c active

# The race needs the copier's read still held below it when the writer's
# write is done.  3 s is plenty on Debian's kernels; a slower machine (the
# debug kernel, a loaded host) needs more: time a case's two writes (a
# copier full-chunk write, then the writer's write of that chunk) on a spare
# chunk, and hold reads for three times that plus 3 s, at least 3 s.
t0=$EPOCHREALTIME
dd if="$RED_TMP/CPY" of=/dev/mapper/c bs=$CH seek=11 oflag=direct status=none
dd if="$RED_TMP/NEW" of=/dev/mapper/w bs=$CH seek=11 oflag=direct status=none
delay=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { d = int(3000 * (b - a + 0.5)) + 3000; print (d < 3000 ? 3000 : d) }')
diag "a case's writes took $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s: reads held ${delay} ms"
if [ "$delay" -gt 3000 ]; then
	dmsetup suspend dly
	dmsetup reload dly --table "0 $N delay $L 0 $delay $L 0 0"
	dmsetup resume dly
fi

seen=$(run_case a1 3 0 fill)
check "A, drain on: the in-flight copier read does not see the writer's data ($seen)" \
	test "$seen" = OLD -o "$seen" = CPY
seen=$(run_case b1 5 0 nofill)
check_eq "B, drain on: a read in flight across a preserve sees the old data" OLD "$seen"
seen=$(run_case a2 7 1 fill)
check_eq "A, drain off (test_skip_drain=1): the race shows (the test can fail)" NEW "$seen"
echo 0 >"$P"
check "after the case, the copier's chunk 3 holds its own data" \
	bash -c "dd if=/dev/mapper/c bs=4096 count=1 skip=$((3 * CH / 4096)) iflag=direct status=none | head -c 3 | grep -qx CPY"
check "the copier's chunk 5 still holds the join-point data" \
	bash -c "dd if=/dev/mapper/c bs=4096 count=1 skip=$((5 * CH / 4096)) iflag=direct status=none | head -c 3 | grep -qx OLD"
check "the LUN holds the writer's data at chunk 5" \
	bash -c "dd if=$L bs=4096 count=1 skip=$((5 * CH / 4096)) iflag=direct status=none | head -c 3 | grep -qx NEW"
red_end
