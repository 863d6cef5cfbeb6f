# SPDX-License-Identifier: GPL-2.0
#
# Wrapper Makefile. The two commands that are the whole set-up on a fresh
# machine (as root; everything heavy is cached in $(XMC_CACHE)):
#   make demo    bootstrap, build, boot the Xen sandbox, load the module and
#                show a machine check travelling from Xen to /dev/xen_mcelog
#   make check   every test: host cargo tests, the module's CLIPPY=1 builds,
#                KUnit on the test kernel, the sandbox tests on Debian's stock
#                dom0 kernel
# Building against your own (prepared, Rust-enabled) kernel tree:
#   make KDIR=/lib/modules/$(uname -r)/build       (plus LLVM=1 etc. as the kernel was built)

XMC_CACHE ?= /var/cache/xen_mcelog
export XMC_CACHE
OUT := $(XMC_CACHE)/out
SANDBOX := python3 tests/sandbox/harness.py --initrd-stock $(OUT)/initrd-stock.cpio.gz \
	--initrd-test $(OUT)/initrd-test.cpio.gz --keep-log $(OUT)/logs

ifneq ($(KDIR),)
# A user's kernel tree: plain Kbuild, in place.
default:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules
clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
install:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules_install
else
default: module
endif

.PHONY: default bootstrap kernels module check demo bench host-test module-check dom0-tools \
	initrds initrd-stock sandbox kunit clean install check-debug

bootstrap:
	bash tests/bootstrap.sh

kernels: bootstrap
	bash tests/kernels.sh stock
	bash tests/kernels.sh test

# The module for Debian's stock kernel (the one users run).
module: bootstrap
	bash tests/kernels.sh stock
	bash tests/build-module.sh stock

host-test:
	bash tests/host-test.sh

# CLIPPY=1 builds for both trees; any warning fails.
module-check: kernels
	bash tests/module-check.sh

dom0-tools:
	bash tests/dom0-tools.sh

initrds: module-check dom0-tools
	bash tests/sandbox/mkinitrd.sh stock $(OUT)/initrd-stock.cpio.gz \
		$(XMC_CACHE)/sid-root/xmc/mod-stock/xen_mcelog.ko $(OUT)/bin/*
	bash tests/sandbox/mkinitrd.sh test $(OUT)/initrd-test.cpio.gz \
		$(XMC_CACHE)/sid-root/xmc/mod-test/xen_mcelog.ko $(OUT)/bin/*

# Only what the stock-kernel sandbox needs (no test kernel build).
initrd-stock: bootstrap dom0-tools
	bash tests/kernels.sh stock
	bash tests/module-check.sh stock
	bash tests/sandbox/mkinitrd.sh stock $(OUT)/initrd-stock.cpio.gz \
		$(XMC_CACHE)/sid-root/xmc/mod-stock/xen_mcelog.ko $(OUT)/bin/*

# One boot per run; cases joined with + share a boot.
SANDBOX_RUNS ?= ours:load+chardev+burst+pipeline ours:srao+faults cdriver:refuse-cdriver \
	nox:refuse-nox test:kunit
sandbox: initrds
	$(SANDBOX) $(SANDBOX_RUNS)

check: host-test sandbox
	@echo "make check: all passed"

# The sandbox suite on the debug kernel (lockdep, atomic-sleep, UBSAN, list
# and object debugging, kmemleak): any splat fails the run.
DEBUG_RUNS ?= debug:load+chardev+burst+pipeline+faults+kunit debug:srao
check-debug: initrds
	bash tests/kernels.sh debug
	bash tests/build-module.sh debug CLIPPY=1 > /dev/null
	bash tests/sandbox/mkinitrd.sh debug $(OUT)/initrd-debug.cpio.gz \
		$(XMC_CACHE)/sid-root/xmc/mod-debug/xen_mcelog.ko $(OUT)/bin/*
	python3 tests/sandbox/harness.py --initrd-stock $(OUT)/initrd-stock.cpio.gz \
		--initrd-debug $(OUT)/initrd-debug.cpio.gz --keep-log $(OUT)/logs $(DEBUG_RUNS)

demo: initrd-stock
	$(SANDBOX) ours:demo

# Benchmarks (not part of make check): the ring's microbenchmarks and the
# head-to-head storm against the built-in C driver in the sandbox.
bench: initrds
	bash ring/bench.sh
	bash tests/bench-storm.sh
