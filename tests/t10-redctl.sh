#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# redctl on one node, with redd: up/down of a writer and of a copier (its
# zram store created by up, reset and removed by down), status --json,
# events --json, and every refusal leaving nothing behind: redd not
# running, bad configuration file, unknown resource, not root, up twice,
# redd refusing up, gc or down of an open device, gc on a writer.  The
# device ends 1 MiB before the end of the LUN (dm-red's metadata); the role
# comes from the LUN's epoch record once there is one.  promote refused
# (on the writer, on a copier that is not active) changing nothing; demote
# refused while open, demote of the lone writer and its up again; gc hooks:
# a failing pre-hook changes nothing, a refused gc runs the post-hook to
# restore, a gc that does not rejoin does not.  A damaged epoch record:
# up refuses it, up --force on the writer writes a new one, and a writer
# renews no lease on a damaged record.
. "$(dirname "$0")/lib.sh"

REDCTL=${REDCTL:-$RED_TOP/build/redd/redctl/redctl}
REDD=${REDD:-$RED_TOP/build/redd/daemon/redd}
if [ ! -x "$REDCTL" ] || [ ! -x "$REDD" ]; then
	skip "$REDCTL or $REDD not built (run redd/check.sh)"
fi

red_begin
redd_pid=
redd_stop() {
	if [ -n "$redd_pid" ]; then
		kill "$redd_pid" 2>/dev/null || true
		wait "$redd_pid" 2>/dev/null || true
		redd_pid=
	fi
}
# shellcheck disable=SC2317  # invoked by trap
t10_teardown() {
	redd_stop
	red_teardown
}
trap t10_teardown EXIT

ip link set lo up 2>/dev/null || true
# Three LUNs on three images (each LUN's last MiB holds its own resource's
# epoch record).
for i in 1 2 3; do
	red_lun 64 zero >"$RED_TMP/lun$i.dev"
done
L=$(cat "$RED_TMP/lun1.dev")
L2=$(cat "$RED_TMP/lun2.dev")
L3=$(cat "$RED_TMP/lun3.dev")
LUN_SECTORS=$(red_sectors "$L")
# the LUN but its last MiB (2048 sectors), in whole 128-sector chunks
N=$(((LUN_SECTORS - 2048) / 128 * 128))
C=$RED_TMP/red.conf
SOCK=$RED_TMP/ctl/redd.sock
head -c 32 /dev/urandom >"$RED_TMP/key"
chmod 600 "$RED_TMP/key"
cat >"$C" <<EOF
[global]
node_id = 1
key_file = $RED_TMP/key
listen = 127.0.0.1:7788
control_socket = $SOCK
heartbeat_ms = 200
lease_ms = 2000
[node.1]
address = 127.0.0.1:7788
[node.2]
address = 127.0.0.1:7789
[resource.r0]
lun = $L
chunk_sectors = 128
store_size = 16M
writer = 1
[resource.c0]
lun = $L2
chunk_sectors = 128
store_size = 16M
writer = 2
EOF
# redctl's own view of a resource redd does not know (redd refuses it).
C2=$RED_TMP/red2.conf
cat "$C" - >"$C2" <<EOF
[resource.x0]
lun = $L3
store_size = 16M
writer = 2
EOF

# run_rc EXPECTED_RC NAME ARGS...: runs redctl, keeps its stderr in
# $RED_TMP/NAME.err and stdout in $RED_TMP/NAME.out; checks the exit code.
run_rc() {
	local want=$1 name=$2 rc=0 t0=$SECONDS
	shift 2
	"$REDCTL" "$@" >"$RED_TMP/$name.out" 2>"$RED_TMP/$name.err" || rc=$?
	[ $((SECONDS - t0)) -lt 10 ] || diag "$name took $((SECONDS - t0)) s"
	check_eq "$name: exit code" "$want" "$rc"
	[ "$rc" = "$want" ] || sed 's/^/#   /' "$RED_TMP/$name.out" "$RED_TMP/$name.err"
}
# shellcheck disable=SC2317  # these are invoked through check
err_has() { grep -qF -- "$2" "$RED_TMP/$1.err"; }
# shellcheck disable=SC2317
out_has() { grep -qF -- "$2" "$RED_TMP/$1.out"; }
# shellcheck disable=SC2317
no_device() { ! dmsetup info "$1" >/dev/null 2>&1; }
# shellcheck disable=SC2317
has_device() { dmsetup info "$1" >/dev/null 2>&1; }
# shellcheck disable=SC2317
is_active() { [ "$(red_state "$1")" = active ]; }
# shellcheck disable=SC2317
lease_left_is_0() { [ "$(red_status_field "$1" 12)" = 0 ]; }
# shellcheck disable=SC2317
lease_left_above_0() { [ "$(red_status_field "$1" 12)" -gt 0 ]; }
# poll TRIES CMD...: runs CMD every 0.2 s until it succeeds, at most TRIES times.
# shellcheck disable=SC2317
poll() {
	local n=$1
	shift
	for _ in $(seq "$n"); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}
zrams() {
	local d
	for d in /sys/block/zram*; do
		[ -e "$d" ] && printf '%s ' "${d##*/}"
	done
	return 0
}
# The merged document's per-resource fields (keys are sorted: see redctl.8).
json_epoch() { grep -o '"chunk_sectors":[0-9]*,"epoch":[0-9]*,"kernel"' | sed 's/.*"epoch":\([0-9]*\).*/\1/'; }
json_role_state() { grep -o '"role":"[a-z]*","role_source":"[a-z]*","state":"[a-z]*"' | cut -d'"' -f4,12; }
# md5 of the LUN's epoch record (the first 4 KiB of its last 256 KiB)
lun_record() { dd if="$1" bs=4096 skip=$(($(red_sectors "$1") / 8 - 64)) count=1 iflag=direct 2>/dev/null | md5sum; }

zram_before=$(zrams)

# ---- before redd runs --------------------------------------------------
run_rc 5 up-no-redd -c "$C" up r0
check "up without redd: says redd is not running" err_has up-no-redd "redd is not running"
check "up without redd: no device left" no_device r0
run_rc 3 no-config -c "$RED_TMP/missing.conf" up r0
check "missing config file named" err_has no-config "$RED_TMP/missing.conf: cannot open"
printf '[global]\nnode_id = 1\nbogus line\n' >"$RED_TMP/bad.conf"
run_rc 3 bad-config -c "$RED_TMP/bad.conf" status
check "bad config: FILE:LINE message" err_has bad-config "$RED_TMP/bad.conf:3:"
run_rc 3 unknown-res -c "$C" up nosuch
check "unknown resource named" err_has unknown-res "unknown resource 'nosuch'"
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups "$REDCTL" -c "$C" up r0 \
	>/dev/null 2>"$RED_TMP/nonroot.err" || rc=$?
check_eq "non-root: exit code" 4 "$rc"
check "non-root: refused with a reason" err_has nonroot "must run as root"
check "non-root: no device" no_device r0
check "nothing created by the refusals" test -z "$(dmsetup ls | grep -v '^No devices')"

# ---- with redd ---------------------------------------------------------
"$REDD" -c "$C" >"$RED_TMP/redd.log" 2>&1 &
redd_pid=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
check "redd listens on the configured control socket" test -S "$SOCK"

run_rc 0 up -c "$C" up r0
# the state may be draining: redd is setting the writer's first epoch
check "up: prints the status" out_has up "r0 role:writer state:"
check_eq "up: the table" "0 $N red $L - 128 writer r0 2 lease_policy suspend" "$(dmsetup table r0)"
read -r _ len _ <<<"$(dmsetup table r0)"
check_eq "up: the device ends 1 MiB before the 64 MiB LUN" "$((LUN_SECTORS - 2048))" "$len"
check "up: role from the configuration (a fresh LUN has no epoch record)" \
	out_has up "up as writer (no epoch record on the LUN: the configured writer is node 1)"
epoch=0
for _ in $(seq 100); do
	"$REDCTL" -c "$C" status --json r0 >"$RED_TMP/status.json" 2>"$RED_TMP/status.err" || true
	epoch=$(json_epoch <"$RED_TMP/status.json")
	[ "${epoch:-0}" -ge 1 ] && break
	sleep 0.2
done
check "status --json: epoch >= 1" test "${epoch:-0}" -ge 1
check_eq "status --json: role and state" "writer\"active" "$(json_role_state <"$RED_TMP/status.json")"
check "status --json: redd running" grep -qF '"running":true' "$RED_TMP/status.json"
check "status --json: no warning" test ! -s "$RED_TMP/status.err"

"$REDCTL" -c "$C" events --json >"$RED_TMP/events.out" 2>"$RED_TMP/events.err" &
ev_pid=$!
for _ in $(seq 600); do
	grep -qF '"type":"exists-done"' "$RED_TMP/events.out" && break
	sleep 0.1
done
sleep 0.5
check "events: still streaming after exists-done" kill -0 "$ev_pid"
kill "$ev_pid" 2>/dev/null || true
wait "$ev_pid" 2>/dev/null || true
check "events --json: exists line for r0" grep -qE '"name":"r0".*"type":"exists"|"type":"exists".*"name":"r0"' "$RED_TMP/events.out"
check_eq "events --json: exists-done after the exists lines" '"type":"exists-done"' \
	"$(grep -o '"type":"exists[a-z-]*"' "$RED_TMP/events.out" | tail -n 1)"

table=$(dmsetup table r0)
run_rc 6 up-twice -c "$C" up r0
check "up twice: says already up" err_has up-twice "r0 is already up"
check_eq "up twice: table unchanged" "$table" "$(dmsetup table r0)"
check_eq "up twice: still one device" 1 "$(dmsetup ls | grep -c .)"

run_rc 5 up-bad-socket -c "$C" --control-socket "$RED_TMP/nosuch.sock" up c0
check "wrong socket: redd not running" err_has up-bad-socket "redd is not running"
check "wrong socket: no device left" no_device c0
check_eq "wrong socket: no zram device left" "$zram_before" "$(zrams)"

run_rc 1 up-refused -c "$C2" up x0
check "redd refused up: says so" err_has up-refused "redd refused up x0"
check "redd refused up: device removed again" no_device x0
check_eq "redd refused up: zram store removed again" "$zram_before" "$(zrams)"

run_rc 9 gc-writer -c "$C" gc r0
check "gc on a writer refused" err_has gc-writer "gc applies to a copier"

run_rc 12 promote-writer -c "$C" promote r0
check "promote on the writer refused" err_has promote-writer "the writer already"
check_eq "promote on the writer: table unchanged" "$table" "$(dmsetup table r0)"

# ---- demote: refused while open; the lone writer resigns and comes back
exec 3</dev/mapper/r0
run_rc 8 demote-open -c "$C" demote r0
check "demote refused while open, with the open count" err_has demote-open "r0 is open (open count 1)"
exec 3<&-
check_eq "demote refused: table unchanged" "$table" "$(dmsetup table r0)"
check_eq "demote refused: still active" active "$(red_state r0)"
run_rc 0 demote -c "$C" demote r0
check "demote: says the writer resigned" out_has demote "r0: demoted: the LUN's epoch record says node 1 resigned"
check "demote: device removed" no_device r0
run_rc 7 demote-again -c "$C" demote r0
check "demote without a device: not up" err_has demote-again "r0 is not up"
# the LUN's record now decides, even against a configuration naming node 2
sed 's/^writer = 1$/writer = 2/' "$C" >"$RED_TMP/w2.conf"
run_rc 0 up-after-demote -c "$RED_TMP/w2.conf" up r0
check "up after demote: the writer again, from the LUN's record" \
	out_has up-after-demote "up as writer (the LUN's epoch record names node 1 the writer)"
check_eq "up after demote: the table" "0 $N red $L - 128 writer r0 2 lease_policy suspend" "$(dmsetup table r0)"
check "up after demote: active again" poll 100 is_active r0
"$REDCTL" -c "$C" status r0 >"$RED_TMP/st-after.out" 2>/dev/null || true
check "status: the LUN's record names node 1" grep -qE "^  lun record: epoch:[0-9]+ writer:node-1" "$RED_TMP/st-after.out"

run_rc 0 down -c "$C" down r0
check "down: device removed" no_device r0
run_rc 7 down-again -c "$C" down r0
check "down twice: not up" err_has down-again "r0 is not up"

# ---- a damaged epoch record is not an absent one (issue 18 item 2) ------
# (It could have named another writer: up refuses; up --force on the
# writer writes a new record; redd renews no write lease on a damaged one.)
rec_block=$(($(red_sectors "$L") / 8 - 64))
# put_block FILE: FILE's 4 KiB over the record
put_block() { dd if="$1" of="$L" bs=4096 seek="$rec_block" count=1 oflag=direct conv=notrunc status=none; }
noise() { head -c 4096 /dev/urandom >"$RED_TMP/noise" && put_block "$RED_TMP/noise"; }
dd if="$L" bs=4096 skip="$rec_block" count=1 iflag=direct status=none of="$RED_TMP/rec.good"
noise
meta=$(lun_record "$L")
run_rc 10 up-noise -c "$C" up r0
check "up over random bytes: refused, the record is damaged" err_has up-noise "is damaged (no dm-red metadata magic)"
check "up over random bytes: no device" no_device r0
check_eq "up over random bytes: the block unchanged" "$meta" "$(lun_record "$L")"
# one flipped byte in the writer field of a valid record (node 1 -> 3)
{ head -c 104 "$RED_TMP/rec.good"; printf '\003'; tail -c +106 "$RED_TMP/rec.good"; } >"$RED_TMP/rec.flipped"
put_block "$RED_TMP/rec.flipped"
run_rc 10 up-flipped -c "$RED_TMP/w2.conf" up r0
check "up over a record with a flipped byte: refused (checksum)" err_has up-flipped "is damaged (checksum mismatch)"
check "up over a flipped byte: no device" no_device r0
run_rc 10 up-flipped-1 -c "$C" up r0
check "up over a flipped byte, configured writer: refused too" err_has up-flipped-1 "is damaged (checksum mismatch)"
check "status shows the damage" bash -c "'$REDCTL' -c '$C' status r0 2>/dev/null | grep -q 'checksum mismatch'"
noise
run_rc 0 up-force -c "$C" up --force r0
check "up --force: says the record is damaged" err_has up-force "is damaged (no dm-red metadata magic)"
check "up --force on the writer: a new record written" err_has up-force "wrote a new epoch record over the damaged one"
check "up --force: up as writer from the new record" out_has up-force "up as writer (the LUN's epoch record names node 1 the writer)"
check "up --force: active" poll 100 is_active r0
"$REDCTL" -c "$C" status r0 >"$RED_TMP/st-force.out" 2>/dev/null || true
check "up --force: the LUN's record names node 1 again" grep -qE "^  lun record: epoch:[0-9]+ writer:node-1" "$RED_TMP/st-force.out"
# A record damaged under a running writer: its lease is not renewed and
# runs out (lease_ms 2000); the record back, it is renewed again.
dd if="$L" bs=4096 skip="$rec_block" count=1 iflag=direct status=none of="$RED_TMP/rec.now"
noise
check "damaged under the writer: its write lease runs out" poll 50 lease_left_is_0 r0
check "damaged under the writer: redd logs it" grep -q "the LUN's epoch record is damaged (no dm-red metadata magic): not used" "$RED_TMP/redd.log"
put_block "$RED_TMP/rec.now"
check "the record back: the write lease renewed" poll 50 lease_left_above_0 r0
check "the record back: redd says so" grep -q "the LUN's epoch record is readable again" "$RED_TMP/redd.log"
run_rc 0 down-after-force -c "$C" down r0
check "down after up --force: device removed" no_device r0

# ---- a copier whose writer (node 2) is not there: it stays joining -----
run_rc 0 up-copier -c "$C" up c0
read -r -a t <<<"$(dmsetup table c0)"
store=${t[4]:-}
check_eq "copier table (with the read lease's policy)" "0 $N red $L2 $store 128 copier c0 2 lease_policy suspend" "$(dmsetup table c0)"
z=${store#/dev/}
check "copier store is a new zram device" bash -c "[[ '$store' == /dev/zram* ]] && ! grep -qw '$z' <<<'$zram_before'"
check_eq "store disksize = store_size" 16777216 "$(cat "/sys/block/$z/disksize" 2>/dev/null)"
"$REDCTL" -c "$C" status --json c0 >"$RED_TMP/cstatus.json" 2>/dev/null || true
check_eq "copier status: role and state" "copier\"joining" "$(json_role_state <"$RED_TMP/cstatus.json")"

# promote: refused on a copier that is not active (its writer never came)
ctable=$(dmsetup table c0)
meta=$(lun_record "$L2")
run_rc 12 promote-joining -c "$C" promote c0
check "promote refused: redd's reason" err_has promote-joining "promote refused: the copier device is joining"
check "promote refused: nothing changed" err_has promote-joining "nothing changed"
check_eq "promote refused: table unchanged" "$ctable" "$(dmsetup table c0)"
check_eq "promote refused: still joining" joining "$(red_state c0)"
check_eq "promote refused: the LUN's epoch record unchanged" "$meta" "$(lun_record "$L2")"
run_rc 9 demote-copier -c "$C" demote c0
check "demote on a copier refused" err_has demote-copier "demote applies to the writer"

# gc hooks: a failing pre-hook changes nothing
H=$RED_TMP/hooks.log
: >"$H"
# shellcheck disable=SC2016  # expanded by the hook's shell
hook() { printf 'echo "$RED_PHASE $RED_RESOURCE $RED_DEVICE" >>%s; exit %s' "$H" "$1"; }
epoch0=$(red_status_field c0 3)
run_rc 13 gc-pre-fails -c "$C" gc --pre-hook "$(hook 3)" --post-hook "$(hook 0)" c0
check "gc: failing pre-hook reported" err_has gc-pre-fails "the pre-hook failed (exit status 3): no gc, nothing changed"
check_eq "gc: failing pre-hook ran alone, with its environment" "pre c0 /dev/mapper/c0" "$(cat "$H")"
check_eq "gc: failing pre-hook left the table" "$ctable" "$(dmsetup table c0)"
check_eq "gc: failing pre-hook left the state" joining "$(red_state c0)"
check_eq "gc: failing pre-hook left the epoch" "$epoch0" "$(red_status_field c0 3)"

exec 3</dev/mapper/c0
run_rc 8 gc-open -c "$C" gc c0
check "gc refused while open, with the open count" err_has gc-open "c0 is open (open count 1)"
check "gc refusal says what to do" err_has gc-open "unmount"
: >"$H"
run_rc 8 gc-open-hooks -c "$C" gc --pre-hook "$(hook 0)" --post-hook "$(hook 0)" c0
check "gc refused after the pre-hook: says so" err_has gc-open-hooks "(the pre-hook did not)"
check_eq "gc refused after the pre-hook: the post-hook restores, in order" \
	"pre c0 /dev/mapper/c0 post c0 /dev/mapper/c0" "$(tr '\n' ' ' <"$H" | sed 's/ $//')"
run_rc 8 down-open -c "$C" down c0
check "down refused while open" err_has down-open "open count 1"
exec 3<&-
check "refusals left the copier in place" has_device c0
check "refusals left the store in place" test -e "/sys/block/$z"

: >"$H"
run_rc 11 gc-timeout -c "$C" gc --timeout 2 --pre-hook "$(hook 0)" --post-hook "$(hook 0)" c0
check "gc without a writer: times out waiting for the rejoin" err_has gc-timeout "did not rejoin within 2 s"
check "gc timed out: says the post-hook was not run" err_has gc-timeout "The post-hook was not run."
check_eq "gc timed out: only the pre-hook ran" "pre c0 /dev/mapper/c0" "$(cat "$H")"

run_rc 0 down-copier -c "$C" down c0
check "copier down: device removed" no_device c0
check "copier down: store reset and removed" test ! -e "/sys/block/$z"
check "copier down: warns that the writer was not told" err_has down-copier "writer was not reachable"
check_eq "copier down: zram devices as before" "$zram_before" "$(zrams)"

# without redd: status falls back to the kernel, down needs --force
run_rc 0 up-copier-again -c "$C" up c0
read -r -a t <<<"$(dmsetup table c0)"
store=${t[4]:-}
z=${store#/dev/}
redd_stop
run_rc 0 status-redd-gone -c "$C" status c0
check "status after redd stopped: warning" err_has status-redd-gone "redd is not running"
check "status after redd stopped: kernel view" out_has status-redd-gone "c0 role:copier state:joining"
check "status after redd stopped: the store" out_has status-redd-gone "store $store: 0/"
run_rc 5 down-no-redd -c "$C" down c0
check "down without redd refused without --force" has_device c0
run_rc 0 down-force -c "$C" down --force c0
check "down --force: device removed" no_device c0
check "down --force: store removed" test ! -e "/sys/block/$z"
check_eq "zram devices as before" "$zram_before" "$(zrams)"
red_end
