#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The copier's read lease: once armed by LEASE, renewals keep the copier
# serving; when it runs out the copier fails every bio (the writer no
# longer waits for it, so the LUN may hold newer data) and raises
# LEASE_EXPIRED; gc disarms it and the copier rejoins.
. "$(dirname "$0")/lib.sh"
red_begin

L=$(red_lun 16 random)
N=$(red_sectors "$L")
Z=$(red_zram 0 16M)
NLCTL=$RED_BIN/red-nlctl
# shellcheck disable=SC2317 # called through check
rd() { dd if=/dev/mapper/c of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null; }

RED_WRITER=w RED_WRITER_RES=l-w
dmsetup create w --table "0 $N red $L - 128 writer l-w"
red_testd_start l-w
dmsetup create c --table "0 $N red $L $Z 128 copier l-c"
check "copier joined" red_wait_state c active
check "no lease armed: the copier serves reads" rd
check_eq "no lease armed: lease left 0" 0 "$(red_status_field c 12)"

# The lease: 8 s, or longer where a round of what the checks run (a
# status, a state, a read: process starts, milliseconds on Debian's kernels
# under TCG, seconds on the debug kernel or a loaded host) takes more than
# a tenth of that.  The waits are fractions of it.
t0=$EPOCHREALTIME
red_status_field c 12 >/dev/null
red_state c >/dev/null
rd
lease=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { d = int(10000 * (b - a)); print (d < 8000 ? 8000 : d) }')
frac() { awk -v l="$lease" -v n="$1" 'BEGIN { printf "%.1f", l * n / 8000 }'; }
diag "a round of checks took $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s: leases of $lease ms"
check "LEASE on a copier accepted" "$NLCTL" lease l-c "$lease"
sleep "$(frac 3)"
check "renewal accepted" "$NLCTL" lease l-c "$lease"
check "status shows the read lease left" test "$(red_status_field c 12)" -gt $((lease * 5 / 8))
sleep "$(frac 3)"
check_eq "renewed in time: still active" active "$(red_state c)"
check "renewed in time: reads still served" rd

sleep "$(frac 7)"
check_eq "lease ran out: the copier failed" failed "$(red_state c)"
check "lease ran out: reads fail" bash -c "! dd if=/dev/mapper/c of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null"
check "LEASE_EXPIRED event for the copier" grep -q "event=lease_expired.*l-c\|l-c.*event=lease_expired" "$RED_TMP/events"
check "expiry logged" dmesg_has "read lease expired"
check "writer unaffected" dd if=/dev/zero of=/dev/mapper/w bs=4096 count=1 oflag=direct status=none

check "gc recovers the failed copier" dmsetup message c 0 gc
check "copier rejoined" red_wait_state c active
sleep 1
check_eq "gc disarmed the lease" active "$(red_state c)"
check "reads served again" rd
red_end
