#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck disable=SC2317 # functions called through check and fault_preserve
# I/O errors injected (fail_make_request) under the copier's preserves, its
# reads of the store, and a promoted copier's write-back: each must end in
# a clear error or a failed device, never a crash, a hang or wrong data.
#
# Needs a kernel with CONFIG_FAIL_MAKE_REQUEST and debugfs (the project's
# debug kernel, tools/vm/build-debug-kernel.sh; make check-debug); Debian's
# kernels have no fault injection, and the test skips there.
#
# 1. LUN read error under a preserve (the copier's own path to the LUN, a
#    dm-linear, fails): the copier fails with a store I/O error; the
#    writer's first write either lands or fails with EIO, and the LUN
#    agrees with what it said; the failed copier returns no data; gc and
#    rejoin bring it back, byte-exact against the LUN.
# 2. Store write error under a preserve: the same.
# 3. Store read error on a preserved chunk: the copier's read fails (it
#    must not fall back to the LUN, which holds the writer's newer data),
#    and reads again once the store is back.
# 4. Transient store read errors under a promoted copier's write-back: it
#    retries (error count and log), and once the store is back it completes
#    with every byte of the copier's view on the LUN.
# 5. The copier's exception cannot be allocated (failslab on its own slab
#    cache, dm_red_exception): as 1, with "no memory for an exception".
. "$(dirname "$0")/lib.sh"
red_begin

F=/sys/kernel/debug/fail_make_request
[ -d "$F" ] || skip "no fail_make_request in this kernel (CONFIG_FAIL_MAKE_REQUEST; make check-debug)"

CS=128			# 64 KiB chunks
BPC=16			# 4 KiB blocks per chunk
NLCTL=$RED_BIN/red-nlctl
whole() { dd if="$1" bs=1M iflag=direct status=none | md5sum | cut -d' ' -f1; }
sysblk() {	# sysblk DEV -> /sys/block/NAME of a loop, zram or dm device
	local d
	d=$(basename "$(readlink -f "$1")")
	case $d in
	dm-* | loop* | zram*) echo "/sys/block/$d" ;;
	*) echo "/sys/block/dm-$(dmsetup info -c --noheadings -o minor "$d")" ;;
	esac
}
inject() {	# inject DEV 0|1: fail every bio submitted to DEV (or stop)
	echo "$2" >"$(sysblk "$1")/make-it-fail"
}
# every bio to a marked device fails, no stack dumps
echo 100 >"$F/probability"
echo -1 >"$F/times"
echo 1 >"$F/interval"
echo 0 >"$F/verbose"
echo 0 >"$F/space"

L=$(red_lun 16 random)
N=$(red_sectors "$L")
Z1=$(red_zram 0 16M)
Z2=$(red_zram 1 16M)
dmsetup create lunc --table "0 $N linear $L 0"

RED_WRITER=w RED_WRITER_RES=f-w
dmsetup create w --table "0 $N red $L - $CS writer f-w"
red_testd_start f-w
dmsetup create c1 --table "0 $N red /dev/mapper/lunc $Z1 $CS copier f-c1"
check "c1 joined" red_wait_state c1 active

# try_write DEV BLOCK TAG -> 0 written, 1 EIO, 2 no answer within 60 s
try_write() {
	local rc=0
	timeout 60 bash -c 'red_write_tag "$@"' _ "$1" "$2" "$BPC" "$3" 2>/dev/null || rc=$?
	case $rc in 0) return 0 ;; 124) return 2 ;; *) return 1 ;; esac
}
export -f red_write_tag
export BPC

# lun_agrees BLOCK TAG RC OLD_MD5: the LUN holds TAG if the write said
# success, the old contents if it said EIO
lun_agrees() {
	local now
	now=$(red_blk_md5 "$L" "$1")
	case $3 in
	0) [ "$now" = "$(red_tag_md5 "$2")" ] ;;
	1) [ "$now" = "$4" ] ;;
	*) return 1 ;;
	esac
}

# fault_preserve SCENARIO FAULT CHUNK TEXT: a first write of CHUNK by the
# writer while FAULT (a function: FAULT 1 starts it, FAULT 0 ends it) makes
# c1's preserve fail; c1 logs TEXT
fault_preserve() {
	local name=$1 fault=$2 chunk=$3 text=$4 old old1 view rc=0 nerr
	nerr=$(dmesg | grep -c "$text" || :)
	old=$(red_blk_md5 "$L" $((chunk * BPC)))
	view=$(red_blk_md5 /dev/mapper/c1 $((chunk * BPC)))
	check_eq "$name: c1 reads the LUN's block before the fault" "$old" "$view"
	"$fault" 1
	try_write /dev/mapper/w $((chunk * BPC)) "w-$name" || rc=$?
	diag "$name: the writer's first write of chunk $chunk: rc $rc (0 ok, 1 EIO, 2 no answer)"
	check "$name: the writer's write answered (no hang)" test "$rc" -lt 2
	check "$name: c1 failed" red_wait_state c1 failed 30
	check "$name: c1 logged '$text'" \
		test "$(dmesg | grep -c "$text" || :)" -gt "$nerr"
	"$fault" 0
	check "$name: the LUN agrees with the write's answer" lun_agrees $((chunk * BPC)) "w-$name" "$rc" "$old"
	check "$name: failed c1 returns no data" \
		bash -c "! dd if=/dev/mapper/c1 of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null"
	check "$name: gc of c1" dmsetup message c1 0 gc
	check "$name: c1 rejoined" red_wait_state c1 active 30
	check_eq "$name: c1 reads the LUN after the rejoin" "$(whole "$L")" "$(whole /dev/mapper/c1)"
	old1=$(red_blk_md5 "$L" $((chunk * BPC + BPC)))
	check "$name: the writer writes again" try_write /dev/mapper/w $((chunk * BPC + BPC)) "w-$name-after"
	check_eq "$name: the write is on the LUN" "$(red_tag_md5 "w-$name-after")" \
		"$(red_blk_md5 "$L" $((chunk * BPC + BPC)))"
	check_eq "$name: c1 preserved its view of it" "$old1" \
		"$(red_blk_md5 /dev/mapper/c1 $((chunk * BPC + BPC)))"
}

# 1, 2 and 5.
lun_fault() { inject /dev/mapper/lunc "$1"; }
store_fault() { inject "$Z1" "$1"; }
fault_preserve "LUN read error" lun_fault 10 "store I/O error"
fault_preserve "store write error" store_fault 20 "store I/O error"
S=/sys/kernel/debug/failslab
X=/sys/kernel/slab/dm_red_exception
if [ -d "$S" ] && [ -f "$X/failslab" ] && [ ! -L "$X" ]; then
	# only the exception cache, GFP_NOIO allocations included
	echo Y >"$S/cache-filter"
	echo N >"$S/ignore-gfp-wait"
	echo 100 >"$S/probability"
	echo -1 >"$S/times"
	echo 0 >"$S/verbose"
	exc_fault() { echo "$1" >"$X/failslab"; }
	fault_preserve "exception allocation failure" exc_fault 25 "no memory for an exception"
	echo 0 >"$S/probability"
else
	diag "no failslab or no unmerged dm_red_exception cache: allocation failures not injected"
fi

# 3. A preserved chunk, then its store fails for reads.
old=$(red_blk_md5 /dev/mapper/c1 $((30 * BPC)))
check "preserve of chunk 30" try_write /dev/mapper/w $((30 * BPC)) "w-30"
check "chunk 30 preserved: c1 still reads the old block" test "$old" = "$(red_blk_md5 /dev/mapper/c1 $((30 * BPC)))"
inject "$Z1" 1
got=$(dd if=/dev/mapper/c1 bs=4096 skip=$((30 * BPC)) count=1 iflag=direct status=none 2>/dev/null | md5sum | cut -d' ' -f1) || :
inject "$Z1" 0
check "store read error: no wrong data (not the writer's block)" test "$got" != "$(red_tag_md5 w-30)"
check "store read error: the read failed" test "$got" != "$old"
check_eq "store back: c1 reads its preserved block" "$old" "$(red_blk_md5 /dev/mapper/c1 $((30 * BPC)))"

# 4. Write-back under transient store read errors.
dmsetup create c2 --table "0 $N red $L $Z2 $CS copier f-c2"
check "c2 joined" red_wait_state c2 active
red_write_tag /dev/mapper/w $((40 * BPC)) $((8 * BPC)) "w-before"
red_write_tag /dev/mapper/c1 $((50 * BPC)) $((8 * BPC)) "c1-own"
c1_view=$(whole /dev/mapper/c1)
c2_view=$(whole /dev/mapper/c2)
epoch=$(red_status_field c1 3)
red_testd_stop
check "the old writer removed" dmsetup remove w
RED_WRITER=c1 RED_WRITER_RES=f-c1
errs0=$(red_status_field c1 11)
inject "$Z1" 1
check "PROMOTE of c1 accepted" "$NLCTL" promote f-c1 $((epoch + 1)) 1
red_testd_start f-c1
# wait_cmd SECONDS CMD...: until CMD succeeds
wait_cmd() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		"${@:2}" && return 0
		sleep 0.1
	done
	return 1
}
wb_failed() { dmesg | grep -q "write-back of chunk .* failed .*retrying"; }
check "the failed write-back logged" wait_cmd 60 wb_failed
check_eq "no write-back while the store fails" writeback "$(red_state c1)"
check "the failed write-back counted" test "$(red_status_field c1 11)" -gt "$errs0"
inject "$Z1" 0
check "write-back completes once the store is back" red_wait_state c1 active 60
check_eq "the LUN holds c1's view" "$c1_view" "$(whole "$L")"
check_eq "c2's view unchanged" "$c2_view" "$(whole /dev/mapper/c2)"
red_end
