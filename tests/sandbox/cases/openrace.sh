# The device is usable the instant it appears: udev starts a reader exactly
# when /dev/xen_mcelog shows up, so an open() may come while the module's
# init is still running. The debug build of the module pauses 50 ms right
# after misc_register (XMC_DEBUG_WINDOWS=y, chardev/device.rs debug_window);
# a tight open/read loop runs across repeated loads. Anything open() or
# read() used that was initialised after the registration would be found
# here: an Oops, a NULL dereference or a refused open.
modprobe xen-privcmd 2>/dev/null
check "modprobe xen_mcelog (debug build pauses after misc_register)" modprobe xen_mcelog
check "  the pause is compiled in (dmesg)" dmesg_has "debug build: 50 ms pause after misc_register"
check "rmmod xen_mcelog" rmmod xen_mcelog
L=20
rm -f /tmp/openloop.stop
xmc-test open-loop $DEV 120 /tmp/openloop.stop > /tmp/openloop &
loop=$!
i=0; loads=0
while [ $i -lt $L ]; do
    modprobe xen_mcelog && loads=$((loads + 1))
    # The loop holds the node open at times: rmmod until it is free.
    t=0; while ! rmmod xen_mcelog 2>/dev/null && [ $t -lt 100 ]; do sleep 0.05; t=$((t + 1)); done
    i=$((i + 1))
done
touch /tmp/openloop.stop; wait $loop
r=$(tail -1 /tmp/openloop)
diag "$r"
check "$L loads and unloads while a reader opens and reads in a loop ($loads loaded)" test $loads = $L
check "  the reader opened the device (opens $(kv opens "$r"), reads $(kv reads "$r"))" \
    test "$(kv opens "$r")" -ge 1 -a "$(kv opens "$r")" = "$(kv reads "$r")"
check "  no open or read failed but for an absent device ($(kv absent "$r") absent, other: $(kv other "$r"))" \
    test "$(kv other "$r")" = 0
check "  the module is gone" test -z "$(grep '^xen_mcelog ' /proc/modules)"
check "dmesg has no WARNING/BUG/Oops" no_warnings
