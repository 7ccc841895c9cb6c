"""TLS endpoint scenario: 8. HTTPS through a `tls://` endpoint, TLS ended at the edge
(`terminate-tls`) or passed through to the upstream, next to nginx's stream module doing the
same (`ssl_preread` routing by SNI without decrypting; `listen ... ssl` terminating).

Self-contained: it starts its own upstream nginx (plain and TLS, the same P-256 certificate
everywhere), one nginx with the two stream servers, and one sluice edge (https + tunnel
listeners) with two `sluice tls` agents: `tls://pass.localhost` to the TLS upstream (the edge
routes by SNI, TLS ends at nginx) and `tls://term.localhost` whose policy is `terminate-tls`
with that certificate (the edge decrypts, the agent gets plaintext for the plain upstream).

Two measurements per row, rounds interleaved, median:
- handshakes/s: `h2load --h1 -n N -c 32 -H 'Connection: close'`, so every request is a new TCP
  connection and a full TLS handshake (h2load reconnects after each close), with the CPU time
  the serving processes used per handshake;
- one stream: `curl` downloading a 256 MiB file over one connection, Gbit/s.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
from pathlib import Path

from .config import DURATION, HOST, ROUNDS, SLUICE, TOKEN, WORK
from .ports import free_port, wait_port
from .procs import cpu_ticks, have, log, noise, run, start, stop, write
from .sluice_tunnel import last_line, start_agent

ROWS = ["direct", "nginx-preread", "nginx-stream-ssl", "sluice-passthrough", "sluice-terminate"]
# Each sluice row against the nginx server that does the same job.
PEER_OF = {"sluice-passthrough": "nginx-preread", "sluice-terminate": "nginx-stream-ssl",
           "nginx-preread": "nginx-preread", "nginx-stream-ssl": "nginx-stream-ssl"}
WHAT = {
    "direct": "h2load/curl → nginx (TLS ends there)",
    "nginx-preread": "nginx `stream { ssl_preread on; }` routing by SNI → nginx TLS upstream",
    "nginx-stream-ssl": "nginx `stream { listen … ssl; }` ending TLS → nginx plain upstream",
    "sluice-passthrough": "edge (SNI) → tunnel → `sluice tls` agent → nginx TLS upstream",
    "sluice-terminate": "edge `terminate-tls` → tunnel (plaintext in TLS) → agent → nginx plain upstream",
}
BIG = 256 * 2**20
CONNS = 32


def stream_module() -> str | None:
    """The `load_module` line nginx needs for `stream`, "" when it is built in, None if absent."""
    v = run(["nginx", "-V"], 10).stderr
    if "--with-stream=dynamic" not in v:
        return "" if "--with-stream" in v else None
    for so in (Path("/usr/lib/nginx/modules/ngx_stream_module.so"),
               Path("/usr/share/nginx/modules/ngx_stream_module.so")):
        if so.exists():
            return f"load_module {so};"
    return None


def certificate(d: Path) -> tuple[Path, Path]:
    crt, key = d / "cert.pem", d / "key.pem"
    r = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2", "-subj", "/CN=bench.localhost",
             "-addext", "subjectAltName=DNS:bench.localhost,DNS:pass.localhost,DNS:term.localhost"], 30)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return crt, key


def nginx(name: str, d: Path, load: str, body: str, port: int) -> subprocess.Popen:
    (d / "logs").mkdir(parents=True, exist_ok=True)
    (d / "tmp").mkdir(exist_ok=True)
    conf = write(d / f"{name}.conf", f"""{load}
worker_processes 2;
worker_rlimit_nofile 30000;
pid {d}/{name}.pid;
error_log {d}/logs/{name}.log warn;
events {{ worker_connections 4096; }}
{body}
""")
    p = start(name, ["nginx", "-p", str(d), "-c", str(conf), "-g", "daemon off;"])
    if not wait_port(port, p):
        raise RuntimeError(f"{name} did not start: {(WORK / f'{name}.log').read_text()[-1000:]}")
    return p


def start_sluice(d: Path, crt: Path, key: str, up: int, up_tls: int) -> tuple[dict, list[int]]:
    """The edge and the two agents: {row: port or "n/a: ..."} and the pids to charge."""
    https, tunnel = free_port(), free_port()
    edge_conf = write(d / "edge.yml", f"""version: 1
listeners:
  https: {HOST}:{https}
  tunnel: {HOST}:{tunnel}
state_dir: {d / 'state'}
events:
  output: /dev/null
base_domains: [localhost]
authtokens:
  - token: {TOKEN}
    account: bench
    allow: ["*"]
""")
    edge = start("tls-edge", [str(SLUICE), "edge", "--config", str(edge_conf)])
    if not (wait_port(tunnel, edge, 20) and wait_port(https, edge, 5)):
        why = f"n/a: the edge did not start ({last_line('tls-edge')})"
        return {"sluice-passthrough": why, "sluice-terminate": why}, []
    indent = lambda text: "\n".join("            " + line for line in text.strip().splitlines())
    policy = write(d / "terminate.yml", f"""on_tcp_connect:
  - actions:
      - type: terminate-tls
        config:
          server_certificate: |
{indent(crt.read_text())}
          server_private_key: |
{indent(key)}
""")
    flags = ["--connect-url", f"localhost:{tunnel}", "--connect-ca", str(d / "state" / "ca.pem"),
             "--authtoken", TOKEN]
    out: dict = {}
    pids = [edge.pid]
    for row, name, upstream, extra in (
            ("sluice-passthrough", "pass", f"{HOST}:{up_tls}", []),
            ("sluice-terminate", "term", f"{HOST}:{up}", ["--traffic-policy-file", str(policy)])):
        r = start_agent(f"tls-agent-{name}", ["tls", upstream, "--url", f"tls://{name}.localhost",
                                              *flags, *extra], want=f"{name}.localhost")
        if isinstance(r, str):
            out[row] = r
        else:
            out[row] = https
            pids.append(r[0].pid)
    return out, pids


def handshakes(port: int, name: str, pids: list[int]) -> dict:
    n = 1500 * DURATION
    argv = ["h2load", "--h1", "-n", str(n), "-c", str(CONNS), "-t", "2", "-H", "Connection: close",
            f"--connect-to={HOST}:{port}", f"https://{name}:{port}/1k.bin"]
    before = cpu_ticks(pids)
    r = run(argv, 120)
    used = cpu_ticks(pids) - before
    res: dict = {"cmd": " ".join(argv), **noise()}
    m = re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", r.stdout)
    mm = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed", r.stdout)
    if not m or not mm or int(mm.group(2)) or int(mm.group(1)) != n:
        res["error"] = (r.stderr or r.stdout).strip()[-300:] or f"exit {r.returncode}"
        return res
    res["hps"] = float(m.group(1))
    res["cpu_us_per_hs"] = used / os.sysconf("SC_CLK_TCK") * 1e6 / n
    return res


def one_stream(port: int, name: str) -> dict:
    argv = ["curl", "-sk", "--http1.1", "-o", "/dev/null", "--max-time", "60",
            "--connect-to", f"{name}:{port}:{HOST}:{port}",
            "-w", "%{http_code} %{size_download} %{speed_download}", f"https://{name}:{port}/big.bin"]
    r = run(argv, 90)
    res: dict = {"cmd": " ".join(argv), **noise()}
    parts = r.stdout.split()
    if r.returncode != 0 or len(parts) != 3 or parts[0] != "200" or int(parts[1]) != BIG:
        res["error"] = (r.stderr or r.stdout).strip()[-300:] or f"exit {r.returncode}"
        return res
    res["gbps"] = float(parts[2]) * 8 / 1e9
    return res


def scenario_tls(results: dict) -> None:
    """8. HTTPS through tls:// endpoints: terminate-tls at the edge vs passthrough, vs nginx."""
    out = results.setdefault("tls", {})
    results["tls_meta"] = {"sluice_bin": str(SLUICE), "debug_build": "/debug/" in str(SLUICE)}
    if not have("h2load") or not have("nginx"):
        for c in ROWS:
            out[c] = {"na": "skipped: h2load or nginx not installed"}
        return
    d = WORK / "tls"
    (d / "www").mkdir(parents=True)
    crt, key = certificate(d)
    (d / "www" / "1k.bin").write_bytes(bytes((i * 7 + 13) % 251 for i in range(1024)))
    with open(d / "www" / "big.bin", "wb") as f:
        f.truncate(BIG)
    up, up_tls, pre, term = free_port(), free_port(), free_port(), free_port()
    tls = f"ssl_certificate {crt}; ssl_certificate_key {key}; ssl_protocols TLSv1.2 TLSv1.3;"
    started = [nginx("tls-upstream", d, "", f"""http {{
    access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;
    client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
    server {{ listen {HOST}:{up} backlog=4096; listen {HOST}:{up_tls} ssl backlog=4096; {tls}
             root {d / 'www'}; }}
}}""", up)]
    where: dict = {"direct": up_tls}
    pids: dict = {"direct": [started[0].pid]}
    load = stream_module()
    if load is None:
        where["nginx-preread"] = where["nginx-stream-ssl"] = \
            "skipped: nginx has no stream module (apt-get install libnginx-mod-stream)"
    else:
        p = nginx("tls-peers", d, load, f"""stream {{
    map $ssl_preread_server_name $backend {{ pass.localhost {HOST}:{up_tls}; default {HOST}:9; }}
    server {{ listen {HOST}:{pre} backlog=4096; ssl_preread on; proxy_pass $backend; }}
    server {{ listen {HOST}:{term} ssl backlog=4096; {tls} proxy_pass {HOST}:{up}; }}
}}""", pre)
        started.append(p)
        where["nginx-preread"], where["nginx-stream-ssl"] = pre, term
        pids["nginx-preread"] = pids["nginx-stream-ssl"] = [p.pid, started[0].pid]
    if not SLUICE.exists():
        where["sluice-passthrough"] = where["sluice-terminate"] = "n/a: the sluice binary was not built"
    else:
        got, spids = start_sluice(d, crt, key.read_text(), up, up_tls)
        where.update(got)
        pids["sluice-passthrough"] = pids["sluice-terminate"] = spids + [started[0].pid]
    names = {"direct": "bench.localhost", "nginx-preread": "pass.localhost",
             "nginx-stream-ssl": "term.localhost", "sluice-passthrough": "pass.localhost",
             "sluice-terminate": "term.localhost"}
    live = [c for c in ROWS if isinstance(where.get(c), int)]
    runs: dict = {c: [] for c in live}
    for rnd in range(ROUNDS):
        for c in (live if rnd % 2 == 0 else list(reversed(live))):
            r = {**handshakes(where[c], names[c], pids[c]), "round": rnd + 1}
            s = one_stream(where[c], names[c])
            r.update({k: v for k, v in s.items() if k in ("gbps",)})
            if "error" in s:
                r["stream_error"] = s["error"]
            r["stream_cmd"] = s["cmd"]
            runs[c].append(r)
            log(f"  tls round {rnd + 1} {c:<20} " + (
                f"{r['hps']:,.0f} handshakes/s, {r['cpu_us_per_hs']:.0f} us CPU each" if "hps" in r
                else f"error: {r['error'][:120]}") + (
                f"; one stream {r['gbps']:.2f} Gbit/s" if "gbps" in r else f"; stream error: {s.get('error', '')[:120]}"))
    for c in ROWS:
        if c not in live:
            out[c] = {"na": where.get(c, "n/a")}
            continue
        med = {}
        for k in ("hps", "cpu_us_per_hs", "gbps"):
            vals = [r[k] for r in runs[c] if k in r]
            if vals:
                med[k] = statistics.median(vals)
        if not med:
            med["error"] = runs[c][-1].get("error") or runs[c][-1].get("stream_error", "no run")
        out[c] = {"median": med, "runs": runs[c]}
    for p in started:
        stop(p)


def report_tls(results: dict) -> list[str]:
    """Section 8 of RESULTS.md."""
    table = results.get("tls")
    if not table:
        return []
    L = [f"## 8. HTTPS through a `tls://` endpoint: TLS ended at the edge vs passed through "
         f"(median of {ROUNDS} interleaved rounds)\n",
         f"Handshakes/s: `h2load --h1 -n {1500 * DURATION} -c {CONNS} -t 2 -H 'Connection: close'`, a "
         "new TCP connection and a full TLS handshake per 1 KiB request (P-256 certificate, TLS 1.3); "
         "CPU µs is what the serving processes used per handshake (edge + agent + upstream nginx "
         "for sluice, the nginx proxy + upstream for the peers). One stream: `curl` fetching a "
         "256 MiB file over one connection. ×d is the ratio to direct, ×p to the nginx server "
         "doing the same job (`ssl_preread` for passthrough, `listen … ssl` for termination). "
         "sluice crosses its tunnel (TLS 1.3 + yamux to the agent) on top; nginx does not.\n",
         *([f"**The sluice rows are a debug build** (`{results['tls_meta']['sluice_bin']}`; its own "
            "crates unoptimised, dependencies at opt-level 1 as the workspace's dev profile builds "
            "them): compare them with each other; against nginx they are a floor, not sluice's "
            "figure.\n"]
           if results.get("tls_meta", {}).get("debug_build") else []),
         "| row | what | handshakes/s | CPU µs/handshake | one stream Gbit/s |",
         "|---|---|---|---|---|"]

    def cell(c: str, key: str, fmt: str, higher: bool) -> str:
        row = table.get(c, {})
        if "na" in row:
            return str(row["na"]).replace("|", "/")
        v = row.get("median", {}).get(key)
        if not isinstance(v, (int, float)):
            return "error: " + str(row.get("median", {}).get("error", "—"))[:80].replace("|", "/")
        parts = [format(v, fmt)]
        for ref, tag in (("direct", "d"), (PEER_OF.get(c), "p")):
            r = table.get(ref or "", {}).get("median", {}).get(key)
            if isinstance(r, (int, float)) and r:
                parts.append(f"{v / r:.2f}×{tag}")
        return " · ".join(parts)

    for c in ROWS:
        L.append(f"| {c} | {WHAT[c]} | {cell(c, 'hps', ',.0f', True)} | "
                 f"{cell(c, 'cpu_us_per_hs', '.0f', False)} | {cell(c, 'gbps', '.2f', True)} |")
    L.append("")
    return L
