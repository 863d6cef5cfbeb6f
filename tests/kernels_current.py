#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The decision of tests/kernels-current.sh (make kernels-current), in one place.

    kernels_current.py scan SUITE=Packages.xz...        the kernels of the indexes, one a line
    kernels_current.py table SCAN CONF DIR OUT.md TITLE  rules on them once their .config
                                                         files are in DIR; exit 1 when
                                                         tests/kernels.conf is not current

The rule is in tests/kernels-current.sh's header and docs/kernels.md.
"""
import functools, lzma, os, re, sys

def order(c):
    if c == "" or c.isdigit(): return 0
    if c.isalpha(): return ord(c)
    return -1 if c == "~" else ord(c) + 256

def verrevcmp(a, b):                    # dpkg's lib/dpkg/version.c, verrevcmp()
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac, bc = order(a[i] if i < len(a) else ""), order(b[j] if j < len(b) else "")
            if ac != bc: return ac - bc
            i += 1; j += 1
        while i < len(a) and a[i] == "0": i += 1
        while j < len(b) and b[j] == "0": j += 1
        first = 0
        while i < len(a) and j < len(b) and a[i].isdigit() and b[j].isdigit():
            first = first or ord(a[i]) - ord(b[j]); i += 1; j += 1
        if i < len(a) and a[i].isdigit(): return 1
        if j < len(b) and b[j].isdigit(): return -1
        if first: return first
    return 0

def vercmp(a, b):
    def split(v):
        e, _, v = v.rpartition(":") if ":" in v else ("0", "", v)
        u, _, r = v.rpartition("-") if "-" in v else (v, "", "0")
        return int(e or 0), u, r
    (ea, ua, ra), (eb, ub, rb) = split(a), split(b)
    return (ea > eb) - (ea < eb) or verrevcmp(ua, ub) or verrevcmp(ra, rb)

def series(version):                    # 7.2.11-1~bpo13+1 -> 7.2, 7.3~rc7-1~exp1 -> 7.3
    return re.match(r"(?:\d+:)?(\d+\.\d+)", version).group(1)

def scan(args):
    for arg in args:
        suite, path = arg.split("=", 1)
        headers, images, sources = {}, {}, set()
        for stanza in lzma.open(path, "rt", encoding="utf-8", errors="replace").read().split("\n\n"):
            if not stanza.startswith("Package: linux-"):
                continue
            f = dict(re.findall(r"^([\w-]+): (.*)$", stanza, re.M))
            p, v = f["Package"], f["Version"]
            m = re.fullmatch(r"linux-(headers|image)-(\d\S*)-amd64", p)
            if m and not re.search(r"-(cloud|rt)$", m.group(2)):
                (headers if m.group(1) == "headers" else images)[(m.group(2) + "-amd64", v)] = f
            elif re.fullmatch(r"linux-source-\d+\.\d+", p):
                sources.add((p, v))
        for (rel, v), f in sorted(headers.items(), key=functools.cmp_to_key(lambda a, b: vercmp(a[0][1], b[0][1]))):
            src = "linux-source-" + series(v)
            print("\t".join(["K", suite, rel, v, f["Filename"], f["SHA256"], src, "yes" if (src, v) in sources else "no"]))
        bare = sorted({v for (rel, v) in images if not any(r == rel for (r, _) in headers)}, key=functools.cmp_to_key(vercmp))
        print("\t".join(["I", suite, str(len(bare))] + bare))

def config(path):
    cfg = {}
    for line in open(path, encoding="utf-8", errors="replace"):
        m = re.match(r'CONFIG_(\w+)=("?)(.*)\2$', line.rstrip("\n"))
        if m: cfg[m.group(1)] = m.group(3)
    return cfg

def short(cfg):                         # the toolchain, as tests/matrix.sh shows it
    rustc = " ".join(cfg.get("RUSTC_VERSION_TEXT", "").split()[:2]) or "-"
    cc = re.sub(r"^x86_64-linux-gnu-(\S+) \(Debian ([^)]*)\).*", r"\1 \2", cfg.get("CC_VERSION_TEXT", "")) or "-"
    return f"{rustc}, {cc}, {cfg.get('BINDGEN_VERSION_TEXT', '-') or '-'}"

def table(scan_file, conf_file, cfg_dir, out_file, header):
    kernels, bare = [], {}
    for line in open(scan_file):
        f = line.rstrip("\n").split("\t")
        if f[0] == "K":
            kernels.append(dict(zip(["suite", "rel", "ver", "file", "sha", "src", "srcok"], f[1:])))
        else:
            bare[f[1]] = f[3:]
    conf = [dict(zip(["id", "rel", "ver", "suite", "root", "src", "rustc", "cc", "bindgen"], l.rstrip("\n").split("|")))
            for l in open(conf_file) if l.strip()]
    suites = list(dict.fromkeys([k["suite"] for k in kernels] + list(bare)))
    newest = {}
    for k in kernels:
        k["cfg"] = config(os.path.join(cfg_dir, "config-" + k["sha"]))
        k["rust"] = k["cfg"].get("RUST") == "y"
        k["pv"] = k["cfg"].get("XEN_PV_DOM0") == "y"
        if k["srcok"] == "yes":
            key = (k["suite"], series(k["ver"]))
            if key not in newest or vercmp(k["ver"], newest[key]["ver"]) > 0:
                newest[key] = k
    rows, missing, gone = [], [], []
    for k in kernels:
        listed = [c["id"] for c in conf if c["rel"] == k["rel"] and c["ver"] == k["ver"]]
        other = [c for c in conf if c["rel"] == k["rel"] and c["ver"] != k["ver"]]
        top = newest.get((k["suite"], series(k["ver"])))
        counts = top is k and k["rust"] and k["pv"]
        if listed:
            status = "listed (" + ", ".join(listed) + ")"
        elif k["srcok"] != "yes":
            status = f"not buildable: no {k['src']} {k['ver']} in {k['suite']}"
        elif not k["rust"]:
            status = "no CONFIG_RUST"
        elif not k["pv"]:
            status = "no CONFIG_XEN_PV_DOM0"
        elif counts:
            status = "**MISSING**" + "".join(f" (kernels.conf's {c['id']} is {c['ver']})" for c in other)
            missing.append(k)
        else:
            status = f"superseded by {top['ver']}"
        rust = ("yes" if k["rust"] else "no") + ("" if k["pv"] else ", no PV dom0")
        src = f"{k['src']} {k['ver']}" if k["srcok"] == "yes" else "-"
        rows.append(f"| {k['rel']} | {k['ver']} | {k['suite']} | {rust} | {short(k['cfg'])} | {src} | {status} |")
    for c in conf:
        if c["suite"] not in suites:
            rows.append(f"| {c['rel']} | {c['ver']} | {c['suite']} | | | | not checked: {c['suite']} is not among the suites looked at |")
        elif not any(k["rel"] == c["rel"] and k["ver"] == c["ver"] and k["suite"] == c["suite"] for k in kernels):
            rows.append(f"| {c['rel']} | {c['ver']} | {c['suite']} | | | | **GONE**: kernels.conf's {c['id']}, no longer in {c['suite']} |")
            gone.append(c)
    lines = [header, "",
             "| release | package version | suite | CONFIG_RUST | built with | linux-source | status |",
             "|---|---|---|---|---|---|---|"] + rows + [""]
    for s in suites:
        if bare.get(s):
            lines.append(f"{s}: {len(bare[s])} more amd64 kernel(s) have a linux-image but no linux-headers "
                         f"in the suite ({bare[s][0]} ... {bare[s][-1]}): no module can be built for them.")
    if lines[-1]:
        lines.append("")
    if missing:
        lines += [f"tests/kernels.conf lacks {len(missing)} kernel(s) that count; their lines, from the headers' .config "
                  "(choose an ID and a build root whose suite's rustc, C compiler and bindgen print exactly these texts):"]
        for k in missing:
            c = k["cfg"]
            roots = sorted({x["root"] for x in conf if (x["rustc"], x["cc"], x["bindgen"]) ==
                            (c.get("RUSTC_VERSION_TEXT"), c.get("CC_VERSION_TEXT"), c.get("BINDGEN_VERSION_TEXT"))})
            lines.append(f"    kernel ID | {k['rel']} | {k['ver']} | {k['suite']} | {'/'.join(roots) or 'ROOT'} | {k['src']} | "
                         f"{c.get('RUSTC_VERSION_TEXT', '?')} | {c.get('CC_VERSION_TEXT', '?')} | {c.get('BINDGEN_VERSION_TEXT', '?')}")
    if gone:
        lines += [""] * bool(missing) + ["tests/kernels.conf lists kernel(s) no longer in their suite: " +
                  ", ".join(f"{c['id']} ({c['rel']} {c['ver']}, {c['suite']})" for c in gone)]
    if not missing and not gone:
        lines += ["tests/kernels.conf is current: it lists every Rust-enabled amd64 kernel that counts."]
    open(out_file, "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if missing or gone else 0

if sys.argv[1] == "scan":
    scan(sys.argv[2:])
else:
    sys.exit(table(*sys.argv[2:]))
