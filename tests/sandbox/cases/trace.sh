# The xen_mcelog:xen_mce_record tracepoint on Debian's stock dom0 kernel:
# its format carries mce:mce_record's fields (same names, types, sizes,
# signedness), plus Xen's; an injected corrected #MC shows up in tracefs with
# the injected status/addr/misc/bank, its seq names the same record in the
# debugfs records view, and the record is still delivered by /dev/xen_mcelog
# (tracing takes nothing away from readers).
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs tracefs $T
check "tracefs mounted" test -d $T/events
check "modprobe xen-privcmd" modprobe xen-privcmd
check "/dev/xen/privcmd exists" wait_for 5 test -c /dev/xen/privcmd
check "modprobe xen_mcelog" modprobe xen_mcelog
EV=$T/events/xen_mcelog/xen_mce_record
check "event xen_mcelog:xen_mce_record exists" test -f $EV/format
# `field:TYPE NAME; size:N; signed:S;` of every field (offsets differ).
fields() { sed -n 's/^[[:space:]]*field:\([^;]*\);[[:space:]]*offset:[0-9]*;[[:space:]]*\(size:[0-9]*;\)[[:space:]]*\(signed:[0-9]*;\).*/\1; \2 \3/p' "$1"; }
fields $EV/format > /tmp/xen.fields
if [ -f $T/events/mce/mce_record/format ]; then
    fields $T/events/mce/mce_record/format | grep -v 'common_' > /tmp/mce.fields
    missing=$(grep -vxF -f /tmp/xen.fields /tmp/mce.fields)
    diag "mce:mce_record fields: $(wc -l < /tmp/mce.fields)"
    [ -z "$missing" ] || diag "missing: $missing"
    check "every mce:mce_record field is in xen_mce_record, same type/size/sign" \
        test -s /tmp/mce.fields -a -z "$missing"
else
    fail "stock kernel has no mce:mce_record to compare with"
fi
for f in 'u64 seq' 'u16 domid' 'u32 xen_cpu' 'u8 addr_space' 'u32 mc_flags' 'u64 mfn'; do
    check "  Xen field '$f'" grep -q "^$f;" /tmp/xen.fields
done
echo > $T/trace
echo 1 > $EV/enable
check "event enabled" test "$(cat $EV/enable)" = 1
out=$(xmc-inject corrected --cpu 0 --bank 2 --addr 0x20000000 --mce 2>&1); diag "$out"
check "corrected #MC injection accepted" contains "$out" "mceinject rc=0"
has_event() { grep -q 'xen_mce_record:' $T/trace; }
check "the record appears in tracefs" wait_for 20 has_event
grep 'xen_mce_record:' $T/trace | sed 's/^/# trace: /'
tl=$(grep 'xen_mce_record:' $T/trace | grep 'MC2: 9c0000000000017a' | head -1)
check "  MC2 status 9c0000000000017a" test -n "$tl"
check "  ADDR 0x20000000" contains "$tl" "ADDR: 0000000020000000,"
check "  MISC 0x86" contains "$tl" "MISC: 0000000000000086,"
check "  MCGstatus 0x5, vendor Intel, CPUID 506e3" contains "$tl" "/5, MC2:"
check "  Xen: xen_cpu 0, machine address" contains "$tl" ", xen_cpu: 0, addr_space: machine,"
mcf=$(echo "$tl" | sed -n 's/.*, mc_flags: \([0-9a-f]*\),.*/\1/p'); diag "mc_flags=0x$mcf"
check "  mc_flags has MC_FLAG_MCE (0x40)" test -n "$mcf" -a $((0x$mcf & 0x40)) = 64
seq=$(echo "$tl" | sed -n 's/.*, seq: \([0-9]*\),.*/\1/p')
diag "trace seq=$seq"
dl=$(grep "^seq=$seq " /sys/kernel/debug/xen_mcelog/records); diag "debugfs: $dl"
check "debugfs records line with the same seq" test -n "$seq" -a -n "$dl"
check "  is the same record: bank 2, status, addr, misc" \
    test "$(kv bank "$dl")/$(kv status "$dl")/$(kv addr "$dl")/$(kv misc "$dl")" = 2/0x9c0000000000017a/0x20000000/0x86
check "  Xen side: addr_space=machine xen_cpu=0 maddr=0x20000000, domid as traced" \
    test "$(kv addr_space "$dl")/$(kv xen_cpu "$dl")/$(kv maddr "$dl")/domid: $(kv domid "$dl")," = \
        "machine/0/0x20000000/$(echo "$tl" | sed -n 's/.*, domid: \([0-9]*\),.*/domid: \1,/p')"
# The binary `xen` view: 168 bytes per record (seq, 128-byte record, XenInfo).
# One copy is one snapshot (each open renders the view once); every check
# below reads that copy, never the live view again (Xen's poller may add a
# record at any moment).
cat /sys/kernel/debug/xen_mcelog/xen > /tmp/xen.view
byte() { dd if=/tmp/xen.view bs=1 skip=$1 count=1 2>/dev/null | od -An -tu1 | tr -d ' '; }
u64at() { dd if=/tmp/xen.view bs=1 skip=$1 count=8 2>/dev/null | od -An -tu8 | tr -d ' '; }
size=$(wc -c < /tmp/xen.view); nx=$((size / 168))
consecutive=1; i=0; first=$(u64at 0)
while [ $i -lt $nx ]; do
    [ "$(u64at $((i * 168)))" = $((first + i)) ] || consecutive=0; i=$((i + 1))
done
check "debugfs xen view: 168 bytes per record, consecutive seqs ($nx records from seq $first)" \
    test $((size % 168)) -eq 0 -a $nx -ge 1 -a $consecutive = 1
o=$(( (seq - first) * 168 ))
check "  entry of seq $seq: its seq, bank 2 (byte 8+65), addr_space machine (byte 8+128+28)" \
    test "$(byte $o)/$(byte $((o + 73)))/$(byte $((o + 164)))" = "$((seq % 256))/2/1"
# Every stored record traced. A record is stored, then traced, by one
# drainer at a time: read the trace first, then the ring (nobody reads the
# device yet, so the ring only grows). Every traced seq is then in the ring,
# and every record stored between the first and the last traced one was
# traced (records stored before the event was enabled are traced for it
# when it is; records stored after the trace was read lie outside the span).
sed -n 's/.*xen_mce_record:.*, seq: \([0-9]*\),.*/\1/p' $T/trace > /tmp/trace.seqs
sed -n 's/^seq=\([0-9]*\) .*/\1/p' /sys/kernel/debug/xen_mcelog/records > /tmp/ring.seqs
bad=0
for s in $(cat /tmp/trace.seqs); do grep -qx "$s" /tmp/ring.seqs || bad=1; done
check "every traced seq is a record in the ring" test $bad = 0
lo=$(sort -n /tmp/trace.seqs | head -1); hi=$(sort -n /tmp/trace.seqs | tail -1)
ntrace=$(wc -l < /tmp/trace.seqs); ndist=$(sort -u /tmp/trace.seqs | wc -l)
nspan=$(awk -v lo="$lo" -v hi="$hi" '$1 >= lo && $1 <= hi' /tmp/ring.seqs | wc -l)
# At least once: a record stored while the consumer attached (Xen's poller
# can store one at any moment) counts as untraced and is traced again for
# it (src/core/drain.rs, "Delivered"), so it may have two events, never none.
check "every stored record traced ($ntrace events, $ndist seqs, $nspan records in seqs $lo..$hi)" \
    test "$ndist" -eq "$nspan" -a "$ntrace" -ge "$ndist"
xmc-test collect $DEV 1 5 > /tmp/t1
grep '^rec ' /tmp/t1 | sed 's/^/# /'
check "/dev/xen_mcelog still delivers the traced record" \
    test "$(recs_matching /tmp/t1 status=0x9c0000000000017a addr=0x20000000 bank=2 misc=0x86)" -ge 1
echo 0 > $EV/enable
check "rmmod xen_mcelog" rmmod xen_mcelog
check "dmesg has no WARNING/BUG/Oops" no_warnings
