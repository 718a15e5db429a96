#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Random I/O oracle: a writer and two copiers over one LUN, concurrently.
# Each copier must read, byte for byte, the LUN as of its join point plus
# its own writes; the writer and the LUN must hold the writer's writes.
. "$(dirname "$0")/lib.sh"
red_begin

OPS=${RED_ORACLE_OPS:-12000}
L=$(red_lun 64 random)
N=$(red_sectors "$L")
Z0=$(red_zram 0 64M)
Z1=$(red_zram 1 64M)

RED_WRITER=w RED_WRITER_RES=o-w
dmsetup create w --table "0 $N red $L - 64 writer o-w"
red_testd_start o-w
red_wait_state w active
# the join point: the writer is idle from here until both copiers joined
cp "$RED_TMP/lun-0.img" "$RED_TMP/join.img"
dmsetup create c1 --table "0 $N red $L $Z0 64 copier o-c1"
dmsetup create c2 --table "0 $N red $L $Z1 64 copier o-c2"
check "copier 1 joined" red_wait_state c1 active
check "copier 2 joined" red_wait_state c2 active
diag "epochs: w=$(red_status_field w 3) c1=$(red_status_field c1 3) c2=$(red_status_field c2 3)"

check "oracle: $OPS mixed ops, writer + 2 copiers, byte-exact" \
	"$RED_BIN/red-oracle" --writer /dev/mapper/w --copier /dev/mapper/c1 \
	--copier /dev/mapper/c2 --lun "$L" --image "$RED_TMP/join.img" \
	--chunk-bytes 32768 --ops "$OPS" --seed "${RED_SEED:-$RANDOM}"

diag "writer status: $(dmsetup status w)"
diag "copier 1 status: $(dmsetup status c1)"
diag "copier 2 status: $(dmsetup status c2)"
check "writer stabilized chunks" test "$(red_status_field w 9)" -gt 0
check "copier preserved chunks" test "$(red_status_field c1 9)" -gt 0
check "copier made copy-on-write copies" test "$(red_status_field c1 10)" -gt 0
check_eq "writer errors" 0 "$(red_status_field w 11)"
check_eq "copier errors" 0 "$(red_status_field c1 11)"

# Again from a new join point (gc, rejoin), with every preserved run copied
# by kcopyd: the path a copier takes when its own run copies are short of
# memory (test_copy_kcopyd).  The writer is idle from the image copy on.
P=/sys/module/dm_red/parameters/test_copy_kcopyd
cp "$RED_TMP/lun-0.img" "$RED_TMP/join.img"
check "gc of copier 1" dmsetup message c1 0 gc
check "gc of copier 2" dmsetup message c2 0 gc
check "copier 1 rejoined" red_wait_state c1 active
check "copier 2 rejoined" red_wait_state c2 active
echo 1 >"$P"
check "oracle, kcopyd copies only: $((OPS / 3)) mixed ops, byte-exact" \
	"$RED_BIN/red-oracle" --writer /dev/mapper/w --copier /dev/mapper/c1 \
	--copier /dev/mapper/c2 --lun "$L" --image "$RED_TMP/join.img" \
	--chunk-bytes 32768 --ops $((OPS / 3)) --seed "${RED_SEED:-$RANDOM}"
echo 0 >"$P"
check_eq "writer errors, kcopyd copies" 0 "$(red_status_field w 11)"
check_eq "copier errors, kcopyd copies" 0 "$(red_status_field c1 11)"
red_end
