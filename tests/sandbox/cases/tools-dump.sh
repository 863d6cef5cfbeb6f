# xen-mcelog-dump on the live device: --follow prints an injected record as
# it arrives, --debugfs leaves the records in place, and the decoded and JSON
# forms of a real record from Xen. Needs tools-install and tools-inject
# (module and privcmd loaded).
# Xen's poller may re-report earlier #MC banks at any time: records are
# picked out by their unique address, never by position.
sleep 3; xmc-test collect $DEV 0 1 > /dev/null      # late re-reports out of the way
xen-mcelog-dump --follow --timeout 10 --json > /tmp/f 2>/tmp/fe &
fpid=$!
sleep 1
xmc-inject corrected --cpu 1 --bank 5 --addr 0x11040000 --mce >/tmp/o 2>&1; diag "$(cat /tmp/o)"
wait $fpid; rc=$?
sed 's/^/# follow: /' /tmp/f /tmp/fe
check "--follow --timeout 10 (no --count) exits 0 at the timeout" test $rc = 0
check "--follow printed the record injected at +1 s within its 10 s (bank 5, addr 0x11040000)" \
    sh -c "grep '\"addr\":\"0x11040000\"' /tmp/f | grep -q '\"bank\":5,'"
# The JSON of that real record.
l=$(grep '0x11040000' /tmp/f | head -1)
check "JSON: class corrected, status bits VAL EN MISCV ADDRV" \
    contains "$l" '"class":"corrected","status_bits":["VAL","EN","MISCV","ADDRV"]'
check "JSON: cpuvendor 0, cpuid 0x506e3, extcpu 1, mcgstatus 0x5" \
    sh -c "echo '$l' | grep -q '\"extcpu\":1,' && echo '$l' | grep -q '\"cpuvendor\":0,\"cpuid\":\"0x506e3\"' && echo '$l' | grep -q '\"mcgstatus\":\"0x5\"'"
y=$(date -u +%Y)
check "JSON: time_utc is this year's date" contains "$l" "\"time_utc\":\"$y-"
# The decoded block of a real record: another one, read with --decode.
sleep 3; xmc-test collect $DEV 0 1 > /dev/null
xmc-inject corrected --cpu 0 --bank 6 --addr 0x11050000 --mce >/tmp/o 2>&1
xen-mcelog-dump --follow --timeout 6 --decode > /tmp/dall 2>&1; rc=$?
awk -v RS= '/addr       0x11050000/ { print; exit }' /tmp/dall > /tmp/d
sed 's/^/# decode: /' /tmp/d
check "--decode: exit 0" test $rc = 0
check "--decode: 'corrected error (CE)' title" grep -q '^record [0-9]*: corrected error (CE)$' /tmp/d
check "--decode: time as a UTC date" grep -q "^  time       $y-[0-9-]* [0-9:]* UTC ([0-9]*)\$" /tmp/d
check "--decode: cpu 0, bank 6" sh -c "grep -q '^  cpu        0 (Xen physical CPU)  socket 0  apic 0' /tmp/d && grep -q '^  bank       6\$' /tmp/d"
check "--decode: status bits spelled out" grep -q '^             VAL (valid), EN (error reporting enabled), MISCV (MISC valid), ADDRV (ADDR valid)$' /tmp/d
check "--decode: MCA code decoded" grep -q 'MCA code 0x017a: cache hierarchy error, generic eviction L2' /tmp/d
check "--decode: addr, misc, mcgstatus" sh -c "grep -q '^  addr       0x11050000 (machine address)' /tmp/d && grep -q '^  misc       0x86\$' /tmp/d && grep -q '^  mcgstatus  0x5 RIPV MCIP\$' /tmp/d"
check "--decode: vendor Intel, family 6 model 0x5e stepping 3" grep -q 'vendor Intel (0), cpuid 0x506e3: family 0x6 model 0x5e stepping 3' /tmp/d
# --hex and --raw of a real record (the raw bytes are kept as a diag for host fixtures).
sleep 3; xmc-test collect $DEV 0 1 > /dev/null
xmc-inject srao --cpu 0 --bank 7 --addr 0x11060000 >/tmp/o 2>&1
xen-mcelog-dump --follow --timeout 6 --hex > /tmp/x 2>&1
sed 's/^/# hex: /' /tmp/x
check "--hex: 8 rows of 16 bytes, SRAO status bytes at 0000" grep -q '^  0000: c0 00 00 00 00 00 00 bd  86 00' /tmp/x
# --debugfs: non-destructive. Software-injected records (write) are never
# duplicated by Xen, so the counts are exact.
sleep 3; xmc-test collect $DEV 0 1 > /dev/null
xmc-test write $DEV 3 --addr-base 0x5a000000 > /dev/null
n1=$(xen-mcelog-dump --debugfs | grep -c 'addr=0x5a00000')
n2=$(xen-mcelog-dump --debugfs --json | grep -c '"addr":"0x5a00000')
check "--debugfs shows the 3 queued records, twice in a row ($n1, $n2)" test "$n1/$n2" = 3/3
xen-mcelog-dump --debugfs --decode | grep -c '^record ' | { read n; diag "--debugfs --decode blocks: $n"; }
n3=$(xen-mcelog-dump | grep -c 'addr=0x5a00000')
check "then the device still gives all 3 (debugfs took nothing)" test "$n3" = 3
n4=$(xen-mcelog-dump --debugfs | grep -c 'addr=0x5a00000')
check "and after that read they are gone from debugfs too" test "$n4" = 0
# The Xen side comes from the device itself (XMC_XEN_RECORDS on the tool's
# own open file): with debugfs unmounted a real record still has it.
sleep 3; xmc-test collect $DEV 0 1 > /dev/null
umount /sys/kernel/debug 2>/dev/null
# (busybox here has no mountpoint applet: ask /proc/mounts)
dbg_mounted() { grep -q ' /sys/kernel/debug debugfs ' /proc/mounts; }
check "debugfs unmounted" sh -c "! grep -q ' /sys/kernel/debug debugfs ' /proc/mounts"
xen-mcelog-dump --follow --timeout 10 --json > /tmp/f 2>/tmp/fe &
fpid=$!
sleep 1
xmc-inject corrected --cpu 1 --bank 4 --addr 0x11070000 --mce >/tmp/o 2>&1
wait $fpid
l=$(grep '0x11070000' /tmp/f | head -1); diag "$l"; sed 's/^/# stderr: /' /tmp/fe
check "  --json has the record with its seq and Xen side (xen_cpu 1, addr_space machine)" \
    sh -c "echo '$l' | grep -q '\"seq\":[0-9]' && echo '$l' | grep -q '\"xen_cpu\":1,' && echo '$l' | grep -q '\"addr_space\":\"machine\"'"
check "  and no note about debugfs" sh -c "! grep -qi debugfs /tmp/fe"
xmc-test write $DEV 2 --addr-base 0x5b000000 > /dev/null
xmc-test read $DEV 4096 > /tmp/r5b; l=$(head -1 /tmp/r5b); diag "$l"
# Xen's poller may re-report the bank injected above as one more record:
# the 2 written are picked by address.
check "another open file still reads 128-byte mcelog records (the 2 written, and any re-report)" \
    test "$(kv ret "$l")" -eq $(($(grep -c '^rec ' /tmp/r5b) * 128)) \
        -a "$(recs_matching /tmp/r5b addr=0x5b000000 inject_flags=1)/$(recs_matching /tmp/r5b addr=0x5b000001 inject_flags=1)" = 1/1
# Mounted again for the cases after this one (the init mounts it at boot).
mount -t debugfs debugfs /sys/kernel/debug
check "debugfs mounted again" dbg_mounted
# Error messages.
xen-mcelog-dump /dev/xen_mcelog_nope > /tmp/o 2>&1; rc=$?; diag "$(cat /tmp/o)"
check "a missing node: exit 3" test $rc = 3
xmc-test as-user 65534 65534 -- xen-mcelog-dump > /tmp/o 2>&1; rc=$?; diag "$(cat /tmp/o)"
check "as nobody: exit 3, says root is needed" sh -c "test $rc = 3 && grep -q 'needs root' /tmp/o"
check "no WARNING/BUG after the dumps" no_warnings
