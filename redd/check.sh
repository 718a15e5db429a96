#!/usr/bin/env bash
# Builds and checks redd: unit tests (gcc), clang-format, clang-tidy, and the
# libFuzzer targets (clang) each run for REDD_FUZZ_SECONDS (default 30).
# Prints a final line "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
build="$top/build/redd"
fuzz_build="$top/build/redd-fuzz"
fuzz_seconds=${REDD_FUZZ_SECONDS:-30}
jobs=$(nproc 2>/dev/null || echo 2)
clang_cxx=${REDD_CLANG:-clang++-14}
clang_tidy=${REDD_CLANG_TIDY:-clang-tidy-14}
clang_format=${REDD_CLANG_FORMAT:-clang-format-14}

passed=0
failed=0

# step NAME COMMAND...: runs a step, logging to build/redd-logs/NAME.log.
# (Steps run in an `if`, where errexit is off: each chains its commands.)
step() {
    local name=$1
    shift
    local log="$top/build/redd-logs/$name.log"
    mkdir -p "$top/build/redd-logs"
    if "$@" >"$log" 2>&1; then
        echo "PASS $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name (log: $log)"
        tail -n 30 "$log" | sed 's/^/    /'
        failed=$((failed + 1))
    fi
}

sources() {
    find "$here/src" "$here/tests" "$here/fuzz" "$here/daemon/src" "$here/probe" "$here/../tools/redctl" -name '*.cpp' -o -name '*.hpp' | sort
}

unit_build() {
    cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=g++ &&
        cmake --build "$build" -j "$jobs"
}

unit_tests() {
    ctest --test-dir "$build" --output-on-failure -j "$jobs"
}

format_check() {
    # shellcheck disable=SC2046
    "$clang_format" --dry-run --Werror $(sources)
}

tidy_check() {
    if command -v "run-$clang_tidy" >/dev/null; then
        "run-$clang_tidy" -p "$build" -quiet "$here/(src|tests|daemon/src|probe)/" "$(cd "$here/.." && pwd -P)/tools/redctl/"
    else
        # shellcheck disable=SC2046
        "$clang_tidy" -p "$build" --quiet $(find "$here/src" "$here/tests" "$here/daemon/src" "$here/probe" "$here/../tools/redctl" -name '*.cpp' | sort)
    fi
}

tidy_fuzz_check() {
    "$clang_tidy" -p "$fuzz_build" --quiet "$here"/fuzz/*.cpp
}

fuzz_build() {
    rm -f "$fuzz_build/fuzz_frame" "$fuzz_build/fuzz_config"
    cmake -S "$here" -B "$fuzz_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_COMPILER="$clang_cxx" -DREDD_FUZZ=ON -DREDD_TESTS=OFF &&
        cmake --build "$fuzz_build" -j "$jobs"
}

# fuzz_run NAME: runs fuzz_NAME on a scratch corpus seeded from fuzz/corpus/NAME.
fuzz_run() {
    local name=$1
    local corpus="$fuzz_build/corpus-$name"
    mkdir -p "$corpus"
    (cd "$fuzz_build" && "./fuzz_$name" -max_total_time="$fuzz_seconds" \
        -dict="$here/fuzz/$name.dict" -print_final_stats=1 \
        "$corpus" "$here/fuzz/corpus/$name")
}

step unit-build unit_build
step unit-tests unit_tests
step clang-format format_check
step clang-tidy tidy_check
step fuzz-build fuzz_build
if [ -x "$fuzz_build/fuzz_frame" ] && [ -x "$fuzz_build/fuzz_config" ]; then
    step clang-tidy-fuzz tidy_fuzz_check
    step fuzz-frame fuzz_run frame
    step fuzz-config fuzz_run config
    for name in frame config; do
        sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/fuzz_'"$name"': \1 runs in \2 s/p' \
            "$top/build/redd-logs/fuzz-$name.log"
    done
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
