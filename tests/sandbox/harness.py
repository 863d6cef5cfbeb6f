#!/usr/bin/env python3
"""Sandbox harness: boot Xen + a dom0 kernel (or the kernel alone) under QEMU,
run one test case in dom0, and judge it from the serial console.

Protocol (printed by tests/sandbox/init and cases/lib.sh on dom0's console):
  XMC-BEGIN <case> <release>   dom0 reached /init
  ok N - text / not ok N - text  TAP results (tests/lib/tap.sh); "ok N - text # SKIP why"
                                is a skipped test: counted apart, never a failure
  # text                        diagnostics (shown, not judged)
  XMC-HOST <monitor command>    run a QEMU monitor (HMP) command, e.g. `mce ...`
  XMC-EXPECT-PANIC              the case is about to crash the machine: a Xen or
                                Linux panic from now on ends the run as one passed
                                test (none within the case timeout fails it)
  1..N                          the plan
  XMC-END                       the case finished
A run passes only if every line above arrives in time, the plan matches the
results, nothing failed, and neither Xen nor Linux panicked. QEMU is always
stopped by its PID, also when the harness gets SIGTERM or SIGINT (the boots
stop as on a timeout, then the harness dies of that signal). Exit status 0
only when every run passed.
"""
import argparse
import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

CACHE = os.environ.get("XMC_CACHE", "/var/cache/xen_mcelog")
OUT = f"{CACHE}/out"
HERE = os.path.dirname(os.path.abspath(__file__))


def kernel_conf(kernel_id):
    """(release, build root) of one kernel of tests/kernels.conf, as tests/build/env.sh
    reads it (the file's one parser; it exits naming the known ids if there is
    no such kernel)."""
    p = subprocess.run(["bash", "-c", '. "$1" && echo "$XMC_KVER|$XMC_ROOT_NAME"', "kernel_conf",
                        os.path.join(HERE, "..", "build", "env.sh")],
                       env={**os.environ, "XMC_KERNEL": kernel_id}, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"harness: {p.stderr.strip()}")
    release, root = p.stdout.strip().split("|")
    return release, root


# The Debian kernel the stock modes boot (XMC_KERNEL, as for the build scripts),
# with the Xen of its build root's suite (trixie's for the deb13 kernels).
KERNEL = os.environ.get("XMC_KERNEL", "sid")
KVER, ROOT = kernel_conf(KERNEL)
STOCK = f"{CACHE}/kernel-{KERNEL}"
XEN_ARGS = ("console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=2 "
            "loglvl=all guest_loglvl=all mce_verbosity=verbose noreboot")
# Benchmarks (--quiet-xen): Xen's MCE printing on the emulated serial line
# slows the #MC path itself, so only errors reach the console.
XEN_QUIET_ARGS = XEN_ARGS.replace("loglvl=all guest_loglvl=all mce_verbosity=verbose",
                                  "loglvl=error guest_loglvl=error")
DOM0_ARGS = "console=hvc0 earlyprintk=xen loglevel=7 rdinit=/init"
MODES = {
    # mode: (hypervisor?, kernel flavour, extra dom0 command line)
    "ours": (True, "stock", "initcall_blacklist=xen_late_init_mcelog"),
    "cdriver": (True, "stock", ""),
    "test": (True, "test", ""),
    "debug": (True, "debug", ""),
    "kasan": (True, "kasan", ""),
    "nox": (False, "stock", ""),
    # ours on an AMD vCPU (EPYC: family 0x17) with two sockets (CPU 1 in socket 1)
    "amd": (True, "stock", "initcall_blacklist=xen_late_init_mcelog"),
    # a whole Debian system on a virtio disk (make check-system): its own
    # kernel, initramfs and command line (--image*), booted by systemd
    "system": (True, "image", ""),
}
# vCPU and topology per mode (default: an Intel Skylake client, see docs/testing.md, hazards).
CPUS = {"amd": ("EPYC,monitor=off", "2,sockets=2,cores=1,threads=1")}
PREFIX = re.compile(r"^(?:\(XEN\)\s*|\(d0\)\s*)*")
TAP = re.compile(r"^(ok|not ok) (\d+) - (.*)$")
SKIP = re.compile(r" # SKIP( |$)")
WARNING = re.compile(r"\bWARNING: (CPU|at) ")
PANIC = re.compile(r"Panic on CPU|Kernel panic|\bBUG: |Oops:|FATAL TRAP|Fatal machine check"
                   r"|Domain 0 \(vcpu#\d+\) crashed|Hardware Dom0 crashed")


# Xen's last words after a panic (noreboot) or a crashed dom0.
HALTED = re.compile(r"Manual reset required|Reboot in five seconds|Hardware Dom0 crashed|not rebooting")


# The signal (SIGTERM, SIGINT) that stopped the harness, once one did: each
# boot stops at its next look at the console. QEMU runs in a session of its
# own and gets neither signal.
STOPPED = []


def stop(signum, _frame):
    STOPPED.append(signum)


def stopped_by():
    return f"stopped by {signal.Signals(STOPPED[0]).name}"


def log(msg):
    print(f"[harness {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def xen_image():
    """Xen's gzipped ELF -> plain multiboot ELF that QEMU -kernel loads."""
    out = f"{CACHE}/xen-4.20-{ROOT}.elf"
    if not os.path.exists(out):
        with open(out + ".tmp", "wb") as f:
            subprocess.run(["zcat", f"{CACHE}/xen-{ROOT}/boot/xen-4.20-amd64.gz"], stdout=f, check=True)
        os.rename(out + ".tmp", out)
    return out


def stock_vmlinux():
    """Debian's vmlinuz carries a zstd payload: unpack it to an ELF vmlinux,
    which Xen loads as dom0 much faster than the compressed bzImage."""
    out = f"{CACHE}/vmlinux-{KVER}"
    if not os.path.exists(out):
        data = open(f"{STOCK}/usr/lib/modules/{KVER}/vmlinuz", "rb").read()
        off = data.find(b"\x28\xb5\x2f\xfd")
        if off < 0:
            sys.exit("harness: no zstd payload in the stock vmlinuz")
        p = subprocess.run(["zstd", "-dcq"], input=data[off:], capture_output=True)
        if not p.stdout.startswith(b"\x7fELF"):
            sys.exit(f"harness: zstd did not yield an ELF vmlinux: {p.stderr.decode()[:200]}")
        with open(out + ".tmp", "wb") as f:
            f.write(p.stdout)
        os.rename(out + ".tmp", out)
    return out


def built_vmlinux(flavour):
    """vmlinux of one of our fully built kernels (test, debug)."""
    obj = subprocess.run(["bash", os.path.join(HERE, "..", "build", "kernels.sh"),
                          f"path-{flavour}"], capture_output=True, text=True, check=True).stdout.strip()
    return f"{CACHE}/{ROOT}-root{obj}/vmlinux"


IMAGE = {}  # --image, --image-kernel, --image-cmdline, --hostfwd (mode system)


def qemu_cmd(mode, case, initrd, workdir, extra_cmdline, quiet_xen=False, erst=""):
    xen, flavour, extra = MODES[mode]
    if flavour == "image":
        cpu, smp = CPUS.get(mode, ("Skylake-Client-v1", "2"))
        accel = ["-accel", "kvm", "-cpu", "host"] if os.environ.get("XMC_KVM") == "1" else \
            ["-accel", "tcg,thread=multi", "-cpu", cpu]
        args = " ".join(a for a in (IMAGE["cmdline"], "console=hvc0 earlyprintk=xen", extra_cmdline) if a)
        cmd = ["qemu-system-x86_64", *accel, "-m", "3G", "-smp", smp, "-machine", "q35",
               "-display", "none", "-no-reboot", "-nodefaults",
               "-serial", f"file:{workdir}/serial.log",
               "-monitor", f"unix:{workdir}/mon.sock,server=on,wait=off",
               "-drive", f"file={IMAGE['image']},if=virtio,format=" + ("qcow2" if IMAGE["image"].endswith(".qcow2") else "raw"),
               "-kernel", xen_image(), "-append", " ".join(a for a in (XEN_ARGS, IMAGE.get("xen_args")) if a),
               "-initrd", f"{IMAGE['kernel']} {args},{initrd}"]
        if erst:
            cmd += ["-object", f"memory-backend-file,id=erstnvram,mem-path={erst},size=0x10000,share=on",
                    "-device", "acpi-erst,memdev=erstnvram"]
        if IMAGE.get("hostfwd"):
            # QEMU's user network: dom0 reaches the host's loopback at
            # 10.0.2.2; the host reaches dom0's port through the forward.
            cmd += ["-nic", f"user,model=virtio-net-pci,hostfwd={IMAGE['hostfwd']}"]
        return cmd
    args = " ".join(a for a in (DOM0_ARGS, extra, extra_cmdline, f"xmc.case={case}") if a)
    cpu, smp = CPUS.get(mode, ("Skylake-Client-v1", "2"))
    accel = ["-accel", "kvm", "-cpu", "host"] if os.environ.get("XMC_KVM") == "1" else \
        ["-accel", "tcg,thread=multi", "-cpu", cpu]
    cmd = ["qemu-system-x86_64", *accel, "-m", "2G", "-smp", smp, "-machine", "q35",
           "-display", "none", "-no-reboot", "-nodefaults",
           "-serial", f"file:{workdir}/serial.log",
           "-monitor", f"unix:{workdir}/mon.sock,server=on,wait=off"]
    if erst:
        # The firmware's persistent error record store (ACPI ERST), kept in a
        # file that outlives the boot (QEMU's docs/specs/acpi_erst.rst).
        cmd += ["-object", f"memory-backend-file,id=erstnvram,mem-path={erst},size=0x10000,share=on",
                "-device", "acpi-erst,memdev=erstnvram"]
    if xen:
        kernel = stock_vmlinux() if flavour == "stock" else built_vmlinux(flavour)
        cmd += ["-kernel", xen_image(), "-append", XEN_QUIET_ARGS if quiet_xen else XEN_ARGS,
                "-initrd", f"{kernel} {args},{initrd}"]
    else:
        vmlinuz = f"{STOCK}/usr/lib/modules/{KVER}/vmlinuz"
        args = args.replace("console=hvc0 earlyprintk=xen", "console=ttyS0")
        cmd += ["-kernel", vmlinuz, "-append", args, "-initrd", initrd]
    return cmd


def monitor(workdir, command):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(f"{workdir}/mon.sock")
    time.sleep(0.2)
    s.recv(65536)  # banner
    s.sendall(command.encode() + b"\n")
    time.sleep(0.5)
    try:
        reply = s.recv(65536).decode(errors="replace")
    except socket.timeout:
        reply = ""
    s.close()
    return reply


def run(mode, case, initrd, boot_timeout, case_timeout, keep_log, extra_cmdline="", quiet_xen=False,
        erst=""):
    """Boot once, run one case. Returns (passed, failed, problems, began, warnings, skipped);
    passed includes the skipped."""
    if STOPPED:
        return 0, 0, [stopped_by()], False, [], 0
    # QEMU's serial log and monitor socket: removed however the run ends (an
    # exception too); the serial log is copied to keep_log before.
    workdir = tempfile.mkdtemp(prefix=f"xmc-{mode}-")
    try:
        return boot(workdir, mode, case, initrd, boot_timeout, case_timeout, keep_log, extra_cmdline,
                    quiet_xen, erst)
    finally:
        subprocess.run(["rm", "-rf", workdir])


def boot(workdir, mode, case, initrd, boot_timeout, case_timeout, keep_log, extra_cmdline, quiet_xen, erst):
    cmd = qemu_cmd(mode, case, initrd, workdir, extra_cmdline, quiet_xen, erst)
    log(f"boot {mode}/{case}")
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    passed = failed = skipped = 0
    problems = []
    warnings = []
    plan = None
    began = ended = False
    expect_panic = False
    panicked = ""
    seen = set()
    pos = 0
    buf = b""
    deadline = t0 + boot_timeout
    try:
        while True:
            if STOPPED:
                problems.append(stopped_by())
                break
            if time.time() > deadline:
                problems.append("timed out " + ("in the case" if began else "before dom0 reached /init"))
                break
            if proc.poll() is not None and not os.path.exists(f"{workdir}/serial.log"):
                problems.append(f"QEMU exited with {proc.returncode}: {proc.stdout.read().decode()[:500]}")
                break
            try:
                with open(f"{workdir}/serial.log", "rb") as f:
                    f.seek(pos)
                    chunk = f.read()
            except FileNotFoundError:
                chunk = b""
            pos += len(chunk)
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = PREFIX.sub("", raw.decode(errors="replace").rstrip("\r"))
                if expect_panic and panicked and HALTED.search(line):
                    # The crash the case asked for ran to its end (Xen
                    # writes ERST records between its first panic line and
                    # this one): one passed test, and the end of the run.
                    passed += 1
                    n = max(seen, default=0) + 1
                    seen.add(n)
                    plan = n
                    print(f"  {mode}/{case}: ok {n} - the expected panic: {panicked}", flush=True)
                    ended = True
                    break
                # A case's own diagnostics ("# ...", e.g. a metrics file
                # whose HELP text says "Fatal machine checks") are not Xen's
                # or Linux's panic messages, which never start so.
                if PANIC.search(line) and not line.startswith("# "):
                    if expect_panic:
                        panicked = panicked or line
                    else:
                        problems.append(f"panic: {line}")
                if WARNING.search(line):
                    warnings.append(line)
                if line.startswith("XMC-BEGIN"):
                    began = True
                    deadline = time.time() + case_timeout
                    log(f"  dom0 /init after {time.time() - t0:.1f} s: {line}")
                    continue
                if not began:
                    continue
                m = TAP.match(line)
                if m:
                    seen.add(int(m.group(2)))
                    if m.group(1) == "ok":
                        passed += 1
                        if SKIP.search(m.group(3)):
                            skipped += 1
                    else:
                        failed += 1
                    print(f"  {mode}/{case}: {line}", flush=True)
                elif line.startswith("# "):
                    print(f"  {mode}/{case}: {line}", flush=True)
                elif line.startswith("XMC-HOST "):
                    reply = monitor(workdir, line[len("XMC-HOST "):])
                    log(f"  monitor: {line[9:]} -> {reply.strip()[-120:]!r}")
                elif re.match(r"^1\.\.\d+$", line):
                    plan = int(line[3:])
                elif line.startswith("XMC-END"):
                    ended = True
                elif line.startswith("XMC-EXPECT-PANIC"):
                    expect_panic = True
            if ended or problems:
                break
            if proc.poll() is not None:
                out = proc.stdout.read().decode(errors="replace").strip()
                problems.append(f"QEMU exited ({proc.returncode}) before XMC-END" + (f": {out[-500:]}" if out else ""))
                break
            time.sleep(0.2)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    if ended:
        if plan is None:
            problems.append("no TAP plan")
        elif plan != passed + failed or seen != set(range(1, plan + 1)):
            problems.append(f"plan 1..{plan} but {passed + failed} results")
        if passed + failed == 0:
            problems.append("the case ran no test")
    log(f"  {mode}/{case}: {passed} ok" + (f" ({skipped} skipped)" if skipped else "")
        + f", {failed} not ok, {time.time() - t0:.1f} s"
        + (f"; problems: {problems}" if problems else ""))
    dest = f"{keep_log}/xmc-{mode}-{case}.serial.log"
    os.makedirs(keep_log, exist_ok=True)
    subprocess.run(["cp", f"{workdir}/serial.log", dest])
    log(f"  serial log kept: {dest}")
    return passed, failed, problems, began, warnings, skipped


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+",
                    help="MODE:CASE[+CASE...] (one boot each; modes: " + ", ".join(MODES) + ")")
    # The initramfs of each kernel flavour, where the Makefile and
    # tests/matrix.sh build them (make initrds, make check-matrix).
    ap.add_argument("--initrd-stock", default=f"{OUT}/initrd-stock.cpio.gz",
                    help="the stock kernel's (default: %(default)s, what make initrds and make "
                    "initrd-stock build for XMC_KERNEL; tests/matrix.sh builds one per kernel, initrd-ID)")
    ap.add_argument("--initrd-test", default=f"{OUT}/initrd-test.cpio.gz")
    ap.add_argument("--initrd-debug", default=f"{OUT}/initrd-debug.cpio.gz")
    ap.add_argument("--initrd-kasan", default=f"{OUT}/initrd-kasan.cpio.gz")
    ap.add_argument("--initrd", action="append", default=[], metavar="NAME=PATH",
                    help="another initramfs, used by runs written MODE@NAME:CASES")
    ap.add_argument("--boot-timeout", type=int, default=180)
    ap.add_argument("--case-timeout", type=int, default=600)
    ap.add_argument("--keep-log", default=f"{OUT}/logs", help="keep every serial log here (default: %(default)s)")
    ap.add_argument("--cmdline", default="", help="extra dom0 command line")
    ap.add_argument("--image", default="", help="mode system: the disk image (raw)")
    ap.add_argument("--image-kernel", default="", help="mode system: dom0's kernel (from the image's /boot)")
    ap.add_argument("--image-initrd", default="", help="mode system: dom0's initramfs (from the image's /boot)")
    ap.add_argument("--image-cmdline", default="", help="mode system: dom0's command line (from grub.cfg)")
    ap.add_argument("--xen-args", default="",
                    help="mode system: more of Xen's command line (what the image's GRUB entry adds)")
    ap.add_argument("--hostfwd", default="",
                    help="mode system: a user-network NIC with this forward (tcp:127.0.0.1:HOSTPORT-:GUESTPORT)")
    ap.add_argument("--erst", default="",
                    help="give the machine an ACPI ERST whose store is this file (kept across boots)")
    ap.add_argument("--quiet-xen", action="store_true",
                    help="Xen logs errors only, no verbose MCE printing (benchmarks)")
    ap.add_argument("--summary", default="",
                    help="write one JSON line per run here (boot reached /init, results, kernel WARNINGs)")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("XMC_SANDBOX_JOBS", "2")),
                    help="boots run at once (cases mostly wait on Xen's poller; default 2)")
    a = ap.parse_args()
    if not a.keep_log:
        ap.error("--keep-log: a directory is needed (every serial log is kept)")
    if not shutil_which("qemu-system-x86_64"):
        sys.exit("harness: qemu-system-x86_64 is missing (run tests/build/bootstrap.sh): FAIL")
    extra = dict(i.split("=", 1) for i in a.initrd)
    IMAGE.update(image=a.image, kernel=a.image_kernel, cmdline=a.image_cmdline, xen_args=a.xen_args,
                 hostfwd=a.hostfwd)
    if a.image_initrd:
        extra["image"] = a.image_initrd
    jobs = []
    for r in a.runs:
        mode, _, case = r.partition(":")
        mode, _, name = mode.partition("@")
        if mode not in MODES or not case or (name and name not in extra):
            sys.exit(f"harness: bad run '{r}'")
        initrd = extra[name] if name else \
            {"test": a.initrd_test, "debug": a.initrd_debug, "kasan": a.initrd_kasan}.get(MODES[mode][1], a.initrd_stock)
        if not initrd or not os.path.exists(initrd):
            sys.exit(f"harness: initrd for {mode} missing: {initrd} (make initrds builds initrd-stock and the "
                     f"flavours', tests/matrix.sh initrd-ID)")
        jobs.append((r, mode, case, initrd))
    # Unpack the images once, before boots run in parallel.
    if any(MODES[j[1]][0] for j in jobs):
        xen_image()
    if any(MODES[j[1]][1] == "stock" for j in jobs):
        stock_vmlinux()
    t0 = time.time()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        results = list(pool.map(lambda j: (j[0], run(j[1], j[2], j[3], a.boot_timeout, a.case_timeout,
                                                     a.keep_log, a.cmdline, a.quiet_xen, a.erst)), jobs))
    tp = tf = ts = 0  # TAP results; a run with a problem (timeout, panic, bad plan) counts as one failure
    bad = []
    if a.summary:
        with open(a.summary, "w") as out:
            for r, (p, f, problems, began, warnings, s) in results:
                out.write(json.dumps({"run": r, "kernel": KERNEL, "release": KVER, "booted": began,
                                      "passed": p, "failed": f, "skipped": s, "problems": problems,
                                      "warnings": warnings}) + "\n")
    for r, (p, f, problems, _, _, s) in results:
        tp += p
        ts += s
        tf += f + (1 if problems else 0)
        if problems or f:
            bad.append(f"{r}: {f} failed" + (f", {'; '.join(problems)}" if problems else ""))
    log(f"{len(jobs)} boots in {time.time() - t0:.0f} s")
    print(f"sandbox: {tp} passed, {tf} failed" + (f", {ts} of the passed skipped" if ts else ""))
    for b in bad:
        log(f"FAILED {b}")
    if STOPPED:
        # Die of the signal, as the caller (make, a shell) expects.
        sys.stdout.flush()
        signal.signal(STOPPED[0], signal.SIG_DFL)
        os.kill(os.getpid(), STOPPED[0])
    if bad:
        sys.exit(1)


def shutil_which(name):
    import shutil
    return shutil.which(name)


if __name__ == "__main__":
    main()
