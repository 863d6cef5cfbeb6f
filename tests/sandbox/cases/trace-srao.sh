# Xen's recovery entry, end to end: an SRAO (L3 explicit writeback, MCACOD
# 0x17a) through #MC makes Xen's Intel recovery offline the page
# (mc_memerr_dhandler) and append a RECOVERY entry (page offline: mfn and
# result) after the bank. The record's Xen side must carry it, in the debugfs
# records view and in the tracepoint, with the address space consistent with
# it: machine-physical and mfn = addr >> 12, or guest-physical (Xen rewrote
# addr for a vMCE) with the owner's domid and maddr = mfn << 12 | offset.
# Needs a boot of its own (see srao.sh).
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs tracefs $T
check "modprobe xen-privcmd" modprobe xen-privcmd
check "modprobe xen_mcelog" modprobe xen_mcelog
EV=$T/events/xen_mcelog/xen_mce_record
echo > $T/trace
echo 1 > $EV/enable
out=$(xmc-inject srao --cpu 1 --bank 7 --addr 0x10000000 --status 0xbd2000008000017a 2>&1); diag "$out"
check "SRAO injection accepted" contains "$out" "mceinject rc=0"
has_bank7() { grep -q 'xen_mce_record:.* MC7: bd2000008000017a' $T/trace; }
check "SRAO record traced" wait_for 20 has_bank7
tl=$(grep 'xen_mce_record:.* MC7: bd2000008000017a' $T/trace | head -1); diag "trace: $tl"
dmesg | grep 'recovery record' | sed 's/^/# dmesg: /'
seq=$(echo "$tl" | sed -n 's/.*, seq: \([0-9]*\),.*/\1/p')
dl=$(grep "^seq=$seq " /sys/kernel/debug/xen_mcelog/records); diag "debugfs: $dl"
check "debugfs line with the traced seq ($seq)" test -n "$seq" -a -n "$dl"
check "  Xen appended a page-offline RECOVERY entry (recovery=0x1/...)" \
    contains "$dl" " recovery=0x1/"
mfn=$(kv mfn "$dl"); addr=$(kv addr "$dl"); space=$(kv addr_space "$dl")
diag "addr=$addr addr_space=$space mfn=$mfn domid=$(kv domid "$dl") rec_status=$(kv rec_status "$dl") maddr=$(kv maddr "$dl")"
case $space in
    machine) check "  machine-physical: mfn is addr's frame" test $((mfn)) -eq $((addr >> 12)) ;;
    guest) check "  guest-physical: owner domid, maddr = mfn<<12 | offset" \
        test "$(kv domid "$dl")" -lt 32752 -a $(($(kv maddr "$dl"))) -eq $(((mfn << 12) | (addr & 0xfff))) ;;
    *) fail "  addr_space is machine or guest (got $space)" ;;
esac
check "  trace shows the same recovery and mfn" contains "$tl" "recovery: 1/"
check "  trace mfn matches" contains "$tl" "mfn: $(printf %x $((mfn))) "
xmc-test collect $DEV 1 5 > /tmp/ts
check "the device still delivers the 128-byte record unchanged (addr as Xen reported it)" \
    test "$(recs_matching /tmp/ts status=0xbd2000008000017a addr=$addr bank=7)" -ge 1
echo 0 > $EV/enable
check "rmmod xen_mcelog" rmmod xen_mcelog
check "dmesg has no WARNING/BUG/Oops" no_warnings
