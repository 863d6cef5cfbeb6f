# shellcheck shell=sh
# xen_mcelog's page-owner probe (XMC_PAGE_OWNER; docs/page-retirement.md,
# "The owner probe") on the installed Debian 13 dom0, with a running PV domU:
# the ioctl's answers (the guest's own frames, dom0's frame, a frame nobody
# has, frames outside RAM, a domain that does not exist, the arguments the
# module refuses), that a thousand probes leave Xen's page state and the
# guest alone, page retirement's two paths that asked Xen's page-offline
# sysctl about a guest's page before the probe (a deferred page's retry,
# which hung dom0 at that sysctl on Xen 4.20.4, 2026-12-02, and a retired
# page after a reboot), a page whose guest is gone asked about while another
# runs, a frame the guest gives back (its balloon), then offlined as nobody's
# with the guest running (the probe's "no guest" with a live guest asked),
# and an `xl destroy` that completes and leaves no zombie.
#
# Wired into make check-system: tests/system/build-image.sh installs this
# file as /usr/local/lib/xmc/owner-probe.sh and the static xmc-test (make
# dom0-tools) as /usr/local/sbin/xmc-test; xmc-system-check sources it and
# calls owner_probe_checks GONE_PAGE in boot 2, after the xmcguest2 block;
# GONE_PAGE is the page that block left to xmcguest2, destroyed since (or
# empty). It uses xmc-system-check's helpers and settings: check ok fail
# skip diag wait_for (tests/lib/tap.sh), has retire_log mem_status online
# retired pfn_mfn dump_p2m, $cfg $stf, and sets $since.
# shellcheck disable=SC2154 # cfg and stf are xmc-system-check's

owner_probe_checks() {
    gone_page=$1
    dev=/dev/xen_mcelog
    # probe_owner MFN DOMID [OPTION...]: the ioctl's answer, xen_rc=N (Xen's
    # mmu_update result: 0 owned, -16 EBUSY not the domain's, -1 EPERM not
    # RAM, -3 ESRCH no such domain) or owner=err:ERRNO (the module's).
    probe_owner() { xmc-test owner $dev "$@"; }
    # start_with MFN=STATE...: the service stopped, each page's line
    # written into the state file as the service writes it (three errors,
    # now, owner unknown) in place of any earlier one, $since set (one
    # second on, the start's lines are after it: retire_log), started.
    start_with() {
        systemctl stop xen-mcelog-json
        now=$(date +%s)
        for ps in "$@"; do
            sed -i "/^page ${ps%=*} /d" "$stf"
            echo "page ${ps%=*} state=${ps#*=} count=0 since=$now errors=3 attempts=0 changed=$now owner=32756" >> "$stf"
        done
        # shellcheck disable=SC2034 # (retire_log reads since)
        since=$(date +%s); sleep 1
        systemctl start xen-mcelog-json
    }
    # offlined_again MFN WHAT: MFN, started with as a page retired before
    # a reboot and nobody's now (every domain Xen lists said no): the
    # offline request, Xen's mark (free: offlined; Xen's own since:
    # offline-pending) and the state file.
    offlined_again() {
        check "  $2: offline request (60 s)" wait_for 60 has \
            "page $1: retired before, but Xen reports it 0x0 [online] (the host rebooted?): offlining it again through Xen (its page-offline sysctl, as xen-hptool mem-offline $1; not owned by a guest)"
        check "  Xen has it offlined or offline-pending ($(mem_status "$1"))" retired "$1"
        check "  the state file has it retired (20 s)" wait_for 20 grep -Eq "^page $1 state=(offlined|pending) " "$stf"
    }
    # The probe was set up at load: the module says nothing then; a failed
    # set-up says why and "page-owner probe unavailable".
    journalctl -b -k -o cat | grep 'page-owner probe' | sed 's/^/# kernel: /'
    check "owner probe: the module set it up at load (no 'page-owner probe' line in the kernel log)" \
        sh -c "! journalctl -b -k -o cat | grep -q 'page-owner probe'"
    k=$(uname -r)
    printf 'name = "xmcguest3"\ntype = "pv"\nkernel = "/boot/vmlinuz-%s"\nramdisk = "/boot/initrd.img-%s"\nextra = "console=hvc0 root=/dev/xmc-none rootdelay=1 panic=0"\nmemory = 256\nvcpus = 1\n' "$k" "$k" > /run/xmcguest3.cfg
    check "  xl create a PV domU (xmcguest3)" xl create /run/xmcguest3.cfg
    gid=$(xl domid xmcguest3 2>/dev/null)
    wait_for 60 dump_p2m "$gid" 0x3800 /run/p2m3.txt || head -3 /run/p2m3.txt | sed 's/^/# p2m: /'
    # Two frames xmcguest2 (boot 2's guest before this one) did not have
    # at its 0x3500, whose page the state file keeps as the guest's.
    G=$(pfn_mfn 0x3700 /run/p2m3.txt); G2=$(pfn_mfn 0x3800 /run/p2m3.txt)
    diag "domain ${gid:-?}'s guest frames 0x3700, 0x3800 are machine frames ${G:-?}, ${G2:-?}"
    if [ -z "$gid" ] || [ -z "$G" ] || [ -z "$G2" ] || [ $((G)) -le 256 ] || [ $((G2)) -le 256 ]; then
        fail "  xen-mfndump gives the machine frames of guest frames 0x3700 and 0x3800"
        xl destroy xmcguest3 2>/dev/null || true
        return
    fi
    # --- The ioctl: Xen's mmu_update result, or the module's refusal.
    for p in "$G" "$G2"; do
        r=$(probe_owner "$p" "$gid")
        check "  domain $gid owns its frame $p: xen_rc=0 ($r)" test "$r" = xen_rc=0
    done
    r=$(probe_owner "$G" $((gid + 100)))
    check "  a domain that does not exist ($((gid + 100))): ESRCH, xen_rc=-3 ($r)" test "$r" = xen_rc=-3
    # dom0's frame: one of its Xen-heap pages (its shared info, its grant
    # table), owned by dom0 (share_xen_page_with_guest), listed by Xen's
    # 'q' debug key as "XenPage <mfn>" under "Memory pages belonging to
    # domain 0" (xen/arch/x86/domain.c dump_pageframe_info).
    xl debug-keys q
    h=$(xl dmesg | sed -n '/Memory pages belonging to domain 0:/,/NODE affinity for domain 0/s/.*XenPage \([0-9a-f]*\):.*/\1/p' | tail -1)
    if [ -n "$h" ]; then
        X=$(printf '0x%x' $((0x$h))); r=$(probe_owner "$X" "$gid")
        check "  dom0's frame $X (a Xen-heap page of dom0's, xl debug-keys q): not domain $gid's, EBUSY, xen_rc=-16 ($r)" \
            test "$r" = xen_rc=-16
    else
        skip "  dom0's frame: not domain $gid's, EBUSY" "xl debug-keys q listed no XenPage of domain 0 (xl dmesg)"
    fi
    # A frame nobody has: retired in boot 1, kept out of Xen's allocator
    # since boot (badpage=, persist = grub): no reference, no owner, as a
    # free page.
    R1=$(head -1 /var/lib/xmc-system-check/retired 2>/dev/null | cut -d' ' -f1)
    if [ -n "$R1" ]; then
        r=$(probe_owner "$R1" "$gid")
        check "  frame $R1, kept out of Xen's allocator since boot (badpage=): nobody's, EBUSY, xen_rc=-16 ($r)" \
            test "$r" = xen_rc=-16
    else
        skip "  a frame kept out since boot: nobody's, EBUSY" "boot 1 retired no page"
    fi
    r=$(probe_owner 0xfe00000 "$gid")
    check "  a frame outside RAM (0xfe00000): EPERM, xen_rc=-1 ($r)" test "$r" = xen_rc=-1
    r=$(probe_owner 0xfffffffffe "$gid")
    check "  frame 2^40 - 2, the highest the module asks about: outside RAM, xen_rc=-1 ($r)" test "$r" = xen_rc=-1
    for d in 0 0x7ff0 0x7ff1 0x7ff2 0x7ff3; do   # dom0 itself, DOMID_SELF, _IO, _XEN, _COW
        r=$(probe_owner "$G" "$d")
        check "  domain $d is refused before Xen is asked: EINVAL ($r)" test "$r" = owner=err:22
    done
    r=$(probe_owner 0xffffffffff "$gid")
    check "  frame 2^40 - 1 (Xen's INVALID_MFN) is refused: EINVAL ($r)" test "$r" = owner=err:22
    r=$(probe_owner "$G" "$gid" --flags 1)
    check "  flags 1 are refused: EINVAL ($r)" test "$r" = owner=err:22
    # --- Nothing left behind: a thousand probes of the guest's frame, then
    # Xen's view of the page and the guest as before.
    s0=$(mem_status "$G")
    l=$(probe_owner "$G" "$gid" --count 1000); diag "$l"
    check "  1000 probes of $G for domain $gid: every one xen_rc=0 ($l)" \
        sh -c "echo '$l' | grep -q '^probes=1000 answers=xen_rc=0:1000 '"
    r=$(probe_owner "$G" "$gid")
    check "  and the probe still answers: xen_rc=0 ($r; EIO would be err:5)" test "$r" = xen_rc=0
    s1=$(mem_status "$G")
    check "  Xen's page state untouched: $G online, as before ($s0, now $s1)" \
        sh -c "[ -n '$s0' ] && [ '$s0' = '$s1' ] && [ \$(($s1 & 0xa)) = 0 ]"
    check "  the guest still runs (xl list: $(xl list xmcguest3 2>/dev/null | awk 'NR == 2 { print $5 }'))" \
        sh -c "xl list xmcguest3 | awk 'NR == 2 { f = 1; s = (\$5 ~ /[cd]/) } END { exit (!f || s) }'"
    # --- Page retirement: a deferred page's retry and a retired page after a
    # reboot, both now the guest's, written into the state file as the
    # service leaves them (service stopped; any earlier line of the two
    # frames removed); at start it has max-offlines room, asks the probe
    # and sends no offline request.
    # With them, the page xmcguest2 had ($gone_page, left to it; xmcguest2 is
    # destroyed) as a page retired before a reboot: at start the probe asks
    # every domain Xen lists, xmcguest3 among them, and the service acts on
    # the answer. The periodic re-check of pages left to a guest (every
    # PENDING_RECHECK = 10 minutes, host-tested) asks the same way; it is
    # not waited for here, and with the line replaced no page is left to a
    # guest that is gone when it comes. persist = off meanwhile: a page
    # offlined here is not one for GRUB (boot 1 checked persist = grub).
    sed -i 's|^max-offlines = .*|max-offlines = 10 / 1h|; s|^guest-pages = .*|guest-pages = skip|; s|^persist = .*|persist = off|' "$cfg"
    start_with "$G=deferred" "$G2=offlined" ${gone_page:+"$gone_page=offlined"}
    check "  deferred page $G, now domain $gid's: left to it by the probe, no offline request (60 s)" wait_for 60 has \
        "page $G: deferred earlier, max-offlines allows it now: in use by domain $gid, not offlined: domain $gid owns it now (xen_mcelog's page-owner probe; no offline request sent)"
    check "  retired page $G2, now domain $gid's: left to it by the probe, no offline request (10 s)" wait_for 10 has \
        "page $G2: retired before, but Xen reports it 0x0 [online] (the host rebooted?): in use by domain $gid, not offlined: domain $gid owns it now (xen_mcelog's page-owner probe; no offline request sent)"
    retire_log | grep -E "page ($G|$G2|${gone_page:-none})[: ]|page-owner probe" | sed 's/^/# journal: /'
    c=$(retire_log | grep -cE "page ($G|$G2): .*(offlining it|Xen's answer)")
    check "  no offline request and no Xen answer for either ($c lines)" test "$c" = 0
    c=$(retire_log | grep -c 'page-owner probe cannot answer')
    check "  the probe answered (no 'page-owner probe cannot answer': $c)" test "$c" = 0
    check "  Xen's page state untouched: $G online ($(mem_status "$G"))" online "$G"
    check "  Xen's page state untouched: $G2 online ($(mem_status "$G2"))" online "$G2"
    # (the service saves its state a moment after a change)
    check "  the state file has both as domain $gid's (20 s)" wait_for 20 \
        sh -c "grep -q '^page $G state=guest .* owner=$gid\$' $stf && grep -q '^page $G2 state=guest .* owner=$gid\$' $stf"
    # The page of the guest that is gone: free again (or anyone's since).
    # xmcguest3's if its P2M maps it (/run/p2m3.txt), or if Xen lists it
    # among domain $gid's Xen-heap pages ('q' debug key); then left to it
    # as above. Else the probe's answer is "no guest" (every domain listed
    # said no: xmcguest3's EBUSY), and the service offlines it again
    # (free: offlined; Xen's own: offline-pending).
    if [ -n "$gone_page" ]; then
        xl debug-keys q
        if grep -q "mfn=$gone_page " /run/p2m3.txt || xl dmesg | sed -n "/Memory pages belonging to domain $gid:/,/NODE affinity for domain $gid/p" |
            grep -q "XenPage 0*${gone_page#0x}:"; then
            diag "page $gone_page, xmcguest2's, is domain $gid's now (its P2M or its Xen-heap pages)"
            check "  page $gone_page, left to xmcguest2 (gone), domain $gid's now: left to it (60 s)" wait_for 60 has \
                "page $gone_page: retired before, but Xen reports it 0x0 [online] (the host rebooted?): in use by domain $gid, not offlined: domain $gid owns it now"
        else
            offlined_again "$gone_page" "page $gone_page, left to xmcguest2 (gone), no domain's now: domain $gid asked"
        fi
    fi
    # --- A frame the guest gives back: its balloon returns 64 MiB to Xen; a
    # frame its P2M mapped before and maps no more is free in Xen's heap
    # (nothing else allocates meanwhile). It also shows the guest's kernel
    # still works after the probes.
    # freed: the guest's P2M again (/run/p2m3b.txt); F, a machine frame of a
    # guest frame that is invalid now and was the guest's (type 0x0) before.
    # shellcheck disable=SC2317 # wait_for calls it
    freed() {
        xen-mfndump dump-p2m "$gid" > /run/p2m3b.txt 2>&1 || return 1
        F=$(awk 'FNR == NR { if (/\(type 0x0\)$/) { sub(/^pfn=/, "", $1); sub(/^mfn=/, "", $3); was[$1] = $3 } next }
                 / invalid$/ { sub(/^pfn=/, "", $1); if ($1 in was) { print was[$1]; exit } }' /run/p2m3.txt /run/p2m3b.txt)
        [ -n "$F" ] && ! grep -q "mfn=$F " /run/p2m3b.txt
    }
    F=
    check "  xl mem-set xmcguest3 192m (its balloon gives 64 MiB back)" xl mem-set xmcguest3 192m
    if wait_for 60 freed; then
        r=$(probe_owner "$F" "$gid")
        check "  frame $F, which the guest gave back: free, EBUSY, xen_rc=-16 ($r)" test "$r" = xen_rc=-16
        # The probe's "no guest" with a guest running, whichever frame
        # xmcguest3 got above: F into the state file as a page retired
        # before a reboot; at start the probe asks every domain Xen lists
        # (xmcguest3 answers EBUSY, as just now) and the service offlines
        # it (free: offlined; Xen's own since: offline-pending).
        start_with "$F=offlined"
        offlined_again "$F" "frame $F, retired before, nobody's, domain $gid running"
        retire_log | grep -E "page ${F}[: ]" | sed 's/^/# journal: /'
    else
        head -3 /run/p2m3b.txt 2>/dev/null | sed 's/^/# p2m: /'
        fail "  frame ${F:-?}, which the guest gave back: free, EBUSY (no guest frame went invalid in 60 s)"
    fi
    # --- The guest goes, promptly and wholly: what hung dom0 before the probe.
    check "  xl destroy xmcguest3 (60 s)" timeout 60 xl destroy xmcguest3
    # gone3: no domain with its id in xl list, by name or as a "(null)"
    # zombie (a page reference left behind keeps a dying domain).
    # shellcheck disable=SC2317 # wait_for calls it
    gone3() { ! xl list 2>/dev/null | awk -v d="$gid" 'NR > 1 && $2 == d { f = 1 } END { exit !f }'; }
    check "  domain $gid is gone, no zombie (xl list, 30 s)" wait_for 30 gone3
    xl list | sed 's/^/# xl list: /'
    r=$(probe_owner "$G" "$gid")
    check "  its frame is no domain $gid's any more: ESRCH, xen_rc=-3 ($r)" test "$r" = xen_rc=-3
    st=$(journalctl -b -k -o cat | grep -E 'rcu.*stall|soft lockup|hung_task|WARNING:|BUG:')
    [ -n "$st" ] && echo "$st" | head -5 | sed 's/^/# kernel: /'
    check "  no RCU stall, lockup, WARNING or BUG in the kernel log" test -z "$st"
    # Back as it was: the pages above out of the state file, persist = grub
    # again. (Xen keeps those it offlined offline until boot 3's reset,
    # which forgets them.)
    systemctl stop xen-mcelog-json
    for p in "$G" "$G2" "$gone_page" "$F"; do
        [ -z "$p" ] || sed -i "/^page $p /d" "$stf"
    done
    sed -i 's|^persist = .*|persist = grub|' "$cfg"
    systemctl start xen-mcelog-json
}
