#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# PostgreSQL on three guests sharing one LUN through dm-red and redd (issue
# 4; guest side tests/cluster/pg3.sh): a primary on the writer, hot standbys
# on two copiers, pgbench under load, gc of a standby's store, and, once
# redctl has "promote", the failover: node 1 cut off and back (fenced,
# taken down; PG3_LOSS=reboot: killed and rebooted), a standby promoted,
# node 1 back as a copier.  Prints
# the scenario's report and TAP lines (node 2's), then the harness's
# verdict as one more TAP line; exit status 0 when all passed.
#
# Usage: tools/vm/pg3-check.sh [-v | --demo]
#   -v            stream every guest's output; default: only the report
#                 and the TAP lines at the end, the rest in the log
#   --demo        stream each node's steps and reports as they happen
#                 (make demo), then the report and the TAP lines
#   PG3_KVER      kernel (default: the newest installed 6.12)
#   PG3_IDLE      the guests are stopped when none of them has printed a
#                 line for this many seconds (default 300)
#   PG3_TIMEOUT   the run's total backstop in seconds (default 1800, three
#                 times a run on an idle host)
#   PG3_SCALE     pgbench scale (default 3); PG3_LOAD2_S: seconds of the
#                 second pgbench run (default 10)
#   PG3_FAILOVER  auto (default: when redctl has promote) | 0 | 1
#   PG3_LOSS      how node 1 is lost: cutoff (default: network down and
#                 redd stopped, then back: fenced, the runbook's returning
#                 old writer without a reboot) | reboot (killed by the
#                 harness and booted again; make demo)
# Needs redd and redctl (built here into build/redd if missing, as
# redd/check.sh builds them) and PostgreSQL 15 on the host (the guests see
# the host's root): postgresql-15, postgresql-contrib (amcheck), pgbench.
# Logs: build/logs/pg3-KVER.out and build/logs/pg3-KVER/ (per node).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$top"
verbose=0
case ${1:-} in
-v | --verbose) verbose=1 ;;
--demo) verbose=2 ;;
'') ;;
*) echo "usage: $0 [-v | --demo]" >&2; exit 2 ;;
esac
kver=${PG3_KVER:-$(find /lib/modules -maxdepth 1 -name '6.12*-amd64' -printf '%f\n' | sort -V | tail -n 1)}
tmo=${PG3_TIMEOUT:-1800}
loss=${PG3_LOSS:-cutoff}
case $loss in cutoff | reboot) ;; *) echo "pg3-check: PG3_LOSS must be cutoff or reboot" >&2; exit 2 ;; esac
idle=${PG3_IDLE:-300}
case $tmo:$idle in *[!0-9:]* | :* | *:) echo "pg3-check: PG3_TIMEOUT and PG3_IDLE must be seconds" >&2; exit 2 ;; esac
for f in /usr/lib/postgresql/15/bin/initdb /usr/lib/postgresql/15/bin/postgres /usr/bin/pgbench \
	/usr/share/postgresql/15/extension/amcheck.control; do
	[ -e "$f" ] || { echo "pg3-check: $f missing (apt-get install postgresql-15 postgresql-contrib)" >&2; exit 1; }
done
if [ ! -x build/redd/daemon/redd ] || [ ! -x build/redd/redctl/redctl ]; then
	echo "pg3-check: building redd and redctl into build/redd" >&2
	cmake -S redd -B build/redd >/dev/null
	cmake --build build/redd --target redd redctl -j 2 >/dev/null
fi
make -s KVER="$kver" >/dev/null
mkdir -p build/vm build/logs build/pg3
# initdb once on the host (it takes minutes under TCG); the guests untar it
tpl=build/pg3/pgdata-15.tar
if [ ! -s "$tpl" ] || [ "$tpl" -ot /usr/lib/postgresql/15/bin/initdb ]; then
	d=$(mktemp -d /tmp/pg3-initdb.XXXXXX)
	chown postgres:postgres "$d"
	setpriv --reuid=postgres --regid=postgres --init-groups -- env HOME=/tmp \
		/usr/lib/postgresql/15/bin/initdb -D "$d/data" -U postgres -A trust -E UTF8 --no-locale -N >/dev/null ||
		{ rm -rf "$d"; echo "pg3-check: initdb failed" >&2; exit 1; }
	tar -C "$d/data" -cf "$tpl.tmp" .
	mv "$tpl.tmp" "$tpl"
	rm -rf "$d"
fi
lun=build/vm/pg3-lun-$kver.img
logdir=build/logs/pg3-$kver
out=build/logs/pg3-$kver.out
rm -f "$lun"
start=$(date +%s)
rc=0
run=(timeout -k 30 $((tmo + 120)) tools/vm/run-cluster.sh --kver "$kver" --nodes 3
	--lun "$lun" --lun-size 512 --timeout "$tmo" --idle-timeout "$idle" --mem 1536 --log-dir "$logdir"
	--env "RED_PG3_SCALE=${PG3_SCALE:-3}" --env "RED_PG3_LOAD2_S=${PG3_LOAD2_S:-10}"
	--env "RED_PG3_FAILOVER=${PG3_FAILOVER:-auto}" --env "RED_PG3_LOSS=$loss" --env "RED_PG3_TEMPLATE=$top/$tpl"
	--env "RED_PG3_DUMP_AFTER=$((tmo - 75))"
	-- tests/cluster/pg3.sh)
if [ "$verbose" = 2 ]; then
	# the story only: each node's steps and reports, the harness's kills
	set +e
	"${run[@]}" 2>&1 | tee "$out" |
		grep --line-buffered -E '^\[harness\]|^\[n[0-9]\] (pg3\[|== |  [^ ]|(not )?ok [0-9]|run-guest: (guest command|FAIL))'
	st=("${PIPESTATUS[@]}")
	set -e
	rc=${st[0]}
elif [ "$verbose" = 1 ]; then
	"${run[@]}" 2>&1 | tee "$out" || rc=$?
else
	"${run[@]}" >"$out" 2>&1 || rc=$?
fi
secs=$(($(date +%s) - start))
rm -f "$lun"

# failover_marks: the failover's steps on the harness's clock
# (LOGDIR/marks.txt: "SECONDS nI NAME"), from node 1's kill
failover_marks() {
	[ -s "$logdir/marks.txt" ] || return 0
	awk '
		$2 == "n1" && ($3 == "killed" || $3 == "cut-off") && !k { k = $1; how = $3; next }
		!k { next }
		function at(key) { if (!(key in m)) m[key] = $1 }
		$3 == "lost-writer" { at("lost-" $2) }
		$3 != "lost-writer" { at($3) }
		function d(key) { return (key in m) ? sprintf("+%.1fs", m[key] - k) : "-" }
		END {
			if (!k) exit
			printf "# == failover on the harness clock, from node 1 %s at %.1fs: ", how, k
			printf "redd on node 2 reports it lost %s, on node 3 %s; ", d("lost-n2"), d("lost-n3")
			printf "promotion begins %s, storage promoted (writer, active) %s, ", d("promote-begin"), d("storage-promoted")
			printf "PostgreSQL promoted %s, first synchronous commit %s; ", d("pg-promoted"), d("first-commit")
			printf "the other standby streams from it %s; ", d("streaming-new-primary")
			if (how == "cut-off")
				printf "node 1 back %s, fenced %s, down %s; ", d("back"), d("fenced"), d("n1-down")
			printf "node 1 back as a streaming standby %s\n", d("n1-streaming")
		}' "$logdir/marks.txt"
}

echo "TAP version 13"
# node 2's report and TAP lines, renumbered after the harness's line
sed -n 's/^\[n2\] \(== .*\|  .*\)$/# \1/p' "$out" | grep -v '^#   redctl\|^#   replication\|^#   pgbench' || :
failover_marks
# the longest time no guest printed anything, against the idle limit
sil=$(sed -n 's/.*of all the guests sharing its progress \([0-9]*\)s.*/\1/p' "$logdir"/node-*.log 2>/dev/null | sort -n | tail -n 1)
echo "# == harness: ${secs}s in all; longest time with no output from any guest ${sil:--}s (idle limit ${idle}s; total backstop ${tmo}s)"
tap=$(sed -n 's/^\[n2\] \(\(not \)\{0,1\}ok [0-9]* - .*\)$/\1/p' "$out")
n=$(printf '%s\n' "$tap" | grep -c '^\(not \)\{0,1\}ok' || :)
fail=0
[ "$n" -gt 0 ] || { fail=1; tap="not ok 1 - the scenario printed no result (see $out)"; n=1; }
printf '%s\n' "$tap"
printf '%s\n' "$tap" | grep -q '^not ok' && fail=1
n=$((n + 1))
if [ "$rc" = 0 ]; then
	how="node 1 rebooted when failing over"
	[ "$loss" = reboot ] || how="node 1 cut off and back without a reboot"
	echo "ok $n - three guests on $kver: every node finished ($how), dmesg clean (${secs}s)"
else
	fail=1
	grep -E '^\[harness\]|ABORT|FAIL|not ok' "$out" | tail -n 40 | sed 's/^/# /'
	echo "not ok $n - three guests on $kver: run-cluster exit $rc after ${secs}s (see $out and $logdir)"
fi
echo "1..$n"
exit "$fail"
