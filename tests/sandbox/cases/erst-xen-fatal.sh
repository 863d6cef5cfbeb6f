# ERST, boot 2 of tests/erst.sh: a fatal machine check (UC, PCC, broadcast to
# both CPUs, as the hardware does; without -b Xen waits for the other CPU for
# ever). Xen panics, and on the way saves one CPER record per bank it logged
# in ERST (mc_panic -> x86_mcinfo_dump -> apei_write_mce). The harness
# expects the panic; tests/erst.sh then looks for the records in the store.
check "dom0 sees the firmware's ERST" \
    dmesg_has "ERST: Error Record Serialization Table (ERST) support is initialized"
echo XMC-EXPECT-PANIC
host mce -b 0 1 0xb600000000000150 0x4 0x20000000 0x86
sleep 60
fail "Xen did not panic"
