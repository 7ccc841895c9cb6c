"""Cluster scenario: 9. a request that crosses edges of a cluster (client → B → A → agent)
against one that does not (client → A → agent), issue 21 (docs/cluster.md).

Self-contained like scenario 8: it starts a single-node etcd on loopback (data in the scratch
directory), two release edges A and B joined to it (the Lab's tunnel-edge config: same
authtoken, plus a `cluster:` section, one cluster CA folder for both), an upstream nginx
serving the bench files, and one `sluice http --connect-url` agent on A, inspection on (the
default, as the `sluice-tunnel` row), bound to `http://cluster.localhost`. B serves that name
by forwarding each request over its mutual-TLS inter-edge channel to A.

Per round, both paths and both files alternate (every second round reversed): a wrk run (req/s,
p50/p99, CPU µs per request of A + B + the agent, and TCP connections opened per request,
machine-wide, from /proc/net/snmp's ActiveOpens), then a bench/loadgen run at 1,000 req/s
(p50/p99/p99.9). The report gives the medians and the difference crossing − same edge.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
import urllib.request
from pathlib import Path

from .config import DURATION, FILES, HOST, LOADGEN, ROUNDS, SLUICE, WORK
from .contenders import nginx_conf, start_nginx
from .loads import loadgen, median_of, wrk
from .ports import free_port, http_ok, wait_port
from .procs import PROCS as STARTED, cpu_ticks, have, log, run, start, stop
from .sluice_tunnel import TunnelEdge, http_agent_args, last_line, split_url, start_agent

ROWS = ["same-edge", "crossing"]
LABEL = {"same-edge": "same edge", "crossing": "crossing edges"}
WHAT = {"same-edge": "client → A → tunnel → agent → nginx",
        "crossing": "client → B → mTLS → A → tunnel → agent → nginx"}
NAME = "cluster.localhost"
# the sluice processes charged for CPU in both rows (B idles, polling etcd, in the same-edge row)
PROCS = ("edge-a", "edge-b", "agent")
WRK_KEYS = ["rps", "p50_ms", "p99_ms", "cpu_us_per_req", "tcp_opens_per_req",
            *(f"cpu_us_{p.replace('-', '_')}" for p in PROCS)]
RATE_KEYS = ["rps", "p50_ms", "p99_ms", "p999_ms"]


def etcd_binary() -> str | None:
    return shutil.which("etcd") or ("/usr/bin/etcd" if Path("/usr/bin/etcd").exists() else None)


def etcd_answers(url: str) -> bool:
    """etcd's JSON gateway answers a range read (what the edges use)."""
    body = json.dumps({"key": base64.b64encode(b"/").decode()}).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{url}/v3/kv/range", data=body),
                                    timeout=2) as r:
            return "header" in json.loads(r.read())
    except (OSError, ValueError):
        return False


def start_etcd(binary: str, d: Path) -> tuple[object, str] | str:
    """A single-node etcd on free loopback ports, data under d (as cli/tests/support/etcd.rs)."""
    client, peer = free_port(), free_port()
    url, purl = f"http://{HOST}:{client}", f"http://{HOST}:{peer}"
    p = start("cluster-etcd", [binary, "--name=bench", f"--data-dir={d / 'etcd'}",
                               f"--listen-client-urls={url}", f"--advertise-client-urls={url}",
                               f"--listen-peer-urls={purl}", f"--initial-advertise-peer-urls={purl}",
                               f"--initial-cluster=bench={purl}"])
    if wait_port(client, p, 20):
        for _ in range(100):
            if etcd_answers(url):
                return p, url
            if p.poll() is not None:
                break
            time.sleep(0.1)
    stop(p)
    return f"n/a: etcd did not start ({last_line('cluster-etcd')})"


class ClusterEdge(TunnelEdge):
    """The Lab's tunnel edge (http + tunnel listeners, authtoken TOKEN) with a `cluster:`
    section: etcd, edge id, inter-edge listener on a free port, the shared CA folder."""

    def __init__(self, name: str, edge_id: str, etcd: str, ca_dir: Path) -> None:
        self.edge_id, self.etcd, self.ca_dir, self.peer_port = edge_id, etcd, ca_dir, free_port()
        super().__init__(name, tcp=False)

    def config(self) -> str:
        return super().config() + (
            f"cluster:\n  etcd: [{self.etcd}]\n  edge_id: {self.edge_id}\n"
            f"  listen: {HOST}:{self.peer_port}\n  lease_ttl: 10s\n  ca_dir: {self.ca_dir}\n")


def active_opens() -> int:
    """TCP connections this machine (network namespace) opened so far: /proc/net/snmp."""
    rows = [l.split() for l in Path("/proc/net/snmp").read_text().splitlines() if l.startswith("Tcp:")]
    return int(rows[1][rows[0].index("ActiveOpens")])


def established_to(port: int) -> int:
    """Established TCP connections to HOST:port (IPv4 loopback, client side) right now."""
    want = f"{int.from_bytes(bytes(map(int, HOST.split('.'))), 'little'):08X}:{port:04X}"
    return sum(1 for l in Path("/proc/net/tcp").read_text().splitlines()[1:]
               if l.split()[2] == want and l.split()[3] == "01")


def bring_up(d: Path) -> tuple[dict, dict] | str:
    """etcd, upstream nginx, edges A and B, the agent on A: ({row: (port, host)}, {proc: pid})
    or why not."""
    # the files first: etcd makes a missing parent of its data dir 0700, nginx's workers
    # (another user) could not read them then
    www = d / "www"
    www.mkdir(parents=True, exist_ok=True)
    d.chmod(0o755)
    for fname, size in FILES.values():
        (www / fname).write_bytes(bytes((i * 7 + 13) % 251 for i in range(size)))
    etcd = start_etcd(etcd_binary(), d)
    if isinstance(etcd, str):
        return etcd
    up = free_port()
    start_nginx("cluster-upstream", nginx_conf("cluster-upstream", f"""
    server {{ listen {HOST}:{up} reuseport backlog=4096; root {www}; }}"""), up)
    # A first: the first edge makes the cluster CA in ca_dir, B then loads the same one
    edges = {}
    for tag in ("a", "b"):
        e = ClusterEdge(f"cluster-edge-{tag}", tag, etcd[1], d / "cluster-ca")
        if e.error:
            return e.error
        edges[tag] = e
    r = start_agent("cluster-agent", http_agent_args(edges["a"], up, f"http://{NAME}", inspect=True),
                    want=NAME)
    if isinstance(r, str):
        return r
    agent, url = r
    a_port = (split_url(url) or (edges["a"].http, ""))[0]
    where = {"same-edge": (a_port, f"{NAME}:{a_port}"),
             "crossing": (edges["b"].http, f"{NAME}:{edges['b'].http}")}
    for row, (port, host) in where.items():
        # B learns the placement from etcd within its 500 ms mirror refresh
        if not http_ok(port, host, timeout=15):
            return f"n/a: no 200 for {host} ({row}; {last_line('cluster-edge-b-1')})"
    return where, {"edge-a": edges["a"].proc.pid, "edge-b": edges["b"].proc.pid, "agent": agent.pid}, \
        edges["a"].peer_port


def one_wrk(port: int, host: str, fname: str, pids: dict) -> dict:
    """wrk with the CPU of each sluice process and the TCP connections opened, per request."""
    before = {k: cpu_ticks([p]) for k, p in pids.items()}
    opens = active_opens()
    r = wrk(port, host, fname, DURATION)
    n = r.get("requests")
    if n:
        us = 1e6 / os.sysconf("SC_CLK_TCK") / n
        for k, p in pids.items():
            r[f"cpu_us_{k.replace('-', '_')}"] = (cpu_ticks([p]) - before[k]) * us
        r["cpu_us_per_req"] = sum(r[f"cpu_us_{k.replace('-', '_')}"] for k in pids)
        r["tcp_opens_per_req"] = (active_opens() - opens) / n
    return r


def scenario_cluster(results: dict) -> None:
    """9. client → B → A → agent against client → A → agent, wrk and fixed rate."""
    out = results.setdefault("cluster", {})
    results["cluster_meta"] = {"sluice_bin": str(SLUICE), "debug_build": "/debug/" in str(SLUICE),
                               "inspect": True, "name": NAME}
    why = ("skipped: etcd not installed" if not etcd_binary()
           else "skipped: nginx or wrk not installed" if not (have("nginx") and have("wrk"))
           else "n/a: the sluice binary was not built" if not SLUICE.exists() else None)
    if why is None:
        results["cluster_meta"]["etcd"] = run([etcd_binary(), "--version"], 10).stdout.split("\n")[0] \
            .replace(" Version:", "")
    first = len(STARTED)
    try:
        got = bring_up(WORK / "cluster") if why is None else why
        if isinstance(got, str):
            for f in FILES:
                out[f] = {c: {"na": got} for c in ROWS}
            return
        measure(got[0], got[1], out)
        # connections B still has open to A's inter-edge listener once the load stopped (the
        # last ones put back in Pingora's pool, which never hands one out again: bench/README.md)
        results["cluster_meta"]["interedge_conns_after"] = established_to(got[2])
    finally:
        # etcd and the edges keep polling: stop them before any later scenario
        for _, p in reversed(STARTED[first:]):
            stop(p)


def measure(where: dict, pids: dict, out: dict) -> None:
    """The interleaved rounds, then the medians into out[file][row]."""
    for c in ROWS:
        wrk(*where[c], FILES["1k"][0], 2)  # warm-up (and B's first dials)
    runs: dict = {f: {c: [] for c in ROWS} for f in FILES}
    for rnd in range(ROUNDS):
        for f, (fname, _) in FILES.items():
            for c in (ROWS if rnd % 2 == 0 else list(reversed(ROWS))):
                r = one_wrk(*where[c], fname, pids)
                r["rate"] = loadgen(*where[c], fname, DURATION) if LOADGEN.exists() else \
                    {"error": f"skipped: {LOADGEN} was not built"}
                r["round"] = rnd + 1
                runs[f][c].append(r)
                g = r["rate"]
                log(f"  cluster round {rnd + 1} {f:>4} {c:<9} " + (
                    f"{r['rps']:>8,.0f} req/s p50 {r['p50_ms']:.2f} p99 {r['p99_ms']:.2f} ms "
                    f"cpu {r.get('cpu_us_per_req', float('nan')):.0f} us/req "
                    f"tcp {r.get('tcp_opens_per_req', float('nan')):.2f}/req"
                    + (f" NON-2XX {r['non2xx']}" if r.get("non2xx") else "")
                    if "rps" in r else f"wrk error: {r['error'][:120]}") + (
                    f"; 1000/s p50 {g['p50_ms']:.3f} p99 {g['p99_ms']:.3f} p99.9 {g['p999_ms']:.3f} ms"
                    if "error" not in g else f"; loadgen error: {g['error'][:120]}"))
    for f in FILES:
        out[f] = {}
        for c in ROWS:
            med = median_of(runs[f][c], WRK_KEYS)
            rate = median_of([r["rate"] for r in runs[f][c]], RATE_KEYS)
            med.update({f"rate_{k}": v for k, v in rate.items()})
            bad = sum(r.get("non2xx", 0) + r["rate"].get("non2xx", 0) for r in runs[f][c])
            if bad:
                med["warning"] = f"{bad} non-2xx responses"
            out[f][c] = {"median": med, "runs": runs[f][c]}


def report_cluster(results: dict) -> list[str]:
    """Section 9 of RESULTS.md."""
    table = results.get("cluster")
    if not table:
        return []
    meta = results.get("cluster_meta", {})
    L = [f"## 9. Crossing edges of a cluster: client → B → A → agent vs client → A → agent "
         f"(median of {ROUNDS} interleaved rounds)\n",
         "Two `sluice edge`s A and B on one single-node etcd "
         f"({meta.get('etcd', 'etcd')}), one `sluice http --connect-url` agent on A (inspection on, "
         f"the default) bound to `http://{NAME}`, an upstream nginx. *same edge*: the client asks A; "
         "*crossing edges*: the client asks B, which runs the endpoint's policy (none here) and "
         "forwards the request over its mutual-TLS inter-edge channel to A, which copies it onto "
         f"a stream of the agent's session. wrk: `wrk -t2 -c64 -d{DURATION}s`; fixed rate: "
         f"bench/loadgen at 1,000 req/s for {DURATION}s over 64 connections. CPU µs/req is edge A + "
         "edge B + the agent in both rows (B only polls etcd in the same-edge row); TCP connects/req "
         "is the machine's new TCP connections (`ActiveOpens`) per request: ~1 means every request "
         "dialled a new inter-edge connection.\n",
         *([f"**A debug build** (`{meta['sluice_bin']}`): compare the rows with each other only.\n"]
           if meta.get("debug_build") else []),
         "| file | path | req/s | p50 ms | p99 ms | CPU µs/req (A · B · agent) | TCP connects/req "
         "| 1,000 req/s: p50 ms | p99 ms | p99.9 ms |",
         "|---|---|---|---|---|---|---|---|---|---|"]

    def num(v, fmt: str) -> str:
        return format(v, fmt) if isinstance(v, (int, float)) and v == v else "—"

    for f, rows in table.items():
        size = f.replace("k", " KiB")
        meds = {}
        for c in ROWS:
            row = rows.get(c, {})
            if "na" in row:
                L.append(f"| {size} | {LABEL[c]} | {row['na']} | | | | | | | |")
                continue
            m = meds[c] = row.get("median", {})
            if "error" in m:
                L.append(f"| {size} | {LABEL[c]} | error: {str(m['error'])[:80]} | | | | | | | |"
                         .replace("\n", " "))
                continue
            L.append(f"| {size} | {LABEL[c]} | {num(m.get('rps'), ',.0f')}"
                     f"{' ⚠ ' + m['warning'] if m.get('warning') else ''} | {num(m.get('p50_ms'), '.2f')} | "
                     f"{num(m.get('p99_ms'), '.2f')} | {num(m.get('cpu_us_per_req'), ',.0f')} "
                     f"({num(m.get('cpu_us_edge_a'), '.0f')} · {num(m.get('cpu_us_edge_b'), '.0f')} · "
                     f"{num(m.get('cpu_us_agent'), '.0f')}) | {num(m.get('tcp_opens_per_req'), '.2f')} | "
                     f"{num(m.get('rate_p50_ms'), '.3f')} | {num(m.get('rate_p99_ms'), '.3f')} | "
                     f"{num(m.get('rate_p999_ms'), '.3f')} |")
        if len(meds) < 2:
            continue
        s, x = meds["same-edge"], meds["crossing"]

        def diff(k: str, fmt: str) -> str:
            a, b = s.get(k), x.get(k)
            return format(b - a, "+" + fmt) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else "—"

        ratio = (f"×{x['rps'] / s['rps']:.2f}" if isinstance(s.get("rps"), (int, float)) and s["rps"]
                 and isinstance(x.get("rps"), (int, float)) else "—")
        L.append(f"| {size} | **crossing − same** | {ratio} | {diff('p50_ms', '.2f')} | {diff('p99_ms', '.2f')} | "
                 f"{diff('cpu_us_per_req', '.0f')} ({diff('cpu_us_edge_a', '.0f')} · {diff('cpu_us_edge_b', '.0f')} · "
                 f"{diff('cpu_us_agent', '.0f')}) | {diff('tcp_opens_per_req', '.2f')} | "
                 f"**{diff('rate_p50_ms', '.3f')}** | **{diff('rate_p99_ms', '.3f')}** | "
                 f"**{diff('rate_p999_ms', '.3f')}** |")
    L.append("")
    n = meta.get("interedge_conns_after")
    if isinstance(n, int):
        L.append(f"After the last run B held {n} established connection(s) to A's inter-edge "
                 "listener: crossing requests are streams on one multiplexed connection per pair "
                 "of edges, dialed by the first request (see bench/README.md, scenario 9).\n")
    return L


def summary_cluster(results: dict) -> str | None:
    """One line for the report's summary: 1 KiB req/s ratio and added p50/p99 at 1,000 req/s."""
    t = results.get("cluster", {}).get("1k", {})
    s, x = t.get("same-edge", {}).get("median", {}), t.get("crossing", {}).get("median", {})
    keys = ("rps", "rate_p50_ms", "rate_p99_ms")
    if not all(isinstance(m.get(k), (int, float)) for m in (s, x) for k in keys) or not s["rps"]:
        return None
    return (f"- Crossing edges of a cluster (client → B → A → agent), 1 KiB: req/s ×{x['rps'] / s['rps']:.2f} "
            f"of the same-edge path; at 1,000 req/s it adds {x['rate_p50_ms'] - s['rate_p50_ms']:+.3f} ms "
            f"at p50 and {x['rate_p99_ms'] - s['rate_p99_ms']:+.3f} ms at p99")
