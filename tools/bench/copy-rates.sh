#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# What a copier's preserve copy is made of, measured without dm-red: in one
# QEMU/TCG guest like the fio part's (2 vCPUs, 2 GiB, the LUN a raw image
# of random data attached as virtio-blk, cache=none), the rates of
#   - reading the LUN (O_DIRECT) in 64 KiB and in 1 MiB requests;
#   - writing incompressible data into zram (its default compressor),
#     64 KiB requests, from one writer and from two at once (two devices);
#   - copying the LUN into zram, 64 KiB at a time, one stream.
# These bound what one copier can preserve per second (c2 and c4 of
# Documentation/performance.rst).  Figures only, nothing asserted.
#
# Usage: tools/bench/copy-rates.sh [--kver K] [--mib N]
#   --kver  guest kernel (default: the newest installed 6.12)
#   --mib   MiB per measurement (default 256)
# Prints one "RATE name MB/s" line per measurement (MB = 10^6 bytes).
# Exit status: 0 when every measurement ran, 1 otherwise, 2 on usage errors.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$top"

if [ "${1:-}" = --guest ]; then
	mib=$2
	modprobe zram num_devices=2
	modprobe virtio_blk 2>/dev/null || :
	lun=''
	for _ in $(seq 1 50); do
		for d in /sys/block/vd*; do
			[ -r "$d/serial" ] && [ "$(cat "$d/serial")" = ratelun ] && lun=/dev/${d##*/}
		done
		[ -n "$lun" ] && [ -b "$lun" ] && break
		lun=''
		sleep 0.2
	done
	[ -n "$lun" ] || { echo "copy-rates: no LUN disk in the guest" >&2; exit 1; }
	rate() {	# rate NAME BYTES CMD...: run CMD, print its rate
		local name=$1 bytes=$2 t0 t1
		shift 2
		t0=$(date +%s%N)
		"$@"
		t1=$(date +%s%N)
		awk -v n="$name" -v b="$bytes" -v ns=$((t1 - t0)) \
			'BEGIN { printf "RATE %s %.1f\n", n, b / ns * 1000 }'
	}
	zreset() {	# zreset INDEX: an empty 1 GiB zram device
		echo 1 >"/sys/block/zram$1/reset"
		echo 1G >"/sys/block/zram$1/disksize"
	}
	bytes=$((mib * 1048576))
	n64=$((mib * 16))
	echo "INFO zram compressor: $(sed 's/.*\[\(.*\)\].*/\1/' /sys/block/zram0/comp_algorithm)"
	rate lun-read-64k "$bytes" dd if="$lun" of=/dev/null bs=64k count="$n64" iflag=direct status=none
	rate lun-read-1m "$bytes" dd if="$lun" of=/dev/null bs=1M count="$mib" iflag=direct status=none
	head -c "$bytes" "$lun" >/tmp/rnd
	zreset 0
	rate zram-write-64k-1 "$bytes" dd if=/tmp/rnd of=/dev/zram0 bs=64k count="$n64" oflag=direct status=none
	zreset 0
	zreset 1
	# shellcheck disable=SC2317  # invoked through rate
	two() {
		dd if=/tmp/rnd of=/dev/zram0 bs=64k count="$n64" oflag=direct status=none &
		dd if=/tmp/rnd of=/dev/zram1 bs=64k count="$n64" oflag=direct status=none &
		wait
	}
	rate zram-write-64k-2 $((2 * bytes)) two
	zreset 0
	rate lun-to-zram-64k "$bytes" dd if="$lun" of=/dev/zram0 bs=64k count="$n64" iflag=direct oflag=direct status=none
	exit 0
fi

kver='' mib=256
while [ $# -gt 0 ]; do
	case $1 in
	--kver) kver=${2:?--kver needs a value}; shift 2 ;;
	--mib) mib=${2:?--mib needs a value}; shift 2 ;;
	*) echo "copy-rates: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
case $mib in '' | *[!0-9]* | 0*) echo "copy-rates: --mib must be a positive integer" >&2; exit 2 ;; esac
[ "$mib" -le 512 ] || { echo "copy-rates: --mib at most 512 (the guest has 2 GiB)" >&2; exit 2; }
if [ -z "$kver" ]; then
	kver=$(find /lib/modules -maxdepth 1 -name '6.12*-amd64' -printf '%f\n' | sort -V | tail -n 1)
	[ -n "$kver" ] || { echo "copy-rates: no 6.12 kernel installed; give --kver" >&2; exit 2; }
fi
mkdir -p build/bench build/logs
img=build/bench/copy-rates-lun.img
rm -f "$img"
trap 'rm -f "$img"' EXIT
head -c $((mib * 1048576)) /dev/urandom >"$img"
log=build/logs/copy-rates-$kver.log
tools/vm/run-guest.sh --kver "$kver" --mem 2048 --smp 2 --timeout 600 --log "$log" \
	--qemu-arg -drive --qemu-arg "file=$top/$img,format=raw,if=none,id=lun,cache=none,aio=native" \
	--qemu-arg -device --qemu-arg "virtio-blk-pci,drive=lun,serial=ratelun" \
	-- tools/bench/copy-rates.sh --guest "$mib" | grep -E '^(RATE|INFO) '
[ "$(grep -c "^RATE " "$log")" = 5 ] || { echo "copy-rates: a measurement is missing (log $log)" >&2; exit 1; }
