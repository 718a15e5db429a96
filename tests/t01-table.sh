#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Table lines, status formats and messages: every constructor error path
# gives its message and leaves nothing behind; TABLE reproduces the line.
. "$(dirname "$0")/lib.sh"
red_begin

L=$(red_lun 64 zero)
Z=$(red_zram 0 16M)
N=$(red_sectors "$L")

check "dmsetup targets lists red with its version" \
	bash -c "dmsetup targets | grep -Eq '^red +v0\.1\.0'"

# bad_table DESCRIPTION EXPECTED-LOG TABLE
bad_table() {
	local before after
	before=$(dmsetup ls | sort)
	if dmsetup create bad --table "$3" 2>/dev/null; then
		diag "FAIL: $1: table accepted: $3"
		red_fails=$((red_fails + 1))
		dmsetup remove bad || true
		return
	fi
	after=$(dmsetup ls | sort)
	dmsetup remove bad 2>/dev/null || true
	check "$1: refused with '$2'" dmesg_has "$2"
	check_eq "$1: nothing changed" "$before" "$after"
}

bad_table "too few arguments" "not enough arguments" "0 $N red $L - 128 writer"
bad_table "unknown role" "role must be writer or copier" "0 $N red $L - 128 reader r1"
bad_table "chunk not a power of two" "chunk size must be a power of two" "0 $N red $L - 100 writer r1"
bad_table "chunk too small" "chunk size must be a power of two" "0 $N red $L - 4 writer r1"
bad_table "chunk too large" "chunk size must be a power of two" "0 $N red $L - 4096 writer r1"
bad_table "chunk not a number" "chunk size must be a power of two" "0 $N red $L - 12x writer r1"
bad_table "bad resource name" "resource name must be" "0 $N red $L - 128 writer bad/name"
bad_table "resource name too long" "resource name must be" "0 $N red $L - 128 writer $(printf 'a%.0s' {1..64})"
bad_table "missing LUN" "cannot open LUN device" "0 $N red /dev/nonexistent - 128 writer r1"
bad_table "writer with a store" "a writer takes no store device" "0 $N red $L $Z 128 writer r1"
bad_table "copier without a store" "a copier needs a store device" "0 $N red $L - 128 copier r1"
bad_table "missing store" "cannot open store device" "0 $N red $L /dev/nonexistent 128 copier r1"
bad_table "store is the LUN" "store and LUN must be different" "0 $N red $L $L 128 copier r1"
bad_table "feature count too large" "invalid number of feature arguments" "0 $N red $L - 128 writer r1 5 a b c d e"
bad_table "feature count beyond the line" "invalid number of feature arguments" "0 $N red $L - 128 writer r1 2 lease_policy"
bad_table "unknown feature" "unknown feature argument" "0 $N red $L - 128 writer r1 1 frobnicate"
bad_table "lease_policy without value" "lease_policy needs suspend or error" "0 $N red $L - 128 writer r1 1 lease_policy"
bad_table "bad lease_policy" "lease_policy must be suspend or error" "0 $N red $L - 128 writer r1 2 lease_policy maybe"
bad_table "bad lease_policy on a copier" "lease_policy must be suspend or error" "0 $N red $L $Z 128 copier r1 2 lease_policy bogus"
bad_table "lease_policy twice" "lease_policy given twice" "0 $N red $L - 128 writer r1 4 lease_policy error lease_policy suspend"
bad_table "stabilize_ahead without value" "stabilize_ahead needs a number of chunks" "0 $N red $L - 128 writer r1 1 stabilize_ahead"
bad_table "stabilize_ahead not a number" "stabilize_ahead must be a number of chunks from 0 to 1024" "0 $N red $L - 128 writer r1 2 stabilize_ahead x"
bad_table "stabilize_ahead too large" "stabilize_ahead must be a number of chunks from 0 to 1024" "0 $N red $L - 128 writer r1 2 stabilize_ahead 1025"
bad_table "stabilize_ahead twice" "stabilize_ahead given twice" "0 $N red $L - 128 writer r1 4 stabilize_ahead 1 stabilize_ahead 2"
bad_table "length not a multiple of the chunk" "multiple of the chunk size" "0 1000 red $L - 128 writer r1"
bad_table "longer than the LUN" "fit on the LUN" "0 $((N * 2)) red $L - 128 writer r1"
# the whole table is one red target (DM_TARGET_SINGLETON: dm core's words)
bad_table "another target before red" "singleton target type must appear alone in table" "$(printf '0 128 linear %s 0\n128 %s red %s - 128 writer r1' "$L" "$((N - 128))" "$L")"
bad_table "another target after red" "target type red must appear alone in table" "$(printf '0 %s red %s - 128 writer r1\n%s 128 linear %s 0' "$((N - 128))" "$L" "$((N - 128))" "$L")"

# every documented constraint at and past its limit.  Numbers are digits
# only and must not wrap: 2^32 + n and 2^64 + n are refused, not read as n.
bad_table "resource name with Latin-1 letters" "resource name must be" "0 $N red $L - 128 writer $'caf\xe9'"
bad_table "resource name with high bytes" "resource name must be" "0 $N red $L - 128 writer $'r\xc0\xd6\xff'"
bad_table "chunk 2^32 + 128" "chunk size must be a power of two" "0 $N red $L - 4294967424 writer r1"
bad_table "chunk 2^64 + 128" "chunk size must be a power of two" "0 $N red $L - 18446744073709551744 writer r1"
bad_table "chunk with a sign" "chunk size must be a power of two" "0 $N red $L - +128 writer r1"
bad_table "feature count 2^32 + 1" "invalid number of feature arguments" "0 $N red $L - 128 writer r1 4294967297 lease_policy"
bad_table "feature count 2^64 + 2" "invalid number of feature arguments" "0 $N red $L - 128 writer r1 18446744073709551618 lease_policy error"
bad_table "feature count -1" "invalid number of feature arguments" "0 $N red $L - 128 writer r1 -1"
bad_table "stabilize_ahead 2^32" "stabilize_ahead must be a number of chunks from 0 to 1024" "0 $N red $L - 128 writer r1 2 stabilize_ahead 4294967296"
bad_table "stabilize_ahead 2^32 + 1024" "stabilize_ahead must be a number of chunks from 0 to 1024" "0 $N red $L - 128 writer r1 2 stabilize_ahead 4294968320"
bad_table "stabilize_ahead 2^64 + 1" "stabilize_ahead must be a number of chunks from 0 to 1024" "0 $N red $L - 128 writer r1 2 stabilize_ahead 18446744073709551617"
bad_table "stabilize_ahead -1" "stabilize_ahead must be a number of chunks from 0 to 1024" "0 $N red $L - 128 writer r1 2 stabilize_ahead -1"
# and at the limits: accepted
good_table() { # DESCRIPTION TABLE
	if dmsetup create edge --table "$2" 2>/dev/null; then
		check_eq "$1: accepted, TABLE reproduces it" "$2" "$(dmsetup table edge)"
		dmsetup remove edge
	else
		diag "FAIL: $1: refused: $2"
		red_fails=$((red_fails + 1))
	fi
}
good_table "a 63-character name of every allowed kind" "0 $N red $L - 128 writer $(printf 'aZ09_.-%.0s' {1..9})"
good_table "chunk 8 and stabilize_ahead 0" "0 $N red $L - 8 writer r1 2 stabilize_ahead 0"
good_table "chunk 2048" "0 $N red $L - 2048 writer r1"

# good tables
wt="0 $N red $L - 128 writer r-w 4 lease_policy error stabilize_ahead 1024"
ct="0 $N red $L $Z 128 copier r-c"
dmsetup create w --table "$wt"
dmsetup create c --table "$ct"
check_eq "TABLE reproduces the writer line" "$wt" "$(dmsetup table w)"
check_eq "TABLE reproduces the copier line" "$ct" "$(dmsetup table c)"
bad_table "duplicate resource name" "resource name already in use" "0 $N red $L - 128 writer r-w"

# a loaded red device keeps its state in its table: reload is refused
if dmsetup reload w --table "$wt" 2>/dev/null; then
	diag "FAIL: reload of a red device accepted"
	red_fails=$((red_fails + 1))
	dmsetup clear w || true
else
	check "reload refused with a clear message" dmesg_has "cannot reload a red device"
	check "no inactive table left behind" bash -c "! dmsetup info w | grep -q 'Tables present:.*INACTIVE'"
fi

ws=$(dmsetup status w)
cs=$(dmsetup status c)
diag "writer status: $ws"
diag "copier status: $cs"
check_eq "writer INFO has 16 fields" 16 "$(echo "$ws" | wc -w)"
check_eq "copier INFO has 16 fields" 16 "$(echo "$cs" | wc -w)"
check_eq "writer role" writer "$(red_status_field w 1)"
check_eq "writer starts active" active "$(red_state w)"
check_eq "writer epoch 0" 0 "$(red_status_field w 3)"
check_eq "writer: no chunk stable before an epoch" "0/1024" "$(red_status_field w 5)"
check_eq "writer lease none" 0 "$(red_status_field w 12)"
check_eq "writer policy" error "$(red_status_field w 13)"
check_eq "copier starts joining" joining "$(red_state c)"
check_eq "copier lease policy defaults to error" error "$(red_status_field c 13)"
check_eq "copier store 0/256 chunks" "0/256" "$(red_status_field c 4)"
check_eq "copier geometry: 4096-byte logical blocks" 4096 "$(blockdev --getss /dev/mapper/c)"
check_eq "writer geometry: 4096-byte logical blocks" 4096 "$(blockdev --getss /dev/mapper/w)"

# messages
msg_refused() {	# DEV EXPECTED-LOG MESSAGE...
	local dev=$1 log=$2
	shift 2
	if dmsetup message "$dev" 0 "$@" 2>/dev/null; then
		diag "FAIL: message '$*' to $dev accepted"
		red_fails=$((red_fails + 1))
		return
	fi
	check "message '$*' to $dev refused with '$log'" dmesg_has "$log"
}
msg_refused w "unknown message 'bogus'" bogus
msg_refused w "gc applies to a copier only" gc
msg_refused c "unknown message 'gc' with 1 argument" gc now
check_eq "status unchanged by refused messages" "$cs" "$(dmsetup status c)"

# reads on the writer pass through without a daemon; the LUN is zero
check "writer read passes through" \
	bash -c "dd if=/dev/mapper/w bs=4k count=16 iflag=direct status=none | cmp -s - <(head -c 65536 /dev/zero)"
# a writer without a lease under lease_policy error fails writes
check "writer without a lease fails writes (policy error)" \
	bash -c "! dd if=/dev/zero of=/dev/mapper/w bs=4k count=1 oflag=direct status=none 2>/dev/null"
check "LEASE_EXPIRED event counted as an error" \
	test "$(red_status_field w 11)" -ge 1

red_end
