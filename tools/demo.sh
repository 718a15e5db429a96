#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# make demo: PostgreSQL on three QEMU/TCG guests sharing ONE copy of its data.
#
# The story (tests/cluster/pg3.sh tells it; every step prints what happens
# and its timings):
#   1. node 1, the writer, makes ext4 on its red device and runs the primary;
#   2. nodes 2 and 3 join as copiers and run hot standbys whose data
#      directory is the same one copy, seen through their own overlays;
#      replication is synchronous to one of them;
#   3. pgbench writes on the primary while both standbys answer queries;
#   4. the standby of node 3 is garbage-collected under load (stop, gc,
#      start) and catches up by streaming;
#   5. node 1's guest is killed in the middle of pgbench; node 2 is promoted
#      (storage first: fencing wait, write-back of its store; then
#      PostgreSQL), pgbench goes on against it;
#   6. node 1 reboots and comes back as a copier running a standby;
#   7. a planned switchover makes node 1 the primary again (the primary
#      stops and resigns, node 1 is promoted, the old primary comes back
#      as a standby);
#   8. checks: no acknowledged transaction lost, amcheck and fsck clean;
#      a summary table (timings, LUN bytes written, store sizes,
#      stabilizations).
# Environment: DEMO_KVER (default: the newest installed Debian 6.12 kernel),
# and PG3_* of tools/vm/pg3-check.sh.  Logs: build/logs/pg3-KVER*.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$top"

"$top/tools/install-deps.sh"
kver=${DEMO_KVER:-$(find /lib/modules -maxdepth 1 -name '6.12*-amd64' -printf '%f\n' | sort -V | tail -n 1)}
[ -n "$kver" ] || { echo "demo: no Debian 6.12 kernel installed" >&2; exit 1; }
echo "== building dm-red for $kver, redd and redctl"
make -s KVER="$kver" >/dev/null
cmake -S redd -B build/redd -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=g++ >/dev/null
cmake --build build/redd --target redd redctl -j "$(nproc)" >/dev/null
echo "== three QEMU/TCG guests (Debian $kver), one 512 MiB LUN, an isolated network on 127.0.0.1"
t0=$(date +%s)
rc=0
# a smaller database and a shorter second run than make check's: the
# story is the same, the wait shorter
PG3_KVER=$kver PG3_SCALE=${PG3_SCALE:-3} PG3_LOAD2_S=${PG3_LOAD2_S:-10} PG3_LOSS=${PG3_LOSS:-reboot} \
	tools/vm/pg3-check.sh --demo || rc=$?
echo "== demo finished in $(($(date +%s) - t0)) s (exit $rc); logs in build/logs/pg3-$kver*"
exit "$rc"
