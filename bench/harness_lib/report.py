"""bench/RESULTS.md: the markdown report rendered from the results and the run's metadata.

report() lays out the summary, the noise note, one section per scenario that ran, the profiles,
any scenario that crashed and every sluice row that could not be measured (not_measured()).
The numbers themselves come from the scenarios; the cells' formatting lives in report_cells.
"""

from __future__ import annotations

from .config import (
    AB, DURATION, EDGE_EVENTS, FILES, H2_CONTENDERS, HTTP_CONTENDERS, IDLE_TUNNELS, ROUNDS,
    STARTS,
)
from .report_cells import best_peer, cell, ratio_to
from .scenario_cluster import report_cluster, summary_cluster
from .scenario_http import edge_https_support
from .scenario_tls import report_tls


def summary(results: dict) -> list[str]:
    """The headline comparisons, one line each (details in the sections below)."""
    L = []
    for f in FILES:
        t = results.get("http1", {}).get(f)
        if t:
            L.append(f"- HTTP/1.1 {f.replace('k', ' KiB')} req/s: sluice-edge "
                     f"{ratio_to(t, 'sluice-edge', ['nginx'], 'rps', True)}; through the tunnel "
                     f"{ratio_to(t, 'sluice-tunnel', ['rathole', 'bore'], 'rps', True)}, without "
                     f"inspection {ratio_to(t, 'sluice-tunnel-noinspect', ['rathole', 'bore'], 'rps', True)}; "
                     f"CPU µs/req through the tunnel "
                     f"{ratio_to(t, 'sluice-tunnel', ['rathole', 'bore'], 'cpu_us_per_req', False)}; "
                     f"CPU µs/req through forward-internal "
                     f"{ratio_to(t, 'sluice-forward-internal', ['sluice-tunnel-noinspect'], 'cpu_us_per_req', False)}")
    t = results.get("iperf")
    if t:
        L.append(f"- One TCP stream, Gbit/s: sluice TCP tunnel "
                 f"{ratio_to(t, 'sluice-tunnel', ['rathole', 'bore'], 'gbps', True)}")
    t = results.get("memory")
    if t:
        L.append(f"- Idle client connections, bytes each: sluice-edge "
                 f"{ratio_to(t, 'sluice-edge', ['nginx'], 'per_conn_bytes', False)}; idle edge RSS KiB "
                 f"{ratio_to(t, 'sluice-edge', ['nginx'], 'idle_kib', False)}")
    t = results.get("memory_tunnel")
    if t:
        L.append(f"- Fresh tunnel processes, RSS KiB: edge "
                 f"{ratio_to(t.get('server', {}), 'sluice-edge', ['rathole', 'bore'], 'idle_kib', False)}, agent "
                 f"{ratio_to(t.get('agent', {}), 'sluice-agent', ['rathole', 'bore'], 'idle_kib', False)}")
    t = results.get("tunnels")
    if t:
        tt = {k: v for k, v in t.items() if isinstance(v, dict)}
        L.append(f"- {t.get('n', IDLE_TUNNELS):,} idle tunnels, RSS KiB: server "
                 f"{ratio_to(tt, 'sluice', ['rathole'], 'server_kib', False)}, agent "
                 f"{ratio_to(tt, 'sluice', ['rathole'], 'agent_kib', False)}")
    t = results.get("times")
    if t:
        st, rc = t.get("start", {}), t.get("reconnect", {})
        L.append(f"- Start to first request, ms: embedded edge "
                 f"{ratio_to(st, 'sluice-embedded', ['rathole', 'bore'], 'ms', False)}, --connect-url "
                 f"{ratio_to(st, 'sluice-connect', ['rathole', 'bore'], 'ms', False)}; reconnect after an "
                 f"edge restart {ratio_to(rc, 'sluice', ['rathole'], 'ms', False)}")
    line = summary_cluster(results)
    if line:
        L.append(line)
    return L


def not_measured(results: dict) -> list[str]:
    """Every sluice row that says n/a or skipped, with its reason."""
    out = []
    for scen in ("http1", "rate"):
        for f, t in results.get(scen, {}).items():
            for c in ("sluice-edge", "sluice-tunnel", "sluice-tunnel-noinspect"):
                if "na" in t.get(c, {}):
                    out.append(f"{scen} {f} {c}: {t[c]['na']}")
    if "na" in results.get("iperf", {}).get("sluice-tunnel", {}):
        out.append(f"iperf3 through a sluice TCP tunnel: {results['iperf']['sluice-tunnel']['na']}")
    if "na" in results.get("tunnels", {}).get("sluice", {}):
        out.append(f"{IDLE_TUNNELS:,} idle tunnels: {results['tunnels']['sluice']['na']}")
    for c, row in results.get("times", {}).get("start", {}).items():
        if c.startswith("sluice") and "na" in row:
            out.append(f"start-up {c}: {row['na']}")
    if "na" in results.get("times", {}).get("reconnect", {}).get("sluice", {}):
        out.append(f"reconnect: {results['times']['reconnect']['sluice']['na']}")
    for f, t in results.get("cluster", {}).items():
        if "na" in t.get("crossing", {}):
            out.append(f"cluster {f} crossing edges: {t['crossing']['na']}")
    # the same reason once per scenario is enough
    seen, uniq = set(), []
    for m in out:
        key = m.split(": ", 1)[-1] + m.split(" ")[0]
        if key not in seen:
            seen.add(key)
            uniq.append(m)
    return uniq


def setup_note(meta: dict) -> str:
    """How much of the run bench/run spent installing and building (older results lack it)."""
    setup = meta.get("setup_min") or 0.0
    return f" ({setup:.1f} of them installing tools and building)" if setup >= 0.1 else ""


def report(results: dict, meta: dict) -> str:
    L: list[str] = []
    L.append("# sluice benchmark results\n")
    L.append(f"Generated by `bench/run` on {meta['date']} at commit `{meta['commit']}`"
             f"{' (with uncommitted changes)' if meta['dirty'] else ''}; sluice built from the "
             f"{meta['source']}; {meta['cpus']} cores, "
             f"{meta['mem_gib']} GiB; run took {meta['elapsed_min']:.1f} min"
             f"{setup_note(meta)}. Everything ran on 127.0.0.1.\n")
    L.append("Each cell is `value · ratio to direct (×d) · ratio to the best peer (×p)`; the best peer is "
             "the best of nginx, rathole and bore for that column in this same run. For req/s and "
             "Gbit/s higher is better (×p < 1 means behind); for latency and memory lower is better "
             "(×p > 1 means behind). Absolute numbers are for context only; compare ratios.\n")
    head = summary(results)
    if head:
        L.append("**Summary** (ratio to the best peer named; the sections below have every figure):\n")
        L.extend(head)
        L.append("")
    if AB:
        L.append(f"Rows marked `@B` are a second edge started from `{AB}` (BENCH_AB), measured "
                 "alternately with the others: before/after comparisons.\n")
    if EDGE_EVENTS == "file":
        L.append("The edges write their events to a file (BENCH_EDGE_EVENTS=file).\n")
    n = meta["noise"]
    busy = ("other engineers were compiling on this 2-core machine during the run: "
            if n["samples_with_compilers"] else "")
    L.append(f"**Noise:** {busy}compiler processes were seen in {n['samples_with_compilers']} of "
             f"{n['samples']} measurements; 1-minute load average {n['load_min']:.1f}–{n['load_max']:.1f} "
             "(an idle machine shows < 0.5). The load generator, the proxy and the upstream also "
             "share the two cores. Treat differences under ~15 % as noise.\n")

    if "http1" in results:
        L.append(f"## 1. HTTP/1.1 throughput and latency (wrk -t2 -c64 -d{DURATION}s --latency, "
                 f"median of {ROUNDS} interleaved rounds)\n")
        for f, table in results["http1"].items():
            L.append(f"### {f.replace('k', ' KiB')} file (best peer: req/s {best_peer(table, 'rps', True)}, "
                     f"p99 {best_peer(table, 'p99_ms', False)})\n")
            L.append("| contender | req/s | p50 ms | p99 ms | CPU µs/req |")
            L.append("|---|---|---|---|---|")
            for c in HTTP_CONTENDERS:
                L.append(f"| {c} | {cell(table, c, 'rps', 'req/s', True)} | "
                         f"{cell(table, c, 'p50_ms', 'ms', False)} | {cell(table, c, 'p99_ms', 'ms', False)} | "
                         f"{cell(table, c, 'cpu_us_per_req', 'us', False)} |")
            L.append("")
    if "rate" in results:
        L.append(f"## 2. Fixed-rate latency (bench/loadgen: 1,000 req/s for {DURATION}s over 64 connections, "
                 "latency from when each request was due; one run)\n")
        for f, table in results["rate"].items():
            L.append(f"### {f.replace('k', ' KiB')} file\n")
            L.append("| contender | achieved req/s | p50 ms | p99 ms | p99.9 ms |")
            L.append("|---|---|---|---|---|")
            for c in HTTP_CONTENDERS:
                L.append(f"| {c} | {cell(table, c, 'rps', 'req/s', True)} | {cell(table, c, 'p50_ms', 'ms', False)} | "
                         f"{cell(table, c, 'p99_ms', 'ms', False)} | {cell(table, c, 'p999_ms', 'ms', False)} |")
            L.append("")
    if "h2" in results:
        L.append(f"## 3. HTTP/2 over TLS (h2load -D {DURATION} -c 64 -m 10 -t 2, one run)\n")
        L.append("`direct` is the upstream nginx serving the file itself over h2+TLS; `nginx` terminates "
                 "TLS/h2 and proxies HTTP/1.1 to the upstream, as the edge would. Ratios to best peer "
                 "are to nginx (the only h2 peer).\n")
        L.append("| contender | " + " | ".join(f"{f.replace('k', ' KiB')} req/s" for f in results["h2"]) + " |")
        L.append("|---|" + "---|" * len(results["h2"]))
        for c in H2_CONTENDERS:
            L.append(f"| {c} | " + " | ".join(cell(t, c, "rps", "req/s", True) for t in results["h2"].values()) + " |")
        L.append("")
    if "iperf" in results:
        t = results["iperf"]
        L.append(f"## 4. One TCP stream through a tunnel (iperf3 -t {DURATION}, median of {ROUNDS} rounds)\n")
        L.append("| path | Gbit/s |")
        L.append("|---|---|")
        for c in ("direct", "sluice-tunnel", "rathole", "bore"):
            L.append(f"| {c} | {cell(t, c, 'gbps', 'Gbit/s', True)} |")
        o = t.get("openssl-aes-128-gcm", {})
        if "median" in o:
            L.append(f"| ceiling: `openssl speed -evp aes-128-gcm`, one core, 16 KiB | "
                     f"{o['median']['gbps']:.1f} ({o['median']['GBps']:.2f} GB/s) |")
        else:
            L.append(f"| ceiling: openssl speed | {o.get('na', 'n/a')} |")
        L.append("\nrathole and bore run plain TCP here (no TLS/Noise). sluice's tunnel is TLS 1.3 "
                 "(rustls, AES-GCM) with yamux streams inside: every byte is encrypted by the edge and "
                 "decrypted by the agent (or the reverse), so one stream is bounded by the ceiling row "
                 "and by what is left of the two cores.\n")
    if "memory" in results:
        t = results["memory"]
        L.append(f"## 5. Memory (VmRSS; nginx = master + 2 workers), fresh processes\n")
        L.append("| process | idle MiB | with idle conns MiB | conns opened / established | bytes per conn |")
        L.append("|---|---|---|---|---|")
        for c in ("sluice-edge", "sluice-edge@B", "nginx"):
            if c not in t:
                continue
            row = t.get(c, {})
            if "na" in row:
                L.append(f"| {c} | {row['na']} | | | |")
                continue
            m = row["median"]
            L.append(f"| {c} | {cell(t, c, 'idle_kib', 'MiB', False, None)} | "
                     f"{cell(t, c, 'conns_kib', 'MiB', False, None)} | "
                     f"{m['conns_opened']} / {m['conns_established_server_side']} | "
                     f"{cell(t, c, 'per_conn_bytes', '', False, None)} |")
        L.append("")
    if "memory_tunnel" in results:
        mt = results["memory_tunnel"]
        L.append("### Tunnel processes, fresh (VmRSS after start-up and one request; rathole and bore "
                 "also carry the iperf3 tunnel)\n")
        L.append("| side | sluice MiB | rathole MiB | bore MiB |")
        L.append("|---|---|---|---|")
        for side, ours in (("server", "sluice-edge"), ("agent", "sluice-agent")):
            t = mt.get(side, {})
            L.append(f"| {side} | {cell(t, ours, 'idle_kib', 'MiB', False, None)} | "
                     f"{cell(t, 'rathole', 'idle_kib', 'MiB', False, None)} | "
                     f"{cell(t, 'bore', 'idle_kib', 'MiB', False, None)} |")
        L.append("")
    if "tunnels" in results:
        t = results["tunnels"]
        n = t.get("n", IDLE_TUNNELS)
        L.append(f"### {n:,} idle tunnels bound by one agent\n")
        L.append("sluice: a fresh edge and `sluice start --all` with a generated v3 config of "
                 f"{n:,} HTTP endpoints; rathole: one server and one client with {n:,} services "
                 "(rathole opens one control channel per service). Per tunnel = (RSS − RSS with one "
                 "tunnel) / tunnels.\n")
        L.append("| contender | server MiB | server bytes/tunnel | agent MiB | agent bytes/tunnel | all bound in s |")
        L.append("|---|---|---|---|---|---|")
        for c in ("sluice", "rathole", "bore"):
            row = t.get(c, {})
            if "na" in row:
                L.append(f"| {c} | {row['na']} | | | | |")
                continue
            m = row.get("median", {})
            tt = {k: v for k, v in t.items() if isinstance(v, dict)}
            L.append(f"| {c} | {cell(tt, c, 'server_kib', 'MiB', False, None)} | "
                     f"{cell(tt, c, 'server_per_tunnel_bytes', '', False, None)} | "
                     f"{cell(tt, c, 'agent_kib', 'MiB', False, None)} | "
                     f"{cell(tt, c, 'agent_per_tunnel_bytes', '', False, None)} | "
                     f"{m.get('bind_seconds', '—')} |")
        L.append("")
    if "criterion" in results:
        c = results["criterion"]
        L.append("## 6. Criterion microbenchmarks (`cargo bench -p sluice-modules --bench policy_eval`)\n")
        if "error" in c:
            L.append(f"cargo bench failed: `{c['error'][-200:]}`\n")
        benches = c.get("benches", {})
        base = next((b["median_ns"] for n_, b in benches.items() if "empty" in n_), None)
        L.append("| benchmark | median ns | × empty-policy baseline |")
        L.append("|---|---|---|")
        for name, b in benches.items():
            ratio = f"{b['median_ns'] / base:.2f}×" if base else "—"
            L.append(f"| {name}{' (stale: not rerun)' if b['stale'] else ''} | {b['median_ns']:,.0f} | {ratio} |")
        L.append("")
    if "times" in results:
        t = results["times"]
        L.append(f"## 7. Start-up and reconnect times\n")
        L.append(f"**Start to first request**: from spawning the agent to the first 200 through the URL it "
                 f"prints (polled every 10 ms), median of {STARTS} runs, contenders alternated. "
                 "`sluice http <upstream>` starts its own edge in-process (embedded); with "
                 "`--connect-url` it dials the running tunnel edge; rathole's client dials a running "
                 "server; `bore local` dials the running bore server. Ratios are to the best of "
                 "rathole and bore.\n")
        st = t.get("start", {})
        L.append("| contender | ms |")
        L.append("|---|---|")
        for c, label in (("sluice-embedded", "sluice http (embedded edge)"),
                         ("sluice-connect", "sluice http --connect-url"),
                         ("rathole", "rathole --client"), ("bore", "bore local")):
            L.append(f"| {label} | {cell(st, c, 'ms', 'ms', False, None)} |")
        L.append("\n**Reconnect**: the server (sluice edge / rathole server) is stopped and started again "
                 "on the same ports; time from spawning the new server to the first 200 through the "
                 "same URL, median of 3.\n")
        rc = t.get("reconnect", {})
        L.append("| contender | ms |")
        L.append("|---|---|")
        for c in ("sluice", "rathole", "bore"):
            L.append(f"| {c} | {cell(rc, c, 'ms', 'ms', False, None)} |")
        L.append("")
    L.extend(report_tls(results))
    L.extend(report_cluster(results))
    if "profile" in results or "profile_tunnel" in results:
        L.append("## Profiles\n")
    if "profile" in results:
        L.append(f"- `perf record` of the edge during a wrk run on the policy endpoint "
                 f"({results['profile']['rps_during'] or 0:,.0f} req/s under perf): `{results['profile']['file']}`.")
    if "profile_tunnel" in results:
        L.append(f"- `perf record` of the tunnel edge and the agent during a wrk run through the tunnel "
                 f"({results['profile_tunnel']['rps_during'] or 0:,.0f} req/s under perf): "
                 f"`{results['profile_tunnel']['file']}`.")
    if "profile_tunnel_tcp" in results:
        L.append(f"- `perf record` of the tunnel edge and the `sluice tcp` agent during an iperf3 run "
                 f"({results['profile_tunnel_tcp']['gbps_during'] or 0:.2f} Gbit/s under perf): "
                 f"`{results['profile_tunnel_tcp']['file']}`.")
    if "profile" in results or "profile_tunnel" in results:
        L.append("")
    for name, tb in results.get("failed", {}).items():
        L.append(f"**Scenario {name} crashed** (the harness went on):\n\n```\n{tb.strip()}\n```\n")
    missing = not_measured(results)
    if edge_https_support():
        missing.append("sluice HTTPS/h2: " + edge_https_support())
    if missing:
        L.append("## Not measured\n")
        L.extend(f"- {m}" for m in missing)
    L.append("")
    return "\n".join(L)
