#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# ext4 made on the writer, mounted on the writer and on a copier at the
# same time, both under a file workload; fsck -n clean on both views.
. "$(dirname "$0")/lib.sh"
red_begin

L=$(red_lun 192 zero)
N=$(red_sectors "$L")
Z=$(red_zram 0 192M)

RED_WRITER=w RED_WRITER_RES=e-w
dmsetup create w --table "0 $N red $L - 128 writer e-w"
red_testd_start e-w
red_wait_state w active
mkfs.ext4 -q -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 -b 4096 /dev/mapper/w
mkdir -p "$RED_TMP/mw" "$RED_TMP/mc"
mount -t ext4 /dev/mapper/w "$RED_TMP/mw"
cp -a /usr/share/doc/e2fsprogs "$RED_TMP/mw/before-join" 2>/dev/null || mkdir "$RED_TMP/mw/before-join"
sync

# the copier joins while the filesystem is mounted on the writer
dmsetup create c --table "0 $N red $L $Z 128 copier e-c"
check "copier joined" red_wait_state c active
check "copier mounts the writer's filesystem" mount -t ext4 /dev/mapper/c "$RED_TMP/mc"

workload() {	# DIR TAG
	local i
	for i in $(seq 1 40); do
		mkdir -p "$1/$2/d$((i % 7))"
		head -c $((4096 * (i % 13 + 1))) /dev/urandom >"$1/$2/d$((i % 7))/f$i"
		if [ $((i % 5)) -eq 0 ]; then
			rm -f "$1/$2/d$(((i + 3) % 7))/f$((i - 3))"
		fi
		if [ $((i % 10)) -eq 0 ]; then sync -f "$1"; fi
	done
	cp -a /usr/share/doc/bash "$1/$2/bashdoc" 2>/dev/null || true
	sync -f "$1"
}
workload "$RED_TMP/mw" writer &
wpid=$!
workload "$RED_TMP/mc" copier &
cpid=$!
check "writer workload" wait "$wpid"
check "copier workload" wait "$cpid"

check "the copier sees the files from before its join" test -d "$RED_TMP/mc/before-join"
check "the copier does not see the writer's later files" test ! -e "$RED_TMP/mc/writer"
check "the writer does not see the copier's files" test ! -e "$RED_TMP/mw/copier"
sum_w=$(cd "$RED_TMP/mw/writer" && find . -type f -print0 | sort -z | xargs -0 md5sum | md5sum)
umount "$RED_TMP/mw"
umount "$RED_TMP/mc"
check "fsck -n clean on the writer's view" fsck.ext4 -n -f /dev/mapper/w
check "fsck -n clean on the copier's view" fsck.ext4 -n -f /dev/mapper/c
mount -t ext4 -o ro /dev/mapper/w "$RED_TMP/mw"
check_eq "writer files intact after remount" "$sum_w" \
	"$(cd "$RED_TMP/mw/writer" && find . -type f -print0 | sort -z | xargs -0 md5sum | md5sum)"
umount "$RED_TMP/mw"
diag "writer: $(dmsetup status w)"
diag "copier: $(dmsetup status c)"
red_end
