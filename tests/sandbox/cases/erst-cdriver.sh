# ERST, the baseline (boot 3 of tests/erst.sh): the same store, booted with
# the kernel's built-in C driver (drivers/xen/mcelog.c) on /dev/mcelog. It
# never looks at ERST: nothing of the fatal error reaches /dev/mcelog.
check "built-in C driver registered /dev/mcelog" test -c /dev/mcelog
sleep 3
n=$(dd if=/dev/mcelog bs=3584 count=1 2>/dev/null | wc -c)
diag "baseline: /dev/mcelog holds $((n / 112)) records after the reset ($n bytes)"
check "the C driver delivers nothing of the fatal machine check ($n bytes)" test "$n" -eq 0
