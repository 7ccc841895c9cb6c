"""HTTP scenarios: 1. wrk throughput/latency (HTTP/1.1), 2. fixed-rate latency (bench/loadgen), 3. h2load over TLS.

They drive the rows Lab started (HTTP_CONTENDERS, H2_CONTENDERS) and fill results["http1"],
results["rate"] and results["h2"]. Scenario 3 also finds out whether the edge can serve HTTPS
by starting it from bench/edge-https.yml.tmpl, and keeps the reason it could not in EDGE_HTTPS
for the report's "Not measured" list.
"""

from __future__ import annotations

import os

from .config import (
    BENCH, DURATION, FILES, H2_CONTENDERS, HOST, HTTP_CONTENDERS, LOADGEN, ROUNDS, SLUICE, WORK,
)
from .contenders import Lab
from .loads import h2load, loadgen, median_of, wrk
from .ports import free_port, wait_port
from .procs import cpu_ticks, ctx_switches, have, log, start, stop, with_children, write


def scenario_http1(lab: Lab, results: dict) -> None:
    """1. wrk -t2 -c64, interleaved rounds, median."""
    out = results.setdefault("http1", {})
    live = [c for c in HTTP_CONTENDERS if isinstance(lab.url.get(c), tuple)]
    log(f"scenario 1 (wrk): warm-up of {', '.join(live)}")
    for c in live:
        port, host = lab.url[c]
        wrk(port, host, FILES["1k"][0], 2)
    runs: dict = {f: {c: [] for c in live} for f in FILES}
    for rnd in range(ROUNDS):
        order = live if rnd % 2 == 0 else list(reversed(live))
        for f, (fname, _) in FILES.items():
            for c in order:
                port, host = lab.url[c]
                pids = lab.cpu_pids.get(c, [])
                before = cpu_ticks(pids)
                ours = with_children([p for p in pids if p != lab.pids.get("upstream")])
                cs_before = sum(ctx_switches(p) for p in ours)
                r = wrk(port, host, fname, DURATION)
                if pids and r.get("requests"):
                    # CPU time of the proxy side (everything but wrk) per request: robust to
                    # other load on the machine, unlike req/s
                    r["cpu_us_per_req"] = (cpu_ticks(pids) - before) / os.sysconf("SC_CLK_TCK") \
                        * 1e6 / r["requests"]
                    # context switches of the proxy / tunnel processes (not the upstream)
                    r["ctx_switches_per_req"] = (sum(ctx_switches(p) for p in ours) - cs_before) \
                        / r["requests"]
                r["round"] = rnd + 1
                runs[f][c].append(r)
                log(f"  round {rnd + 1} {f:>4} {c:<20} " + (
                    f"{r['rps']:>10,.0f} req/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms"
                    f"  cpu {r.get('cpu_us_per_req', float('nan')):.0f} us/req"
                    f"  cs {r.get('ctx_switches_per_req', float('nan')):.2f}/req"
                    + (f"  NON-2XX {r['non2xx']}" if r.get("non2xx") else "")
                    if "rps" in r else f"error: {r['error']}"))
    for f in FILES:
        out[f] = {}
        for c in HTTP_CONTENDERS:
            v = lab.url.get(c)
            if not isinstance(v, tuple):
                out[f][c] = {"na": v}
                continue
            med = median_of(runs[f][c], ["rps", "p50_ms", "p99_ms", "cpu_us_per_req",
                                         "ctx_switches_per_req"])
            bad = sum(r.get("non2xx", 0) for r in runs[f][c])
            if bad:
                med["warning"] = f"{bad} non-2xx responses"
            out[f][c] = {"median": med, "runs": runs[f][c]}


def scenario_rate(lab: Lab, results: dict) -> None:
    """2. bench/loadgen at a fixed 1000 req/s."""
    out = results.setdefault("rate", {})
    if not LOADGEN.exists():
        for f in FILES:
            out[f] = {c: {"na": f"skipped: {LOADGEN} was not built"} for c in HTTP_CONTENDERS}
        return
    live = [c for c in HTTP_CONTENDERS if isinstance(lab.url.get(c), tuple)]
    for f, (fname, _) in FILES.items():
        out[f] = {}
        for c in HTTP_CONTENDERS:
            v = lab.url.get(c)
            if c not in live:
                out[f][c] = {"na": v}
                continue
            r = loadgen(v[0], v[1], fname, DURATION)
            log(f"  rate {f:>4} {c:<20} " + (
                f"p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  p99.9 {r['p999_ms']:.3f} ms"
                if "error" not in r else f"error: {r['error']}"))
            out[f][c] = {"median": {k: r[k] for k in ("rps", "p50_ms", "p99_ms", "p999_ms") if k in r}
                         if "error" not in r else {"error": r["error"]}, "runs": [r]}


def edge_https_support() -> str | None:
    """Filled in by scenario 3 from what the edge actually did with bench/edge-https.yml.tmpl."""
    return EDGE_HTTPS.get("na")


EDGE_HTTPS: dict = {}


def scenario_h2(lab: Lab, results: dict) -> None:
    """3. h2load over TLS (h2): nginx serving the file itself (direct), nginx proxy, sluice edge."""
    out = results.setdefault("h2", {})
    if not have("h2load"):
        for f in FILES:
            out[f] = {c: {"na": "skipped: h2load not installed"} for c in H2_CONTENDERS}
        return
    # Whether the edge can do HTTPS is found by trying: start it with bench/edge-https.yml.tmpl.
    edge_tls: int | str = "n/a"
    edge_proc = None
    tmpl = BENCH / "edge-https.yml.tmpl"
    if not SLUICE.exists():
        edge_tls = "n/a: target/release/sluice was not built"
    elif not tmpl.exists():
        edge_tls = "n/a: bench/edge-https.yml.tmpl is missing"
    else:
        if True:
            http_p, https_p = free_port(), free_port()
            conf = write(WORK / "edge-https.yml", tmpl.read_text().format(
                host=HOST, http_port=http_p, https_port=https_p, upstream=lab.up,
                cert=lab.crt, key=lab.key, policy=BENCH / "policy-10-rules.yml"))
            edge_proc = start("sluice-edge-https", [str(SLUICE), "edge", "--config", str(conf)])
            if wait_port(https_p, edge_proc):
                edge_tls = https_p
            else:
                tail = (WORK / "sluice-edge-https.log").read_text(errors="replace").strip().splitlines()
                edge_tls = "n/a: the edge did not start with bench/edge-https.yml.tmpl: " + (
                    tail[-1][:150].replace("|", "/") if tail else "no output")
    if isinstance(edge_tls, str):
        EDGE_HTTPS["na"] = edge_tls
    targets = {"direct": (lab.up_tls, "bench.localhost"), "nginx": (lab.ngx_tls, "bench.localhost"),
               "sluice-edge": (edge_tls, "plain.localhost"),
               "sluice-edge+policy": (edge_tls, "policy.localhost")}
    for f, (fname, _) in FILES.items():
        out[f] = {}
        for c, (port, host) in targets.items():
            if isinstance(port, str):
                out[f][c] = {"na": port}
                continue
            r = h2load(port, fname, DURATION, host)
            log(f"  h2load {f:>4} {c:<20} " + (f"{r['rps']:,.0f} req/s" if "error" not in r
                                               else f"error: {r['error']}"))
            out[f][c] = {"median": {k: r[k] for k in ("rps", "mean_ms") if k in r} if "rps" in r
                         else {"error": r["error"]}, "runs": [r]}
    if edge_proc is not None:
        stop(edge_proc)
