#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# stabilize_ahead: a writer that sees a sequential stream of first writes
# asks for the chunks after it to be stabilized before they are written.
#
# A: sequential 64 KiB writes (one chunk each) on a writer with
#    stabilize_ahead 8 and one copier: after the stream, the chunks past it
#    are stable too (and preserved on the copier), and the stream's later
#    writes did not wait for STABILIZE requests of their own.
# B: writes that jump around are not a stream: exactly their own chunks
#    become stable.
# C: the copier still sees the old contents of every chunk, written or
#    stabilized ahead, and the writer the new ones.
# D: without the feature (a second writer, same workload) nothing is
#    stabilized ahead: the counts match the chunks written.
. "$(dirname "$0")/lib.sh"
red_begin

CH=65536
AHEAD=8
L=$(red_lun 64 zero)
N=$(red_sectors "$L")
Z=$(red_zram 0 64M)

stable() { red_status_field "$1" 5 | cut -d/ -f1; }
store_used() { red_status_field "$1" 4 | cut -d/ -f1; }
# wait until nothing is outstanding on writer $1
# shellcheck disable=SC2317  # called through check
settle() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(red_status_field "$1" 7)" = 0 ] && return 0
		sleep 0.1
	done
	diag "$1: stabilizations still outstanding"
	return 1
}

# old contents everywhere: "OLD" in chunks 0..63
red_write_tag "$L" 0 $((64 * CH / 4096)) OLD
old=$(red_tag_md5 OLD)
new=$(red_tag_md5 NEW)

RED_WRITER=w RED_WRITER_RES=a-w
dmsetup create w --table "0 $N red $L - 128 writer a-w 2 stabilize_ahead $AHEAD"
red_testd_start a-w
dmsetup create c --table "0 $N red $L $Z 128 copier a-c"
check "copier joined" red_wait_state c active
check "writer active" red_wait_state w active
s0=$(stable w)
check_eq "no chunk stable after the join" 0 "$s0"

# A: chunks 10..15, one 64 KiB write each, in order
for c in 10 11 12 13 14 15; do
	red_write_tag /dev/mapper/w $((c * 16)) 16 NEW
	diag "A: chunk $c written: $(dmsetup status w | cut -d' ' -f4-)"
done
check "A: stream settled" settle w
s1=$(stable w)
diag "A: stable chunks after 6 sequential writes: $s1"
# 10 is not part of a stream yet (nothing before it), 11 continues it and
# asks for 12..19 too; a write of 12..15 held because its chunk was still
# on the way moves the end of the window forward (up to 15 + 8)
check "A: chunks past the stream are stable ($s1 >= $((2 + AHEAD)))" \
	test "$s1" -ge $((2 + AHEAD))
check "A: at most the window past the last write ($s1 <= $((6 + AHEAD)))" \
	test "$s1" -le $((6 + AHEAD))
check_eq "A: the copier preserved exactly the stable chunks" "$s1" "$(store_used c)"

# B: chunks 40, 30, 50: no stream
for c in 40 30 50; do
	red_write_tag /dev/mapper/w $((c * 16)) 16 NEW
	diag "B: chunk $c written: $(dmsetup status w | cut -d' ' -f4-)"
done
check "B: settled" settle w
s2=$(stable w)
check_eq "B: only the written chunks became stable" $((s1 + 3)) "$s2"

# C: what each side reads
check_eq "C: writer reads the new data of chunk 12" "$new" "$(red_blk_md5 /dev/mapper/w $((12 * 16)))"
check_eq "C: copier reads the old data of chunk 12 (written)" "$old" "$(red_blk_md5 /dev/mapper/c $((12 * 16)))"
check_eq "C: copier reads the old data of chunk 17 (stabilized ahead)" "$old" "$(red_blk_md5 /dev/mapper/c $((17 * 16)))"
check_eq "C: LUN chunk 17 untouched" "$old" "$(red_blk_md5 "$L" $((17 * 16)))"
red_write_tag /dev/mapper/w $((17 * 16)) 16 NEW
check_eq "C: copier still reads the old data of chunk 17 after the writer wrote it" \
	"$old" "$(red_blk_md5 /dev/mapper/c $((17 * 16)))"
check_eq "C: writer reads its new data of chunk 17" "$new" "$(red_blk_md5 /dev/mapper/w $((17 * 16)))"

dmsetup remove c
dmsetup remove w
red_testd_stop

# D: the same stream on a writer without the feature
red_write_tag "$L" 0 $((64 * CH / 4096)) OLD
Z2=$(red_zram 1 64M)
RED_WRITER=w2 RED_WRITER_RES=d-w
dmsetup create w2 --table "0 $N red $L - 128 writer d-w"
red_testd_start d-w
dmsetup create c2 --table "0 $N red $L $Z2 128 copier d-c"
check "D: copier joined" red_wait_state c2 active
for c in 10 11 12 13 14 15; do
	red_write_tag /dev/mapper/w2 $((c * 16)) 16 NEW
done
check "D: settled" settle w2
check_eq "D: without stabilize_ahead only the 6 written chunks are stable" 6 "$(stable w2)"
check_eq "D: and preserved" 6 "$(store_used c2)"

red_end
