# Load order: /dev/xen_mcelog and the debug views exist
# only once nothing can fail any more. Every allocation of a module load is
# made to fail in turn (the debug kernel's fault injection: the n-th
# allocation of the loading task fails, /proc/thread-self/fail-nth); a load
# that fails must never have created the device node, since an open() in
# that window would hold a file into a module that is then freed. The sweep
# covers the VIRQ_MCA bind (dmesg names its failure) and every step before
# and after it. Needs CONFIG_FAILSLAB and CONFIG_FAIL_PAGE_ALLOC (make
# check-debug).
modprobe xen-privcmd 2>/dev/null
ko=/lib/modules/$(uname -r)/extra/xen_mcelog.ko
fi_dir=/sys/kernel/debug
if [ ! -e /proc/self/fail-nth ] || [ ! -d $fi_dir/failslab ]; then
    fail "load order: this kernel has no fault injection (CONFIG_FAILSLAB, run it under make check-debug)"
else
    # Fail GFP_KERNEL allocations too (the default skips sleeping ones) and
    # order-0 pages; stay quiet (the allocators' own failure reports are
    # expected here, their traces are removed from dmesg below).
    for d in failslab fail_page_alloc; do
        echo N > $fi_dir/$d/ignore-gfp-wait
        echo 0 > $fi_dir/$d/verbose
    done
    echo N > $fi_dir/fail_page_alloc/ignore-gfp-highmem
    echo 0 > $fi_dir/fail_page_alloc/min-order
    out=$(xmc-test load-sweep "$ko" 20000)
    echo "$out" | grep '^node_in_failed_load\|^failed_step' | head -20 | sed 's/^/# /'
    line=$(echo "$out" | tail -1)
    diag "$line"
    n=$(kv sweep_n "$line"); okl=$(kv loads_ok "$line"); bad=$(kv node_in_failed "$line")
    check "the sweep ran to a load with nothing injected ($n allocations tried, $(kv loads_failed "$line") loads failed)" \
        test -n "$n" -a "${n:-20000}" -lt 20000 -a "${okl:-0}" -ge 1
    binds=$(echo "$out" | sed -n 's/^failed_step binding_VIRQ_MCA_failed=//p')
    check "  it failed the VIRQ_MCA bind ($binds loads)" test "${binds:-0}" -ge 1
    check "  no failed load ever created /dev/xen_mcelog ($bad did)" test "$bad" = 0
    check "  nothing left behind: no module, no node, no debugfs directory" \
        test ! -e /dev/xen_mcelog -a ! -e $fi_dir/xen_mcelog -a -z "$(grep '^xen_mcelog ' /proc/modules)"
    m=$(dmesg | grep -E 'WARNING:|BUG:|Oops|general protection|UBSAN:|kmemleak: .* new suspected')
    [ -n "$m" ] && echo "$m" | head -20 | sed 's/^/# dmesg: /'
    check "  no WARNING, BUG or Oops during the sweep" test -z "$m"
    if [ -w $fi_dir/kmemleak ]; then
        echo scan > $fi_dir/kmemleak; sleep 1; echo scan > $fi_dir/kmemleak
        leaks=$(grep -c 'xen_mcelog\|xmc_' $fi_dir/kmemleak)
        check "  kmemleak: no leak from a failed load's unwinding ($leaks)" test "$leaks" -eq 0
    fi
    # The allocators' reports of the injected failures (with their call
    # traces) would trip the later cases' no_warnings: clear them.
    dmesg -c > /dev/null
    check "modprobe xen_mcelog after the sweep" modprobe xen_mcelog
    check "  /dev/xen_mcelog is there" test -c /dev/xen_mcelog
    check "rmmod xen_mcelog" rmmod xen_mcelog
fi
