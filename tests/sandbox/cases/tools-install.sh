# The module as users install it: this initramfs carries the xen_mcelog.ko
# that `dkms build` made against Debian's own linux-headers package (plus the
# Rust overlay of `make rust-headers`), under /lib/modules/<release>/extra
# with depmod data, so `modprobe` resolves it as on an installed system.
rel=$(uname -r)
ko=$(modinfo -n xen_mcelog 2>/dev/null); diag "modinfo -n: $ko"
check "modinfo finds xen_mcelog in /lib/modules/$rel" test "$ko" = "/lib/modules/$rel/extra/xen_mcelog.ko"
vm=$(modinfo -F vermagic xen_mcelog 2>/dev/null); diag "vermagic: $vm"
check "its vermagic is the running stock kernel's" contains "$vm" "$rel SMP"
check "modprobe xen_mcelog (the DKMS-built module)" modprobe xen_mcelog
check "/dev/xen_mcelog appears" wait_for 5 test -c $DEV
set -- $(ls -l $DEV); diag "node: $1 $3 $4"
check "node is 0600 root:root (as the udev rule keeps it)" test "$1/$3/$4" = "crw-------/root/root"
check "no WARNING/BUG after loading the DKMS build" no_warnings
