#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Daemon death and lease expiry.
# 1. kill -9 of the daemon: held writes stay held; a new daemon registers,
#    the kernel sends the outstanding stabilizations again, they complete.
# 2. lease expiry, policy suspend: writes are held until the lease is
#    renewed.  3. policy error: writes fail with EIO.
# 4. fenced (issue 18 item 1): LEASE 0 on a writer whose daemon is gone
#    ends the writes held for the lease and for a stabilization with EIO,
#    fails every new bio, refuses a new lease, and the device can be
#    removed: the returning old writer of the runbook.
. "$(dirname "$0")/lib.sh"
red_begin

CH=65536
L=$(red_lun 32 random)
N=$(red_sectors "$L")
Z=$(red_zram 0 32M)

RED_WRITER=w RED_WRITER_RES=k-w
dmsetup create w --table "0 $N red $L - 128 writer k-w"
red_testd_start k-w --lease-ms 3000
dmsetup create c --table "0 $N red $L $Z 128 copier k-c"
check "copier joined" red_wait_state c active
orig=$(dd if="$L" bs=$CH count=1 skip=9 iflag=direct status=none | md5sum)

# 1. daemon death with a write in flight
kill -9 "$red_testd_pid"
wait "$red_testd_pid" 2>/dev/null || true
red_testd_pid=
dd if=/dev/zero of=/dev/mapper/w bs=$CH count=1 seek=9 oflag=direct status=none &
dpid=$!
sleep 3
check "write still held 3 s after the daemon died" kill -0 "$dpid"
check "status counts the held write" test "$(red_status_field w 6)" -ge 1
check "copier still serves reads" dd if=/dev/mapper/c of=/dev/null bs=4096 count=1 iflag=direct status=none
red_testd_start k-w --lease-ms 3000
check "held write completes after a daemon registers" wait_pid "$dpid" 30
check_eq "copier preserved the old chunk" "$orig" \
	"$(dd if=/dev/mapper/c bs=$CH count=1 skip=9 iflag=direct status=none | md5sum)"
check_eq "no held bios left" 0 "$(red_status_field w 6)"

# 2. lease expiry, suspend
kill -USR1 "$red_testd_pid"
sleep 4
check_eq "lease expired" 0 "$(red_status_field w 12)"
dd if=/dev/zero of=/dev/mapper/w bs=4096 count=1 seek=1 oflag=direct status=none &
dpid=$!
sleep 2
check "write held while the lease is expired (suspend)" kill -0 "$dpid"
check "lease_expired event raised" grep -q "event=lease_expired" "$RED_TMP/events"
kill -USR2 "$red_testd_pid"
check "held write completes after renewal" wait_pid "$dpid" 30

# 3. lease expiry, error
red_testd_stop
dmsetup remove c
dmsetup remove w
dmsetup create w --table "0 $N red $L - 128 writer k-w 2 lease_policy error"
red_testd_start k-w --lease-ms 3000
sleep 1
check "write with a lease succeeds (policy error)" dd if=/dev/zero of=/dev/mapper/w bs=4096 count=1 oflag=direct status=none
kill -USR1 "$red_testd_pid"
sleep 4
check "write fails with EIO once the lease expired (policy error)" \
	bash -c "! dd if=/dev/zero of=/dev/mapper/w bs=4096 count=1 oflag=direct status=none 2>/dev/null"
check "reads still pass" dd if=/dev/mapper/w of=/dev/null bs=4096 count=1 iflag=direct status=none
kill -USR2 "$red_testd_pid"
sleep 1
check "writes succeed again after renewal" dd if=/dev/zero of=/dev/mapper/w bs=4096 count=1 oflag=direct status=none

# 4. fenced: LEASE 0 ends the held writes (policy suspend, with a copier)
# ends_with_error PID SECS: PID ends within SECS, with a non-zero status
# shellcheck disable=SC2317 # called through check
ends_with_error() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		if ! kill -0 "$1" 2>/dev/null; then
			if wait "$1"; then
				diag "pid $1 succeeded"
				return 1
			fi
			return 0
		fi
		sleep 0.1
	done
	diag "pid $1 still running after $2 s"
	return 1
}
red_testd_stop
dmsetup remove w
dmsetup create w --table "0 $N red $L - 128 writer k-w"
red_testd_start k-w --lease-ms 3000
dmsetup create c --table "0 $N red $L $Z 128 copier k-c"
check "copier joined again" red_wait_state c active
check "a write with a lease succeeds" dd if=/dev/zero of=/dev/mapper/w bs=4096 count=1 oflag=direct status=none
# the daemon dies: a first write to chunk 30 waits for its stabilization,
# then the lease runs out and a write to the stable chunk 0 waits for it
kill -9 "$red_testd_pid"
wait "$red_testd_pid" 2>/dev/null || true
red_testd_pid=
dd if=/dev/zero of=/dev/mapper/w bs=4096 count=1 seek=$((30 * 16)) oflag=direct status=none 2>/dev/null &
d_stab=$!
sleep 4
check_eq "fence: lease expired" 0 "$(red_status_field w 12)"
dd if=/dev/zero of=/dev/mapper/w bs=4096 count=1 seek=2 oflag=direct status=none 2>/dev/null &
d_lease=$!
sleep 2
check "fence: a write held for its stabilization" kill -0 "$d_stab"
check "fence: a write held for the lease" kill -0 "$d_lease"
check "fence: status counts both held writes" test "$(red_status_field w 6)" -ge 2
errors=$(red_status_field w 11)
check "fence: LEASE 0 on the writer accepted" "$RED_BIN/red-nlctl" lease k-w 0
check "fence: the write held for the lease ends with EIO" ends_with_error "$d_lease" 10
check "fence: the write held for its stabilization ends with EIO" ends_with_error "$d_stab" 10
check "fence: the kernel log says fenced" dmesg_has "fenced (LEASE 0): I/O fails until removal"
check_eq "fence: state failed" failed "$(red_state w)"
check_eq "fence: no held bios left" 0 "$(red_status_field w 6)"
check "fence: the errors are counted" test "$(red_status_field w 11)" -ge $((errors + 2))
check "fence: new writes fail" \
	bash -c "! dd if=/dev/zero of=/dev/mapper/w bs=4096 count=1 seek=3 oflag=direct status=none 2>/dev/null"
check "fence: reads fail" \
	bash -c "! dd if=/dev/mapper/w of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null"
check "fence: a new lease is refused" bash -c "! '$RED_BIN/red-nlctl' lease k-w 3000 2>/dev/null"
check_eq "fence: still failed after the refused lease" failed "$(red_state w)"
check_eq "fence: chunk 30 on the LUN unchanged (not zeros)" 1 \
	"$(dd if="$L" bs=4096 skip=$((30 * 16)) count=1 iflag=direct status=none | tr -d '\0' | head -c 1 | wc -c)"
check "fence: the copier can be removed" dmsetup remove c
check "fence: the fenced writer can be removed" dmsetup remove w
red_end
