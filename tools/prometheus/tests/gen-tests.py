# SPDX-License-Identifier: GPL-2.0-only
# Writes alerts-test.yml and thresholds-missing-test.yml (promtool test
# rules) from the compact spec below: which series fire which alert, and
# which must not. promtool compares annotations whole, so after a change of
# an alert's text run this again (python3 gen-tests.py, in this directory;
# needs python3-yaml and promtool): it fills in the annotations promtool
# renders, and the diff shows them for review.
import subprocess, re, yaml, sys, copy
L = dict(instance="h1", job="node")
def s(name, labels, values):
    lab = dict(L); lab.update(labels)
    ls = ",".join(f'{k}="{v}"' for k, v in lab.items())
    return {"series": f"{name}{{{ls}}}", "values": values}
def fires(t, name, labels):
    lab = dict(L); lab.update(labels)
    return {"eval_time": t, "alertname": name, "exp_alerts": [{"exp_labels": lab}]}
def quiet(t, name):
    return {"eval_time": t, "alertname": name, "exp_alerts": []}
UC = "uncorrected-recoverable|action-required|uncorrected|fatal".split("|")
def seeded(boot_vals=None, ts_vals=None, n=6):
    """Every severity/boot at 0 (as the tool writes them), with overrides."""
    out = []
    for sev in ["corrected","uncorrected-recoverable","action-required","fatal","uncorrected","invalid"]:
        for boot in ["current","previous"]:
            v = (boot_vals or {}).get((sev, boot), f"0x{n}")
            out.append(s("xen_mcelog_records_total", dict(severity=sev, boot=boot), v))
            t = (ts_vals or {}).get((sev, boot), f"0x{n}")
            out.append(s("xen_mcelog_last_record_timestamp_seconds", dict(severity=sev, boot=boot), t))
    return out
healthy_live = [
    s("xen_mcelog_reader_up", {}, "1x20"),
    s("xen_mcelog_last_read_timestamp_seconds", {}, "0+60x20"),
    s("xen_mcelog_overflows_total", {}, "0x20"),
    s("xen_mcelog_module_overflows_total", dict(reason="incomplete"), "0x20"),
    s("xen_mcelog_module_overflows_total", dict(reason="dropped_banks"), "0x20"),
    s("xen_mcelog_module_overflows_total", dict(reason="xen_pool"), "0x20"),
    s("xen_mcelog_module_loaded", {}, "1x20"),
    s("xen_mcelog_xen_running", {}, "1x20"),
]
ALL = ["XenMcelogUncorrectedError","XenMcelogHostResetByMachineCheck","XenMcelogCorrectedErrorsPage",
       "XenMcelogCorrectedErrorsBank","XenMcelogCorrectedErrorsSocket","XenMcelogRecordsLost",
       "XenMcelogPageRetirementFailed","XenMcelogPageRetirementRefused","XenMcelogPageRetirementPending",
       "XenMcelogPageRetirementOwnerUnknown","XenMcelogRetireConfigError","XenMcelogReaderDown",
       "XenMcelogReaderStale","XenMcelogModuleNotLoaded","XenMcelogThresholdsMissing"]
# xen_mcelog_retire_owner_unknown_pages' reasons, as the tool writes them
# (tools/src/xenpage/owner.rs, NoAnswer::LABELS): every one, 0 when idle.
OU = "xen_mcelog_retire_owner_unknown_pages"
OU_REASONS = ["old_module", "not_set_up", "stopped", "device", "domain_list", "xen_refused", "domain_churn"]
tests = []
def T(comment, series, alerts, interval="1m"):
    tests.append({"name": comment, "interval": interval, "input_series": series, "alert_rule_test": alerts})

# A healthy host: the tool's seeded zeros, heartbeats, a few corrected
# errors below every threshold, retirement idle: nothing fires.
T("healthy host: nothing fires",
  seeded({("corrected","current"): "0 1 2 3 3 3 3 3 3 3 3 3 3 3 3"}, {("corrected","current"): "0 60 120 180 180 180 180 180 180 180 180 180 180 180 180"}, n=14) + healthy_live + [
    s("xen_mcelog_bank_records_total", dict(severity="corrected", bank="7", socket="0"), "_ 1 2 3x12"),
    s("xen_mcelog_page_corrected_errors_total", dict(socket="0", page="0x12345"), "_ 1 2 3x12"),
    s("xen_mcelog_retire_pages", dict(state="counting"), "0 1x13"),
    s("xen_mcelog_retire_pages", dict(state="failed"), "0x14"),
    s("xen_mcelog_retire_pages", dict(state="refused"), "0x14"),
    s("xen_mcelog_retire_pages", dict(state="pending"), "0x14"),
    s("xen_mcelog_retire_config_error", {}, "0x14"),
  ] + [s(OU, dict(reason=r), "0x14") for r in OU_REASONS], [quiet("14m", a) for a in ALL])

for sev in UC:
    T(f"first {sev} record of this boot fires at once",
      seeded({(sev,"current"): "0 0 0 1 1 1"}, {(sev,"current"): "0 0 0 180 180 180"}),
      [quiet("2m", "XenMcelogUncorrectedError"),
       fires("3m", "XenMcelogUncorrectedError", dict(boot="current", mce_severity=sev, severity="critical")),
       quiet("3m", "XenMcelogHostResetByMachineCheck")])
T("a fatal record read before Prometheus saw the 0 (new textfile): the time of the last record fires",
  [s("xen_mcelog_records_total", dict(severity="fatal", boot="current"), "1 1 1"),
   s("xen_mcelog_last_record_timestamp_seconds", dict(severity="fatal", boot="current"), "1 1 1")],
  [fires("2m", "XenMcelogUncorrectedError", dict(boot="current", mce_severity="fatal", severity="critical"))])
T("an uncorrected record an hour later no longer fires",
  seeded({("fatal","current"): "0 1x120"}, {("fatal","current"): "0 60x120"}, n=121),
  [fires("30m", "XenMcelogUncorrectedError", dict(boot="current", mce_severity="fatal", severity="critical")),
   quiet("120m", "XenMcelogUncorrectedError")])
T("a fatal record kept by Xen across a reset fires",
  seeded({("fatal","previous"): "0 0 0 1 1 1"}, {("fatal","previous"): "0 0 0 180 180 180"}),
  [quiet("2m", "XenMcelogHostResetByMachineCheck"),
   fires("3m", "XenMcelogHostResetByMachineCheck", dict(boot="previous", mce_severity="fatal", severity="critical")),
   quiet("3m", "XenMcelogUncorrectedError")])
T("the counters carried over a reset: 0 before it, 1 after (a gap while the host was down)",
  seeded({("fatal","previous"): "0 0 _ _ _ 1 1"}, {("fatal","previous"): "0 0 _ _ _ 300 300"}, n=6),
  [fires("6m", "XenMcelogHostResetByMachineCheck", dict(boot="previous", mce_severity="fatal", severity="critical"))])

T("a burst of 10 corrected errors on a new page (one batch) fires; 9 on another does not",
  [s("xen_mcelog_page_corrected_errors_total", dict(socket="1", page="0x3a5b1"), "_ _ 10 10"),
   s("xen_mcelog_page_corrected_errors_total", dict(socket="1", page="0x3a5b2"), "_ _ 9 9")],
  [fires("3m", "XenMcelogCorrectedErrorsPage", dict(socket="1", page="0x3a5b1", severity="warning"))])
T("10 corrected errors within 24 h on a page seen for days fire; spread over 3 days they do not",
  [s("xen_mcelog_page_corrected_errors_total", dict(socket="0", page="0x100"), "0x30 10x5"),
   s("xen_mcelog_page_corrected_errors_total", dict(socket="0", page="0x200"), "0+0.14x80")],
  [fires("1d8h", "XenMcelogCorrectedErrorsPage", dict(socket="0", page="0x100", severity="warning")),
   quiet("1d5h", "XenMcelogCorrectedErrorsPage")], interval="1h")
T("pages past the 64 tracked (page=other) do not fire a page alert",
  [s("xen_mcelog_page_corrected_errors_total", dict(socket="0", page="other"), "_ 50 50")],
  [quiet("2m", "XenMcelogCorrectedErrorsPage")])
T("18 corrected errors in one bank fire; 17 in another do not",
  [s("xen_mcelog_bank_records_total", dict(severity="corrected", bank="2", socket="0"), "_ 18 18"),
   s("xen_mcelog_bank_records_total", dict(severity="corrected", bank="3", socket="0"), "_ 17 17"),
   s("xen_mcelog_bank_records_total", dict(severity="uncorrected-recoverable", bank="4", socket="0"), "_ 30 30")],
  [fires("2m", "XenMcelogCorrectedErrorsBank", dict(bank="2", socket="0", severity="warning")),
   quiet("2m", "XenMcelogCorrectedErrorsSocket")])
T("100 corrected errors on one socket fire (over many banks); 99 on another do not",
  [s("xen_mcelog_bank_records_total", dict(severity="corrected", bank=str(b), socket="0"), "_ 10 10") for b in range(10)] +
  [s("xen_mcelog_bank_records_total", dict(severity="corrected", bank=str(b), socket="1"), "_ 11 11") for b in range(9)],
  [fires("2m", "XenMcelogCorrectedErrorsSocket", dict(socket="0", severity="warning")),
   quiet("2m", "XenMcelogCorrectedErrorsBank")])
T("an overflow fires records lost; none does not",
  [s("xen_mcelog_overflows_total", {}, "0 0 1 1"),
   s("xen_mcelog_overflows_total", dict(instance="h2"), "0 0 0 0")],
  [quiet("1m", "XenMcelogRecordsLost"), fires("3m", "XenMcelogRecordsLost", dict(severity="warning"))])
# The module's count: an overflow another reader cleared (the tool's own
# count stays 0) fires, once per host whatever the reasons; a host whose
# module counts none, or whose module was reloaded (a counter reset), does not.
MOD_OVF = "xen_mcelog_module_overflows_total"
def mod_ovf(inst, inc, dropped, pool):
    return [s(MOD_OVF, dict(instance=inst, reason="incomplete"), inc),
            s(MOD_OVF, dict(instance=inst, reason="dropped_banks"), dropped),
            s(MOD_OVF, dict(instance=inst, reason="xen_pool"), pool),
            s("xen_mcelog_overflows_total", dict(instance=inst), "0x6")]
T("the module's overflow count fires records lost, once per host; none or a reload does not",
  mod_ovf("h1", "0 0 1 1 1 1", "0 0 0 2 2 2", "0x6") +
  mod_ovf("h2", "0x6", "0x6", "0x6") +
  mod_ovf("h3", "3 3 0 0 0 0", "0x6", "0x6"),
  [quiet("1m", "XenMcelogRecordsLost"), fires("4m", "XenMcelogRecordsLost", dict(severity="warning"))])
T("the module's and the reader's overflow counts together fire one alert",
  mod_ovf("h1", "0x6", "0x6", "0 0 1 1 1 1")[:3] + [s("xen_mcelog_overflows_total", {}, "0 0 1 1 1 1")],
  [quiet("1m", "XenMcelogRecordsLost"), fires("4m", "XenMcelogRecordsLost", dict(severity="warning"))])
T("page retirement failed, after 10 min",
  [s("xen_mcelog_retire_pages", dict(state="failed"), "0 1x20")],
  [quiet("5m", "XenMcelogPageRetirementFailed"),
   fires("12m", "XenMcelogPageRetirementFailed", dict(state="failed", severity="warning"))])
T("page retirement refused, at once",
  [s("xen_mcelog_retire_pages", dict(state="refused"), "0 1 1")],
  [quiet("0m", "XenMcelogPageRetirementRefused"),
   fires("1m", "XenMcelogPageRetirementRefused", dict(state="refused", severity="warning"))])
T("a page pending for 24 h fires; for 12 h it does not",
  [s("xen_mcelog_retire_pages", dict(state="pending"), "0 1x1600")],
  [quiet("12h", "XenMcelogPageRetirementPending"),
   fires("1d1h", "XenMcelogPageRetirementPending", dict(state="pending", severity="warning"))])
# Pages held back because the page-owner probe cannot answer: an hour
# before the alert (a passing failure stays quiet), one alert per reason.
T("pages held back for an hour, owner unknown, fire once per reason; a passing failure does not",
  [s(OU, dict(reason=r), "0x80") for r in OU_REASONS if r not in ("old_module", "xen_refused", "domain_churn")] +
  [s(OU, dict(reason="old_module"), "0 2x80"),
   s(OU, dict(reason="xen_refused"), "0 1x80"),
   s(OU, dict(reason="domain_churn"), "0 1x30 0x50")],
  [quiet("50m", "XenMcelogPageRetirementOwnerUnknown"),
   {"eval_time": "1h5m", "alertname": "XenMcelogPageRetirementOwnerUnknown",
    "exp_alerts": [{"exp_labels": dict(L, reason=r, severity="warning")} for r in ("old_module", "xen_refused")]}])
T("retire.conf refused",
  [s("xen_mcelog_retire_config_error", {}, "0 1x10")],
  [quiet("3m", "XenMcelogRetireConfigError"),
   fires("7m", "XenMcelogRetireConfigError", dict(severity="warning"))])
T("the reader stopped (service stopped: reader_up 0) fires after 5 min",
  [s("xen_mcelog_reader_up", {}, "1 1 0x10"),
   s("xen_mcelog_last_read_timestamp_seconds", {}, "0 60 60x10")],
  [quiet("4m", "XenMcelogReaderDown"),
   fires("8m", "XenMcelogReaderDown", dict(severity="warning")),
   quiet("8m", "XenMcelogReaderStale")])
T("the reader killed (no heartbeat, still says up) fires stale after 5 min; heartbeats keep it quiet",
  [s("xen_mcelog_reader_up", {}, "1x20"),
   s("xen_mcelog_last_read_timestamp_seconds", {}, "0+60x5 300x15"),
   s("xen_mcelog_reader_up", dict(instance="h2"), "1x20"),
   s("xen_mcelog_last_read_timestamp_seconds", dict(instance="h2"), "0+60x20")],
  [quiet("9m", "XenMcelogReaderStale"),
   fires("11m", "XenMcelogReaderStale", dict(severity="warning"))])
T("the module not loaded while Xen runs fires; not on a host without Xen",
  [s("xen_mcelog_module_loaded", {}, "0x10"),
   s("xen_mcelog_xen_running", {}, "1x10"),
   s("xen_mcelog_module_loaded", dict(instance="h2"), "0x10"),
   s("xen_mcelog_xen_running", dict(instance="h2"), "0x10")],
  [quiet("4m", "XenMcelogModuleNotLoaded"),
   fires("6m", "XenMcelogModuleNotLoaded", dict(severity="warning"))])

def dump(path, files, tests):
    doc = {"rule_files": files, "evaluation_interval": "1m", "tests": tests}
    hdr = ("# promtool test rules: each alert of xen-mcelog-alerts.yml fires on the series\n"
           "# that should fire it and stays quiet on the healthy ones. Annotations are\n"
           "# the rendered text (promtool compares them whole).\n")
    open(path, "w").write(hdr + yaml.safe_dump(doc, sort_keys=False, width=100))

def fill(path, files, tests):
    # Run, collect rendered annotations per (test name, alertname, eval_time), fill, repeat.
    # promtool ends each alert but the last of a list with "},".
    for _ in range(3):
        dump(path, files, tests)
        r = subprocess.run(["promtool", "test", "rules", path], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout
        out = r.stdout + r.stderr
        changed = False
        for m in re.finditer(r"alertname: (\w+), time: (\S+), \n\s+exp:\[(.*?)\], \n\s+got:\[(.*?)\]", out, re.S):
            name, t, exp, got = m.groups()
            gots = re.findall(r"Labels:\{(.*?)\}\n\s+Annotations:\{(.*?)\},?\n", got, re.S)
            for tt in tests:
                for a in tt["alert_rule_test"]:
                    if a["alertname"] == name and a["eval_time"] == t and a["exp_alerts"]:
                        for ea in a["exp_alerts"]:
                            if "exp_annotations" in ea: continue
                            want = {k: v for k, v in ea["exp_labels"].items()}
                            for lab, ann in gots:
                                labs = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', lab))
                                labs.pop("alertname", None)
                                if labs == want:
                                    ea["exp_annotations"] = {k: bytes(v, "utf-8").decode("unicode_escape") for k, v in re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', ann)}
                                    changed = True
        if not changed:
            sys.exit(out)
    sys.exit("did not converge")

files = ["../xen-mcelog-thresholds.yml", "../xen-mcelog-rules.yml", "../xen-mcelog-alerts.yml"]
print(fill("alerts-test.yml", files, tests))
t2 = [{"name": "alerts loaded without the thresholds: said after 10 min", "interval": "1m",
       "input_series": [s("xen_mcelog_reader_up", {}, "1x20")],
       "alert_rule_test": [quiet("5m", "XenMcelogThresholdsMissing"),
                           {"eval_time": "11m", "alertname": "XenMcelogThresholdsMissing",
                            "exp_alerts": [{"exp_labels": {"severity": "warning"}}]}]}]
print(fill("thresholds-missing-test.yml", ["../xen-mcelog-rules.yml", "../xen-mcelog-alerts.yml"], t2))
