#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/lint.sh - static checks for dm-red (run by "make lint").
#
#   1. checkpatch.pl --strict on the kernel sources and the uapi header
#      (dm-red/red-compat.h may compare LINUX_VERSION_CODE, nothing else)
#   2. "make C=1 W=1" (sparse + extra compiler warnings) for every kernel
#      that has headers installed under /lib/modules/*/build
#   3. shellcheck on every shell script (*.sh and .ci/run)
#   4. clang-format --dry-run -Werror on the C++ sources under redd/
#
# Any finding fails the run.  Output of each step goes to build/lint/*.log;
# findings are also printed.  A summary is printed at the end.
#
# Environment:
#   LINT_KVERS   space-separated kernel releases to build against
#                (default: every /lib/modules/*/build that exists)
#   LINT_SKIP    space-separated steps to skip: checkpatch sparse shellcheck
#                clang-format
#   LINUX_SOURCE_TARBALL  where to take checkpatch.pl from
#                (default /usr/src/linux-source-6.12.tar.xz)

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

OUT=build/lint
mkdir -p "$OUT"

TARBALL=${LINUX_SOURCE_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
LINT_SKIP=${LINT_SKIP:-}

declare -a SUMMARY=()
FAILED=0

pass() { SUMMARY+=("PASS  $1"); }
fail() { SUMMARY+=("FAIL  $1"); FAILED=1; }
skip() { SUMMARY+=("SKIP  $1"); }

skipped() {
	case " $LINT_SKIP " in
	*" $1 "*) return 0 ;;
	*) return 1 ;;
	esac
}

# Kernel sources of the module, sorted, relative to the top of the tree.
kernel_sources() {
	local f
	for f in dm-red/*.c dm-red/*.h include/uapi/linux/dm-red.h; do
		[[ -f $f ]] && printf '%s\n' "$f"
	done
	return 0
}

# Pattern for compiler / sparse diagnostics that point into our files.  The
# kernel prints absolute paths for M= builds on some versions and relative
# ones on others, so match on the tail of the path.
OUR_DIAG='(^|/)(dm-red/[^:/]+\.[ch]|include/uapi/linux/dm-red\.h):[0-9]+(:[0-9]+)?: (warning|error)'

# ---------------------------------------------------------------------------
# 1. checkpatch
# ---------------------------------------------------------------------------
step_checkpatch() {
	local cp="$OUT/scripts/checkpatch.pl" log="$OUT/checkpatch.log"
	local -a files

	if [[ ! -x $cp || ! -f $OUT/scripts/spelling.txt ]]; then
		if [[ ! -f $TARBALL ]]; then
			echo "lint: $TARBALL not found (apt-get install linux-source-6.12)" >&2
			fail "checkpatch (no $TARBALL)"
			return
		fi
		echo "lint: extracting checkpatch.pl from $TARBALL (once)"
		# The tarball holds one directory named like the file itself.
		local top
		top=$(basename "$TARBALL" .tar.xz)
		tar -xJf "$TARBALL" -C "$OUT" --strip-components=1 \
			"$top/scripts/checkpatch.pl" \
			"$top/scripts/spelling.txt" \
			"$top/scripts/const_structs.checkpatch"
		chmod +x "$cp"
	fi

	mapfile -t files < <(kernel_sources)
	if ((${#files[@]} == 0)); then
		skip "checkpatch (no kernel sources yet)"
		return
	fi

	# checkpatch exits non-zero on any ERROR/WARNING/CHECK; it stops at
	# the first file with findings unless told otherwise, so run each file.
	local f bad=0
	local -a extra
	: >"$log"
	for f in "${files[@]}"; do
		extra=()
		# The compat header exists to test kernel versions: only there
		# are "#if LINUX_VERSION_CODE < KERNEL_VERSION(...)" allowed.
		if [[ $f == dm-red/red-compat.h ]]; then
			extra=(--ignore LINUX_VERSION_CODE --ignore CONSTANT_COMPARISON)
		fi
		if ! "$cp" --strict --no-tree --terse --show-types --quiet \
			--no-summary "${extra[@]}" -f "$f" >>"$log" 2>&1; then
			bad=1
		fi
	done
	if grep -Eq ': (ERROR|WARNING|CHECK):' "$log"; then
		bad=1
	fi
	if ((bad)); then
		cat "$log"
		fail "checkpatch --strict: $(grep -Ec ': (ERROR|WARNING|CHECK):' "$log" || true) finding(s), ${#files[@]} file(s) checked"
	else
		pass "checkpatch --strict: ${#files[@]} file(s) clean"
	fi
}

# ---------------------------------------------------------------------------
# 2. sparse + W=1 for every installed kernel
# ---------------------------------------------------------------------------
installed_kernels() {
	local d
	local -a list
	if [[ -n ${LINT_KVERS:-} ]]; then
		read -ra list <<<"$LINT_KVERS"
		printf '%s\n' "${list[@]}"
		return
	fi
	for d in /lib/modules/*/build; do
		[[ -d $d ]] || continue
		d=${d%/build}
		printf '%s\n' "${d##*/}"
	done
	return 0
}

step_sparse() {
	local -a kvers
	local kver log n

	if [[ ! -f Kbuild ]] || ! compgen -G 'dm-red/*.c' >/dev/null; then
		skip "sparse/W=1 (no Kbuild or dm-red/*.c yet)"
		return
	fi
	if ! command -v sparse >/dev/null; then
		fail "sparse/W=1 (sparse not installed: tools/install-deps.sh)"
		return
	fi
	mapfile -t kvers < <(installed_kernels)
	if ((${#kvers[@]} == 0)); then
		fail "sparse/W=1 (no kernel headers under /lib/modules/*/build)"
		return
	fi

	for kver in "${kvers[@]}"; do
		log="$OUT/build-$kver.log"
		# A fresh copy in build/<kver>/ recompiles every file, so
		# sparse (C=1) sees all of them.
		rm -rf "$ROOT/build/$kver"
		if ! make --no-print-directory KVER="$kver" C=1 >"$log" 2>&1; then
			cat "$log"
			fail "make KVER=$kver C=1 W=1: build failed (see $log)"
			continue
		fi
		n=$(grep -Ec "$OUR_DIAG|^WARNING: modpost: .*dm-red" "$log" || true)
		if ((n > 0)); then
			grep -E "$OUR_DIAG|^WARNING: modpost: .*dm-red" "$log"
			fail "make KVER=$kver C=1 W=1: $n warning(s) in our files"
		else
			pass "make KVER=$kver C=1 W=1: no sparse or compiler warnings"
		fi
	done
}

# ---------------------------------------------------------------------------
# 3. shellcheck
# ---------------------------------------------------------------------------
step_shellcheck() {
	local -a scripts
	local log="$OUT/shellcheck.log"

	if ! command -v shellcheck >/dev/null; then
		fail "shellcheck (not installed: tools/install-deps.sh)"
		return
	fi
	mapfile -t scripts < <(
		find . \( -path ./.git -o -path ./build -o -path ./tests/build \
			-o -path ./tools/vm/images \) -prune \
			-o -type f -name '*.sh' -print | sort
		[[ -f .ci/run ]] && echo ./.ci/run
		true
	)
	if ((${#scripts[@]} == 0)); then
		skip "shellcheck (no scripts)"
		return
	fi
	if shellcheck -x "${scripts[@]}" >"$log" 2>&1; then
		pass "shellcheck: ${#scripts[@]} script(s) clean"
	else
		cat "$log"
		fail "shellcheck: findings in $(grep -c '^In ' "$log" || true) place(s)"
	fi
}

# ---------------------------------------------------------------------------
# 4. clang-format on redd/
# ---------------------------------------------------------------------------
step_clang_format() {
	local -a srcs
	local log="$OUT/clang-format.log"

	mapfile -t srcs < <(
		[[ -d redd ]] && find redd \( -path redd/build -prune \) -o \
			-type f \( -name '*.cc' -o -name '*.cpp' -o -name '*.cxx' \
			-o -name '*.h' -o -name '*.hh' -o -name '*.hpp' \) -print | sort
		true
	)
	if ((${#srcs[@]} == 0)); then
		skip "clang-format (no C++ sources under redd/ yet)"
		return
	fi
	if ! command -v clang-format >/dev/null; then
		fail "clang-format (not installed: tools/install-deps.sh)"
		return
	fi
	if clang-format --dry-run -Werror "${srcs[@]}" >"$log" 2>&1; then
		pass "clang-format: ${#srcs[@]} file(s) formatted"
	else
		head -n 60 "$log"
		fail "clang-format: $(grep -c 'error:' "$log" || true) finding(s) (see $log)"
	fi
}

for step in checkpatch sparse shellcheck clang-format; do
	if skipped "$step"; then
		skip "$step (LINT_SKIP)"
		continue
	fi
	echo "lint: $step"
	case $step in
	checkpatch) step_checkpatch ;;
	sparse) step_sparse ;;
	shellcheck) step_shellcheck ;;
	clang-format) step_clang_format ;;
	esac
done

echo
echo "lint summary:"
printf '  %s\n' "${SUMMARY[@]}"
if ((FAILED)); then
	echo "lint: FAILED"
	exit 1
fi
echo "lint: OK"
