#!/usr/bin/env bash
# Boot a Debian kernel under QEMU/TCG and run one command inside it, with the
# host root mounted read-only (9p) as the guest's / (tmpfs on /tmp, /run,
# /var/tmp, /dev/shm).
#
# Usage:
#   tools/vm/run-guest.sh --kver KVER [--mem MiB] [--smp N] [--timeout SEC]
#       [--idle-timeout SEC] [--progress FILE]
#       [--log FILE] [--env NAME=VALUE]... [--cwd DIR] [--qemu-arg ARG]...
#       [--tcg-thread multi|single] -- CMD [ARGS...]
#
# --tcg-thread picks QEMU's TCG threading: multi (the default, one host
# thread per vCPU) or single (every vCPU of the guest on one host thread,
# interleaved).  See tools/vm/run-cluster.sh for when single is used.
#
# Time-outs follow progress: progress is a new output line of the guest
# command (its serial stdout, i.e. the log growing).  --idle-timeout SEC
# (default 0 = off) stops the guest when it has shown no progress for SEC
# seconds; --timeout SEC (default 600) is the total backstop, boot
# included.  --progress FILE shares progress between guests (run-cluster.sh
# passes one file to every node): each guest touches FILE when its own
# output grows, and a guest is idle only when FILE, too, is SEC old, so a
# node that waits for another one's work is not idle while that one works.
# At the end it prints the longest silence it saw (its own, and of FILE).
#
# The guest runs CMD with cwd = the repo root (or --cwd), PATH including
# /usr/sbin:/sbin, DM_DISABLE_UDEV=1, HOME=/tmp, RED_GUEST=1, RED_KVER=KVER,
# plus every --env.  Its stdout+stderr (serial ttyS1) are streamed to stdout
# and to the log (\r stripped), followed by the markers
#   RED-GUEST-EXIT <rc> / RED-DMESG-BEGIN ... RED-DMESG-END
# (the dmesg dump goes to the log only, unless RED_SHOW_DMESG=1).
# The kernel console (ttyS0, loglevel 5) goes to LOG with .log replaced by
# .console.log.
#
# Exit status: the guest command's exit status, except
#   124  time-out: no progress for --idle-timeout, or --timeout in all
#        (no RED-GUEST-EXIT marker)
#   125  guest died (panic, crash, QEMU error, SIGKILL) before the marker (a kernel
#        that dies before the guest init starts is booted again, twice at most)
#   1    command succeeded but the kernel logged a problem report
#        (see tools/vm/check-dmesg.sh); non-zero command status is kept.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)

usage() {
	sed -n '6,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
die() { echo "run-guest: $*" >&2; exit 2; }

kver='' mem=2048 smp=2 tmo=600 idle_tmo=0 progress='' log='' cwd=$repo tcg_thread=multi
envs=() qextra=()
while [ $# -gt 0 ]; do
	case $1 in
	--kver) kver=${2:?}; shift 2 ;;
	--mem) mem=${2:?}; shift 2 ;;
	--smp) smp=${2:?}; shift 2 ;;
	--timeout) tmo=${2:?}; shift 2 ;;
	--idle-timeout) idle_tmo=${2:?}; shift 2 ;;
	--progress) progress=${2:?}; shift 2 ;;
	--log) log=${2:?}; shift 2 ;;
	--env) envs+=("${2:?}"); shift 2 ;;
	--cwd) cwd=${2:?}; shift 2 ;;
	--qemu-arg) qextra+=("${2:?}"); shift 2 ;;
	--tcg-thread) tcg_thread=${2:?}; shift 2 ;;
	--) shift; break ;;
	-h | --help) usage ;;
	*) echo "run-guest: unknown argument $1" >&2; usage ;;
	esac
done
[ -n "$kver" ] || die "--kver is required"
[ $# -gt 0 ] || die "no command given after --"
case $mem$smp$tmo$idle_tmo in *[!0-9]*) die "--mem/--smp/--timeout/--idle-timeout take integers" ;; esac
case $tcg_thread in multi | single) ;; *) die "--tcg-thread takes multi or single, not '$tcg_thread'" ;; esac
for e in "${envs[@]}"; do
	[[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "bad --env '$e' (want NAME=VALUE)"
done

kernel=/boot/vmlinuz-$kver
[ -r "$kernel" ] || die "$kernel not found/readable"
[ -d "/lib/modules/$kver" ] || die "/lib/modules/$kver not found"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (tools/install-deps.sh)"
cwd=$(cd "$cwd" && pwd -P)

mkdir -p "$repo/build/logs" "$repo/build/vm"
[ -n "$log" ] || log=$repo/build/logs/run-guest-$kver.log
mkdir -p "$(dirname "$log")"
log=$(cd "$(dirname "$log")" && pwd -P)/$(basename "$log")
conlog=${log%.log}.console.log
[ "$conlog" != "$log" ] || conlog=$log.console

initrd=$repo/build/initramfs/initramfs-$kver.cpio.gz
"$here/mkinitramfs.sh" "$kver" "$initrd"

tmp=$(mktemp -d "$repo/build/vm/run.XXXXXX")
qpid='' fpid='' wpid=''
# shellcheck disable=SC2317  # invoked by trap
cleanup() { rm -rf "$tmp"; }
# shellcheck disable=SC2317  # invoked by trap
interrupted() {
	trap - INT TERM
	[ -z "$qpid" ] || kill -TERM "$qpid" 2>/dev/null || :
	wait 2>/dev/null || :
	echo "run-guest: interrupted" >&2
	exit 130
}
trap cleanup EXIT
trap interrupted INT TERM
case $tmp in *[[:space:],]*) die "path $tmp contains spaces or commas" ;; esac

# The command script, read by the guest through 9p at the same path.
{
	echo '#!/bin/bash'
	echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
	echo 'export DM_DISABLE_UDEV=1 HOME=/tmp TERM=dumb LANG=C.UTF-8 RED_GUEST=1'
	printf 'export RED_KVER=%q\n' "$kver"
	for e in "${envs[@]}"; do
		printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"
	done
	printf 'cd -- %q || exit 125\n' "$cwd"
	printf 'exec'
	printf ' %q' "$@"
	printf '\n'
} >"$tmp/cmd.sh"
chmod 755 "$tmp/cmd.sh"

append="console=ttyS0 loglevel=5 log_buf_len=4M panic=-1 softlockup_panic=0"
append+=" sysctl.kernel.hung_task_timeout_secs=30 mitigations=off"
# TCG on a busy host: the boot-time timer check can fail and panic
append+=" no_timer_check"
append+=" red.cmd=$tmp/cmd.sh red.repo=$repo"

# cx16=off: QEMU 7.2's TCG CMPXCHG16B (Debian 12's qemu-system-x86) builds
# EFLAGS from a stale lazy condition-code state: after e.g. "add %rdi,%rax"
# the flags it leaves can be the low half of %rdi, reserved bits, TF and DF
# included.  The guest kernel's SLUB fast path runs it all the time; two
# pg3 runs on 6.12 failed on it (a double fault; a kernel single-step #DB
# and then a WARN), both in kmem_cache_alloc right after the CMPXCHG16B,
# with EFLAGS equal to the low half of a pointer.  tools/vm/tcg-cx16-flags.c
# shows it from user space.  Without CX16 the kernel uses its own
# pushf/cli emulation of the per-CPU cmpxchg16b instead.
qemu=(qemu-system-x86_64 -accel "tcg,thread=$tcg_thread" -nodefaults -no-user-config -nographic
	-cpu 'max,cx16=off' -m "$mem" -smp "$smp"
	-kernel "$kernel" -initrd "$initrd" -append "$append"
	-serial "file:$conlog" -serial stdio
	-virtfs 'local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap'
	-nic none -no-reboot "${qextra[@]}")

[ -n "$progress" ] || progress=$tmp/progress
touch "$progress"
idle_desc="no idle limit"
[ "$idle_tmo" = 0 ] || idle_desc="stopped after ${idle_tmo}s without progress"
echo "run-guest: kernel $kver, ${mem} MiB, $smp vCPU (TCG $tcg_thread-threaded), $idle_desc, at most ${tmo}s in all, log $log" >&2
start=$(date +%s)
mkfifo "$tmp/out"

# watchdog PID: while PID (the QEMU time-out wrapper) runs, every 2 s: when
# the log grew, touch $progress; note the longest silence of the log and of
# $progress (in $tmp/silence: "OWN SHARED"); when $progress is idle_tmo
# seconds old, write the idle time to $tmp/idle and stop QEMU (TERM, then
# KILL).  Progress is the guest command's own output: a guest that prints
# nothing because it hangs is stopped, one that keeps printing is not.
watchdog() {
	local pid=$1 size=0 last_size=-1 own_at=$EPOCHSECONDS at idle own=0 shared=0 n
	touch "$progress"
	while kill -0 "$pid" 2>/dev/null; do
		sleep 2
		size=$(stat -c %s "$log" 2>/dev/null || echo 0)
		if [ "$size" != "$last_size" ]; then
			last_size=$size
			own_at=$EPOCHSECONDS
			touch "$progress"
		fi
		n=$((EPOCHSECONDS - own_at))
		[ "$n" -le "$own" ] || own=$n
		at=$(stat -c %Y "$progress" 2>/dev/null || echo "$own_at")
		[ "$at" -ge "$own_at" ] || at=$own_at
		idle=$((EPOCHSECONDS - at))
		[ "$idle" -le "$shared" ] || shared=$idle
		echo "$own $shared" >"$tmp/silence"
		if [ "$idle_tmo" -gt 0 ] && [ "$idle" -ge "$idle_tmo" ]; then
			echo "$idle" >"$tmp/idle"
			kill -TERM "$pid" 2>/dev/null || :
			for _ in 1 2 3 4 5 6 7 8 9 10; do
				kill -0 "$pid" 2>/dev/null || return 0
				sleep 1
			done
			kill -KILL "$pid" 2>/dev/null || :
			return 0
		fi
	done
}
# A kernel that dies while booting, before the guest init prints
# RED-GUEST-START, has run none of this project's code (dm-red is loaded by
# the command, later).  Multi-threaded TCG very rarely loses a cross-vCPU
# code patch at boot ("Oops: int3" in a just-patched static branch): such a
# boot is tried again, at most twice, and its logs are kept as
# LOG.earlyN.log / LOG.earlyN.console.log.  Any death after RED-GUEST-START
# is a failure.
max_boots=3
boot=1
while :; do
	: >"$log"
	rm -f "$conlog"
	# QEMU's serial output goes through a FIFO to a filter that strips \r,
	# appends to the log and echoes (minus the dmesg dump) to stdout.  QEMU
	# runs in the background so that a TERM/INT to this script stops it.
	sed -u 's/\r//g' <"$tmp/out" | tee -a "$log" |
		if [ "${RED_SHOW_DMESG:-0}" = 1 ]; then cat; else
			sed -u '/^RED-DMESG-BEGIN$/,/^RED-DMESG-END$/d'
		fi &
	fpid=$!
	rm -f "$tmp/idle"
	timeout --foreground -k 15 "$tmo" "${qemu[@]}" </dev/null >"$tmp/out" 2>"$tmp/qemu.err" &
	qpid=$!
	watchdog "$qpid" &
	wpid=$!
	qrc=0
	wait "$qpid" || qrc=$?
	qpid=''
	wait "$fpid" || :
	kill "$wpid" 2>/dev/null || :
	wait "$wpid" 2>/dev/null || :
	# stopped by the watchdog: a time-out, whatever QEMU's exit status
	[ ! -s "$tmp/idle" ] || qrc=124
	[ -f "$conlog" ] && sed -i 's/\r//g' "$conlog"
	if [ "$boot" -lt "$max_boots" ] && [ "$qrc" -ne 124 ] && [ "$qrc" -ne 137 ] &&
		[ ! -s "$tmp/qemu.err" ] && ! grep -aq '^RED-GUEST-START$' "$log" &&
		grep -aq 'Kernel panic' "$conlog" 2>/dev/null &&
		! grep -aq 'dm_red' "$conlog"; then
		early=${log%.log}.early$boot
		mv "$log" "$early.log"
		mv "$conlog" "$early.console.log"
		{
			echo "run-guest: WARNING: the kernel died while booting, before the guest init ran"
			echo "run-guest: (no dm-red code had run; boot $boot of at most $max_boots); booting again."
			echo "run-guest: that boot's kernel log: $early.console.log"
			grep -a -m3 -e 'Oops' -e 'Kernel panic' -e 'RIP:' "$early.console.log" | sed 's/^/  | /' || :
		} >&2
		boot=$((boot + 1))
		continue
	fi
	break
done
end=$(date +%s)
if [ -s "$tmp/qemu.err" ]; then
	echo "run-guest: QEMU stderr:" >&2
	sed 's/^/  | /' "$tmp/qemu.err" >&2
	cat "$tmp/qemu.err" >>"$log"
fi
if [ "$boot" -gt 1 ]; then
	echo "run-guest: note: boot $boot of $max_boots (earlier boots died before the guest init)" >>"$log"
fi
marker=$(grep -a -m1 '^RED-GUEST-EXIT [0-9]*$' "$log" || :)
if [ -z "$marker" ]; then
	if [ -s "$tmp/idle" ]; then
		echo "run-guest: FAIL: guest timed out: no progress for $(cat "$tmp/idle")s (limit ${idle_tmo}s) after $((end - start))s (no RED-GUEST-EXIT marker)" | tee -a "$log" >&2
		rc=124
	elif [ "$qrc" -eq 124 ] || { [ "$qrc" -eq 137 ] && [ $((end - start)) -ge "$tmo" ]; }; then
		echo "run-guest: FAIL: guest timed out after ${tmo}s in all (no RED-GUEST-EXIT marker)" | tee -a "$log" >&2
		rc=124
	elif [ "$qrc" -eq 137 ]; then
		echo "run-guest: FAIL: QEMU was killed (SIGKILL) after $((end - start))s, before RED-GUEST-EXIT" | tee -a "$log" >&2
		rc=125
	else
		echo "run-guest: FAIL: guest died (QEMU exit $qrc) before RED-GUEST-EXIT: panic or crash" | tee -a "$log" >&2
		rc=125
	fi
	echo "run-guest: last kernel console lines ($conlog):" >&2
	tail -n 60 "$conlog" 2>/dev/null | sed 's/^/  | /' >&2 || :
	"$here/check-dmesg.sh" "$conlog" >&2 || :
	exit "$rc"
fi
rc=${marker#RED-GUEST-EXIT }
read -r own shared <"$tmp/silence" 2>/dev/null || own=- shared=-
if [ "$progress" = "$tmp/progress" ]; then
	silence="longest silence ${own}s"
else
	silence="longest silence ${own}s, of all the guests sharing its progress ${shared}s"
fi
echo "run-guest: guest command exited $rc after $((end - start))s; $silence (limit ${idle_tmo}s, 0 = none)" | tee -a "$log" >&2

bad=0
"$here/check-dmesg.sh" "$log" >&2 || bad=1
if [ "$bad" -eq 0 ] && [ -f "$conlog" ]; then
	"$here/check-dmesg.sh" "$conlog" >&2 || bad=1
fi
if [ "$bad" -ne 0 ]; then
	echo "run-guest: FAIL: kernel problem report in guest dmesg" | tee -a "$log" >&2
	[ "$rc" -ne 0 ] || rc=1
fi
exit "$rc"
