# Sandbox case that verified tools/ end to end on Xen 4.20 + the stock dom0 kernel
# (not wired into make check: the real cases live in tests/sandbox/cases/). To run it:
# copy it into the unpacked stock initrd's cases/ as toolscheck.sh with the static
# binaries in bin/, repack, and run
#   python3 tests/sandbox/harness.py --initrd-stock INITRD ours:toolscheck
# Measured 2026-11-25: 16 ok, 0 not ok, 100 s.
# Private check of tools/ (not part of the repo's cases).
D=/dev/xen_mcelog
check "modprobe xen_mcelog" modprobe xen_mcelog
check "modprobe xen-privcmd" modprobe xen-privcmd
out=$(xmc-test ioctls $D); diag "ioctls: $out"
check "ioctls answer" contains "$out" "record_len=128"
for s in 0 1 127 128 129; do diag "read $s: $(xmc-test read $D $s | head -1)"; done
out=$(xmc-test write $D 3 --addr-base 0x20000000); diag "write 3: $out"
out=$(xmc-test write $D 1 --partial); diag "write partial: $out"
out=$(xen-mcelog-dump); diag "dump:"; echo "$out" | sed 's/^/#   /'
check "dump shows 3 injected records" test "$(echo "$out" | grep -c 'flags=\[injected\]')" = 3
out=$(xen-mcelog-dump --json); check "second dump empty" test -z "$out"
diag "poll empty: $(xmc-test poll $D 200)"
out=$(xmc-inject corrected --cpu 0 --bank 1 --addr 0x10000000 --mce 2>&1); echo "$out" | sed 's/^/# /'
check "corrected --mce: mceinject rc=0" contains "$out" "mceinject rc=0"
out=$(xmc-test collect $D 1 20); echo "$out" | sed 's/^/#   /'
check "corrected #MC record arrives" contains "$out" "addr=0x10000000 misc=0x86 bank=1 mcgstatus=0x5"
diag "immediately an SRAO #MC on the other CPU (the stale corrected bank must not panic Xen)"
out=$(xmc-inject srao --cpu 1 --bank 2 --addr 0x10010000 2>&1); echo "$out" | sed 's/^/# /'
check "srao: mceinject rc=0" contains "$out" "mceinject rc=0"
out=$(xmc-test collect $D 2 20); echo "$out" | sed 's/^/#   /'
check "srao record arrives" contains "$out" "status=0xbd000000000000c0 addr=0x10010000"
out=$(xmc-inject ucna --cpu 0 --bank 3 --addr 0x10020000 2>&1); echo "$out" | sed 's/^/# /'
check "ucna: msrinject rc=0" contains "$out" "msrinject rc=0"
out=$(xmc-test collect $D 0 30); echo "$out" | sed 's/^/#   /'
check "ucna record arrives via the poller" contains "$out" "status=0xbc20000080000136 addr=0x10020000"
out=$(xmc-inject corrected --cpu 1 --bank 4 --addr 0x10030000 2>&1); echo "$out" | sed 's/^/# /'
out=$(xmc-test collect $D 1 45); echo "$out" | sed 's/^/#   /'
check "corrected poll-only record arrives" contains "$out" "addr=0x10030000"
out=$(xmc-inject mce --cpu 99 2>&1); rc=$?; diag "mce bad cpu: $(echo $out) rc=$rc"
check "mceinject to a bad CPU fails (-EINVAL) with exit 1" test $rc = 1
(sleep 2; xmc-test write $D 40 --addr-base 0x30000000 >/dev/null) &
out=$(xmc-test readers $D 2 40 15 --bufrecs 1); diag "readers: $out"
check "two readers: 40 records, each once" contains "$out" "total=40 unique=40 dup=0"
wait
(sleep 1; xmc-test write $D 1 >/dev/null) &
out=$(xmc-test poll $D 5000); diag "poll wake: $out"; wait
xmc-test read $D 4096 >/dev/null
diag "as nobody: $(xmc-test as-user 65534 65534 -- xmc-test open $D)"
xmc-test hold $D 3 > /tmp/hold & sleep 1
out=$(rmmod xen_mcelog 2>&1); rc=$?; diag "rmmod while held: rc=$rc $out"
wait; diag "hold: $(cat /tmp/hold | tr '\n' ' ')"
diag "excl: $(xmc-test excl $D)"
diag "open after excl: $(xmc-test open $D)"
check "rmmod" rmmod xen_mcelog
check "dmesg has no WARNING/BUG/Oops" no_warnings
