#!/usr/bin/env bash
# `make check` driver: build dm-red for each kernel, boot one QEMU/TCG guest
# per kernel running tests/run-all.sh, and summarise the TAP results.
#
# Environment:
#   KVERS               kernel versions to test (space separated); default:
#                       the newest installed 6.1.0-*-amd64 and 6.12.*-amd64
#                       that have both /lib/modules/KVER and /boot/vmlinuz-KVER
#   RED_BUILD_TIMEOUT   seconds per build step (default 600)
#   RED_GUEST_IDLE      a guest that prints nothing for this many seconds
#                       is stopped (default 300; tests/run-all.sh stops a
#                       single test silent for RED_TEST_IDLE, 180, before)
#   RED_GUEST_TIMEOUT   seconds per guest in all, a backstop (default 2400:
#                       the suite took 528 s on an idle host and 959 s
#                       beside stress-ng --cpu 1, 2026-12-05)
#   RED_GUEST_MEM       guest memory in MiB (default 2048)
#   RED_GUEST_SMP       guest vCPUs (default 2)
#   RED_TEST_*          passed through to the guest unchanged
#   RED_CHECK_ONLY      only the tests whose path matches this pattern
#                       (tests/run-all.sh's argument), e.g. t01
# The guest runs `tests/run-all.sh` from the repo root with
#   RED_KO=<repo>/build/KVER/dm-red.ko  KVER=KVER  DM_DISABLE_UDEV=1.
# Logs: build/logs/{build-KVER,tests-build,guest-KVER,guest-KVER.console}.log
# The last line of output is "N passed, N failed, N skipped".
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
logs=$repo/build/logs
mkdir -p "$logs"

build_tmo=${RED_BUILD_TIMEOUT:-600}
guest_tmo=${RED_GUEST_TIMEOUT:-2400}
guest_idle=${RED_GUEST_IDLE:-300}
mem=${RED_GUEST_MEM:-2048}
smp=${RED_GUEST_SMP:-2}

say() { printf '==> %s\n' "$*"; }

detect_kvers() {
	local pat k best
	for pat in '6.1.0-*-amd64' '6.12.*-amd64'; do
		best=''
		while IFS= read -r k; do
			[ -n "$k" ] && [ -r "/boot/vmlinuz-$k" ] && best=$k
		done < <(cd /lib/modules 2>/dev/null && for k in $pat; do
			[ -d "$k" ] && printf '%s\n' "$k"
		done | sort -V)
		[ -n "$best" ] && printf '%s\n' "$best"
	done
	return 0
}

if [ -n "${KVERS:-}" ]; then
	read -r -a kvers <<<"$KVERS"
else
	mapfile -t kvers < <(detect_kvers)
fi

total_pass=0 total_fail=0 total_skip=0
summary=()

finish() {
	echo
	say "results"
	local l
	for l in "${summary[@]}"; do echo "$l"; done
	echo "$total_pass passed, $total_fail failed, $total_skip skipped"
	if [ "$total_fail" -gt 0 ] || [ "$total_pass" -eq 0 ]; then
		exit 1
	fi
	exit 0
}

if [ "${#kvers[@]}" -eq 0 ]; then
	echo "check: no kernel found (need /lib/modules/KVER and /boot/vmlinuz-KVER; run tools/install-deps.sh)" >&2
	summary+=("not ok - no kernel to test")
	total_fail=$((total_fail + 1))
	finish
fi
say "kernels: ${kvers[*]}"

# Host-built test programs (kernel independent), once.
if [ -f "$repo/tests/Makefile" ]; then
	say "make -C tests (log build/logs/tests-build.log)"
	if ! timeout -k 10 "$build_tmo" make -C "$repo/tests" >"$logs/tests-build.log" 2>&1 </dev/null; then
		tail -n 40 "$logs/tests-build.log" | sed 's/^/  | /'
		echo "check: FAIL: make -C tests failed (or timed out after ${build_tmo}s)"
		summary+=("not ok - make -C tests failed")
		total_fail=$((total_fail + 1))
	fi
else
	say "no tests/Makefile: skipping the test program build"
fi

runner=$repo/tests/run-all.sh
passthru=()
while IFS='=' read -r name _; do
	passthru+=(--env "$name=${!name}")
done < <(env | grep -E '^RED_TEST_[A-Za-z0-9_]*=' || :)

for kver in "${kvers[@]}"; do
	echo
	say "kernel $kver"
	if [ ! -r "/boot/vmlinuz-$kver" ] || [ ! -d "/lib/modules/$kver/build" ]; then
		echo "check: FAIL: /boot/vmlinuz-$kver or /lib/modules/$kver/build missing"
		summary+=("not ok - $kver: kernel or headers not installed")
		total_fail=$((total_fail + 1))
		continue
	fi

	blog=$logs/build-$kver.log
	ko=$repo/build/$kver/dm-red.ko
	say "make KVER=$kver (log build/logs/build-$kver.log)"
	if ! timeout -k 10 "$build_tmo" make -C "$repo" KVER="$kver" >"$blog" 2>&1 </dev/null; then
		tail -n 40 "$blog" | sed 's/^/  | /'
		echo "check: FAIL: make KVER=$kver failed (or timed out after ${build_tmo}s)"
		summary+=("not ok - $kver: module build failed")
		total_fail=$((total_fail + 1))
		continue
	fi
	if [ ! -f "$ko" ]; then
		echo "check: FAIL: make KVER=$kver did not produce build/$kver/dm-red.ko"
		summary+=("not ok - $kver: build/$kver/dm-red.ko missing after make")
		total_fail=$((total_fail + 1))
		continue
	fi
	if [ ! -f "$runner" ]; then
		echo "check: FAIL: tests/run-all.sh does not exist"
		summary+=("not ok - $kver: tests/run-all.sh missing")
		total_fail=$((total_fail + 1))
		continue
	fi
	cmd=(tests/run-all.sh)
	[ -x "$runner" ] || cmd=(bash tests/run-all.sh)
	# (RED_CHECK_ONLY: run-all's NAME-PATTERN, e.g. t01, for one test)
	[ -z "${RED_CHECK_ONLY:-}" ] || cmd+=("$RED_CHECK_ONLY")

	glog=$logs/guest-$kver.log
	say "guest: ${cmd[*]} (log build/logs/guest-$kver.log, stopped after ${guest_idle}s without output, ${guest_tmo}s in all)"
	start=$(date +%s)
	set +e
	"$here/run-guest.sh" --kver "$kver" --mem "$mem" --smp "$smp" \
		--timeout "$guest_tmo" --idle-timeout "$guest_idle" --log "$glog" \
		--env "RED_KO=$ko" --env "KVER=$kver" "${passthru[@]}" \
		-- "${cmd[@]}" </dev/null
	grc=$?
	set -e
	secs=$(($(date +%s) - start))

	# TAP: unindented result lines between RED-GUEST-START and RED-GUEST-EXIT.
	read -r pass fail skip planned bail < <(
		sed -n '/^RED-GUEST-START$/,/^RED-GUEST-EXIT /p' "$glog" | awk '
			BEGIN { p = f = s = plan = bail = 0 }
			/^1\.\.[0-9]+/ { n = $0; sub(/^1\.\./, "", n); sub(/[^0-9].*/, "", n); plan += n; next }
			/^Bail out!/ { bail = 1; next }
			/^(not )?ok($|[ \t])/ {
				skipped = ($0 ~ /#[ \t]*[Ss][Kk][Ii][Pp]/) || ($0 ~ /^not ok.*#[ \t]*[Tt][Oo][Dd][Oo]/)
				if (skipped) s++
				else if ($0 ~ /^not ok/) f++
				else p++
			}
			END { print p, f, s, plan, bail }')
	failed_lines=$(sed -n '/^RED-GUEST-START$/,/^RED-GUEST-EXIT /p' "$glog" |
		grep -E '^not ok($|[ \t])' | grep -Eiv '#[[:space:]]*(skip|todo)' || :)

	extra=()
	ran=$((pass + fail + skip))
	case $grc in
	124) extra+=("guest timed out: $(grep -a -m1 -o 'timed out.*' "$glog" || echo "after ${guest_tmo}s")") ;;
	125) extra+=("guest died (panic/crash) before finishing") ;;
	esac
	if [ "$grc" -ne 124 ] && [ "$grc" -ne 125 ] && grep -q '^RED-DMESG-BEGIN$' "$glog" &&
		! "$here/check-dmesg.sh" "$glog" >/dev/null; then
		extra+=("kernel problem report in guest dmesg (see build/logs/guest-$kver.log)")
	fi
	if [ "$ran" -eq 0 ]; then
		[ "$grc" -eq 124 ] || [ "$grc" -eq 125 ] ||
			extra+=("no test results (TAP) from tests/run-all.sh")
	elif [ "$planned" -gt "$ran" ]; then
		extra+=("$((planned - ran)) planned test(s) never reported")
	fi
	[ "$bail" -eq 0 ] || extra+=("tests bailed out")
	if [ "$grc" -ne 0 ] && [ "$fail" -eq 0 ] && [ "${#extra[@]}" -eq 0 ]; then
		extra+=("tests/run-all.sh exited $grc without a failing test")
	fi

	fail=$((fail + ${#extra[@]}))
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	total_skip=$((total_skip + skip))
	summary+=("kernel $kver: $pass passed, $fail failed, $skip skipped (exit $grc, ${secs}s)")
	if [ -n "$failed_lines" ]; then
		while IFS= read -r l; do summary+=("  $l"); done <<<"$failed_lines"
	fi
	for l in "${extra[@]}"; do summary+=("  not ok - $kver: $l"); done
done

finish
