# Fleet outputs: `xen-mcelog-dump --follow --json`
# prints an injected corrected #MC with its record fields, its decoded
# severity and Xen's side of it (seq, xen_cpu, addr_space), matched from the
# debugfs `xen` view, and `--prometheus` counts it in a node_exporter
# textfile. Needs tools-install and tools-inject (module and privcmd loaded).
# Records are picked out by their unique address, never by position (Xen's
# poller may re-report earlier #MC banks at any time). But --count 1 stops
# at the first record: a re-report of an earlier case's #MC bank arriving
# first would be that record. So first wait until Xen has nothing of before
# left to report (quiesce_xen, lib.sh).
prom=/tmp/fleet/xen_mcelog.prom
mkdir -p /tmp/fleet
check "Xen's earlier #MC banks reported and cleared (poller markers read)" quiesce_xen
xen-mcelog-dump --follow --json --count 1 --timeout 30 --prometheus $prom > /tmp/fj 2>/tmp/fje &
fpid=$!
sleep 1
check "--prometheus: the textfile exists before any record (every severity at 0, no bank yet)" \
    sh -c "grep -q '^xen_mcelog_records_total{severity=\"fatal\",boot=\"current\"} 0\$' $prom && ! grep -q '^xen_mcelog_bank_records_total{' $prom"
xmc-inject corrected --cpu 0 --bank 2 --addr 0x20000000 --mce >/tmp/o 2>&1; rc=$?; diag "$(cat /tmp/o)"
check "xmc-inject corrected --cpu 0 --bank 2 --addr 0x20000000 --mce: exit 0" test $rc = 0
wait $fpid; rc=$?
sed 's/^/# json: /' /tmp/fj /tmp/fje
check "--follow --json --count 1 --timeout 30: exit 0 (the record came in time)" test $rc = 0
l=$(grep '"addr":"0x20000000"' /tmp/fj | head -1)
check "JSON: the injected record (bank 2, addr 0x20000000)" contains "$l" '"bank":2,"status":"0x9c0000000000017a","addr":"0x20000000","misc":"0x86"'
check "JSON: class corrected, status bits, severity corrected" \
    sh -c "echo '$l' | grep -q '\"class\":\"corrected\",\"status_bits\":\[\"VAL\",\"EN\",\"MISCV\",\"ADDRV\"\]' && echo '$l' | grep -q '\"severity\":\"corrected\"'"
check "JSON: Xen side from the xen view: a seq number, xen_cpu 0, addr_space machine, maddr = addr" \
    sh -c "echo '$l' | grep -q '\"seq\":[0-9][0-9]*,\"xen_cpu\":0,' && echo '$l' | grep -q '\"addr_space\":\"machine\",\"maddr\":\"0x20000000\"'"
check "JSON: no recovery entry for a corrected error" contains "$l" '"recovery":null}'
seq=$(echo "$l" | sed -n 's/.*"seq":\([0-9]*\),.*/\1/p')
n=$(grep -c '"bank":2,' /tmp/fj)
diag "seq $seq; $n bank-2 record(s) printed"
sed 's/^/# prom: /' $prom
check "--prometheus counts it: corrected, bank 2, socket 0 = $n (the bank-2 records printed)" \
    grep -q "^xen_mcelog_bank_records_total{severity=\"corrected\",bank=\"2\",socket=\"0\"} $n\$" $prom
check "--prometheus: rewritten by rename (no temporary file left)" test ! -e $prom.tmp
# The module's own counters, read from the device after each read
# (XMC_GET_STATS; the stats wait for the drain that stored the record, which
# holds the drain lock until it has acked it).
check "--prometheus: the module's counters (ring capacity, records stored from Xen and popped)" \
    sh -c "grep -q '^xen_mcelog_module_ring_capacity [1-9]' $prom && grep -q '^xen_mcelog_module_xen_records_stored_total [1-9]' $prom && grep -q '^xen_mcelog_module_records_popped_total [1-9]' $prom"
check "--prometheus: the module's overflows, one series per reason" \
    test "$(grep -c '^xen_mcelog_module_overflows_total{reason="[a-z_]*"} [0-9]' $prom)" = 3
# --debugfs reads the xen view (non-destructive): a record written into the
# device has no Xen side (addr_space unknown, xen_flags user).
xmc-test write $DEV 1 --addr-base 0x5b000000 > /dev/null
l=$(xen-mcelog-dump --debugfs --json | grep '"addr":"0x5b000000"'); diag "debugfs: $l"
check "--debugfs --json: a written record is flagged user, addr_space unknown, with its seq" \
    sh -c "echo '$l' | grep -q '\"seq\":[0-9]' && echo '$l' | grep -q '\"addr_space\":\"unknown\"' && echo '$l' | grep -q '\"xen_flags\":\[\"user\"\]'"
xen-mcelog-dump --debugfs --decode | grep -q '^  xen        seq [0-9]*  Xen CPU' ; rc=$?
check "--debugfs --decode: the Xen line" test $rc = 0
xmc-test collect $DEV 0 1 > /dev/null
check "no WARNING/BUG after the fleet outputs" no_warnings
