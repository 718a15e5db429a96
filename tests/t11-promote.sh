#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Promotion of a copier to writer (PROMOTE), after the writer is gone:
# the copier's own writes are written back to the LUN through the normal
# stabilization with the remaining copier, reads are served during the
# write-back, a flush waits for its end, and the remaining copier stays
# isolated throughout.  Also: PROMOTE's refusals.
. "$(dirname "$0")/lib.sh"
red_begin

L=$(red_lun 16 random)
N=$(red_sectors "$L")
Z1=$(red_zram 0 16M)
Z2=$(red_zram 1 16M)
NLCTL=$RED_BIN/red-nlctl
CS=128			# 64 KiB chunks
BPC=16			# 4 KiB blocks per chunk
# shellcheck disable=SC2317 # called through check
blk() {	# blk DEV BLOCK -> md5 of one 4 KiB block
	dd if="$1" bs=4096 skip="$2" count=1 iflag=direct status=none | md5sum | cut -d' ' -f1
}
# shellcheck disable=SC2317
wr() {	# wr DEV BLOCK COUNT TAG
	{ yes "$4" || :; } | head -c $(($3 * 4096)) |
		dd of="$1" bs=4096 seek="$2" count="$3" oflag=direct status=none
}
whole() { dd if="$1" bs=1M iflag=direct status=none | md5sum | cut -d' ' -f1; }

RED_WRITER=w RED_WRITER_RES=l-w
dmsetup create w --table "0 $N red $L - $CS writer l-w"
red_testd_start l-w
dmsetup create c1 --table "0 $N red $L $Z1 $CS copier l-c1"
dmsetup create c2 --table "0 $N red $L $Z2 $CS copier l-c2"
check "c1 joined" red_wait_state c1 active
check "c2 joined" red_wait_state c2 active

# Before the failover: the writer overwrites chunks 0-39 (both copiers
# preserve them); c1 writes its own data: whole chunks 30-49 and single
# blocks in chunks 60-79 (copy-on-write), so that some of its exceptions
# are preserved LUN data, some its own writes, some both.
wr /dev/mapper/w 0 $((40 * BPC)) "writer-before"
wr /dev/mapper/c1 $((30 * BPC)) $((20 * BPC)) "c1-own"
for c in $(seq 60 79); do wr /dev/mapper/c1 $((c * BPC + 5)) 1 "c1-cow-$c"; done
c1_view=$(whole /dev/mapper/c1)
c2_view=$(whole /dev/mapper/c2)
used1=$(red_status_field c1 4 | cut -d/ -f1)
diag "c1 holds $used1 exceptions"
check "c1 holds exceptions to write back" test "$used1" -ge 60
epoch=$(red_status_field c1 3)

# Refusals, each changing nothing.
check "PROMOTE of a writer refused (EINVAL)" "$NLCTL" --expect EINVAL promote l-w $((epoch + 1)) 1
check "PROMOTE at the current epoch refused (ESTALE)" "$NLCTL" --expect ESTALE promote l-c1 "$epoch" 1
check "PROMOTE of an unknown resource refused (ENODEV)" "$NLCTL" --expect ENODEV promote l-nope $((epoch + 1)) 1
check_eq "refusals changed nothing" "copier active $epoch" \
	"$(red_status_field c1 1) $(red_state c1) $(red_status_field c1 3)"

# The writer goes away: its daemon first, then the device.
red_testd_stop
check "the old writer removed" dmsetup remove w
RED_WRITER=c1 RED_WRITER_RES=l-c1

new=$((epoch + 1))
check "PROMOTE of c1 accepted" "$NLCTL" promote l-c1 $new 1
check_eq "c1 is now the writer" writer "$(red_status_field c1 1)"
check "c1 writes back (no lease yet: it waits)" red_wait_state c1 writeback 10
check_eq "c1 at the new epoch" "$new" "$(red_status_field c1 3)"
check "PROMOTE again refused (EINVAL: not a copier)" "$NLCTL" --expect EINVAL promote l-c1 $((new + 1)) 1
check "gc of the promoted device refused" bash -c "! dmsetup message c1 0 gc 2>/dev/null"

# During the write-back: reads are served from the store or the LUN, a
# write to an exception goes to the store, a flush waits.
check_eq "read of c1's own chunk" "$(blk /dev/mapper/c1 $((30 * BPC)))" \
	"$({ yes c1-own || :; } | head -c 4096 | md5sum | cut -d' ' -f1)"
check_eq "read of a chunk without exception comes from the LUN" \
	"$(blk "$L" $((200 * BPC)))" "$(blk /dev/mapper/c1 $((200 * BPC)))"
check "write to an exception is served during the write-back" \
	timeout 10 dd if=/dev/zero of=/dev/mapper/c1 bs=4096 seek=$((31 * BPC)) count=1 oflag=direct status=none
sync /dev/mapper/c1 &
flush_pid=$!
sleep 2
check "a flush waits for the write-back" kill -0 $flush_pid
used_mid=$(red_status_field c1 4 | cut -d/ -f1)
check_eq "nothing written back without a write lease" "$used1" "$used_mid"

# The new writer's daemon: lease, then stabilization with c2.
red_testd_start l-c1
check "write-back completes" red_wait_state c1 active 60
check "the flush returned after the write-back" wait_pid $flush_pid 30
check_eq "store empty after the write-back" 0 "$(red_status_field c1 4 | cut -d/ -f1)"
check "PROMOTED event" grep -q "event=promoted" "$RED_TMP/events"
check "write-back logged" dmesg_has "write-back done"
check "c2 preserved for the new writer" test "$(red_status_field c2 9)" -gt 0

# Every byte: the LUN now holds c1's view (with the write made during the
# write-back), c1 reads it, c2 still reads its own view.
c1_now=$(whole /dev/mapper/c1)
check_eq "LUN equals the promoted node's view" "$c1_now" "$(whole "$L")"
check "the write made during the write-back is on the LUN" \
	test "$(blk "$L" $((31 * BPC)))" = "$(dd if=/dev/zero bs=4096 count=1 status=none | md5sum | cut -d' ' -f1)"
check_eq "c1's own data on the LUN" "$(blk "$L" $((30 * BPC)))" \
	"$({ yes c1-own || :; } | head -c 4096 | md5sum | cut -d' ' -f1)"
check_eq "c1's copy-on-write block on the LUN" "$(blk "$L" $((65 * BPC + 5)))" \
	"$({ yes c1-cow-65 || :; } | head -c 4096 | md5sum | cut -d' ' -f1)"
check_eq "c2's view unchanged by the write-back" "$c2_view" "$(whole /dev/mapper/c2)"
check "the write made during the write-back changed c1's view" test "$c1_view" != "$c1_now"

# The promoted device is a plain writer: new writes are stabilized with c2.
wr /dev/mapper/c1 $((220 * BPC)) $((4 * BPC)) "new-writer"
check_eq "c2 still isolated from the new writer" "$c2_view" "$(whole /dev/mapper/c2)"
zmem=$(awk '{print $3}' /sys/block/zram0/mm_stat)
diag "c1's zram mem_used after the write-back: $zmem bytes"
check "c1's zram memory freed" test "$zmem" -lt 1048576
red_end
