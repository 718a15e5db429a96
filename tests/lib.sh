#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Shared helpers for the dm-red test scripts (sourced; run inside a guest).
#
# A test script sources this file, calls red_begin, makes its checks with
# check/check_eq, and ends with red_end (which exits 0 on success, 1 on
# failure, 4 on skip, kselftest style).  Teardown runs from an EXIT trap.

set -euo pipefail

RED_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
RED_BIN=${RED_BIN:-$RED_TOP/tests/build}
RED_KO=${RED_KO:-$RED_TOP/build/$(uname -r)/dm-red.ko}
RED_TMP=${RED_TMP:-/tmp/red-test}
export DM_DISABLE_UDEV=1

red_fails=0
red_checks=0
red_loops=()
red_testd_pid=

diag() { printf '# %s\n' "$*"; }

check() {	# check DESCRIPTION COMMAND...
	local desc=$1
	shift
	red_checks=$((red_checks + 1))
	if "$@"; then
		diag "ok: $desc"
	else
		diag "FAIL: $desc"
		red_fails=$((red_fails + 1))
	fi
}

check_eq() {	# check_eq DESCRIPTION EXPECTED ACTUAL
	red_checks=$((red_checks + 1))
	if [ "$2" = "$3" ]; then
		diag "ok: $1 ($3)"
	else
		diag "FAIL: $1: expected '$2', got '$3'"
		red_fails=$((red_fails + 1))
	fi
}

dmesg_has() {	# dmesg_has TEXT: in the last few kernel log lines
	dmesg | tail -n 8 | grep -qF -- "$1"
}

skip() {
	diag "SKIP: $*"
	exit 4
}

red_modules() {
	modprobe dm-mod
	modprobe loop
	modprobe dm-delay
	if [ ! -e /sys/block/zram0 ]; then
		modprobe zram num_devices=4
	fi
	if [ ! -d /sys/module/dm_red ]; then
		insmod "$RED_KO"
	fi
}

# red_lun SIZE_MIB FILL(zero|random) -> prints the loop device
red_lun() {
	# Called as L=$(red_lun ...), a subshell: the images are numbered and
	# the loop devices remembered in files, so that every call gets its own
	# image and red_teardown detaches them all.
	local n img dev
	n=$(cat "$RED_TMP/.luns" 2>/dev/null || echo 0)
	echo $((n + 1)) >"$RED_TMP/.luns"
	img=$RED_TMP/lun-$n.img
	if [ "$2" = random ]; then
		head -c "$(($1 * 1024 * 1024))" /dev/urandom >"$img"
	else
		truncate -s "$(($1 * 1024 * 1024))" "$img"
	fi
	dev=$(losetup -f --show "$img")
	red_loops+=("$dev")
	echo "$dev" >>"$RED_TMP/.loops"
	echo "$dev"
}

# red_zram INDEX SIZE -> prints the device (reset first)
red_zram() {
	local z=/sys/block/zram$1
	echo 1 >"$z/reset"
	echo "$2" >"$z/disksize"
	echo "/dev/zram$1"
}

red_sectors() { blockdev --getsz "$1"; }

red_status_field() {	# red_status_field DMNAME N (N: 1 = role)
	dmsetup status "$1" | awk -v n="$2" '{ print $(3 + n) }'
}

red_state() { red_status_field "$1" 2; }

# The status line without the fields that tick by themselves (lease left,
# age of the oldest request), for before/after comparisons.
red_status_fixed() {
	dmsetup status "$1" | awk '{ $11 = "-"; $15 = "-"; print }'
}

# red_blk_md5 DEV BLOCK -> md5 of one 4 KiB block, read with O_DIRECT
red_blk_md5() {
	dd if="$1" bs=4096 skip="$2" count=1 iflag=direct status=none | md5sum | cut -d' ' -f1
}

# red_tag_md5 TAG -> md5 of a 4 KiB block filled by red_write_tag with TAG
red_tag_md5() { { yes "$1" || :; } | head -c 4096 | md5sum | cut -d' ' -f1; }

# red_write_tag DEV BLOCK COUNT TAG: COUNT 4 KiB blocks of "TAG\n" repeated
red_write_tag() {
	{ yes "$4" || :; } | head -c $(($3 * 4096)) |
		dd of="$1" bs=4096 seek="$2" count="$3" oflag=direct status=none
}

# wait_pid PID TIMEOUT_S: wait for a background job, fail on time-out
wait_pid() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		if ! kill -0 "$1" 2>/dev/null; then
			wait "$1"
			return
		fi
		sleep 0.1
	done
	diag "pid $1 still running after $2 s"
	return 1
}

# red_wait_state DMNAME STATE [TIMEOUT_S]
red_wait_state() {
	local i
	for ((i = 0; i < ${3:-30} * 10; i++)); do
		[ "$(red_state "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	diag "$1 did not reach state $2 (is $(red_state "$1"))"
	return 1
}

# red_testd_start WRITER_RESOURCE [args...]
red_testd_start() {
	local w=$1
	shift
	"$RED_BIN/red-testd" --writer "$w" --events "$RED_TMP/events" \
		--log "$RED_TMP/testd.log" "$@" &
	red_testd_pid=$!
}

red_testd_stop() {
	if [ -n "$red_testd_pid" ]; then
		kill "$red_testd_pid" 2>/dev/null || true
		wait "$red_testd_pid" 2>/dev/null || true
		red_testd_pid=
	fi
}

red_teardown() {
	local d
	# a daemon must be there so that held writes can drain
	if [ -z "$red_testd_pid" ] && [ -n "${RED_WRITER:-}" ] &&
	   dmsetup info "$RED_WRITER" >/dev/null 2>&1; then
		red_testd_start "$RED_WRITER_RES" || true
		sleep 1
	fi
	for d in $(dmsetup ls 2>/dev/null | awk '{print $1}'); do
		[ "$d" = "No" ] && continue
		umount "/dev/mapper/$d" 2>/dev/null || true
	done
	# copiers first, then writers, then the rest (delay devices)
	for d in $(dmsetup status 2>/dev/null | awk '$4 == "red" && $5 == "copier" {sub(":", "", $1); print $1}'); do
		timeout 60 dmsetup remove "$d" || diag "cannot remove $d"
	done
	for d in $(dmsetup status 2>/dev/null | awk '$4 == "red" {sub(":", "", $1); print $1}'); do
		timeout 60 dmsetup remove "$d" || diag "cannot remove $d"
	done
	red_testd_stop
	for d in $(dmsetup ls 2>/dev/null | awk '{print $1}'); do
		[ "$d" = "No" ] && continue
		timeout 60 dmsetup remove "$d" 2>/dev/null || true
	done
	for d in "${red_loops[@]}" $(cat "$RED_TMP/.loops" 2>/dev/null); do
		losetup -d "$d" 2>/dev/null || true
	done
	for d in /sys/block/zram*; do
		echo 1 >"$d/reset" 2>/dev/null || true
	done
	rm -rf "$RED_TMP"
}

red_begin() {
	red_modules
	rm -rf "$RED_TMP"
	mkdir -p "$RED_TMP"
	trap red_teardown EXIT
}

red_end() {
	diag "$red_checks checks, $red_fails failed"
	[ "$red_fails" -eq 0 ] || exit 1
	exit 0
}
