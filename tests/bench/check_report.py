#!/usr/bin/env python3
"""bench/report.py on made-up results: how a row measured in rounds becomes a ratio.

    check_report.py SOURCE-ROOT

The benchmark itself is not a test (bench/README.md); what it concludes from its
numbers is. A paired row's ratio must be the median of the rounds' own ratios
(not the ratio of the medians, not a mean, not the last round), every round
must be listed, a problem in any round must be noticed, and a row run once must
read as before.
"""
import json
import os
import subprocess
import sys
import tempfile

root = sys.argv[1]
report = os.path.join(root, "bench", "report.py")
failures = []


def rec(scenario, target, cpu_us, n=100000, rnd=0, errors=0, other=0.0):
    """One measure() line: cpu_us of proxy CPU per request over n requests."""
    return {"scenario": scenario, "target": target, "round": rnd, "n_proxy_pids": 1, "n_backend_pids": 1,
            "backend_conns_opened": 64, "rss_after_kb": 1000, "other_cores": other, "wall_s": 3.0,
            "loadgen": {"rps": n / 3.0, "requests": n, "errors": errors,
                        "error_kinds": {"timeout": errors} if errors else {},
                        "error_first": {"timeout": "t"} if errors else {},
                        "status": {"2xx": n - errors}, "latency_us": {"p50": 100, "p99": 200, "max": 300},
                        "connections": 64, "threads": 1, "clk_tck": 100,
                        "watch": [{"cpu_s": cpu_us * (n - errors) / 1e6}, {"cpu_s": 0.5}],
                        "ciphersuite": "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"}}


def run(recs, meta):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")
        path = f.name
    try:
        return subprocess.run([sys.executable, report, path, json.dumps(meta)], capture_output=True,
                              text=True, check=True, timeout=60).stdout
    finally:
        os.unlink(path)


def expect(what, cond, out):
    if not cond:
        failures.append(what)
        print("FAIL: %s\n--- report ---\n%s" % (what, out))


def last_ratios(out):
    line = [l for l in out.splitlines() if l.startswith("ratios keepalive=")][-1]
    return dict(kv.split("=") for kv in line.split()[1:])


# Five rounds. Per-round ratios 0.50 0.60 0.55 0.90 0.58: median 0.58. The
# ratio of the median CPUs would be 12/20 = 0.60, the mean 0.63, the last 0.58
# by construction too, so the last round is made different below.
cg = [10.0, 12.0, 11.0, 18.0, 14.5]
ng = [20.0, 20.0, 20.0, 20.0, 25.0]
recs = []
for k in range(5):
    recs.append(rec("keepalive", "certgate", cg[k], rnd=k + 1, errors=3 if k == 3 else 0))
    recs.append(rec("keepalive", "nginx", ng[k], rnd=k + 1, other=0.4 if k == 1 else 0.0))
recs.append(rec("resume", "certgate", 60.0))
recs.append(rec("resume", "nginx", 200.0))
out = run(recs, {"rounds": 5, "round_s": 3})
r = last_ratios(out)
# per-round ratios, computed from the CPU actually recorded (errors change n)
expect("keep-alive ratio is the median of the rounds' ratios (0.58)", r.get("keepalive") == "0.58", out)
expect("a row run once is its plain ratio (60/200 = 0.30)", r.get("resume") == "0.30", out)
listed = [l for l in out.splitlines() if l.strip().startswith("keep-alive, 64 conns") and "median" in l]
expect("every round is listed with its ratio", len(listed) == 1 and listed[0].count("=") == 5
       and "median 0.58 (0.50-0.90)" in listed[0], out)
expect("the table shows certgate's median round (12.0 us)",
       any("certgate" in l and " 12.0 us" in l for l in out.splitlines()), out)
expect("errors in a round that is not the median are noticed",
       any("keepalive/certgate round 4: 3 errors" in l for l in out.splitlines()), out)
expect("a busy round is noticed", any("keepalive/nginx round 2 0.40" in l for l in out.splitlines()), out)

# One round each (--quick): the plain ratio, no rounds listing.
out = run([rec("keepalive", "certgate", 13.0, rnd=1), rec("keepalive", "nginx", 20.0, rnd=1)],
          {"rounds": 1, "round_s": 3})
expect("one round: the plain ratio (0.65)", last_ratios(out).get("keepalive") == "0.65", out)
expect("one round: no rounds listing", "rows measured in" not in out, out)

# A round where nginx failed: that round is left out of the pairs, not counted as 0.
recs = [rec("keepalive", "certgate", c, rnd=k + 1) for k, c in enumerate([12.0, 12.0, 12.0])]
recs += [rec("keepalive", "nginx", 20.0, rnd=1), rec("keepalive", "nginx", 24.0, rnd=3)]
bad = rec("keepalive", "nginx", 20.0, rnd=2)
bad["loadgen"] = {"failed": "no JSON"}
recs.append(bad)
out = run(recs, {"rounds": 3, "round_s": 3})
expect("a failed round is skipped: median of 0.60 and 0.50 is 0.55",
       last_ratios(out).get("keepalive") == "0.55", out)
expect("a failed round is noticed", "keepalive/nginx round 2: no result" in out, out)

if failures:
    print("%d of the report checks failed" % len(failures))
    sys.exit(1)
print("report checks: all passed")
