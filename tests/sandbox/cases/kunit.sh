# The test kernel (KUnit built in, XEN_MCE_LOG off) as PV dom0: loading the
# module runs its KUnit suites (ring on the kernel atomics, converter, device
# semantics); every KUnit case becomes one TAP result here.
out=$(modprobe xen_mcelog 2>&1); rc=$?
[ -n "$out" ] && diag "modprobe: $out"
check "modprobe xen_mcelog on the test kernel" test $rc -eq 0
sleep 1
dmesg | sed 's/^\[[^]]*\] //' > /tmp/ktap
suites=$(sed -n 's/^ *# Subtest: \(xen_mcelog[A-Za-z0-9_]*\)$/\1/p' /tmp/ktap)
check "KUnit suites found: $(echo $suites)" test -n "$suites"
# Case results are indented one level below their suite.
sed -n 's/^    \(not ok\|ok\) [0-9]* \(.*\)$/\1 \2/p' /tmp/ktap > /tmp/kcases
while read -r res name; do
    case $res in
        ok) ok "kunit: $name" ;;
        not) fail "kunit: ${name#ok }" ;;
    esac
done < /tmp/kcases
check "KUnit ran at least one case" test -s /tmp/kcases
for s in $suites; do
    check "suite $s passed" grep -q "^ok [0-9]* $s\$" /tmp/ktap
done
check "rmmod after KUnit" rmmod xen_mcelog
check "dmesg has no WARNING/BUG/Oops" no_warnings
