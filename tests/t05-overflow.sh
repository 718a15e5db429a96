#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Store overflow: the copier's store holds 16 chunks; the writer writes 40.
# The copier refuses the preserve, enters the failed state with a
# store_full event and fails all I/O; the writer is unaffected.
. "$(dirname "$0")/lib.sh"
red_begin

CH=65536
L=$(red_lun 16 random)
N=$(red_sectors "$L")
Z=$(red_zram 0 $((16 * CH)))

RED_WRITER=w RED_WRITER_RES=f-w
dmsetup create w --table "0 $N red $L - 128 writer f-w"
red_testd_start f-w
dmsetup create c --table "0 $N red $L $Z 128 copier f-c"
check "copier joined" red_wait_state c active
check "copier reads before overflow" dd if=/dev/mapper/c of=/dev/null bs=4096 count=4 iflag=direct status=none

head -c $((40 * CH)) /dev/urandom >"$RED_TMP/data"
check "writer writes 40 chunks" timeout 60 dd if="$RED_TMP/data" of=/dev/mapper/w bs=$CH oflag=direct status=none
check "writer reads back its data" bash -c "cmp <(dd if=/dev/mapper/w bs=$CH count=40 iflag=direct status=none) $RED_TMP/data"
check_eq "copier is failed" failed "$(red_state c)"
check "store_full event raised" grep -q "event=store_full.*f-c\|f-c.*event=store_full" "$RED_TMP/events"
check "copier store full at 16/16" test "$(red_status_field c 4)" = "16/16"
check "copier reads fail (no wrong data)" \
	bash -c "! dd if=/dev/mapper/c of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null"
check "copier writes fail" \
	bash -c "! dd if=/dev/zero of=/dev/mapper/c bs=4096 count=1 oflag=direct status=none 2>/dev/null"
check "writer keeps writing" timeout 30 dd if=/dev/zero of=/dev/mapper/w bs=$CH count=4 seek=50 oflag=direct status=none
check_eq "writer errors" 0 "$(red_status_field w 11)"
red_end
