# SPDX-License-Identifier: GPL-2.0-only
#
# dm-red top-level Makefile.
#
#   make                 build dm-red.ko for the running kernel (or KVER=...)
#   make all-kernels     build it for every installed kernel with headers
#   make check           every test: redd's unit tests and fuzzers, redd on a
#                        two-guest cluster and on three guests (6.12; make
#                        cluster3-check-61 for 6.1), the kernel suites in QEMU guests on both
#                        kernels, then PostgreSQL on three guests with gc and
#                        failover once, on the 6.1 kernel (make demo runs
#                        it on 6.12)
#   make cluster-check-full  redd on three guests (tools/vm/cluster3-check.sh)
#                        on both Debian kernels
#   make stab-figures    the stabilization figures (tools/bench/stab-figures.sh)
#   make bench           the benchmarks: dm-red side by side with dm-linear,
#                        dm-snapshot and shared-nothing PostgreSQL
#                        (tools/bench/bench.sh; BENCH_ARGS=--quick for a
#                        short run); results in build/bench/
#   make demo            the demonstration: PostgreSQL on three QEMU guests
#                        sharing one copy of the data (tools/demo.sh)
#   make lint            checkpatch --strict, sparse, W=1, shellcheck
#   make check-debug     the kernel suites and the three-guest redd scenarios
#                        on the project's debug kernel (KASAN, lockdep, UBSAN,
#                        KFENCE, DEBUG_OBJECTS, fault injection), built once
#                        per machine by tools/vm/build-debug-kernel.sh (33 min
#                        on two CPUs); not part of make check
#
# The module is built out of tree in build/<kver>/ (a copy of the sources),
# so that builds for several kernels do not overwrite each other.

KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build
BUILD := build/$(KVER)
C ?= 0
KSRC := Kbuild $(wildcard dm-red/*.c dm-red/*.h) include/uapi/linux/dm-red.h

.PHONY: module all-kernels check check-debug cluster3-check-61 pg3-check cluster-check-full stab-figures bench demo lint tests clean

module: $(BUILD)/dm-red.ko

$(BUILD)/dm-red.ko: $(KSRC)
	@test -d $(KDIR) || { echo "no kernel headers for $(KVER) in $(KDIR); run tools/install-deps.sh or set KVER=" >&2; exit 1; }
	@mkdir -p $(BUILD)
	@cp --parents -u $(KSRC) $(BUILD)/
	$(MAKE) -C $(KDIR) M=$(abspath $(BUILD)) W=1 C=$(C) modules

all-kernels:
	@for b in /lib/modules/*/build; do \
		[ -d "$$b" ] || continue; \
		k=$$(basename $$(dirname $$b)); \
		$(MAKE) KVER=$$k module || exit 1; \
	done

tests:
	$(MAKE) -C tests

# The newest installed Debian 6.1 and 6.12 kernels.
KVER_61 = $(shell find /lib/modules -maxdepth 1 -name '6.1.0-*-amd64' -printf '%f\n' | sort -V | tail -n 1)
KVER_612 = $(shell find /lib/modules -maxdepth 1 -name '6.12*-amd64' -printf '%f\n' | sort -V | tail -n 1)

check:
	tools/install-deps.sh
	redd/check.sh
	python3 tools/bench/report_test.py
	python3 tools/state-table.py --check Documentation/dm-red.rst
	tools/vm/cluster-check.sh
	tools/vm/check.sh
	$(MAKE) pg3-check

# The three-guest redd scenarios on the 6.1 kernel (cluster-check.sh runs
# them on 6.12).  Not yet in make check: its first run there (2026-12-05)
# failed scenario 5 on 6.1 (a copier's read lease ran out while its redd
# restarted after kill -9; the device failed), a defect to fix first.
cluster3-check-61:
	@k='$(KVER_61)'; [ -n "$$k" ] || { echo "cluster3: no Debian 6.1 kernel installed" >&2; exit 1; }; \
		CLUSTER_KVER=$$k tools/vm/cluster3-check.sh

# PostgreSQL on three guests: gc of a standby, failover, the old writer
# back as a copier (tools/vm/pg3-check.sh), once: on the 6.1 kernel, or
# PG3_KVER.  make demo runs the same story on 6.12.
pg3-check:
	@k=$${PG3_KVER:-$(KVER_61)}; [ -n "$$k" ] || { echo "pg3-check: no Debian 6.1 kernel installed" >&2; exit 1; }; \
		PG3_KVER=$$k tools/vm/pg3-check.sh

# The debug kernel's release is 6.12.N-red-debug: none of the -amd64
# patterns above picks it, so make check never boots it.  Run the suites on
# it before resolving anything that changes dm-red/.  Under TCG the kernel
# tests run four to five times slower on it than on Debian's kernel (t01:
# 553 s against 115 s; a dmsetup command takes seconds), so its time-outs
# are four to nine times the usual ones; they still follow progress.
check-debug:
	tools/install-deps.sh
	tools/vm/build-debug-kernel.sh
	redd/check.sh
	@k=$$(tools/vm/build-debug-kernel.sh --print-kver); \
		RED_TEST_IDLE=$${RED_TEST_IDLE:-900} RED_TEST_TIMEOUT=$${RED_TEST_TIMEOUT:-5400} \
		RED_GUEST_IDLE=$${RED_GUEST_IDLE:-1200} RED_GUEST_TIMEOUT=$${RED_GUEST_TIMEOUT:-21600} \
		KVERS=$$k tools/vm/check.sh && \
		CLUSTER3_IDLE=$${CLUSTER3_IDLE:-1200} CLUSTER3_TIMEOUT=$${CLUSTER3_TIMEOUT:-14400} \
		CLUSTER_KVER=$$k tools/vm/cluster3-check.sh

cluster-check-full:
	tools/install-deps.sh
	redd/check.sh
	@set -e; for k in $$(find /lib/modules -maxdepth 1 \( -name '6.1.0-*-amd64' -o -name '6.12*-amd64' \) -printf '%f\n' | sort -V); do \
		CLUSTER_KVER=$$k tools/vm/cluster3-check.sh; \
	done

stab-figures:
	tools/install-deps.sh
	redd/check.sh
	tools/bench/stab-figures.sh

bench:
	tools/install-deps.sh
	tools/bench/bench.sh $(BENCH_ARGS)

demo:
	tools/demo.sh

lint:
	tools/lint.sh

clean:
	rm -rf build
	-$(MAKE) -C tests clean
