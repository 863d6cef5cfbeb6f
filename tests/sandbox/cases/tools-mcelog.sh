# mcelog on /dev/xen_mcelog, one-shot and daemon, when a binary was supplied
# (MCELOG=/path/to/static/mcelog make check puts it into the initramfs).
# Without one this case reports one skipped test (TAP "# SKIP") and asserts
# nothing: it never passes by default. Needs tools-install and tools-inject.
if ! command -v mcelog > /dev/null; then
    skip "mcelog on /dev/xen_mcelog" "no mcelog supplied (MCELOG=/path/to/static/mcelog make check)"
else
    mcelog --version 2>&1 | sed 's/^/# /'
    if mcelog --help 2>&1 | grep -q -- '--device'; then dev="--device $DEV"; diag "mcelog has --device (patched)"
    else dev=$DEV; diag "mcelog without --device (unpatched): device as the last argument"; fi
    sleep 3; xmc-test collect $DEV 0 1 > /dev/null
    # An address of its own, and the bank: tools-dump injected 0x11070000 on
    # CPU 1 (bank 4), and Xen's poller may report that bank again at any
    # moment; its record must not pass for this one before it is queued.
    xmc-inject corrected --cpu 1 --bank 8 --addr 0x11090000 --mce >/tmp/o 2>&1; diag "$(cat /tmp/o)"
    check "the injected record is queued (debugfs)" \
        wait_for 20 sh -c "xen-mcelog-dump --debugfs | grep -q 'bank=8 status=0x9c0000000000017a addr=0x11090000 '"
    mcelog --no-syslog $dev > /tmp/m1 2>&1; rc=$?
    sed 's/^/# mcelog: /' /tmp/m1
    check "one-shot mcelog $dev: exit 0" test $rc = 0
    check "  names the bank (BANK 8) and the address (ADDR 11090000)" \
        sh -c "grep -q 'BANK 8' /tmp/m1 && grep -q 'ADDR 11090000' /tmp/m1"
    check "  decodes it for the Intel CPU (CPUID line, MCA: Generic CACHE ... Eviction)" \
        sh -c "grep -q 'CPUID Vendor Intel Family 6 Model 94' /tmp/m1 && grep -q 'MCA: Generic CACHE Level-[0-9] Eviction Error' /tmp/m1"
    sleep 3; xmc-test collect $DEV 0 1 > /dev/null
    # The daemon with the shipped dom0 config (tools/mcelog/mcelog-xen.conf,
    # put next to the binary by make tools-check); it binds its client
    # socket in /run.
    mkdir -p /run /var/run
    conf=""
    if [ -f /bin/mcelog-xen.conf ]; then conf="--config-file /bin/mcelog-xen.conf"; diag "daemon uses mcelog-xen.conf"; fi
    mcelog --daemon --foreground --no-syslog --logfile /tmp/m2 $conf $dev > /tmp/m2.out 2>&1 &
    mpid=$!
    sleep 2
    check "mcelog --daemon --foreground is running" kill -0 $mpid
    xmc-inject corrected --cpu 0 --bank 9 --addr 0x11080000 --mce >/tmp/o 2>&1; diag "$(cat /tmp/o)"
    check "the daemon logs the record (poll wake-up)" wait_for 30 grep -q 'ADDR 11080000' /tmp/m2
    sed 's/^/# mcelogd: /' /tmp/m2 /tmp/m2.out
    check "  naming bank 9 and the address" sh -c "grep -q 'BANK 9' /tmp/m2 && grep -q 'ADDR 11080000' /tmp/m2"
    check "  no config complaints from mcelog" sh -c "! grep -qi 'unparseable\|unknown\|config' /tmp/m2.out"
    kill $mpid; wait $mpid 2>/dev/null
fi
