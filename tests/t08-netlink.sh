#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Bad netlink input: missing, oversized or wrongly typed attributes, unknown
# devices, stale epochs, wrong roles, bad versions each get a clear error and
# change nothing; an unprivileged user gets EPERM.
. "$(dirname "$0")/lib.sh"
red_begin

L=$(red_lun 16 zero)
N=$(red_sectors "$L")
Z=$(red_zram 0 16M)
RED_WRITER=w RED_WRITER_RES=n-w
dmsetup create w --table "0 $N red $L - 128 writer n-w"
dmsetup create c --table "0 $N red $L $Z 128 copier n-c"
red_testd_start n-w
check "copier joined" red_wait_state c active
red_testd_stop
ws=$(red_status_fixed w)
cs=$(red_status_fixed c)

check "malformed requests refused (red-nlbad)" "$RED_BIN/red-nlbad" --writer n-w --copier n-c
check_eq "writer status unchanged" "$ws" "$(red_status_fixed w)"
check_eq "copier status unchanged" "$cs" "$(red_status_fixed c)"
check "unprivileged user gets EPERM" \
	setpriv --reuid=65534 --regid=65534 --clear-groups "$RED_BIN/red-nlbad" --expect-eperm --writer n-w --copier n-c
check_eq "writer status unchanged after EPERM" "$ws" "$(red_status_fixed w)"
red_testd_start n-w
red_end
