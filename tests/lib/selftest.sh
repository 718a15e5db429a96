#!/bin/sh
# Host-only self test of the test programs (no dm-red module needed).
# usage: selftest.sh BUILD_DIR
set -u
B=${1:?build dir}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
n=0
t() { n=$((n + 1)); if "$@" >"$T/out" 2>&1; then echo "ok $n - $*"; else echo "not ok $n - $*"; sed 's/^/#   /' "$T/out" | tail -5; fail=1; fi; }
tn() { n=$((n + 1)); if "$@" >"$T/out" 2>&1; then echo "not ok $n - (should fail) $*"; fail=1; else echo "ok $n - (fails as expected) $*"; fi; }

head -c $((8 << 20)) /dev/urandom >"$T/img"
reset() { for f in w c1 c2 lun; do cp "$T/img" "$T/$f"; done; }

reset
t "$B/red-oracle" --writer "$T/w" --copier "$T/c1" --copier "$T/c2" --lun "$T/w" \
	--image "$T/img" --chunk-bytes 65536 --ops 10000 --seed 1 --threads-per-dev 2 --no-direct
reset
t "$B/red-oracle" --writer "$T/w" --copier "$T/c1" --lun "$T/w" \
	--image "$T/img" --chunk-bytes 4096 --ops 3000 --seed 2 --no-direct
reset
t "$B/red-oracle" --writer "$T/w" --copier "$T/c1" --lun "$T/w" \
	--image "$T/img" --chunk-bytes 1M --ops 2000 --seed 3 --threads-per-dev 4 --no-direct
# A copier that is really the writer must be caught as an isolation violation.
reset
ln -sf "$T/w" "$T/alias"
tn "$B/red-oracle" --writer "$T/w" --copier "$T/alias" --lun "$T/w" \
	--image "$T/img" --chunk-bytes 65536 --ops 2000 --seed 4 --no-direct
n=$((n + 1)); if grep -q "ISOLATION VIOLATION" "$T/out"; then echo "ok $n - isolation violation reported"; else echo "not ok $n - isolation violation not reported"; fail=1; fi
# A LUN that never saw the writer's writes must be caught.
reset
tn "$B/red-oracle" --writer "$T/w" --copier "$T/c1" --lun "$T/lun" \
	--image "$T/img" --chunk-bytes 65536 --ops 2000 --seed 5 --no-direct
# Usage errors.
tn "$B/red-oracle" --writer "$T/w"
tn "$B/red-oracle" --writer "$T/w" --copier "$T/c1" --lun "$T/w" --image "$T/img" \
	--chunk-bytes 3000 --ops 1 --seed 1 --no-direct
tn "$B/red-testd"
tn "$B/red-testd" --writer w --lease-ms 0
tn "$B/red-nlbad" --writer w
tn "$B/red-nlctl"
tn "$B/red-nlctl" bogus-command
echo "1..$n"
exit $fail
