#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The Python half of the fleet tests: tools/tests/prom-stack.sh (the stack:
Prometheus, Alertmanager, the webhook receiver), tools/tests/fleet-e2e.sh
(make check) and tests/system/run.sh (make check-system). One command a
call; what a shell test asks of Prometheus' HTTP API, of the webhook's
record and of a fake device. Standard library only (the hosts that run it
have python3 and nothing more).

  ports N                     N free loopback ports (the kernel's choice)
  hook PORT FILE              the webhook receiver (below); runs until killed
  fake-device FIFO NAMEFILE   a raw pseudo-terminal fed from FIFO (below)
  fatal-record FILE           a fatal machine check, mcelog's 128-byte record
  json-get KEY                KEY of the JSON object on stdin
  has URL EXPR                exit 0 when the instant query has a result
  value URL EXPR              the first result's value, 0 without one
  alerts URL STATE            Prometheus' alerts in STATE (firing, pending)
  evaluated-since URL T N     exit 0 when N rule groups, every one evaluated
                              after Unix time T, all their rules healthy
  am-alerts URL               how many alerts Alertmanager holds
  hooked FILE LABEL=VALUE...  exit 0 when a firing alert with those labels
                              reached the webhook
  hook-names FILE             the alert names that reached the webhook

URL: Prometheus' (or Alertmanager's) base, http://127.0.0.1:PORT.
"""

import datetime
import http.server
import json
import os
import socket
import struct
import sys
import termios
import time
import tty
import urllib.parse
import urllib.request


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def query(url, expr):
    q = urllib.parse.urlencode({"query": expr})
    return get(f"{url}/api/v1/query?{q}")["data"]["result"]


def ports(n):
    ss = [socket.socket() for _ in range(int(n))]
    for s in ss:
        s.bind(("127.0.0.1", 0))
    print(*[s.getsockname()[1] for s in ss])


def hook(port, out):
    """Appends each POST body as one line to OUT; answers GET / with one
    line per alert received so far, for a shell without a JSON parser (the
    check-system dom0): "STATUS ALERTNAME key=value ..." (labels sorted,
    alertname left out), e.g. "firing XenMcelogReaderStale
    instance=xmc-dom0 job=node ..."."""

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with open(out, "ab") as f:
                f.write(body.replace(b"\n", b" ") + b"\n")
            self.send_response(200)
            self.end_headers()

        def do_GET(self):
            lines = []
            for line in open(out):
                for a in json.loads(line)["alerts"]:
                    kv = sorted((k, v) for k, v in a["labels"].items() if k != "alertname")
                    lines.append(" ".join([a["status"], a["labels"].get("alertname", "?")]
                                          + [f"{k}={v}" for k, v in kv]))
            body = "".join(line + "\n" for line in lines).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    http.server.HTTPServer(("127.0.0.1", int(port)), H).serve_forever()


def fake_device(fifo, name):
    """A raw pseudo-terminal (VMIN = VTIME = 0), as tools/tests/service.rs
    uses for a device: it polls readable when bytes are queued and reads 0
    when empty. What is written into FIFO comes out of it; the slave's path
    is written to NAME (atomically) once it is ready."""
    m, s = os.openpty()
    tty.setraw(s)
    t = termios.tcgetattr(s)
    t[6][termios.VMIN] = 0
    t[6][termios.VTIME] = 0
    termios.tcsetattr(s, termios.TCSANOW, t)
    f = os.open(fifo, os.O_RDWR)
    with open(name + ".tmp", "w") as n:
        n.write(os.ttyname(s))
    os.rename(name + ".tmp", name)
    while True:
        b = os.read(f, 4096)
        if not b:
            break
        os.write(m, b)


def fatal_record(path):
    """A fatal machine check (MCi_STATUS VAL UC EN PCC ...), mcelog's
    128-byte struct mce (Linux arch/x86/include/uapi/asm/mce.h), bank 4,
    socket 0."""
    rec = struct.pack("<7Q4BI4B3I4QI4xQ",
                      0xBF20_0000_8000_017A, 0, 0x1234_5000, 0, 0, 0, int(time.time()),
                      0, 0, 0, 0, 0x506E3, 0, 4, 0, 1, 0, 0, 0, 0x100_010A, 0, 0, 0, 0, 0)
    assert len(rec) == 128
    with open(path, "wb") as f:
        f.write(rec)


def evaluated_since(url, t, n):
    gs = get(f"{url}/api/v1/rules")["data"]["groups"]

    def after(g):
        ts = g["lastEvaluation"][:26].rstrip("Z") + "+00:00"
        return datetime.datetime.fromisoformat(ts).timestamp() > float(t)

    return len(gs) == int(n) and all(after(g) and all(r["health"] == "ok" for r in g["rules"])
                                     for g in gs)


def hook_alerts(path):
    return [a for line in open(path) for a in json.loads(line)["alerts"]]


def main(cmd, *a):
    if cmd == "ports":
        ports(*a)
    elif cmd == "hook":
        hook(*a)
    elif cmd == "fake-device":
        fake_device(*a)
    elif cmd == "fatal-record":
        fatal_record(*a)
    elif cmd == "json-get":
        print(json.load(sys.stdin)[a[0]])
    elif cmd == "has":
        return 0 if query(*a) else 1
    elif cmd == "value":
        r = query(*a)
        print(r[0]["value"][1] if r else 0)
    elif cmd == "alerts":
        url, state = a
        alerts = get(f"{url}/api/v1/alerts")["data"]["alerts"]
        print(" ".join(sorted({x["labels"]["alertname"] for x in alerts if x["state"] == state})))
    elif cmd == "evaluated-since":
        return 0 if evaluated_since(*a) else 1
    elif cmd == "am-alerts":
        print(len(get(f"{a[0]}/api/v2/alerts")))
    elif cmd == "hooked":
        want = dict(kv.split("=", 1) for kv in a[1:])
        return 0 if any(x["status"] == "firing"
                        and all(x["labels"].get(k) == v for k, v in want.items())
                        for x in hook_alerts(a[0])) else 1
    elif cmd == "hook-names":
        print(" ".join(sorted({x["labels"]["alertname"] for x in hook_alerts(a[0])})))
    else:
        sys.exit(f"promstack.py: no command {cmd!r} (see its docstring)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
