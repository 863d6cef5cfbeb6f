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
# The Debian kernel (tests/kernels.conf) that module, install, demo and the
# install-path targets are for; make check and make matrix name theirs.
XMC_KERNEL ?= sid
export XMC_KERNEL
OUT := $(XMC_CACHE)/out
# Release and build root of $(XMC_KERNEL), from tests/kernels.conf via env.sh
# (its one parser). Recursive (=): read only by the recipes that use them, not
# at every make invocation.
XMC_KVER = $(shell bash -c '. tests/build/env.sh && echo $$XMC_KVER')
XMC_ROOT = $(shell bash -c '. tests/build/env.sh && echo $$XMC_ROOT')
SID_ROOT := $(XMC_CACHE)/sid-root
SANDBOX := python3 tests/sandbox/harness.py

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

# sid's stock kernel also builds the test/debug/kasan kernels.
.PHONY: default bootstrap kernels kernels-current module check check-prometheus repeat check-erst checkpatch check-matrix check-trixie-dkms matrix demo bench host-test module-check dom0-tools \
	initrds initrd-stock sandbox kunit clean install check-debug check-kasan host-asan rasdaemon

bootstrap:
	bash tests/build/bootstrap.sh

kernels: bootstrap
	bash tests/build/kernels.sh stock
	bash tests/build/kernels.sh test

# The module for Debian's stock kernel (the one users run).
module: bootstrap
	bash tests/build/kernels.sh stock
	bash tests/build/build-module.sh stock

host-test:
	bash tests/host-test.sh

# The shipped Prometheus rules (promtool check rules, promtool test rules)
# and a live node_exporter -> Prometheus -> Alertmanager -> webhook run of
# xen-mcelog-dump on a fake device, on this host (loopback only, about 15 s).
# Installs Debian's prometheus, prometheus-alertmanager and
# prometheus-node-exporter when missing.
check-prometheus:
	bash tools/prometheus/check.sh
	CARGO_TARGET_DIR=$${CARGO_TARGET_DIR:-$(XMC_CACHE)/cargo/target} bash tools/tests/fleet-e2e.sh

# The pure crates' host tests (ring incl. its stress test, converter, drain,
# device semantics) under AddressSanitizer. Needs a nightly toolchain
# (rustup toolchain install nightly), so it is not part of make check.
host-asan:
	RUSTFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR=$(XMC_CACHE)/cargo/asan \
		cargo +nightly test -q --target x86_64-unknown-linux-gnu --release \
		-p xmc-ring -p xmc-core -p xmc-chardev

# CLIPPY=1 builds for both trees; any warning fails.
module-check: kernels
	bash tests/module-check.sh

dom0-tools:
	bash tests/build/dom0-tools.sh

# Debian's rasdaemon 0.8.4, unpatched and with tools/rasdaemon/*.patch, built in
# the build root and bundled with sqlite3 into $(OUT)/bin/rasdaemon-dom0.tar for
# the sandbox case rasdaemon (a few seconds when up to date).
rasdaemon: bootstrap
	bash tests/build/rasdaemon.sh

initrds: module-check dom0-tools rasdaemon
	bash tests/sandbox/mkinitrd.sh stock $(OUT)/initrd-stock.cpio.gz \
		$(XMC_ROOT)/xmc/mod-stock-$(XMC_KERNEL)/xen_mcelog.ko $(OUT)/bin/*
	bash tests/sandbox/mkinitrd.sh test $(OUT)/initrd-test.cpio.gz \
		$(SID_ROOT)/xmc/mod-test/xen_mcelog.ko $(OUT)/bin/*

# Only what the stock-kernel sandbox needs (no test kernel build).
initrd-stock: bootstrap dom0-tools rasdaemon
	bash tests/build/kernels.sh stock
	bash tests/module-check.sh stock
	bash tests/sandbox/mkinitrd.sh stock $(OUT)/initrd-stock.cpio.gz \
		$(XMC_ROOT)/xmc/mod-stock-$(XMC_KERNEL)/xen_mcelog.ko $(OUT)/bin/*

# One boot per run; cases joined with + share a boot; two boots at a time
# (XMC_SANDBOX_JOBS), longest first.
SANDBOX_RUNS ?= ours:load+chardev+owner+faults ours:burst+pipeline ours:views+traceonly ours@tools:$(TOOLS_CASES) \
	ours:trace-srao+trace+rasdaemon ours:srao cdriver:refuse-cdriver nox:refuse-nox test:kunit+owner amd:amd
sandbox: initrds tools-prep
	$(SANDBOX) --initrd tools=$(OUT)/initrd-tools.cpio.gz $(SANDBOX_RUNS)

# The fatal machine check across a reset (tests/erst.sh): six boots of one
# machine with one ERST store, on the stock kernel (the matrix runs it on
# every kernel).
check-erst: initrds
	bash tests/erst.sh $(OUT)/initrd-stock.cpio.gz

# The second kernel of make check: trixie-backports 7.3.4+deb13, built with
# trixie's own toolchain, booted under trixie's Xen (core cases).
CHECK_MATRIX ?= bpo73
check-matrix: host-test
	bash tests/matrix.sh $(CHECK_MATRIX)

# The native Debian 13 path in a trixie dom0 stand-in: make dkms-install for
# 7.2.12+deb13, the apt upgrade to 7.3.4+deb13, and the DKMS-built module
# modprobed in the 7.3.4+deb13 sandbox (tests/trixie-dkms.sh).
check-trixie-dkms:
	bash tests/trixie-dkms.sh

# The kernel's checkpatch.pl --strict on the C helper and headers (no error,
# no warning).
checkpatch: bootstrap
	bash tests/checkpatch.sh

check: host-test check-prometheus checkpatch sandbox check-erst check-matrix check-trixie-dkms
	@echo "make check: all passed"

# Is tests/kernels.conf current? The Rust-enabled amd64 kernels of Debian's
# trixie-backports, forky, sid and experimental today (docs/kernels.md: the
# newest of each linux-source series in each suite counts), one table
# ($(OUT)/KERNELS-CURRENT.md); fails naming each one kernels.conf lacks.
# Needs the network (the suites' signed indexes, one headers .deb per kernel).
kernels-current:
	bash tests/kernels-current.sh

# Every kernel of tests/kernels.conf, once kernels-current says the list is
# current: toolchain check, CLIPPY=1 build, dom0 boot and the core cases; one
# table ($(OUT)/MATRIX.md, kept in docs/measurements.md); then the trixie DKMS install
# and upgrade.
matrix: kernels-current
	bash tests/matrix.sh
	bash tests/trixie-dkms.sh

# The sandbox suite on the debug kernel (lockdep, atomic-sleep, UBSAN, list
# and object debugging, kmemleak): any splat fails the run.
# The debug build of the module also pauses where races would hide
# (XMC_DEBUG_WINDOWS=y, Kbuild), for the openrace case.
DEBUG_RUNS ?= debug:load+loadorder+chardev+owner+faults+kunit debug:openrace debug:burst+pipeline debug:srao
check-debug: initrds
	$(call suite-on,debug,$(DEBUG_RUNS),--cmdline "xmc.cycles=200 xmc.period=1",XMC_DEBUG_WINDOWS=y)

# The same suite on the KASAN kernel (the test config built with Clang/LLVM
# 22: Rust and KASAN need a Clang kernel). Fails today: Linux has no KASAN
# for Xen PV, dom0 crashes in xen_start_kernel (docs/testing.md, "KASAN").
KASAN_RUNS ?= kasan:load+chardev+owner+faults+kunit kasan:burst+pipeline kasan:srao
check-kasan: initrds
	$(call suite-on,kasan,$(KASAN_RUNS),)

# suite-on FLAVOUR,RUNS,HARNESS-ARGS[,MODULE-MAKE-ARGS]: build FLAVOUR's kernel
# (cached) and the module against it (CLIPPY=1), pack its initramfs and run RUNS.
define suite-on
	bash tests/build/kernels.sh $(1)
	bash tests/build/build-module.sh $(1) CLIPPY=1 $(4) > /dev/null
	bash tests/sandbox/mkinitrd.sh $(1) $(OUT)/initrd-$(1).cpio.gz \
		$(SID_ROOT)/xmc/mod-$(1)/xen_mcelog.ko $(OUT)/bin/*
	python3 tests/sandbox/harness.py --case-timeout 1200 $(3) $(2)
endef

# One sandbox run N times in a row on one kernel (tests/repeat.sh):
#   make repeat REPEAT_RUN=ours:burst+pipeline REPEAT_N=20 REPEAT_KERNEL=bpo73
repeat:
	bash tests/repeat.sh

demo: initrd-stock
	$(SANDBOX) ours:demo

# Benchmarks (not part of make check): the ring's microbenchmarks and, in
# the sandbox against the built-in C driver, storm, latency and drain rate;
# the JSON service under a storm beside rasdaemon (cases/storm-service.sh);
# one report in $(OUT)/BENCHMARKS.md (tests/bench.sh).
bench: initrd-stock
	bash tests/bench.sh

# ---- Tools and installation (tools/; docs/install.md) ----
# A static mcelog binary to run in the sandbox (tools-mcelog case); optional.
MCELOG ?=
# The tools cases boot an initramfs of their own (the DKMS-built module).
TOOLS_CASES ?= tools-install+tools-inject+tools-dump+tools-mcelog+tools-fleet
# depmod for `make install`, and the DESTDIR as that depmod sees it.
DEPMOD ?= depmod
DEPMOD_BASE ?= $(DESTDIR)

.PHONY: check-system check-deb-upgrade deb trixie-root rust-headers install-tools dkms-install dkms-check tools-prep tools-check intree-check

# On a Debian dom0: give linux-headers-$(KVER) (default: the running kernel)
# its Rust metadata, regenerated from the kernel's linux-source with this
# machine's rustc, C compiler and bindgen (which must be the kernel's: on
# Debian 13 + a backports kernel, trixie's own). Says what to install if not.
KVER ?= $(shell uname -r)
rust-headers:
	sh tools/dkms/xen-mcelog-rust-meta $(KVER)

ifeq ($(KDIR),)
# Install the module built for the stock kernel (modules_install's layout:
# /lib/modules/<release>/extra), then depmod, so `modprobe xen_mcelog` works;
# plus the udev rule and the modprobe.d file. DESTDIR= stages instead.
install: module
	@test -n "$(DESTDIR)" -o -d /lib/modules/$(XMC_KVER) || { echo "make install: kernel \
	$(XMC_KVER) is not installed here (/lib/modules/$(XMC_KVER) missing); use DESTDIR=DIR to stage"; exit 1; }
	install -D -m 0644 $(XMC_ROOT)/xmc/mod-stock-$(XMC_KERNEL)/xen_mcelog.ko \
		$(DESTDIR)/lib/modules/$(XMC_KVER)/extra/xen_mcelog.ko
	PATH="$$PATH:/usr/sbin:/sbin" $(DEPMOD) $(if $(DESTDIR),-b $(DEPMOD_BASE)) $(XMC_KVER)
	install -D -m 0644 tools/udev/60-xen_mcelog.rules $(DESTDIR)/etc/udev/rules.d/60-xen_mcelog.rules
	install -D -m 0644 tools/modprobe.d/xen_mcelog.conf $(DESTDIR)/etc/modprobe.d/xen_mcelog.conf
endif

# The static tools (xen-mcelog-dump, xmc-inject), the mcelog unit and config,
# the JSON unit and its page retirement config (kept if it exists: it is yours),
# and xen-mcelog.target with the udev rule that starts it when the device
# appears (it starts whichever reader is enabled).
install-tools: dom0-tools
	install -D -m 0755 $(OUT)/bin/xen-mcelog-dump $(DESTDIR)/usr/local/sbin/xen-mcelog-dump
	install -D -m 0755 $(OUT)/bin/xmc-inject $(DESTDIR)/usr/local/sbin/xmc-inject
	install -D -m 0644 tools/mcelog/mcelog-xen.conf $(DESTDIR)/etc/mcelog/mcelog-xen.conf
	test -e $(DESTDIR)/etc/xen-mcelog/retire.conf || install -D -m 0644 tools/retire/retire.conf $(DESTDIR)/etc/xen-mcelog/retire.conf
	install -D -m 0644 tools/systemd/mcelog-xen.service $(DESTDIR)/etc/systemd/system/mcelog-xen.service
	install -D -m 0644 tools/systemd/xen-mcelog-json.service $(DESTDIR)/etc/systemd/system/xen-mcelog-json.service
	install -D -m 0644 tools/systemd/xen-mcelog.target $(DESTDIR)/etc/systemd/system/xen-mcelog.target
	install -D -m 0644 tools/udev/61-xen-mcelog-tools.rules $(DESTDIR)/etc/udev/rules.d/61-xen-mcelog-tools.rules

# DKMS on this dom0: the metadata tool and its kernel/APT hooks, sources to
# /usr/src/xen_mcelog-<version>, metadata for $(KVER), dkms add/build/install.
dkms-install:
	KVER=$(KVER) bash tools/dkms/dkms.sh install

# The proof of the install path, in the build root: Rust overlay into the stock
# kernel's own linux-headers package, `dkms build` against it (cached while
# sources and headers are unchanged), `make install` staged, then one sandbox
# boot that modprobes the DKMS-built module and runs the tools cases.
dkms-check: module
	bash tools/dkms/dkms.sh check

# A real Debian 13 dom0 (tests/system/): the image built in a chroot from the
# archive, our packages installed by the README's own install steps, booted
# under Xen with systemd, checked from inside (TAP; dom0-tools: the static
# xmc-test the page-owner probe's checks run there).
check-system: check-deb-upgrade bootstrap trixie-root dom0-tools
	bash tests/system/run.sh

# xen-mcelog-dkms's upgrade path (keep the old module until the new one is
# built; a failed build keeps it) with Debian's real dkms, in a trixie root
# of its own (tests/deb-upgrade-root.sh, tests/deb-dkms-upgrade.sh).
check-deb-upgrade: deb
	bash tests/deb-upgrade-root.sh

# The Debian packages (xen-mcelog-dkms, xen-mcelog-tools) into $(OUT)/deb:
# debian/ built with `apt-get build-dep ./` and `dpkg-buildpackage -us -uc -b`
# in a clean trixie root of its own (made here, cached in $(XMC_CACHE)),
# checked by trixie's lintian. XMC_DEB_TWICE=1 also proves them reproducible.
deb:
	bash tests/build/deb.sh

# The trixie build root (trixie-backports' 7.3.4+deb13 and trixie's Xen):
# the rasdaemon package and check-system's boots use it, so a machine that
# never ran make check gets it here.
trixie-root:
	XMC_KERNEL=bpo73 bash tests/build/bootstrap.sh

tools-prep: dkms-check dom0-tools
	bash tools/tests/check-files.sh
	rm -rf $(XMC_ROOT)/xmc/install-stage
	$(MAKE) --no-print-directory install DESTDIR=$(XMC_ROOT)/xmc/install-stage \
		DEPMOD="chroot $(XMC_ROOT) depmod" DEPMOD_BASE=/xmc/install-stage
	grep -q '^extra/xen_mcelog.ko:' $(XMC_ROOT)/xmc/install-stage/lib/modules/$(XMC_KVER)/modules.dep
	rm -rf $(OUT)/tools-extra && mkdir -p $(OUT)/tools-extra
	$(if $(MCELOG),install -m 0755 $(MCELOG) $(OUT)/tools-extra/mcelog)
	$(if $(MCELOG),install -m 0644 tools/mcelog/mcelog-xen.conf $(OUT)/tools-extra/mcelog-xen.conf)
	bash tests/sandbox/mkinitrd.sh stock $(OUT)/initrd-tools.cpio.gz $(OUT)/dkms/xen_mcelog.ko \
		$(OUT)/bin/* $$(ls $(OUT)/tools-extra/* 2>/dev/null)
# The tools cases alone (make check runs them with the rest of the sandbox).
tools-check: tools-prep
	python3 tests/sandbox/harness.py --initrd-stock $(OUT)/initrd-tools.cpio.gz ours:$(TOOLS_CASES)

# The in-tree form: Kconfig (conflict with XEN_MCE_LOG) on a hard-linked copy
# of the kernel source, and Kbuild's CONFIG_XEN_MCELOG_RUST branch (about 1 min;
# not part of make check).
intree-check: module
	bash tests/intree-check.sh
