#!/usr/bin/env bash
# Host-only self test of red-xoracle on plain files (no kernel module): the
# model passes where it must, and catches what it must (an isolation
# violation, a lost write, a view that is no prefix of the sequence).
# usage: tests/cluster/xoracle-selftest.sh BUILD_DIR
set -euo pipefail
B=${1:?build dir}
X=$B/red-xoracle
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
no() { n=$((n + 1)); echo "not ok $n - $*"; sed 's/^/#   /' "$T/out" | tail -5; fail=1; }
t() { if "$@" >"$T/out" 2>&1; then ok "$*"; else no "$*"; fi; }
tn() { if "$@" >"$T/out" 2>&1; then no "(should fail) $*"; else ok "(fails as expected) $*"; fi; }
common=(--offset 64K --length 4M --seed 7 --chunk-bytes 32K --buffered)

truncate -s 8M "$T/lun"
t "$X" fill --dev "$T/lun" "${common[@]}"
cp "$T/lun" "$T/img"
cp "$T/img" "$T/c2"
# writer and copiers, each on its own file: all exact
t "$X" run --dev "$T/lun" --lun "$T/lun" --role writer --node 1 --seconds 2 "${common[@]}"
t "$X" run --dev "$T/c2" --role copier --node 2 --seconds 2 --threads 3 "${common[@]}"
# a copier that reads the writer's file sees the writer's data
tn "$X" run --dev "$T/lun" --role copier --node 3 --seconds 2 "${common[@]}"
if grep -q 'ISOLATION VIOLATION' "$T/out"; then ok "isolation violation reported"; else no "isolation violation not reported"; fi
# a LUN without the writer's writes
cp "$T/img" "$T/c3"
tn "$X" run --dev "$T/c3" --lun "$T/c2" --role writer --node 1 --seconds 1 "${common[@]}"
# a stop file ends a run early
cp "$T/img" "$T/c3"
touch "$T/stop"
t "$X" run --dev "$T/c3" --role copier --node 3 --seconds 60 --stop-file "$T/stop" "${common[@]}"
# sequences: exactly the state after S writes, and S itself
truncate -s 0 "$T/seq" && truncate -s 8M "$T/seq"
t "$X" seq-write --dev "$T/seq" --count 300 --log "$T/seq.log" "${common[@]}"
t "$X" seq-check --dev "$T/seq" --expect 300 "${common[@]}"
if [ "$(wc -l <"$T/seq.log")" = 300 ]; then ok "seq log has 300 lines"; else no "seq log: $(wc -l <"$T/seq.log") lines"; fi
tn "$X" seq-check --dev "$T/seq" --expect 299 "${common[@]}"
cp "$T/seq" "$T/seq-old"
# a view mixing the first 300 writes with a later block is no prefix
"$X" seq-write --dev "$T/seq" --count 400 --log "$T/seq.log" "${common[@]}" >/dev/null
blk=$(awk '$1 == 350 { print $2 }' "$T/seq.log")
dd if="$T/seq" of="$T/seq-old" bs=4096 skip=$((16 + blk)) seek=$((16 + blk)) count=1 conv=notrunc status=none
tn "$X" seq-check --dev "$T/seq-old" "${common[@]}"
# stride order: one block per chunk
truncate -s 0 "$T/seq" && truncate -s 8M "$T/seq"
t "$X" seq-write --dev "$T/seq" --order stride --stride 32K "${common[@]}"
t "$X" seq-check --dev "$T/seq" --order stride --stride 32K --expect 128 "${common[@]}"
# usage errors
tn "$X" run --dev "$T/lun" --seed 1 --length 3M --chunk-bytes 3000
tn "$X" bogus --dev "$T/lun" --seed 1 --length 4M
tn "$X" run --dev "$T/lun" --seed 1 --length 64M --buffered
echo "1..$n"
exit $fail
