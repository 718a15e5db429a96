# SPDX-License-Identifier: GPL-2.0-only
#
# dm-red top-level Makefile.
#
#   make                 build dm-red.ko for the running kernel (or KVER=...)
#   make all-kernels     build it for every installed kernel with headers
#   make check           every test: redd's unit tests and fuzzers, redd on a
#                        two-guest cluster, the kernel suites in QEMU guests
#                        on both Debian kernels, then PostgreSQL on three
#                        guests with gc and failover on both kernels
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
#
# The module is built out of tree in build/<kver>/ (a copy of the sources),
# so that builds for several kernels do not overwrite each other.

KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build
BUILD := build/$(KVER)
C ?= 0
KSRC := Kbuild $(wildcard dm-red/*.c dm-red/*.h) include/uapi/linux/dm-red.h

.PHONY: module all-kernels check pg3-check cluster-check-full stab-figures bench demo lint tests clean

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

check:
	tools/install-deps.sh
	redd/check.sh
	python3 tools/bench/report_test.py
	tools/vm/cluster-check.sh
	tools/vm/check.sh
	$(MAKE) pg3-check

# PostgreSQL on three guests: gc of a standby, failover, the old writer
# back as a copier (tools/vm/pg3-check.sh), on both kernels.
pg3-check:
	@set -e; for p in '6.1.0-*-amd64' '6.12*-amd64'; do \
		k=$$(find /lib/modules -maxdepth 1 -name "$$p" -printf '%f\n' | sort -V | tail -n 1); \
		[ -n "$$k" ] || { echo "pg3-check: no Debian kernel $$p installed" >&2; exit 1; }; \
		PG3_KVER=$$k tools/vm/pg3-check.sh; \
	done

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
