"""The contenders of scenarios 1-4: upstream nginx, nginx proxy, sluice edge and tunnels, rathole, bore.

Lab starts all of them once, on free loopback ports, and records for each row either where to
send traffic (`url[c]` = (port, Host header), `iperf[c]` = port) or why it cannot be measured
(an "n/a: ..." / "skipped: ..." string), plus the pids whose CPU each row is charged for. The
config writers (nginx_conf, edge_config, rathole_pair) and starters (start_nginx, start_edge)
are also used by the scenarios that start fresh processes of their own.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from .config import (
    AB, BENCH, CONTENDERS_ONLY, EDGE_EVENTS, FILES, HOST, HTTP_CONTENDERS, SLUICE, WORK,
)
from .ports import free_bore_port, free_port, http_ok, port_open, wait_port
from .procs import have, rss_kib, run, start, wait_log, write
from .sluice_tunnel import (
    TunnelEdge, http_agent_args, last_line, sluice_help, split_url, start_agent,
    start_forward_internal, start_tcp_agent,
)


def nginx_conf(name: str, body: str, worker_conns: int = 4096) -> Path:
    d = WORK / name
    (d / "logs").mkdir(parents=True, exist_ok=True)
    return write(d / "nginx.conf", f"""
worker_processes 2;
worker_rlimit_nofile 30000;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections {worker_conns}; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp;
    proxy_temp_path {d}/tmp;
    fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp;
    scgi_temp_path {d}/tmp;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
{body}
}}
""")


def start_nginx(name: str, conf: Path, port: int) -> subprocess.Popen:
    (conf.parent / "tmp").mkdir(exist_ok=True)
    p = start(name, ["nginx", "-p", str(conf.parent), "-c", str(conf), "-g", "daemon off;"])
    if not wait_port(port, p):
        raise RuntimeError(f"{name} did not start: {(WORK / f'{name}.log').read_text()[-2000:]}")
    if not http_ok(port, "bench.localhost", timeout=5):
        raise RuntimeError(f"{name} does not answer 200 for /1k.bin: see {conf.parent}/logs/error.log")
    return p


def self_signed() -> tuple[Path, Path]:
    crt, key = WORK / "cert.pem", WORK / "key.pem"
    r = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2",
             "-subj", "/CN=bench.localhost", "-addext",
             "subjectAltName=DNS:bench.localhost,DNS:plain.localhost,DNS:policy.localhost,IP:127.0.0.1"], 30)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return crt, key


class Lab:
    """Everything started for scenarios 1-4: upstream, proxies, tunnels. `url[c]` maps a
    contender to (port, Host header) or to an "n/a: ..." / "skipped: ..." string."""

    def __init__(self) -> None:
        self.url: dict[str, tuple[int, str] | str] = {}
        self.iperf: dict[str, int | str] = {}
        self.pids: dict[str, int] = {}
        self.crt, self.key = self_signed()

        # upstream: nginx serving the two files (plus an h2-over-TLS listener for scenario 3)
        www = WORK / "www"
        www.mkdir()
        for fname, size in FILES.values():
            (www / fname).write_bytes(bytes((i * 7 + 13) % 251 for i in range(size)))
        self.up = free_port()
        self.up_tls = free_port()
        conf = nginx_conf("upstream", f"""
    server {{
        listen {HOST}:{self.up} reuseport backlog=4096;
        listen {HOST}:{self.up_tls} ssl http2 backlog=4096;
        ssl_certificate {self.crt};
        ssl_certificate_key {self.key};
        root {www};
    }}""")
        p = start_nginx("upstream", conf, self.up)
        self.pids["upstream"] = p.pid
        self.url["direct"] = (self.up, "bench.localhost")

        # nginx proxy_pass with an upstream keep-alive pool (what a tuned nginx does)
        self.ngx = free_port()
        self.ngx_tls = free_port()
        conf = nginx_conf("nginx-proxy", f"""
    upstream app {{ server {HOST}:{self.up}; keepalive 128; }}
    server {{
        listen {HOST}:{self.ngx} reuseport backlog=4096;
        listen {HOST}:{self.ngx_tls} ssl http2 backlog=4096;
        ssl_certificate {self.crt};
        ssl_certificate_key {self.key};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_buffering on;
        }}
    }}""")
        p = start_nginx("nginx-proxy", conf, self.ngx)
        self.pids["nginx"] = p.pid
        self.url["nginx"] = (self.ngx, "bench.localhost")

        # sluice edge: one process, two endpoints (no policy / the 10-rule policy)
        self.edge_port = free_port()
        p = start_edge("sluice-edge", self.edge_port, self.up)
        if isinstance(p, str):
            self.url["sluice-edge"] = self.url["sluice-edge+policy"] = p
        else:
            self.pids["sluice-edge"] = p.pid
            self.edge_proc = p
            self.url["sluice-edge"] = (self.edge_port, "plain.localhost")
            self.url["sluice-edge+policy"] = (self.edge_port, "policy.localhost")

        # iperf3 server (scenario 4)
        self.iperf_up = free_port()
        if have("iperf3"):
            p = start("iperf3-server", ["iperf3", "-s", "-B", HOST, "-p", str(self.iperf_up)])
            self.iperf["direct"] = self.iperf_up if wait_port(self.iperf_up, p) else "n/a: iperf3 server did not start"
        else:
            self.iperf["direct"] = "skipped: iperf3 not installed"

        if AB:
            self.edge_b_port = free_port()
            p = start_edge("sluice-edge-B", self.edge_b_port, self.up, AB)
            if isinstance(p, str):
                self.url["sluice-edge@B"] = self.url["sluice-edge+policy@B"] = p
            else:
                self.pids["sluice-edge@B"] = p.pid
                self.url["sluice-edge@B"] = (self.edge_b_port, "plain.localhost")
                self.url["sluice-edge+policy@B"] = (self.edge_b_port, "policy.localhost")
        self.start_sluice_tunnel()
        if AB:
            self.start_sluice_tunnel_b()
        self.start_rathole()
        self.start_bore()
        # the processes serving each contender (for CPU per request; wrk itself is not counted)
        pid = self.pids.get
        self.cpu_pids = {c: [p for p in ps if p] for c, ps in {
            "direct": [pid("upstream")], "nginx": [pid("nginx"), pid("upstream")],
            "sluice-edge": [pid("sluice-edge"), pid("upstream")],
            "sluice-edge+policy": [pid("sluice-edge"), pid("upstream")],
            "sluice-edge@B": [pid("sluice-edge@B"), pid("upstream")],
            "sluice-edge+policy@B": [pid("sluice-edge@B"), pid("upstream")],
            "sluice-tunnel": [pid("sluice-tunnel-edge"), pid("sluice-agent"), pid("upstream")],
            "sluice-tunnel-noinspect": [pid("sluice-tunnel-edge"), pid("sluice-agent-noinspect"),
                                        pid("upstream")],
            "sluice-tunnel@B": [pid("sluice-tunnel-edge@B"), pid("sluice-agent@B"), pid("upstream")],
            "sluice-tunnel-noinspect@B": [pid("sluice-tunnel-edge@B"), pid("sluice-agent-noinspect@B"),
                                          pid("upstream")],
            "sluice-forward-internal": [pid("sluice-tunnel-edge"), pid("sluice-fi-internal"),
                                        pid("sluice-fi-gateway"), pid("upstream")],
            "rathole": [pid("rathole"), pid("rathole-client"), pid("upstream")],
            "bore": [pid("bore"), pid("bore-client"), pid("upstream")],
        }.items()}
        if CONTENDERS_ONLY:
            for c in HTTP_CONTENDERS:
                if c not in CONTENDERS_ONLY:
                    self.url[c] = "skipped: not in BENCH_CONTENDERS"
        # RSS of the tunnel processes while fresh (one or two tunnels, no load yet)
        time.sleep(1)
        self.fresh_rss = {k: rss_kib(pid) for k, pid in self.pids.items()
                          if k in ("sluice-tunnel-edge", "sluice-agent", "rathole", "rathole-client",
                                   "bore", "bore-client")}

    def start_sluice_tunnel(self) -> None:
        """The tunnel edge, two `sluice http` agents (inspection on / off) on the upstream, and
        a `sluice tcp` agent on the iperf3 server."""
        self.tedge = TunnelEdge("sluice-tunnel-edge")
        if self.tedge.error:
            for c in ("sluice-tunnel", "sluice-tunnel-noinspect", "sluice-forward-internal"):
                self.url[c] = self.tedge.error
            self.iperf["sluice-tunnel"] = self.tedge.error
            return
        self.pids["sluice-tunnel-edge"] = self.tedge.proc.pid
        if sluice_help("http") is None:
            for c in ("sluice-tunnel", "sluice-tunnel-noinspect"):
                self.url[c] = "skipped: this sluice has no `http` command"
        for c, inspect in (("sluice-tunnel", True), ("sluice-tunnel-noinspect", False)):
            if c in self.url:
                continue
            if not inspect and "--inspect" not in (sluice_help("http") or ""):
                self.url[c] = "skipped: `sluice http` has no --inspect flag"
                continue
            r = start_agent(c, http_agent_args(self.tedge, self.up, f"http://{c}.localhost", inspect),
                            want=f"{c}.localhost")
            if isinstance(r, str):
                self.url[c] = r
                continue
            p, url = r
            target = split_url(url)
            if target is None or target[0] != self.tedge.http:
                # the edge names its http port in the URL; anything else is unexpected
                target = (self.tedge.http, f"{c}.localhost:{self.tedge.http}")
            if http_ok(target[0], target[1], timeout=15):
                self.url[c] = target
                self.pids["sluice-agent" if inspect else "sluice-agent-noinspect"] = p.pid
            else:
                self.url[c] = f"n/a: no 200 through {url} ({last_line(c)})"
        r = start_forward_internal(self.tedge, self.up, "sluice-forward-internal")
        if isinstance(r, str):
            self.url["sluice-forward-internal"] = r
        elif http_ok(r[1][0], r[1][1], timeout=15):
            self.url["sluice-forward-internal"] = r[1]
            self.pids["sluice-fi-internal"], self.pids["sluice-fi-gateway"] = r[0]
        else:
            self.url["sluice-forward-internal"] = "n/a: no 200 through the forward-internal gateway"
        if have("iperf3") and isinstance(self.iperf.get("direct"), int):
            r = start_tcp_agent("sluice-tcp-agent", self.tedge, self.iperf_up)
            if isinstance(r, str):
                self.iperf["sluice-tunnel"] = r
            else:
                self.iperf["sluice-tunnel"] = r[1]
                self.pids["sluice-tcp-agent"] = r[0].pid
        else:
            self.iperf["sluice-tunnel"] = "skipped: iperf3 not installed"

    def start_sluice_tunnel_b(self) -> None:
        """The BENCH_AB binary's tunnel edge and its two `sluice http` agents (rows
        sluice-tunnel@B and sluice-tunnel-noinspect@B): before/after for the tunnel path."""
        self.tedge_b = TunnelEdge("sluice-tunnel-edge-b", tcp=False, binary=AB)
        if self.tedge_b.error:
            for c in ("sluice-tunnel@B", "sluice-tunnel-noinspect@B"):
                self.url[c] = self.tedge_b.error
            return
        self.pids["sluice-tunnel-edge@B"] = self.tedge_b.proc.pid
        for c, inspect in (("sluice-tunnel@B", True), ("sluice-tunnel-noinspect@B", False)):
            name = c.replace("@B", "-b")
            r = start_agent(name, http_agent_args(self.tedge_b, self.up, f"http://{name}.localhost",
                                                  inspect), want=f"{name}.localhost", binary=AB)
            if isinstance(r, str):
                self.url[c] = r
                continue
            p, url = r
            target = split_url(url) or (self.tedge_b.http, f"{name}.localhost:{self.tedge_b.http}")
            if http_ok(target[0], target[1], timeout=15):
                self.url[c] = target
                self.pids["sluice-agent@B" if inspect else "sluice-agent-noinspect@B"] = p.pid
            else:
                self.url[c] = f"n/a: no 200 through {url} ({last_line(name)})"

    def start_rathole(self) -> None:
        if not have("rathole"):
            self.url["rathole"] = self.iperf["rathole"] = "skipped: not installed"
            return
        ctl, http, iperf = free_port(), free_port(), free_port()
        server = write(WORK / "rathole-server.toml", f"""
[server]
bind_addr = "{HOST}:{ctl}"
default_token = "bench"
[server.services.http]
bind_addr = "{HOST}:{http}"
[server.services.iperf]
bind_addr = "{HOST}:{iperf}"
""")
        client = write(WORK / "rathole-client.toml", f"""
[client]
remote_addr = "{HOST}:{ctl}"
default_token = "bench"
[client.services.http]
local_addr = "{HOST}:{self.up}"
[client.services.iperf]
local_addr = "{HOST}:{self.iperf_up}"
""")
        ps = start("rathole-server", ["rathole", "--server", str(server)])
        if not wait_port(ctl, ps):
            self.url["rathole"] = self.iperf["rathole"] = "n/a: rathole server did not start"
            return
        pc = start("rathole-client", ["rathole", "--client", str(client)])
        # (never probe the iperf port: a bare connect reaching iperf3 upsets its next test)
        ok = wait_port(http, pc)
        # the service port listens as soon as the server starts; wait until a request gets through
        ok = ok and http_ok(http, "bench.localhost", timeout=15)
        self.pids["rathole"] = ps.pid
        self.pids["rathole-client"] = pc.pid
        self.url["rathole"] = (http, "bench.localhost") if ok else "n/a: rathole tunnel did not come up"
        self.iperf["rathole"] = iperf if ok else "n/a: rathole tunnel did not come up"

    def start_bore(self) -> None:
        if not have("bore"):
            self.url["bore"] = self.iperf["bore"] = "skipped: not installed"
            return
        if port_open(7835):
            self.url["bore"] = self.iperf["bore"] = "n/a: bore's fixed control port 7835 is in use"
            return
        help_text = run(["bore", "server", "--help"], 10).stdout
        lo = 20000 + os.getpid() % 20000
        argv = ["bore", "server", "--min-port", str(lo), "--max-port", str(lo + 500)]
        # newer bore servers can bind to loopback only; older ones listen on every address
        if "--bind-addr" in help_text:
            argv += ["--bind-addr", HOST]
        if "--bind-tunnels" in help_text:
            argv += ["--bind-tunnels", HOST]
        ps = start("bore-server", argv)
        if not wait_port(7835, ps):
            self.url["bore"] = self.iperf["bore"] = "n/a: bore server did not start"
            return
        self.pids["bore"] = ps.pid
        http, iperf = free_bore_port(lo), None
        iperf = free_bore_port(lo, exclude={http})
        c1 = start("bore-client-http", ["bore", "local", str(self.up), "--local-host", HOST,
                                        "--to", HOST, "--port", str(http)])
        c2 = start("bore-client-iperf", ["bore", "local", str(self.iperf_up), "--local-host", HOST,
                                         "--to", HOST, "--port", str(iperf)])
        ok = wait_port(http, c1) and http_ok(http, "bench.localhost", timeout=15)
        self.url["bore"] = (http, "bench.localhost") if ok else "n/a: bore tunnel did not come up"
        self.iperf["bore"] = iperf if wait_log("bore-client-iperf", f":{iperf}", c2) \
            else "n/a: bore tunnel did not come up"
        self.pids["bore-client"] = c1.pid


def edge_config(port: int, upstream: int, events: str = "/dev/null") -> str:
    policy = BENCH / "policy-10-rules.yml"
    return f"""version: 1
listeners:
  http: {HOST}:{port}
events:
  output: {events}
endpoints:
  - url: http://plain.localhost:{port}
    upstream:
      url: http://{HOST}:{upstream}
  - url: http://policy.localhost:{port}
    upstream:
      url: http://{HOST}:{upstream}
    traffic_policy_file: {policy}
"""


def start_edge(name: str, port: int, upstream: int, binary: Path | None = None) -> subprocess.Popen | str:
    binary = binary or SLUICE
    if not binary.exists():
        return f"n/a: {binary} was not built"
    events = str(WORK / f"{name}-events.jsonl") if EDGE_EVENTS == "file" else "/dev/null"
    conf = write(WORK / f"{name}.yml", edge_config(port, upstream, events))
    p = start(name, [str(binary), "edge", "--config", str(conf)])
    if not wait_port(port, p) or not http_ok(port, "plain.localhost") or not http_ok(port, "policy.localhost"):
        tail = (WORK / f"{name}.log").read_text(errors="replace")[-600:]
        return f"n/a: the edge did not start or answer 200 ({tail.strip().splitlines()[-1] if tail.strip() else 'no output'})"
    return p


def rathole_pair(tag: str, services: dict[str, int], local: int) -> tuple[Path, Path, int]:
    """Config files for a rathole server/client pair with `services` (name -> public port), all
    forwarding to `local`; returns (server.toml, client.toml, control port)."""
    ctl = free_port()
    srv = "".join(f'[server.services.{n}]\nbind_addr = "{HOST}:{p}"\n' for n, p in services.items())
    cli = "".join(f'[client.services.{n}]\nlocal_addr = "{HOST}:{local}"\n' for n in services)
    server = write(WORK / f"rathole-{tag}-server.toml",
                   f'[server]\nbind_addr = "{HOST}:{ctl}"\ndefault_token = "bench"\n{srv}')
    client = write(WORK / f"rathole-{tag}-client.toml",
                   f'[client]\nremote_addr = "{HOST}:{ctl}"\ndefault_token = "bench"\n{cli}')
    return server, client, ctl
