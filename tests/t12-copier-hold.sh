#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# A copier with lease_policy suspend: when its read lease runs out it is
# held (state held), not failed.  New bios wait; LEASE > 0 resumes them
# with the right data, LEASE 0 fails them with EIO, PROMOTE takes them
# over (failover: the writer's node died), gc and remove still work.
# PRESERVE keeps being served while held and a newer epoch (a new
# writer's) moves the copier's epoch up; an older one is refused.
. "$(dirname "$0")/lib.sh"
red_begin

L=$(red_lun 16 random)
N=$(red_sectors "$L")
Z1=$(red_zram 0 16M)
Z2=$(red_zram 1 16M)
Z3=$(red_zram 2 16M)
NLCTL=$RED_BIN/red-nlctl
CS=128			# 64 KiB chunks
BPC=16			# 4 KiB blocks per chunk
bg_read() {	# bg_read DEV BLOCK OUT: a direct read in the background
	dd if="$1" of="$3" bs=4096 skip="$2" count=1 iflag=direct status=none 2>"$3.err" &
	bg_pid=$!
}
events() { grep -c -- "$1" "$RED_TMP/events" || :; }
# shellcheck disable=SC2317 # called through check
wait_events() {	# wait_events PATTERN MIN_COUNT: red-testd logs events a bit later
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(events "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	diag "fewer than $2 events match '$1'"
	return 1
}

# A bad policy on a copier: refused with a clear message, nothing created.
before=$(dmsetup ls | sort)
check "lease_policy bogus on a copier refused" \
	bash -c "! dmsetup create bad --table '0 $N red $L $Z1 $CS copier h-bad 2 lease_policy bogus' 2>/dev/null"
check "the refusal says why" dmesg_has "lease_policy must be suspend or error"
check_eq "nothing created by the bad table" "$before" "$(dmsetup ls | sort)"

RED_WRITER=w RED_WRITER_RES=h-w
dmsetup create w --table "0 $N red $L - $CS writer h-w"
red_testd_start h-w
ct="0 $N red $L $Z1 $CS copier h-c 2 lease_policy suspend"
dmsetup create c --table "$ct"
check_eq "TABLE reproduces the copier's policy" "$ct" "$(dmsetup table c)"
check_eq "status shows the copier's policy" suspend "$(red_status_field c 13)"
check "c joined" red_wait_state c active

# LEASE 0 on an active copier fails it at once, whatever its policy: the
# daemon sends it when the writer no longer waits for it (a leave, an
# expulsion), and held I/O would only hang its users.
check "LEASE 0 on the active copier" "$NLCTL" lease h-c 0
check_eq "LEASE 0: failed at once, not held" failed "$(red_state c)"
check "LEASE 0: reads fail" \
	bash -c "! dd if=/dev/mapper/c of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null"
check "gc recovers it" dmsetup message c 0 gc
check "c joined again" red_wait_state c active
errs0=$(red_status_field c 11) # the failure above counted one

# c's own block in chunk 3 (read from its store), the LUN's in chunk 200
red_write_tag /dev/mapper/c $((3 * BPC)) 1 "c-own"
own=$(red_tag_md5 c-own)
lun200=$(red_blk_md5 "$L" $((200 * BPC)))
check_eq "c reads its own block" "$own" "$(red_blk_md5 /dev/mapper/c $((3 * BPC)))"

# The lease of section 2 must outlast its checks (a dozen process starts:
# milliseconds on Debian's kernels under TCG, seconds on the debug kernel or
# a loaded host): 8 s, or 20 times a round of a status, a state and a read.
t0=$EPOCHREALTIME
red_status_field c 6 >/dev/null
red_state c >/dev/null
dd if=/dev/mapper/c of=/dev/null bs=4096 count=1 iflag=direct status=none
lease=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { d = int(20000 * (b - a)); print (d < 8000 ? 8000 : d) }')
diag "a round of checks took $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s: a lease of $lease ms in section 2"

# 1. The lease runs out: held, not failed.
check "LEASE 3000 on the copier" "$NLCTL" lease h-c 3000
check "lease ran out: the copier is held" red_wait_state c held 20
check_eq "netlink state is held (7)" "7 held" \
	"$("$NLCTL" get h-c state) $("$NLCTL" get h-c state_name)"
check "LEASE_EXPIRED event for the copier" wait_events "event=lease_expired resource=h-c " 1
check "STATE event with state 7" wait_events "event=state resource=h-c .*state=7 " 1
check "expiry logged" dmesg_has "read lease expired; I/O is held"
bg_read /dev/mapper/c $((3 * BPC)) "$RED_TMP/r1"
sleep 2
check "a read on the held copier does not complete" kill -0 "$bg_pid"
check_eq "the read is counted as held" 1 "$(red_status_field c 6)"
check_eq "held, not failed: no error counted" "$errs0" "$(red_status_field c 11)"

# A suspend waits for the held bio, as for a writer's writes held for its
# lease: it can be interrupted, and it completes once LEASE releases it.
check "a suspend of the held copier waits and can be interrupted" \
	bash -c "! timeout -k 10 -s INT 3 dmsetup suspend c 2>/dev/null"
check "the interrupted suspend left the device running" \
	bash -c "dmsetup info c | grep -q 'State: *ACTIVE'"
dmsetup suspend c &
susp_pid=$!
sleep 1
check "a suspend waits for the held read" kill -0 "$susp_pid"

# 2. LEASE > 0: active again, the held read completes with the right data.
check "LEASE $lease on the held copier" "$NLCTL" lease h-c "$lease"
check "the held read completes" wait_pid "$bg_pid" 20
check "the suspend completes once the read is released" wait_pid "$susp_pid" 20
check "the device is suspended" bash -c "dmsetup info c | grep -q 'State: *SUSPENDED'"
check "and resumes" dmsetup resume c
check_eq "the held read has the right data" "$own" "$(md5sum <"$RED_TMP/r1" | cut -d' ' -f1)"
check_eq "active again" active "$(red_state c)"
check_eq "nothing held any more" 0 "$(red_status_field c 6)"
check "a new read is served at once" \
	timeout 10 dd if=/dev/mapper/c of=/dev/null bs=4096 count=1 iflag=direct status=none

# 3. Held again: PRESERVE still served, newer epochs move the epoch up.
check "the lease runs out again: held" red_wait_state c held $((lease / 1000 + 20))
bg_read /dev/mapper/c $((200 * BPC)) "$RED_TMP/r2"
epoch=$(red_status_field c 3)
pres=$(red_status_field c 9)
new=$((epoch + 5))
nev=$(events "event=epoch resource=h-c ")
check "PRESERVE at a newer epoch accepted while held" "$NLCTL" preserve h-c "$new" 9001 10+2
check_eq "the reported epoch moved up" "$new" "$(red_status_field c 3)"
check "netlink epoch moved up" "$NLCTL" wait h-c "epoch=$new" 5
check "EPOCH event for the copier" wait_events "event=epoch resource=h-c .*epoch=$new " $((nev + 1))
check "PRESERVE at the older epoch refused (ESTALE)" \
	"$NLCTL" --expect ESTALE preserve h-c "$epoch" 9002 12+1
check "the preserve was carried out while held" "$NLCTL" wait h-c "preserves=$((pres + 2))" 10
check_eq "still held" held "$(red_state c)"
check "the read waits meanwhile" kill -0 "$bg_pid"

# 4. LEASE 0 while held: failed, the held read gets EIO.
check "LEASE 0 on the held copier" "$NLCTL" lease h-c 0
if wait_pid "$bg_pid" 20; then
	diag "FAIL: the held read succeeded after LEASE 0"
	red_fails=$((red_fails + 1))
else
	check "the held read failed with EIO" grep -q "Input/output error" "$RED_TMP/r2.err"
fi
check_eq "LEASE 0 while held: failed" failed "$(red_state c)"
check "reads fail on the failed copier" \
	bash -c "! dd if=/dev/mapper/c of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null"

# 5. gc of a held copier that is not open, then remove one.
dmsetup create c3 --table "0 $N red $L $Z3 $CS copier h-c3 2 lease_policy suspend"
check "c3 joined" red_wait_state c3 active
check "LEASE 2000 on c3" "$NLCTL" lease h-c3 2000
check "c3 held" red_wait_state c3 held 20
check "gc of the held copier accepted" dmsetup message c3 0 gc
check "c3 rejoined after gc" red_wait_state c3 active
check_eq "gc disarmed the lease" 0 "$(red_status_field c3 12)"
check "LEASE 2000 on c3 again" "$NLCTL" lease h-c3 2000
check "c3 held again" red_wait_state c3 held 20
check "removing the held, unopened copier works" timeout 30 dmsetup remove c3
check "DESTROYED event for c3" wait_events "event=destroyed resource=h-c3 " 1

# 6. Failover: the writer goes away, c2 is held, then promoted; its held
#    read completes.
dmsetup create c2 --table "0 $N red $L $Z2 $CS copier h-c2 2 lease_policy suspend"
check "c2 joined" red_wait_state c2 active
red_write_tag /dev/mapper/c2 $((5 * BPC)) 1 "c2-own"
own2=$(red_tag_md5 c2-own)
red_testd_stop
check "the old writer removed" dmsetup remove w
check "the failed copier removed" dmsetup remove c
RED_WRITER=c2 RED_WRITER_RES=h-c2
check "LEASE 3000 on c2" "$NLCTL" lease h-c2 3000
check "c2 held" red_wait_state c2 held 20
bg_read /dev/mapper/c2 $((5 * BPC)) "$RED_TMP/r3"
bg2=$bg_pid
bg_read /dev/mapper/c2 $((200 * BPC)) "$RED_TMP/r4"
sleep 2
check "reads on held c2 wait" kill -0 "$bg2"
check_eq "two bios held" 2 "$(red_status_field c2 6)"
epoch=$(red_status_field c2 3)
check "PROMOTE at the current epoch refused (ESTALE)" \
	"$NLCTL" --expect ESTALE promote h-c2 "$epoch" 0
check_eq "the refusal changed nothing" held "$(red_state c2)"
check "PROMOTE of the held copier accepted" "$NLCTL" promote h-c2 $((epoch + 1)) 0
check "the held read of c2's own block completes" wait_pid "$bg2" 20
check "the held read of a LUN block completes" wait_pid "$bg_pid" 20
check_eq "c2's own data" "$own2" "$(md5sum <"$RED_TMP/r3" | cut -d' ' -f1)"
check_eq "the LUN's data" "$lun200" "$(md5sum <"$RED_TMP/r4" | cut -d' ' -f1)"
check_eq "c2 is now the writer" writer "$(red_status_field c2 1)"
check_eq "c2 at the new epoch" $((epoch + 1)) "$(red_status_field c2 3)"
check "a write lease: the write-back completes" "$NLCTL" lease h-c2 60000
check "c2 active as a plain writer" red_wait_state c2 active 60
check_eq "c2's own block written back to the LUN" "$own2" "$(red_blk_md5 "$L" $((5 * BPC)))"
red_end
