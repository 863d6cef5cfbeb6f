# ERST, boot 1 of tests/erst.sh: dom0 itself crashes, and its pstore (the erst
# backend) saves dom0's dmesg in ERST. That record shares the creator GUID of
# Xen's MCE records (CPER_CREATOR_PSTORE is CPER_CREATOR_MCE) but is not one:
# xen_mcelog must never deliver or erase it (checked in later boots).
check "dom0's kernel uses the firmware's ERST" \
    dmesg_has "ERST: Error Record Serialization Table (ERST) support is initialized"
check "pstore registered the erst backend" dmesg_has "pstore: Registered erst as persistent store backend"
echo XMC-EXPECT-PANIC
echo c > /proc/sysrq-trigger
sleep 60
fail "dom0 did not crash"
