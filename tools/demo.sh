#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# make demo: one QEMU/TCG guest, one LUN, a writer and two copiers.
#
# The story: ext4 made on the writer; two copiers join and mount the same
# filesystem from the one shared copy; the writer keeps writing while each
# copier sees the LUN as of its join point plus its own writes; a copier
# is garbage-collected and rejoins at the current image.  red-testd plays
# the per-node daemon (redd, and the three-node PostgreSQL demo, come with
# the next issues).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$top"

if [ "${1:-}" != --guest ]; then
	"$top/tools/install-deps.sh"
	kver=${DEMO_KVER:-$(find /lib/modules -maxdepth 1 -name '6.12*-amd64' -printf '%f\n' | sort -V | tail -n 1)}
	[ -n "$kver" ] || { echo "demo: no Debian 6.12 kernel installed" >&2; exit 1; }
	echo "== building dm-red for $kver and the test programs"
	make -s KVER="$kver" >/dev/null
	make -s -C tests >/dev/null
	echo "== booting a QEMU/TCG guest (Debian $kver)"
	mkdir -p build/logs
	exec "$top/tools/vm/run-guest.sh" --kver "$kver" --timeout 600 \
		--log build/logs/demo.log \
		--env RED_KO="$top/build/$kver/dm-red.ko" -- tools/demo.sh --guest
fi

# ---- inside the guest ----
# shellcheck source=tests/lib.sh
. "$top/tests/lib.sh"
red_begin
step() { printf '\n== %s\n' "$*"; }
st() { printf '   %-8s %s\n' "$1" "$(dmsetup status "$1" | cut -d' ' -f4-)"; }
files() { find "$1" -maxdepth 1 -type f -printf '%f\n' | sort | tr '\n' ' '; }
zmem() { awk '{printf "%.1f MiB", $3 / 1048576}' "/sys/block/zram$1/mm_stat"; }
lun_writes() { awk '{print $7 * 512}' "/sys/block/$(basename "$L")/stat"; }
t0=$(date +%s)

step "one shared LUN (256 MiB loop device), chunk 64 KiB"
L=$(red_lun 256 random)
N=$(red_sectors "$L")
RED_WRITER=w RED_WRITER_RES=demo.w
dmsetup create w --table "0 $N red $L - 128 writer demo.w"
red_testd_start demo.w
red_wait_state w active
st w

step "the writer makes ext4 and writes a first file set"
mkfs.ext4 -q -E nodiscard -b 4096 /dev/mapper/w
mkdir -p "$RED_TMP"/{w,c1,c2}
mount /dev/mapper/w "$RED_TMP/w"
seq 1 200000 >"$RED_TMP/w/generation-1.txt"
sync
echo "   writer: $(files "$RED_TMP/w")"

step "two copiers join, each with a 128 MiB zram exception store"
for i in 1 2; do
	Z=$(red_zram "$i" 128M)
	dmsetup create "c$i" --table "0 $N red $L $Z 128 copier demo.c$i"
	red_wait_state "c$i" active
	mount "/dev/mapper/c$i" "$RED_TMP/c$i"
	st "c$i"
done
w0=$(lun_writes)

step "the writer writes 16 MiB more while the copiers write their own files"
head -c $((16 * 1024 * 1024)) /dev/urandom >"$RED_TMP/w/generation-2.bin"
seq 1 50000 >"$RED_TMP/c1/copier-1-only.txt"
seq 1 50000 >"$RED_TMP/c2/copier-2-only.txt"
sync
for d in w c1 c2; do echo "   $d sees: $(files "$RED_TMP/$d")"; done
echo "   LUN bytes written by the writer meanwhile: $(( ($(lun_writes) - w0) / 1048576 )) MiB (one copy, whatever the number of copiers)"
st w; st c1; st c2
echo "   zram memory: c1 $(zmem 1), c2 $(zmem 2)"

step "gc of copier 1: unmount, drop its store, rejoin at the current LUN image"
umount "$RED_TMP/c1"
before=$(zmem 1)
tg=$(date +%s%N)
dmsetup message c1 0 gc
red_wait_state c1 active
tg=$((($(date +%s%N) - tg) / 1000000))
echo "   zram memory of c1: $before -> $(zmem 1) after gc; gc + rejoin took $tg ms"
mount /dev/mapper/c1 "$RED_TMP/c1"
echo "   after remounting (journal recovery writes into the new store): $(zmem 1)"
echo "   c1 now sees: $(files "$RED_TMP/c1")"
st c1

step "summary"
for d in w c1 c2; do umount "$RED_TMP/$d"; done
printf '   %-8s %-8s %-7s %-12s %-10s %-10s\n' device role epoch store preserves cow
for d in w c1 c2; do
	read -r role _ epoch store _ _ _ _ pres cow _ < <(dmsetup status "$d" | cut -d' ' -f4-)
	printf '   %-8s %-8s %-7s %-12s %-10s %-10s\n' "$d" "$role" "$epoch" "$store" "$pres" "$cow"
done
check "fsck -n clean on the writer" fsck.ext4 -n -f /dev/mapper/w >/dev/null 2>&1
check "fsck -n clean on copier 1" fsck.ext4 -n -f /dev/mapper/c1 >/dev/null 2>&1
check "fsck -n clean on copier 2" fsck.ext4 -n -f /dev/mapper/c2 >/dev/null 2>&1
echo "   demo finished in $(($(date +%s) - t0)) s"
red_end
