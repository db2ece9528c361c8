#!/usr/bin/env python3
"""The table bench/run prints, from its results (one JSON object per line).

    bench/report.py RESULTS.jsonl [META-JSON]

The last line printed is always
    ratios keepalive=X resume=X full=X delegated=X
(TLS 1.2), the one before it
    ratios tls13 keepalive=X resume=X full=X full_rsa=X
certgate's CPU time per successful request divided by nginx's, 2 decimals,
"n/a" for a scenario that could not run (or had no successful request).
A row measured in rounds (bench/run measure_pair: certgate and nginx back to
back in each round) has as its ratio the median of the rounds' ratios, and
shows the median round's figures in the table; every round is listed below it.
See bench/README.md for how to read the rest.
"""
import json
import sys

path = sys.argv[1]
meta = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
recs = []
for line in open(path):
    line = line.strip()
    if line:
        try:
            recs.append(json.loads(line))
        except ValueError:
            pass
rounds_of = {}
for r in recs:
    rounds_of.setdefault((r["scenario"], r.get("target")), []).append(r)
for v in rounds_of.values():
    v.sort(key=lambda r: r.get("round", 0))
ka, new, big_mb = meta.get("ka_conns", 64), meta.get("new_conns", 16), meta.get("big_mb", 100)
dc = meta.get("deleg_conns", 32)
drate = meta.get("deleg_rate", 0)
clk_tck = 100
for r in recs:
    lg = r.get("loadgen") or {}
    if lg.get("clk_tck"):
        clk_tck = lg["clk_tck"]
        break


def us(v):
    if v is None:
        return "-"
    if v < 1000:
        return "%d us" % v
    if v < 1e6:
        return "%.2f ms" % (v / 1000)
    return "%.2f s" % (v / 1e6)


def ok_count(r):
    return ((r.get("loadgen") or {}).get("status") or {}).get("2xx", 0)


def cpu_of(r, which):
    """CPU seconds of the proxy's processes (which=0) or the backend's (1)."""
    lg = r.get("loadgen") or {}
    w = lg.get("watch", [])
    n_p, n_b = r.get("n_proxy_pids", 1), r.get("n_backend_pids", 0)
    sl = w[0:n_p] if which == 0 else w[n_p:n_p + n_b]
    if not sl or any("cpu_s" not in x for x in sl):
        return None
    return sum(x["cpu_s"] for x in sl)


def per_ok(r, which=0):
    """us of CPU per successful (2xx) request, and whether it rests on < 20 ticks."""
    if not r or "failed" in (r.get("loadgen") or {"failed": 1}):
        return None, False
    c, n = cpu_of(r, which), ok_count(r)
    if c is None or not n:
        return None, False
    return c * 1e6 / n, round(c * clk_tck) < 20


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return None if not n else (xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2)


def median_round(rs):
    """The round whose proxy CPU per request is the median (the lower of the middle two)."""
    ok = [r for r in rs if per_ok(r)[0] is not None]
    if not ok:
        return rs[-1]
    ok.sort(key=lambda r: per_ok(r)[0])
    return ok[(len(ok) - 1) // 2]


by = {k: (median_round(v) if len(v) > 1 else v[0]) for k, v in rounds_of.items()}


def paired_ratios(key_cg, key_ng=None, t_ng="nginx"):
    """[(round, certgate, nginx, ratio)] of a row measured in rounds, [] otherwise."""
    a = {r.get("round"): r for r in rounds_of.get((key_cg, "certgate"), []) if r.get("round")}
    b = {r.get("round"): r for r in rounds_of.get((key_ng or key_cg, t_ng), []) if r.get("round")}
    out = []
    for k in sorted(set(a) & set(b)):
        ca, cb = per_ok(a[k])[0], per_ok(b[k])[0]
        if ca is not None and cb:
            out.append((k, ca, cb, ca / cb))
    return out if len(out) > 1 else []


def bulk_per_gb(r, which=0):
    """ms of CPU per GB received (bulk), and whether it rests on < 20 ticks."""
    if not r or "failed" in (r.get("loadgen") or {"failed": 1}):
        return None, False
    c, n = cpu_of(r, which), (r.get("loadgen") or {}).get("bytes_received", 0)
    if c is None or not n:
        return None, False
    return c * 1e3 / (n / 1e9), round(c * clk_tck) < 20


def fmt_cpu(v, unit="us", coarse=False):
    if v is None:
        return "-"
    s = ("%.1f %s" % (v, unit)) if v < 100 else ("%.0f %s" % (v, unit))
    return ("~" + s) if coarse else s


def ratio(a, b):
    return a / b if a is not None and b else None


def fr(v):
    return "%.2f" % v if v is not None else "n/a"


quick = meta.get("quick") == 1
print()
print("certgate benchmark  (%s; %s s per run after a warm-up; %s cores shared by everything)"
      % ("quick" if quick else "full", meta.get("duration", "?"), meta.get("ncpu", "?")))
print("certgate %s (mbedTLS %s), nginx %s (%s); TLS 1.2 (rows marked 1.3: TLS 1.3), client certificate"
      " required, CRLs checked by both"
      % (meta.get("git", "?"), (meta.get("tls_sizes") or {}).get("mbedtls_version", "?").replace("mbed TLS ", ""),
         meta.get("nginx", "?"), meta.get("openssl", "?")))
print("both proxies: same PKI, CRLs, backend, workers, cipher suites; idle backend pool %s each"
      % meta.get("pool", "?"))
print()

scen = [
    ("keepalive", "keep-alive, %s conns" % ka, ["direct", "floor", "certgate", "nginx"]),
    ("full_ec", "full handshake/req, %s conns, ECDSA" % new, ["certgate", "nginx"]),
    ("full_rsa", "full handshake/req, %s conns, RSA cl." % new, ["certgate", "nginx"]),
    ("full_ocsp", "full handshake/req, %s conns, OCSP (cached)" % new, ["certgate", "nginx"]),
    ("resume", "resumed session/req, %s conns" % new, ["certgate", "nginx"]),
    ("keepalive_tls13", "1.3 keep-alive, %s conns" % ka, ["certgate", "nginx"]),
    ("full_ec_tls13", "1.3 full handshake/req, %s conns, ECDSA" % new, ["certgate", "nginx"]),
    ("full_rsa_tls13", "1.3 full handshake/req, %s conns, RSA cl." % new, ["certgate", "nginx"]),
    ("resume_tls13", "1.3 resumed session/req, %s conns" % new, ["certgate", "nginx"]),
    ("bulk", "%s MB body, 1 conn" % big_mb, ["direct", "certgate", "nginx"]),
    ("scale_w1", "keep-alive, 1 worker, lg %s thr" % meta.get("scale_threads", "?"), ["certgate", "nginx"]),
    ("scale_w2", "keep-alive, 2 workers, lg %s thr" % meta.get("scale_threads", "?"), ["certgate", "nginx"]),
    ("h2", "HTTP/2, %s conns x %s streams" % (meta.get("h2_conns", "?"), meta.get("h2_streams", "?")),
     ["certgate", "nginx"]),
    ("deleg_public", "Apache /public, %s conns, no delegation" % dc, ["nginx", "certgate"]),
    ("deleg_bound", "Apache /bound/whoami, %s, delegated, bound" % dc, ["certgate"]),
    ("deleg_token", "Apache /whoami, %s, delegated, token/req" % dc, ["certgate"]),
    ("deleg_public_rate", "Apache /public, %s, at %s req/s" % (dc, drate), ["nginx", "certgate"]),
    ("deleg_bound_rate", "Apache /bound/whoami, %s, at %s req/s, bound" % (dc, drate), ["certgate"]),
    ("deleg_same_rate", "Apache /bound/public, %s, at %s req/s, bound" % (dc, drate), ["certgate"]),
    ("deleg_bound_x2", "Apache /bound/whoami, %s conns (overload)" % (2 * dc), ["certgate"]),
]
fmt = "%-43s %-9s %10s %9s %9s %9s %8s %6s %11s %11s %7s %8s %6s %-13s"
hdr = fmt % ("scenario", "target", "req/s", "p50", "p99", "max", "ok", "errors", "proxy CPU", "backend CPU",
             "backend", "proxy", "other", "cipher suite")
print(hdr)
print(fmt % ("", "", "", "", "", "", "(2xx)", "", "per ok req", "per request", "conns", "RSS after", "cores", ""))
print("-" * len(hdr))
problems = []
suites = set()
busy = []
OTHER_MAX = 0.15
def check(key, t, r):
    """What the notes under the table say about one run (every round of a row)."""
    lg = r["loadgen"]
    tag = key + "/" + t + (" round %d" % r["round"] if len(rounds_of.get((key, t), [])) > 1 else "")
    if "failed" in lg:
        problems.append("%s: no result (%s)" % (tag, lg["failed"]))
        return
    if (r.get("other_cores") or 0) > OTHER_MAX:
        busy.append("%s %.2f" % (tag, r["other_cores"]))
    if lg["errors"]:
        problems.append("%s: %d errors %s; first: %s" % (tag, lg["errors"], lg["error_kinds"], lg["error_first"]))
    if key.startswith("full") and lg.get("handshakes_resumed"):
        problems.append("%s: %d handshakes were resumptions" % (tag, lg["handshakes_resumed"]))
    if key.startswith("resume") and lg.get("handshakes_full", 0) > lg.get("threads", 1) * 2:
        problems.append("%s: %d full handshakes (resumption refused?)" % (tag, lg["handshakes_full"]))
    conns = lg.get("connections", 0)
    opened = r.get("backend_conns_opened", -1)
    if t != "direct" and opened > max(2 * conns, 0.05 * lg["requests"], 4):
        problems.append("%s: %d backend connections opened for %d requests on %d client connections"
                        " (backend connections not reused)" % (tag, opened, lg["requests"], conns))
    if lg.get("rate") and lg.get("rps", 0) < 0.97 * lg["rate"]:
        problems.append("%s: %.0f req/s of the %.0f offered: the rate was not sustained"
                        % (tag, lg["rps"], lg["rate"]))
    if lg.get("requests") and lg["latency_us"]["max"] > 1e6 and key not in ("bulk",):
        problems.append("%s: slowest request took %s (p99 %s)"
                        % (tag, us(lg["latency_us"]["max"]), us(lg["latency_us"]["p99"])))


for key, label, targets in scen:
    for t in targets:
        for rr in rounds_of.get((key, t), []):
            check(key, t, rr)
        r = by.get((key, t))
        if not r:
            continue
        lg = r["loadgen"]
        if "failed" in lg:
            print("%-43s %-9s  (no result: %s)" % (label, t, lg["failed"]))
            label = ""
            continue
        lat = lg["latency_us"]
        rps = lg["rps"]
        rps_s = ("%.1f" % rps) if rps < 1000 else ("%.0f" % rps)
        srv, srv_c = per_ok(r, 0)
        bk, bk_c = per_ok(r, 1)
        unit = "us"
        if key == "bulk":
            # bytes as they arrive (a 100 MB response in flight at the end of the interval
            # counts too): MB/s, and CPU ms per GB received
            got = lg.get("bytes_received", 0)
            mbs = got / lg["elapsed_s"] / 1e6 if lg["elapsed_s"] else 0
            rps_s = "%.0f MB/s" % mbs
            (srv, srv_c), (bk, bk_c) = bulk_per_gb(r, 0), bulk_per_gb(r, 1)
            unit = "ms/GB"
        opened = r.get("backend_conns_opened", -1)
        suite = (lg.get("ciphersuite") or "").replace("TLS-ECDHE-", "").replace("-WITH-", " ")
        if suite:
            suites.add(lg.get("ciphersuite"))
        rss = r.get("rss_after_kb", -1)
        print(fmt % (
            label, t + ("*" if t == "direct" else ""), rps_s, us(lat["p50"]), us(lat["p99"]), us(lat["max"]),
            ok_count(r), lg["errors"], fmt_cpu(srv, unit, srv_c),
            "(server)" if t == "direct" else (fmt_cpu(bk, unit, bk_c) if r.get("n_backend_pids") else "-"),
            opened if opened >= 0 else "-", "%.1f MB" % (rss / 1024) if rss >= 0 else "-",
            "%.2f" % r["other_cores"] if r.get("other_cores") is not None else "-", suite or "-"))
        label = ""
print("  * direct: the backend over plain HTTP, no proxy; 'proxy CPU' is then the backend's own.")
if by.get(("keepalive", "floor")):
    print("  floor: cg-io-floor (bench/io_floor.c), a forwarder that only reads and writes the sockets (plain HTTP,")
    print("  one thread, no parsing): the kernel's TCP work a keep-alive request costs any proxy on this machine.")
print("  proxy CPU: utime+stime of all the proxy's processes (nginx: master + workers) over the measured")
print("  interval / 2xx responses. ~: fewer than 20 clock ticks (1 tick = %.0f ms): an order of magnitude."
      % (1000.0 / clk_tck))
print("  other cores: CPU used by everything else on the machine during the run (other processes, and kernel")
print("  work charged to no process), in cores; above %.2f the figures of that row are less reliable." % OTHER_MAX)
print("  backend conns: connections the backend accepted during the run, warm-up included (static nginx:")
print("  stub_status; Apache: first requests of a connection in its access log).")
paired = [(label, paired_ratios(key)) for key, label, _ in scen]
paired = [(label, pr) for label, pr in paired if pr]
if paired:
    print()
    print("rows measured in %s rounds of %s s (certgate and nginx back to back in each, order alternating);"
          % (meta.get("rounds", "?"), meta.get("round_s", "?")))
    print("the table shows the median round; the ratio is the median of the rounds' ratios:")
    for label, pr in paired:
        rs = [x[3] for x in pr]
        print("  %-41s %s  median %.2f (%.2f-%.2f)" % (
            label, " ".join("%s/%s=%.2f" % (fmt_cpu(c).replace(" us", ""), fmt_cpu(n).replace(" us", ""), q)
                            for _, c, n, q in pr), median(rs), min(rs), max(rs)))
if busy:
    problems.append("other processes used CPU during: %s (cores); those rows are less reliable"
                    % ", ".join(busy))
for v in ("TLS1-3-", ""):  # one suite per version (TLS 1.3 names start with TLS1-3-)
    same = sorted(x for x in suites if x.startswith("TLS1-3-") == bool(v))
    if len(same) > 1:
        problems.append("different cipher suites negotiated: %s" % ", ".join(same))

# --- idle -------------------------------------------------------------------
idle = [(t, by.get(("idle", t))) for t in ("certgate", "nginx")]
idle = [(t, r) for t, r in idle if r]
idle_per = {}
if idle:
    print()
    print("%-9s %13s %8s %10s %10s %11s %10s %10s %13s" % (
        "idle", "established", "set-up", "RSS before", "RSS held", "per conn", "after hold", "RSS closed",
        "CPU per conn"))
    print("-" * 102)
    for t, r in idle:
        est = r.get("established", 0)
        per = (r["rss_held_kb"] - r["rss_before_kb"]) / est if est else None
        idle_per[t] = per
        cpu = r["cpu_setup_s"] * 1e6 / est if est else None
        idle_per[t + "_cpu"] = cpu
        print("%-9s %13s %7.1fs %7.1f MB %7.1f MB %7s KiB %7.1f MB %7.1f MB %13s" % (
            t, "%d/%d" % (est, r["requested"]), r["setup_s"], r["rss_before_kb"] / 1024, r["rss_held_kb"] / 1024,
            "%.1f" % per if per is not None else "-", r["rss_after_hold_kb"] / 1024, r["rss_closed_kb"] / 1024,
            fmt_cpu(cpu)))
        if r.get("errors"):
            problems.append("idle/%s: %d errors %s; first: %s" % (t, r["errors"], r["error_kinds"],
                                                                   r["error_first"]))
        if est < r["requested"]:
            problems.append("idle/%s: only %d of %d connections established" % (t, est, r["requested"]))
        if r.get("open_end", est) < est:
            problems.append("idle/%s: %d of %d idle connections were closed by the server during the hold"
                            % (t, est - r.get("open_end", 0), est))
        if r["rss_after_hold_kb"] > r["rss_held_kb"] * 1.05 + 1024:
            problems.append("idle/%s: RSS grew while the connections sat idle: %.1f -> %.1f MB"
                            % (t, r["rss_held_kb"] / 1024, r["rss_after_hold_kb"] / 1024))
        for f in r.get("failed", []):
            problems.append("idle/%s: a load generator gave no result (%s)" % (t, f))
    ts = meta.get("tls_sizes") or {}
    if ts.get("in_buffer"):
        floor = (ts["in_buffer"] + ts["out_buffer"]) / 1024.0
        print("  per conn = (RSS held - RSS before) / established; CPU per conn = handshake + first request.")
        print("  mbedTLS floor (%s, MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH %s): 2 record buffers of %d + %d B ="
              " %.1f KiB per TLS connection" % (ts.get("mbedtls_version", "?"),
                                                 "on" if ts.get("variable_buffer_length") else "off",
                                                 ts["in_buffer"], ts["out_buffer"], floor))
        print("  (+ mbedtls_ssl_context %d B, session %d B, the client's certificate chain kept parsed: %s)"
              % (ts.get("ssl_context", 0), ts.get("ssl_session", 0),
                 "yes" if ts.get("keep_peer_certificate") else "no"))
        if idle_per.get("certgate") is not None:
            if ts.get("release_buffers"):
                print("  certgate: %.1f KiB per idle connection. The record buffers (%.1f KiB) are freed once a"
                      " connection has been quiet" % (idle_per["certgate"], floor))
                print("  for a quarter to half a second, their pages given back to the kernel (mbedTLS patch 0005,"
                      " src/net/tls_trim.h),")
                print("  and allocated again at its next record; request buffers go back to the worker between"
                      " requests (src/base/spares.h).")
            else:
                print("  certgate: %.1f KiB per idle connection. The record buffers are allocated whole (%.1f KiB)"
                      " and kept (a system mbedTLS:" % (idle_per["certgate"], floor))
                print("  no patch 0005), but a connection quiet for a quarter to half a second gives their whole"
                      " pages back to the kernel")
                print("  (src/net/tls_trim.h); request buffers go back to the worker between requests"
                      " (src/base/spares.h).")

# --- full handshakes against the public-key floor ----------------------------
pf = meta.get("pk_floor") or {}
floor_ratio = {}
if pf.get("ecdsa_sign_us") and (by.get(("full_ec", "certgate")) or by.get(("full_rsa", "certgate"))):
    print()
    print("full handshakes against the public-key floor (cg-pk-floor: mbedTLS %s, this machine, this run)"
          % (meta.get("tls_sizes") or {}).get("mbedtls_version", "?").replace("mbed TLS ", "").replace("Mbed TLS ", ""))
    ecdhe_how = "through PSA, certgate's driver" if pf.get("driver", "").startswith("certgate") else "through PSA"
    print("  per handshake the server needs: ECDHE X25519 (%s; TLS 1.2 and 1.3 alike) %.0f us, its ECDSA"
          " signature %.0f us," % (ecdhe_how, pf["ecdhe_x25519_us"], pf["ecdsa_sign_us"]))
    print("  the client's CertificateVerify (ECDSA P-256 %.0f us, RSA-2048 %.0f us PKCS#1 v1.5 in TLS 1.2, %.0f us"
          " PSS in TLS 1.3)," % (pf["ecdsa_verify_us"], pf["rsa_verify_us"], pf.get("rsa_pss_verify_us", pf["rsa_verify_us"])))
    print("  and the chain: a returning user's stops at a learned CA (src/x509/chain_cache.h) and its leaf's"
          " signature was verified before")
    print("  (%.1f us from the PSA driver's table); a first visit verifies two ECDSA signatures (%.0f us)."
          % (pf.get("ecdsa_verify_cached_us", pf["ecdsa_verify_us"]), 2 * pf["ecdsa_verify_us"]))
    returning = pf.get("ecdsa_verify_cached_us", pf["ecdsa_verify_us"])
    f12, f13 = pf.get("floor_tls12") or {}, pf.get("floor_tls13") or {}
    if f13:
        print("  floor, TLS 1.3: ECDSA everywhere %.0f us, RSA client certs %.0f us (first visit +%.0f us)"
              % (f13["ecdsa"] + returning, f13["rsa"] + returning, 2 * pf["ecdsa_verify_us"] - returning))
    print("%-26s %12s %12s %12s %12s %10s" % ("profile", "floor", "first visit", "certgate", "nginx",
                                              "cg/floor"))
    pss = pf.get("rsa_pss_verify_us", pf["rsa_verify_us"])
    for key, label, cv, fkey, fl in (("full_ec", "ECDSA P-256 everywhere", pf["ecdsa_verify_us"], "ecdsa", f12),
                                     ("full_rsa", "RSA-2048 client certs", pf["rsa_verify_us"], "rsa", f12),
                                     ("full_ec_tls13", "1.3 ECDSA everywhere", pf["ecdsa_verify_us"], "ecdsa", f13 or f12),
                                     ("full_rsa_tls13", "1.3 RSA-2048 clients", pss, "rsa", f13 or f12)):
        if not by.get((key, "certgate")) and key.endswith("_tls13"):
            continue
        floor = fl.get(fkey, pf["ecdhe_x25519_us"] + pf["ecdsa_sign_us"] + cv) + returning
        a, b = by.get((key, "certgate")), by.get((key, "nginx"))
        ca, cb = per_ok(a)[0] if a else None, per_ok(b)[0] if b else None
        if ca:
            floor_ratio[key] = ca / floor
        print("%-26s %9.0f us %9.0f us %12s %12s %10s" % (
            label, floor, floor - returning + 2 * pf["ecdsa_verify_us"], fmt_cpu(ca), fmt_cpu(cb),
            "%.2fx" % (ca / floor) if ca else "-"))
    print("  floor: the public-key operations alone, timed in a loop on a quiet machine, in a %s process;"
          % ("multi-threaded" if pf.get("threaded") else "single-threaded"))
    print("  certgate's figure also")
    print("  holds the rest of the handshake and the request (hashes, records, accept, CRL lookup, proxying).")

# --- workers: 1 vs 2 ---------------------------------------------------------
if by.get(("scale_w1", "certgate")) or by.get(("scale_w2", "certgate")):
    print()
    print("workers 1 vs 2, keep-alive %s conns (load generator %s threads)" % (ka, meta.get("scale_threads")))
    def cores(r):
        """cores busy during the run: proxy, backend, load generator"""
        if not r or "failed" in r["loadgen"] or not r["loadgen"].get("elapsed_s"):
            return "-"
        lg = r["loadgen"]
        e = lg["elapsed_s"]
        p, b = cpu_of(r, 0), cpu_of(r, 1)
        own = lg.get("cpu_user_s", 0) + lg.get("cpu_sys_s", 0)
        return "%.2f+%.2f+%.2f" % ((p or 0) / e, (b or 0) / e, own / e)
    print("%-9s %10s %10s %8s %12s %12s %16s %16s" % ("", "req/s w1", "req/s w2", "w2/w1", "CPU/req w1",
                                                     "CPU/req w2", "cores used w1", "cores used w2"))
    print("-" * 102)
    for t in ("certgate", "nginx"):
        a, b = by.get(("scale_w1", t)), by.get(("scale_w2", t))
        ra = a["loadgen"].get("rps") if a and "failed" not in a["loadgen"] else None
        rb = b["loadgen"].get("rps") if b and "failed" not in b["loadgen"] else None
        ca, cb = per_ok(a)[0] if a else None, per_ok(b)[0] if b else None
        print("%-9s %10s %10s %8s %12s %12s %16s %16s" % (
            t, "%.0f" % ra if ra else "-", "%.0f" % rb if rb else "-",
            "%.2fx" % (rb / ra) if ra and rb else "-", fmt_cpu(ca), fmt_cpu(cb), cores(a), cores(b)))
    print("  cores used: proxy + backend + load generator, CPU seconds per second of the run; at %s cores"
          % meta.get("ncpu", "?"))
    print("  in all, a second worker can only take what the others leave.")

# --- ratios ---------------------------------------------------------------------
def cg_ng(key_cg, key_ng=None, t_ng="nginx"):
    pr = paired_ratios(key_cg, key_ng, t_ng)
    if pr:
        return median([x[3] for x in pr])
    a = by.get((key_cg, "certgate"))
    b = by.get((key_ng or key_cg, t_ng))
    return ratio(per_ok(a)[0] if a else None, per_ok(b)[0] if b else None)


rows = [
    ("keep-alive, %s conns" % ka, cg_ng("keepalive")),
    ("full handshake, ECDSA P-256 everywhere", cg_ng("full_ec")),
    ("full handshake, RSA-2048 client certs", cg_ng("full_rsa")),
    ("full handshake, OCSP-checked chain", cg_ng("full_ocsp")),
    ("resumed session", cg_ng("resume")),
    ("TLS 1.3 keep-alive, %s conns" % ka, cg_ng("keepalive_tls13")),
    ("TLS 1.3 full handshake, ECDSA everywhere", cg_ng("full_ec_tls13")),
    ("TLS 1.3 full handshake, RSA-2048 clients", cg_ng("full_rsa_tls13")),
    ("TLS 1.3 resumed session", cg_ng("resume_tls13")),
    ("%s MB body (per GB received)" % big_mb,
     ratio(bulk_per_gb(by.get(("bulk", "certgate")))[0], bulk_per_gb(by.get(("bulk", "nginx")))[0])),
    ("keep-alive, 1 worker (lg %s threads)" % meta.get("scale_threads", "?"), cg_ng("scale_w1")),
    ("keep-alive, 2 workers (lg %s threads)" % meta.get("scale_threads", "?"), cg_ng("scale_w2")),
    ("HTTP/2, %s conns x %s streams" % (meta.get("h2_conns", "?"), meta.get("h2_streams", "?")), cg_ng("h2")),
    ("Apache /public, neither delegates", cg_ng("deleg_public")),
    ("delegated conn-bound vs nginx /public", cg_ng("deleg_bound", "deleg_public")),
    ("delegated token/req vs nginx /public", cg_ng("deleg_token", "deleg_public")),
    ("at %s req/s: /public, neither delegates" % drate, cg_ng("deleg_public_rate")),
    ("at %s req/s: delegated conn-bound vs /public" % drate, cg_ng("deleg_bound_rate", "deleg_public_rate")),
    ("at %s req/s: same file, delegated vs not" % drate, cg_ng("deleg_same_rate", "deleg_public_rate")),
    ("idle: set-up CPU per connection", ratio(idle_per.get("certgate_cpu"), idle_per.get("nginx_cpu"))),
    ("idle: RSS per connection", ratio(idle_per.get("certgate"), idle_per.get("nginx"))),
]
print()
print("certgate / nginx, CPU per successful request  (> 1: certgate needs more CPU)")
print("-" * 52)
for label, v in rows:
    print("%-42s %9s" % (label, ("%.2fx" % v) if v is not None else "n/a"))

for r in recs:
    if r["scenario"] == "log" and r.get("lines"):
        problems.append("%s logged %d lines at warn or above (%s); first: %s"
                        % (r["target"], r["lines"], r["log"], r.get("first", "")))
    if r["scenario"] == "note":
        problems.append("%s: %s" % (r["what"], r["text"]))
    if r["scenario"] == "apache_log":
        print()
        print("Apache access log, requests by path, status and authenticated user:")
        for k, v in r["counts"].items():
            print("  %8d  %s" % (v, k))
print()
if problems:
    print("noticed:")
    for p in problems:
        print("  - " + p)
else:
    print("noticed: no errors, no proxy log lines at warn or above")
if meta.get("elapsed_s") is not None:
    print("run time: %d s (groups: %s)" % (meta["elapsed_s"], meta.get("only", "all")))
def cpu_per_ok(key, target):
    return per_ok(by.get((key, target)))[0]


io_floor = cpu_per_ok("keepalive", "floor")
if io_floor:
    print("keep-alive CPU / socket I/O floor (cg-io-floor %s): certgate=%s nginx=%s tls13: certgate=%s nginx=%s" % (
        fmt_cpu(io_floor), fr(ratio(cpu_per_ok("keepalive", "certgate"), io_floor)),
        fr(ratio(cpu_per_ok("keepalive", "nginx"), io_floor)),
        fr(ratio(cpu_per_ok("keepalive_tls13", "certgate"), io_floor)),
        fr(ratio(cpu_per_ok("keepalive_tls13", "nginx"), io_floor))))
if floor_ratio:
    print("full handshake CPU / public-key floor: ecdsa=%s rsa=%s tls13_ecdsa=%s tls13_rsa=%s" % (
        fr(floor_ratio.get("full_ec")), fr(floor_ratio.get("full_rsa")), fr(floor_ratio.get("full_ec_tls13")),
        fr(floor_ratio.get("full_rsa_tls13"))))
print("ratios tls13 keepalive=%s resume=%s full=%s full_rsa=%s" % (
    fr(cg_ng("keepalive_tls13")), fr(cg_ng("resume_tls13")), fr(cg_ng("full_ec_tls13")),
    fr(cg_ng("full_rsa_tls13"))))
print("ratios keepalive=%s resume=%s full=%s delegated=%s" % (
    fr(cg_ng("keepalive")), fr(cg_ng("resume")), fr(cg_ng("full_ec")),
    fr(cg_ng("deleg_same_rate", "deleg_public_rate"))))
