#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# gc: refused while the copier is open; on a closed copier it drops every
# exception, zram frees its memory (mm_stat), and the copier joins again
# and then reads the LUN's current contents.
. "$(dirname "$0")/lib.sh"
red_begin

L=$(red_lun 64 random)
N=$(red_sectors "$L")
Z=$(red_zram 0 64M)
mem_used() { awk '{print $3}' /sys/block/zram0/mm_stat; }

RED_WRITER=w RED_WRITER_RES=g-w
dmsetup create w --table "0 $N red $L - 128 writer g-w"
red_testd_start g-w
dmsetup create c --table "0 $N red $L $Z 128 copier g-c"
check "copier joined" red_wait_state c active
head -c $((8 * 1024 * 1024)) /dev/urandom | dd of=/dev/mapper/c bs=1M oflag=direct status=none
head -c $((4 * 1024 * 1024)) /dev/urandom | dd of=/dev/mapper/w bs=1M seek=16 oflag=direct status=none
used=$(red_status_field c 4)
before=$(mem_used)
diag "store $used, zram mem_used $before"
check "zram holds the copier's data (> 8 MiB)" test "$before" -gt $((8 * 1024 * 1024))

exec 3</dev/mapper/c
check "gc refused while the device is open" bash -c "! dmsetup message c 0 gc 2>/dev/null"
check "gc refusal logged" bash -c "dmesg | tail -n 3 | grep -q 'gc refused: the device is open'"
check_eq "store unchanged by the refused gc" "$used" "$(red_status_field c 4)"
exec 3<&-

epoch=$(red_status_field w 3)
check "gc on the closed copier" dmsetup message c 0 gc
after=$(mem_used)
diag "after gc: zram mem_used $after"
check "zram freed its memory (< 1 MiB)" test "$after" -lt $((1024 * 1024))
check "gc event raised" grep -q "event=gc" "$RED_TMP/events"
check "copier rejoined" red_wait_state c active
check "writer moved to a new epoch" test "$(red_status_field w 3)" -gt "$epoch"
check_eq "store empty after gc" "0/1024" "$(red_status_field c 4)"
check "copier now reads the LUN's current contents" \
	bash -c "cmp <(dd if=/dev/mapper/c bs=1M count=32 iflag=direct status=none) <(dd if=$L bs=1M count=32 iflag=direct status=none)"
red_end
