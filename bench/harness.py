#!/usr/bin/env python3
"""bench/harness.py: the scenarios of bench/run (Python 3.11, standard library only).

bench/run installs the tools and builds sluice, then runs this. Everything listens on
127.0.0.1 on free ports; every load run is bounded by a fixed duration and a subprocess
timeout; every process started here is stopped on exit (also on Ctrl-C / SIGTERM).

Environment:
  BENCH_DURATION   seconds per wrk / oha / h2load / iperf3 run   (default 8)
  BENCH_ROUNDS     interleaved rounds for wrk and iperf3         (default 3)
  BENCH_CONNS      idle connections for the memory scenario      (default 10000)
  BENCH_PERF       1 = perf record the edge under wrk            (default 1 when perf works)
  BENCH_ONLY       comma list of scenarios to run: http1,rate,h2,iperf,memory,times,criterion
  BENCH_KEEP       1 = keep the scratch directory
  BENCH_TUNNELS    idle tunnels bound by one agent for the memory scenario (default 1000)
  BENCH_STARTS     runs of each start-up timing, median reported       (default 5)
  SLUICE_BIN       the sluice binary to measure (default target/release/sluice under BENCH_SRC)
  BENCH_AB         a second sluice binary (before/after): its edge gets rows "sluice-edge@B" and
                   "sluice-edge+policy@B" in scenarios 1, 2 and 5, alternated with the others
  BENCH_EDGE_EVENTS  "file": the edges write their events to a file in the scratch directory
                   instead of /dev/null
  BENCH_CONTENDERS comma list: measure only these HTTP rows (the others say skipped)
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# The source tree that was built: the working tree, or a HEAD snapshot when it did not build.
SRC = Path(os.environ.get("BENCH_SRC", ROOT))
SOURCE = os.environ.get("BENCH_SOURCE", "working tree")
SLUICE = Path(os.environ["SLUICE_BIN"]).resolve() if os.environ.get("SLUICE_BIN") \
    else SRC / "target" / "release" / "sluice"

DURATION = int(os.environ.get("BENCH_DURATION", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
IDLE_CONNS = int(os.environ.get("BENCH_CONNS", "10000"))
IDLE_TUNNELS = int(os.environ.get("BENCH_TUNNELS", "1000"))
STARTS = int(os.environ.get("BENCH_STARTS", "5"))
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
KEEP = os.environ.get("BENCH_KEEP") == "1"
HOST = "127.0.0.1"
FILES = {"1k": ("1k.bin", 1024), "100k": ("100k.bin", 100 * 1024)}
# Rows, in the order printed. "peer" rows compete for "best peer"; sluice rows are ours.
# sluice-tunnel: edge + `sluice http --connect-url` agent (inspection on, the default);
# sluice-tunnel-noinspect: the same with `--inspect false`.
HTTP_CONTENDERS = ["direct", "nginx", "sluice-edge", "sluice-edge+policy", "sluice-tunnel",
                   "sluice-tunnel-noinspect", "rathole", "bore"]
AB = Path(os.environ["BENCH_AB"]).resolve() if os.environ.get("BENCH_AB") else None
if AB:
    HTTP_CONTENDERS[4:4] = ["sluice-edge@B", "sluice-edge+policy@B"]
CONTENDERS_ONLY = set(filter(None, os.environ.get("BENCH_CONTENDERS", "").split(",")))
EDGE_EVENTS = os.environ.get("BENCH_EDGE_EVENTS", "null")
PEERS = {"nginx", "rathole", "bore"}
H2_CONTENDERS = ["direct", "nginx", "sluice-edge", "sluice-edge+policy"]
TOKEN = "bench-token"
# Why a sluice row could not be measured, filled in as the harness finds out (for the report).
SKIPPED: dict[str, str] = {}

WORK = Path(tempfile.mkdtemp(prefix="sluice-bench-"))
WORK.chmod(0o755)  # nginx workers run as an unprivileged user and must read the files
PROCS: list[tuple[str, subprocess.Popen]] = []
PIDFILE = Path(os.environ.get("BENCH_PIDFILE", WORK / "pids"))


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# processes and ports


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 15) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        if port_open(port):
            return True
        time.sleep(0.05)
    return False


def start(name: str, argv: list[str], **kw) -> subprocess.Popen:
    """Starts a process in its own process group, output to WORK/<name>.log."""
    out = open(WORK / f"{name}.log", "ab")
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, **kw)
    PROCS.append((name, p))
    with open(PIDFILE, "a") as f:
        f.write(f"{p.pid}\n")
    return p


def stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=5)
    # nginx workers or a tunnel client may outlive the leader for a moment
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop_all() -> None:
    for _, p in reversed(PROCS):
        try:
            stop(p)
        except Exception:  # noqa: BLE001 - cleanup must go on
            pass
    PROCS.clear()
    if not KEEP:
        shutil.rmtree(WORK, ignore_errors=True)


def on_signal(signum, _frame):
    log(f"signal {signum}: stopping everything")
    sys.exit(128 + signum)


def run(argv: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:
    """Runs a bounded command; a timeout is reported as a failed run, not an exception."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(argv, 124, e.stdout or "", f"timeout after {timeout}s")


def with_children(pids: list[int]) -> set[int]:
    """pids and their direct children (nginx's workers)."""
    want = set(pids)
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) in pids:
                    want.add(int(d.name))
            except (OSError, ValueError, IndexError):
                pass
    return want


def cpu_ticks(pids: list[int]) -> int:
    """utime + stime (clock ticks) of pids and of their direct children (nginx's workers)."""
    total = 0
    for p in with_children(pids):
        try:
            f = (Path(f"/proc/{p}/stat")).read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except (OSError, ValueError, IndexError):
            pass
    return total


def ctx_switches(pid: int) -> int:
    """Context switches (voluntary + involuntary) of all of pid's threads so far."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0
    for t in tasks:
        try:
            for line in (t / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total


def rss_kib(pid: int, tree: bool = False) -> int:
    """VmRSS of pid (and, with tree, of its direct children: nginx's workers)."""
    pids = [pid]
    if tree:
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    stat = (d / "stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                        pids.append(int(d.name))
                except (OSError, ValueError, IndexError):
                    pass
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def noise() -> dict:
    """Load average and how many compiler processes (other engineers' builds) are running."""
    n = 0
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                comm = (d / "comm").read_text().strip()
            except OSError:
                continue
            if comm in ("rustc", "cc1", "cc1plus", "ld", "cargo", "rust-lld") or comm.startswith("rustc"):
                n += 1
    return {"loadavg1": float(Path("/proc/loadavg").read_text().split()[0]), "compilers": n}


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


# --------------------------------------------------------------------------------------------
# the contenders


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


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
            for c in ("sluice-tunnel", "sluice-tunnel-noinspect"):
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
        if have("iperf3") and isinstance(self.iperf.get("direct"), int):
            r = start_tcp_agent("sluice-tcp-agent", self.tedge, self.iperf_up)
            if isinstance(r, str):
                self.iperf["sluice-tunnel"] = r
            else:
                self.iperf["sluice-tunnel"] = r[1]
                self.pids["sluice-tcp-agent"] = r[0].pid
        else:
            self.iperf["sluice-tunnel"] = "skipped: iperf3 not installed"

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


def wait_log(name: str, needle: str, proc: subprocess.Popen, timeout: float = 15) -> bool:
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        if needle in (WORK / f"{name}.log").read_text(errors="replace"):
            return True
        time.sleep(0.1)
    return False


def free_bore_port(lo: int, exclude: set | None = None) -> int:
    for port in range(lo + 1, lo + 500):
        if exclude and port in exclude:
            continue
        try:
            with socket.socket() as s:
                s.bind((HOST, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port for bore")


def http_ok(port: int, host: str, timeout: float = 10, path: str = "/1k.bin") -> bool:
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection((HOST, port), timeout=2) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                data = s.recv(64)
                if data.startswith(b"HTTP/1.1 200"):
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


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


# --------------------------------------------------------------------------------------------
# sluice through its tunnel: an edge with a tunnel listener, and agents (`sluice http|tcp|start`)

_HELP: dict[str, str | None] = {}


def sluice_help(sub: str) -> str | None:
    """`sluice <sub> --help`, or None when that subcommand does not exist in this binary."""
    if sub not in _HELP:
        if not SLUICE.exists():
            _HELP[sub] = None
        else:
            r = run([str(SLUICE), *sub.split(), "--help"], 20)
            _HELP[sub] = r.stdout if r.returncode == 0 else None
    return _HELP[sub]


def last_line(name: str) -> str:
    try:
        lines = (WORK / f"{name}.log").read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no output"
    lines = [" ".join(l.split()) for l in lines if l.strip()]
    errors = [l for l in lines if "error" in l.lower()]
    line = (errors or lines or ["no output"])[-1]
    return line[:160].replace("|", "/")


class TunnelEdge:
    """A `sluice edge` with an http listener and a tunnel listener (authtoken TOKEN), and a
    `tcp:` port range when the binary accepts one. restart() keeps every port and the state
    folder (so agents keep trusting its CA)."""

    def __init__(self, name: str, tcp: bool = True) -> None:
        self.name = name
        self.http, self.tunnel = free_port(), free_port()
        self.dir = WORK / name
        self.dir.mkdir(exist_ok=True)
        self.ca = self.dir / "state" / "ca.pem"
        lo = 30000 + (os.getpid() * 7 + len(name) * 101) % 20000
        self.tcp_ports = (lo, lo + 40)
        self.tcp_na: str | None = None
        self.proc: subprocess.Popen | None = None
        self.error: str | None = None
        self.starts = 0
        if not SLUICE.exists():
            self.error = "n/a: the sluice binary was not built"
            return
        if not tcp:
            self.tcp_na = "not asked for"
        self.error = self.start()
        if self.error and not tcp:
            return
        if self.error:
            # an edge that predates the tcp: section refuses the whole file: retry without it
            why = last_line(f"{self.name}-{self.starts}")
            self.tcp_na = f"skipped: the edge refuses a tcp: section ({why})"
            self.error = self.start()

    def config(self) -> str:
        tcp = "" if self.tcp_na else (
            f"tcp:\n  bind: {HOST}\n  host: {HOST}\n  ports: {self.tcp_ports[0]}-{self.tcp_ports[1]}\n")
        return f"""version: 1
listeners:
  http: {HOST}:{self.http}
  tunnel: {HOST}:{self.tunnel}
state_dir: {self.dir / 'state'}
events:
  output: /dev/null
base_domains: [localhost]
authtokens:
  - token: {TOKEN}
    account: bench
    allow: ["*"]
{tcp}"""

    def start(self) -> str | None:
        self.starts += 1
        conf = write(self.dir / "edge.yml", self.config())
        log_name = f"{self.name}-{self.starts}"
        self.spawned_at = time.time()
        self.proc = start(log_name, [str(SLUICE), "edge", "--config", str(conf)])
        if wait_port(self.tunnel, self.proc, 20) and wait_port(self.http, self.proc, 5) and self.ca.exists():
            return None
        err = f"n/a: the tunnel edge did not start ({last_line(log_name)})"
        stop(self.proc)
        self.proc = None
        return err

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    def agent_flags(self) -> list[str]:
        # the listener's certificate is for "localhost" (the edge's default tunnel server name)
        return ["--connect-url", f"localhost:{self.tunnel}", "--connect-ca", str(self.ca),
                "--authtoken", TOKEN]


URL_RE = re.compile(r"\b((?:https?|tcp|tls)://[A-Za-z0-9.\-\[\]:]+)")


def agent_urls(name: str) -> list[str]:
    """The public URLs an agent printed (its "Forwarding" lines)."""
    try:
        text = (WORK / f"{name}.log").read_text(errors="replace")
    except OSError:
        return []
    urls = []
    for line in text.splitlines():
        if "->" in line or "Forwarding" in line or "forwarding" in line:
            m = URL_RE.search(line)
            if m:
                urls.append(m.group(1))
    return urls


def start_agent(name: str, argv_tail: list[str], want: str | None = None,
                timeout: float = 20) -> tuple[subprocess.Popen, str] | str:
    """Starts `sluice <argv_tail>` and waits until it prints a forwarding URL (the one
    containing `want`, when given). Returns (process, url) or an "n/a: ..." string."""
    p = start(name, [str(SLUICE), *argv_tail])
    end = time.time() + timeout
    while time.time() < end and p.poll() is None:
        urls = [u for u in agent_urls(name) if want is None or want in u]
        if urls:
            return p, urls[0]
        time.sleep(0.02)
    why = last_line(name)
    stop(p)
    return f"n/a: `sluice {argv_tail[0]}` did not come up ({why})"


def http_agent_args(edge: TunnelEdge, upstream: int, url: str, inspect: bool | None = True,
                    web: bool = True) -> list[str]:
    help_text = sluice_help("http") or ""
    argv = ["http"]
    if edge is not None:
        argv += edge.agent_flags()
    argv += ["--url", url]
    if inspect is not None and "--inspect" in help_text:
        argv += ["--inspect=true" if inspect else "--inspect=false"]
    if "--web-addr" in help_text:
        argv += ["--web-addr", f"{HOST}:{free_port()}"]
    return argv + [f"http://{HOST}:{upstream}"]


def split_url(url: str) -> tuple[int, str] | None:
    """http://name.localhost:PORT -> (PORT, "name.localhost:PORT") to send to 127.0.0.1."""
    m = re.fullmatch(r"https?://([^/:]+)(?::(\d+))?/?", url)
    if not m:
        return None
    port = int(m.group(2) or 80)
    return port, f"{m.group(1)}:{port}"


def start_tcp_agent(name: str, edge: TunnelEdge, local_port: int) -> tuple[subprocess.Popen, int] | str:
    """`sluice tcp <local_port> --url tcp://127.0.0.1:P` through `edge`; (process, P) or why not."""
    if sluice_help("tcp") is None:
        return "skipped: this sluice has no `tcp` command yet"
    if edge.error:
        return edge.error
    if edge.tcp_na:
        return edge.tcp_na
    port = None
    for cand in range(edge.tcp_ports[0], edge.tcp_ports[1] + 1):
        try:
            with socket.socket() as s:
                s.bind((HOST, cand))
            port = cand
            break
        except OSError:
            continue
    if port is None:
        return "n/a: no free port in the edge's tcp range"
    web = ["--web-addr", f"{HOST}:{free_port()}"] if "--web-addr" in (sluice_help("tcp") or "") else []
    r = start_agent(name, ["tcp", *edge.agent_flags(), *web, "--url", f"tcp://{HOST}:{port}",
                           f"{HOST}:{local_port}"], want="tcp://")
    if isinstance(r, str):
        return r
    p, url = r
    m = re.search(r":(\d+)$", url)
    return p, int(m.group(1)) if m else port


# --------------------------------------------------------------------------------------------
# load tools and their output


def to_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        return float("nan")
    v, unit = float(m.group(1)), m.group(2)
    return v * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(port: int, host: str, path: str, duration: int) -> dict:
    argv = ["wrk", "-t2", "-c64", f"-d{duration}s", "--latency", "--timeout", "5s",
            "-H", f"Host: {host}", f"http://{HOST}:{port}/{path}"]
    r = run(argv, duration + 30)
    out = r.stdout
    res: dict = {"cmd": " ".join(argv), **noise()}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if r.returncode != 0 or not m:
        res["error"] = (r.stderr or out).strip()[-300:] or f"exit {r.returncode}"
        return res
    res["rps"] = float(m.group(1))
    mm = re.search(r"(\d+) requests in", out)
    res["requests"] = int(mm.group(1)) if mm else int(res["rps"] * duration)
    for pct in ("50", "99"):
        mm = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        res[f"p{pct}_ms"] = to_ms(mm.group(1)) if mm else float("nan")
    mm = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non2xx"] = int(mm.group(1)) if mm else 0
    mm = re.search(r"Socket errors: (.*)", out)
    res["socket_errors"] = mm.group(1).strip() if mm else ""
    return res


def oha(port: int, host: str, path: str, duration: int) -> dict:
    argv = ["oha", "-q", "1000", "-z", f"{duration}s", "-c", "64", "--no-tui",
            "--latency-correction", "-H", f"Host: {host}"]
    help_text = run(["oha", "--help"], 10).stdout
    argv += ["--output-format", "json"] if "--output-format" in help_text else ["--json"]
    argv.append(f"http://{HOST}:{port}/{path}")
    r = run(argv, duration + 30)
    res: dict = {"cmd": " ".join(argv), **noise()}
    try:
        j = json.loads(r.stdout)
    except json.JSONDecodeError:
        res["error"] = (r.stderr or r.stdout).strip()[-300:] or f"exit {r.returncode}"
        return res
    pct = j.get("latencyPercentiles", {})
    res["rps"] = j.get("summary", {}).get("requestsPerSec")
    for k, name in (("p50", "p50_ms"), ("p99", "p99_ms"), ("p99.9", "p999_ms")):
        v = pct.get(k)
        res[name] = v * 1000 if isinstance(v, (int, float)) else float("nan")
    codes = j.get("statusCodeDistribution", {})
    res["non2xx"] = sum(v for k, v in codes.items() if not str(k).startswith("2"))
    res["errors"] = j.get("errorDistribution", {})
    return res


def h2load(port: int, path: str, duration: int, host: str) -> dict:
    # the URL's name gives SNI and :authority; --connect-to keeps the connection on loopback
    argv = ["h2load", "-D", str(duration), "--warm-up-time", "1", "-c", "64", "-m", "10", "-t", "2",
            f"--connect-to={HOST}:{port}", f"https://{host}:{port}/{path}"]
    r = run(argv, duration + 30)
    out = r.stdout
    res: dict = {"cmd": " ".join(argv), **noise()}
    m = re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", out)
    mm = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
    if not m:
        res["error"] = (r.stderr or out).strip()[-300:] or f"exit {r.returncode}"
        return res
    res["rps"] = float(m.group(1))
    if mm:
        res["succeeded"], res["failed"] = int(mm.group(3)), int(mm.group(4))
        if res["failed"]:
            res["error"] = f"{res['failed']} requests failed"
    mm = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", out)
    if mm:
        res["mean_ms"] = to_ms(mm.group(3))
    return res


def iperf(port: int, duration: int) -> dict:
    argv = ["iperf3", "-c", HOST, "-p", str(port), "-t", str(duration), "-J", "--connect-timeout", "3000"]
    r = run(argv, duration + 30)
    res: dict = {"cmd": " ".join(argv), **noise()}
    try:
        j = json.loads(r.stdout)
        res["gbps"] = j["end"]["sum_received"]["bits_per_second"] / 1e9
    except (json.JSONDecodeError, KeyError, TypeError):
        res["error"] = (r.stderr or r.stdout).strip()[-300:] or f"exit {r.returncode}"
    return res


def median_of(runs: list[dict], keys: list[str]) -> dict:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[-1].get("error", "no run") if runs else "no run"}
    return {k: statistics.median(r[k] for r in ok) for k in keys if all(k in r for r in ok)}


# --------------------------------------------------------------------------------------------
# scenarios


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
    """2. oha at a fixed 1000 req/s."""
    out = results.setdefault("rate", {})
    if not have("oha"):
        for f in FILES:
            out[f] = {c: {"na": "skipped: oha not installed"} for c in HTTP_CONTENDERS}
        return
    live = [c for c in HTTP_CONTENDERS if isinstance(lab.url.get(c), tuple)]
    for f, (fname, _) in FILES.items():
        out[f] = {}
        for c in HTTP_CONTENDERS:
            v = lab.url.get(c)
            if c not in live:
                out[f][c] = {"na": v}
                continue
            r = oha(v[0], v[1], fname, DURATION)
            log(f"  oha {f:>4} {c:<20} " + (
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


def scenario_iperf(lab: Lab, results: dict) -> None:
    """4. iperf3, one TCP stream, through each TCP tunnel; and openssl speed as the ceiling."""
    out = results.setdefault("iperf", {})
    contenders = ["direct", "sluice-tunnel", "rathole", "bore"]
    live = [c for c in contenders if isinstance(lab.iperf.get(c), int)]
    runs: dict = {c: [] for c in live}
    for rnd in range(ROUNDS):
        for c in (live if rnd % 2 == 0 else list(reversed(live))):
            r = iperf(lab.iperf[c], DURATION)
            if "error" in r:  # one retry: iperf3's server refuses a test while finishing the last
                time.sleep(2)
                r = iperf(lab.iperf[c], DURATION)
            r["round"] = rnd + 1
            runs[c].append(r)
            log(f"  iperf3 round {rnd + 1} {c:<14} " + (f"{r['gbps']:.2f} Gbit/s" if "gbps" in r
                                                         else f"error: {r['error']}"))
    for c in contenders:
        out[c] = {"median": median_of(runs[c], ["gbps"]), "runs": runs[c]} if c in live \
            else {"na": lab.iperf.get(c, "n/a")}
    # openssl speed: one core, AES-128-GCM, 16 KiB blocks (a TLS record's size)
    r = run(["openssl", "speed", "-evp", "aes-128-gcm", "-seconds", "3", "-bytes", "16384"], 60)
    m = re.search(r"^AES-128-GCM\s+.*?([\d.]+)k\s*$", r.stdout, re.M | re.I)
    if m:
        gbytes = float(m.group(1)) * 1000 / 1e9
        out["openssl-aes-128-gcm"] = {"median": {"gbps": gbytes * 8, "GBps": gbytes},
                                       "raw": r.stdout.strip().splitlines()[-1]}
        log(f"  openssl speed aes-128-gcm (16 KiB): {gbytes:.2f} GB/s = {gbytes * 8:.1f} Gbit/s")
    else:
        out["openssl-aes-128-gcm"] = {"na": "n/a: could not parse openssl speed: " + (r.stderr or r.stdout)[-200:]}


def open_idle(port: int, n: int, deadline_s: float = 60) -> list[socket.socket]:
    """Opens n idle TCP connections to port (sends nothing); bounded by count and time."""
    socks: list[socket.socket] = []
    end = time.time() + deadline_s
    while len(socks) < n and time.time() < end:
        batch = min(250, n - len(socks))
        for _ in range(batch):
            s = socket.socket()
            s.settimeout(3)
            try:
                s.connect((HOST, port))
            except OSError:
                s.close()
                continue
            socks.append(s)
        time.sleep(0.02)
    return socks


def established(port: int) -> int:
    r = run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"], 20)
    return len([l for l in r.stdout.splitlines() if l.strip()])


def scenario_memory(lab: Lab, results: dict) -> None:
    """5. VmRSS idle and with IDLE_CONNS idle client connections: fresh sluice edge, fresh nginx."""
    out = results.setdefault("memory", {})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = IDLE_CONNS + 1000
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(want, soft), hard), hard))
    n = min(IDLE_CONNS, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 500)

    def measure(name: str, port: int, proc: subprocess.Popen, tree: bool) -> dict:
        time.sleep(2)
        idle = rss_kib(proc.pid, tree)
        t0 = time.time()
        socks = open_idle(port, n)
        time.sleep(3)
        held = established(port)
        loaded = rss_kib(proc.pid, tree)
        for s in socks:
            s.close()
        res = {"idle_kib": idle, "conns_kib": loaded, "conns_opened": len(socks),
               "conns_established_server_side": held, "open_seconds": round(time.time() - t0, 1),
               "per_conn_bytes": round((loaded - idle) * 1024 / max(1, len(socks)))}
        log(f"  memory {name:<12} idle {idle / 1024:.1f} MiB, with {len(socks)} idle conns "
            f"({held} established) {loaded / 1024:.1f} MiB")
        return res

    for row, binary in (("sluice-edge", SLUICE), ("sluice-edge@B", AB)):
        if binary is None:
            continue
        port = free_port()
        p = start_edge(f"{row}-mem", port, lab.up, binary)
        if isinstance(p, str):
            out[row] = {"na": p}
        else:
            out[row] = {"median": measure(row, port, p, False)}
            stop(p)
    # the tunnel processes, fresh from Lab (one HTTP tunnel each; rathole/bore also carry the
    # iperf3 tunnel): server side and agent side, each against the best of rathole and bore
    fresh = lab.fresh_rss
    results["memory_tunnel"] = {
        "server": {"sluice-edge": fresh_row(fresh, "sluice-tunnel-edge", lab.url.get("sluice-tunnel")),
                   "rathole": fresh_row(fresh, "rathole", lab.url.get("rathole")),
                   "bore": fresh_row(fresh, "bore", lab.url.get("bore"))},
        "agent": {"sluice-agent": fresh_row(fresh, "sluice-agent", lab.url.get("sluice-tunnel")),
                  "rathole": fresh_row(fresh, "rathole-client", lab.url.get("rathole")),
                  "bore": fresh_row(fresh, "bore-client", lab.url.get("bore"))},
    }
    for side, t in results["memory_tunnel"].items():
        log(f"  memory {side}: " + ", ".join(f"{k} {v['median']['idle_kib'] / 1024:.1f} MiB"
                                             for k, v in t.items() if "median" in v))
    port = free_port()
    conf = nginx_conf("nginx-mem", f"""
    upstream app {{ server {HOST}:{lab.up}; keepalive 128; }}
    server {{
        listen {HOST}:{port} backlog=4096;
        location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }}
    }}""", worker_conns=IDLE_CONNS + 1000)
    p = start_nginx("nginx-mem", conf, port)
    out["nginx"] = {"median": measure("nginx", port, p, True)}
    stop(p)


def get_once(port: int, host: str, path: str = "/1k.bin", timeout: float = 1) -> bool:
    """One GET; True on a 200 (no retry, no sleep: for timing start-up)."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def poll_200(target: tuple[int, str], proc: subprocess.Popen | None, timeout: float) -> float | None:
    """Seconds until `target` answers 200 (polled every 10 ms), None if it did not in time or
    `proc` exited."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            return None
        if get_once(*target):
            return time.time() - t0
        time.sleep(0.01)
    return None


def time_start(name: str, argv: list[str], target: tuple[int, str] | None = None,
               want: str | None = None, timeout: float = 30) -> dict:
    """Seconds from spawning argv to the first 200 through its URL (`target`, or the URL it
    prints containing `want`). The process is stopped afterwards."""
    res: dict = {"cmd": " ".join(argv), **noise()}
    t0 = time.time()
    p = start(name, argv)
    try:
        while time.time() - t0 < timeout and p.poll() is None:
            if target is None:
                urls = [u for u in agent_urls(name) if want is None or want in u]
                target = split_url(urls[0]) if urls else None
                if target is None:
                    time.sleep(0.005)
                    continue
            if get_once(*target):
                res["seconds"] = time.time() - t0
                return res
            time.sleep(0.005)
        res["error"] = f"no 200 within {timeout:.0f}s ({last_line(name)})" if p.poll() is None \
            else f"exited {p.returncode} ({last_line(name)})"
        return res
    finally:
        stop(p)
        # the next run reuses the name: start from an empty log
        try:
            (WORK / f"{name}.log").rename(WORK / f"{name}.{int(t0 * 1000)}.log")
        except OSError:
            pass


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


def scenario_times(lab: Lab, results: dict) -> None:
    """7. Start-up (spawn to first 200 through the printed URL, median of STARTS runs,
    contenders alternated) and reconnect after the server restarts."""
    out = results.setdefault("times", {})
    start_t: dict = {}
    runners: dict = {}
    if sluice_help("http") is None:
        start_t["sluice-embedded"] = {"na": "skipped: this sluice has no `http` command"}
        start_t["sluice-connect"] = {"na": "skipped: this sluice has no `http` command"}
    else:
        web = "--web-addr" in (sluice_help("http") or "")

        def embedded(i: int) -> dict:
            argv = [str(SLUICE), "http", f"http://{HOST}:{lab.up}"]
            if web:
                argv += ["--web-addr", f"{HOST}:{free_port()}"]
            return time_start("start-sluice-embedded", argv, want="localhost")
        runners["sluice-embedded"] = embedded
        if lab.tedge.error:
            start_t["sluice-connect"] = {"na": lab.tedge.error}
        else:
            def connect(i: int) -> dict:
                argv = [str(SLUICE), *http_agent_args(lab.tedge, lab.up, f"http://start{i}.localhost")]
                return time_start("start-sluice-connect", argv, want=f"start{i}.localhost")
            runners["sluice-connect"] = connect
    if have("rathole"):
        def rathole_start(i: int) -> dict:
            port = free_port()
            server, client, ctl = rathole_pair(f"start{i}", {"http": port}, lab.up)
            ps = start("start-rathole-server", ["rathole", "--server", str(server)])
            try:
                if not wait_port(ctl, ps):
                    return {"error": "rathole server did not start"}
                return time_start("start-rathole", ["rathole", "--client", str(client)],
                                  target=(port, "bench.localhost"))
            finally:
                stop(ps)
        runners["rathole"] = rathole_start
    else:
        start_t["rathole"] = {"na": "skipped: not installed"}
    if isinstance(lab.url.get("bore"), tuple):
        def bore_start(i: int) -> dict:
            lo = 20000 + os.getpid() % 20000
            port = free_bore_port(lo, exclude={lab.url["bore"][0], lab.iperf.get("bore")})
            return time_start("start-bore", ["bore", "local", str(lab.up), "--local-host", HOST,
                                             "--to", HOST, "--port", str(port)],
                              target=(port, "bench.localhost"))
        runners["bore"] = bore_start
    else:
        start_t["bore"] = {"na": lab.url.get("bore", "n/a")}
    runs: dict = {c: [] for c in runners}
    names = list(runners)
    for i in range(STARTS):
        for c in (names if i % 2 == 0 else list(reversed(names))):
            r = runners[c](i)
            runs[c].append(r)
            log(f"  start {i + 1} {c:<16} " + (f"{r['seconds'] * 1000:,.0f} ms" if "seconds" in r
                                                 else f"error: {r.get('error')}"))
    for c in runners:
        med = median_of(runs[c], ["seconds"])
        start_t[c] = {"median": {"ms": med["seconds"] * 1000} if "seconds" in med else med,
                      "runs": runs[c]}
    out["start"] = start_t
    out["reconnect"] = {"sluice": reconnect_sluice(lab), "rathole": reconnect_rathole(lab),
                        "bore": {"na": "n/a: bore has no reconnect (`bore local` exits when its server goes away)"}}


def reconnect_sluice(lab: Lab) -> dict:
    """Agent on its own edge; the edge is stopped and started again on the same ports; seconds
    from the new edge's spawn to the first 200 through the same URL."""
    if sluice_help("http") is None:
        return {"na": "skipped: this sluice has no `http` command"}
    edge = TunnelEdge("sluice-reconnect-edge", tcp=False)
    if edge.error:
        return {"na": edge.error}
    agent = None
    try:
        r = start_agent("sluice-reconnect-agent",
                        http_agent_args(edge, lab.up, "http://back.localhost"), want="back.localhost")
        if isinstance(r, str):
            return {"na": r}
        agent, url = r
        target = (edge.http, f"back.localhost:{edge.http}")
        if poll_200(target, agent, 15) is None:
            return {"na": f"n/a: no 200 through {url} before the restart"}
        runs = []
        for i in range(3):
            edge.stop()
            time.sleep(0.5)  # the agent sees the session end
            err = edge.start()
            if err:
                return {"na": err, "runs": runs}
            t = poll_200(target, agent, 30)
            if t is None:
                if agent.poll() is not None:
                    return {"na": f"skipped: the agent exited when the edge stopped (exit "
                                  f"{agent.returncode}: no reconnect yet; {last_line('sluice-reconnect-agent')})"}
                return {"na": "n/a: the agent did not come back within 30 s", "runs": runs}
            ms = (time.time() - edge.spawned_at) * 1000
            runs.append({"ms": ms, **noise()})
            log(f"  reconnect {i + 1} sluice  {ms:,.0f} ms after the edge restarted")
        return {"median": {"ms": statistics.median(r["ms"] for r in runs)}, "runs": runs}
    finally:
        if agent is not None:
            stop(agent)
        edge.stop()


def reconnect_rathole(lab: Lab) -> dict:
    if not have("rathole"):
        return {"na": "skipped: not installed"}
    port = free_port()
    server, client, ctl = rathole_pair("reconnect", {"http": port}, lab.up)
    ps = start("reconnect-rathole-server", ["rathole", "--server", str(server)])
    pc = None
    try:
        if not wait_port(ctl, ps):
            return {"na": "n/a: rathole server did not start"}
        pc = start("reconnect-rathole-client", ["rathole", "--client", str(client)])
        target = (port, "bench.localhost")
        if poll_200(target, pc, 15) is None:
            return {"na": "n/a: rathole tunnel did not come up"}
        runs = []
        for i in range(3):
            stop(ps)
            time.sleep(0.5)
            spawned = time.time()
            ps = start("reconnect-rathole-server", ["rathole", "--server", str(server)])
            t = poll_200(target, pc, 60)
            if t is None:
                return {"na": "n/a: rathole did not come back within 60 s", "runs": runs}
            ms = (time.time() - spawned) * 1000
            runs.append({"ms": ms, **noise()})
            log(f"  reconnect {i + 1} rathole {ms:,.0f} ms after the server restarted")
        return {"median": {"ms": statistics.median(r["ms"] for r in runs)}, "runs": runs}
    finally:
        if pc is not None:
            stop(pc)
        stop(ps)


def scenario_tunnels(lab: Lab, results: dict) -> None:
    """5b. IDLE_TUNNELS idle tunnels bound by one agent: RSS of the server and the agent side
    (sluice: fresh edge + `sluice start --all` of a generated v3 config; rathole: one server
    and one client with that many services)."""
    out = results.setdefault("tunnels", {"n": IDLE_TUNNELS})
    out["sluice"] = many_sluice(lab)
    out["rathole"] = many_rathole(lab)
    out["bore"] = {"na": f"skipped: bore runs one `bore local` process per tunnel ({IDLE_TUNNELS:,} processes)"}


def many_sluice(lab: Lab) -> dict:
    n = IDLE_TUNNELS
    help_text = sluice_help("start")
    if help_text is None:
        return {"na": f"skipped: this sluice has no `start` command yet (one agent binding {n:,} "
                      f"endpoints needs `sluice start --all`; {n:,} `sluice http` processes would "
                      "not measure one agent)"}
    edge = TunnelEdge("sluice-many-edge", tcp=False)
    if edge.error:
        return {"na": edge.error}
    p = None
    try:
        time.sleep(1)
        edge_idle = rss_kib(edge.proc.pid)
        eps = "".join(f"  - name: idle{i}\n    url: http://idle{i}.localhost\n"
                      f"    upstream:\n      url: http://{HOST}:{lab.up}\n" for i in range(n))
        conf = write(WORK / "many-tunnels.yml",
                     f"version: 3\nagent:\n  authtoken: {TOKEN}\n  connect_url: localhost:{edge.tunnel}\n"
                     f"  connect_cas: {edge.ca}\n  web_addr: false\nendpoints:\n{eps}")
        argv = [str(SLUICE), "start", "--config", str(conf)]
        argv += ["--all"] if "--all" in help_text else []
        t0 = time.time()
        p = start("sluice-many-agent", argv)
        last = (edge.http, f"idle{n - 1}.localhost:{edge.http}")
        first = (edge.http, f"idle0.localhost:{edge.http}")
        t = poll_200(last, p, 120)
        if t is None or poll_200(first, p, 10) is None:
            return {"na": f"n/a: the {n:,} endpoints were not all bound within 120 s ({last_line('sluice-many-agent')})"}
        bind_s = time.time() - t0
        time.sleep(3)
        edge_kib, agent_kib = rss_kib(edge.proc.pid), rss_kib(p.pid)
        one = lab.fresh_rss.get("sluice-agent")
        res = {"server_idle_kib": edge_idle, "server_kib": edge_kib, "agent_kib": agent_kib,
               "bind_seconds": round(bind_s, 2),
               "server_per_tunnel_bytes": round((edge_kib - edge_idle) * 1024 / n)}
        if one:
            res["agent_per_tunnel_bytes"] = round((agent_kib - one) * 1024 / max(1, n - 1))
        log(f"  {n} tunnels sluice: edge {edge_idle / 1024:.1f} -> {edge_kib / 1024:.1f} MiB, "
            f"agent {agent_kib / 1024:.1f} MiB, bound in {bind_s:.1f} s")
        return {"median": res}
    finally:
        if p is not None:
            stop(p)
        edge.stop()


def many_rathole(lab: Lab) -> dict:
    if not have("rathole"):
        return {"na": "skipped: not installed"}
    n = IDLE_TUNNELS
    services = {f"s{i}": free_port() for i in range(n)}
    server, client, ctl = rathole_pair("many", services, lab.up)
    ps = start("rathole-many-server", ["rathole", "--server", str(server)])
    pc = None
    try:
        if not wait_port(ctl, ps, 30):
            return {"na": "n/a: rathole server did not start"}
        time.sleep(1)
        server_idle = rss_kib(ps.pid)
        t0 = time.time()
        pc = start("rathole-many-client", ["rathole", "--client", str(client)])
        last = (services[f"s{n - 1}"], "bench.localhost")
        if poll_200(last, pc, 120) is None or poll_200((services["s0"], "bench.localhost"), pc, 10) is None:
            return {"na": f"n/a: rathole's {n:,} services did not all come up within 120 s"}
        bind_s = time.time() - t0
        time.sleep(3)
        server_kib, client_kib = rss_kib(ps.pid), rss_kib(pc.pid)
        one = lab.fresh_rss.get("rathole-client")
        res = {"server_idle_kib": server_idle, "server_kib": server_kib, "agent_kib": client_kib,
               "bind_seconds": round(bind_s, 2),
               "server_per_tunnel_bytes": round((server_kib - server_idle) * 1024 / n)}
        if one:
            res["agent_per_tunnel_bytes"] = round((client_kib - one) * 1024 / max(1, n - 1))
        log(f"  {n} tunnels rathole: server {server_idle / 1024:.1f} -> {server_kib / 1024:.1f} MiB, "
            f"client {client_kib / 1024:.1f} MiB, up in {bind_s:.1f} s")
        return {"median": res}
    finally:
        if pc is not None:
            stop(pc)
        stop(ps)


def perf_processes(procs: dict[str, int], load, title: str, out: Path) -> tuple[dict, dict]:
    """perf record of each of procs (one recording each, at once) while load() runs; flat
    profiles to out. Returns (what load() returned, context switches per request or per GB)."""
    recs = {k: start(f"perf-{k}", ["perf", "record", "-F", "999", "-g", "-o", str(WORK / f"perf-{k}.data"),
                                    "-p", str(pid), "--", "sleep", str(DURATION)])
            for k, pid in procs.items()}
    time.sleep(0.5)
    cs0 = {k: ctx_switches(pid) for k, pid in procs.items()}
    w = load()
    cs = {k: ctx_switches(pid) - cs0[k] for k, pid in procs.items()}
    for r in recs.values():
        r.wait(timeout=DURATION + 60)
    text = f"# {title}\n"
    if w.get("requests"):
        cs = {k: v / w["requests"] for k, v in cs.items()}
        text += (f"# wrk during the profile: {w.get('rps', 0):,.0f} req/s; context switches per request: "
                 + ", ".join(f"{k} {v:.2f}" for k, v in cs.items()) + "\n")
    elif w.get("gbps"):
        gb = w["gbps"] * DURATION / 8
        cs = {k: v / gb for k, v in cs.items()}
        text += (f"# iperf3 during the profile: {w['gbps']:.2f} Gbit/s; context switches per GB: "
                 + ", ".join(f"{k} {v:,.0f}" for k, v in cs.items()) + "\n")
    for k in procs:
        data = str(WORK / f"perf-{k}.data")
        dso = run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso",
                   "-g", "none"], 300)
        m = re.search(r"^# Samples: (\S+)", dso.stdout, re.M)
        rep = run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso,symbol",
                   "--percent-limit", "0.7", "-g", "none"], 300)
        own = run(["perf", "report", "-i", data, "--stdio", "--no-children", "--dsos", SLUICE.name,
                   "--sort", "symbol", "--percent-limit", "0.3", "-g", "none"], 300)
        comm = run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "comm",
                    "-g", "none"], 300)
        text += (f"\n# ===== {k} (pid {procs[k]}, {m.group(1) if m else '?'} samples at 999 Hz) =====\n\n"
                 "## by thread name\n" + strip_perf(comm.stdout) +
                 "\n## by shared object\n" + strip_perf(dso.stdout) +
                 "\n## by symbol (>= 0.7 %)\n" + strip_perf(rep.stdout) +
                 "\n## inside the sluice binary (>= 0.3 % of this process's samples)\n" + strip_perf(own.stdout))
    out.write_text(text)
    return w, cs


def profile_tunnel(lab: Lab, results: dict) -> None:
    """perf record of the tunnel edge and of the agent (two recordings at once) while wrk drives
    sluice-tunnel (bench/profile-tunnel.txt), and of the edge and the `sluice tcp` agent while
    iperf3 runs through the TCP tunnel (bench/profile-tunnel-tcp.txt)."""
    if os.environ.get("BENCH_PERF", "1") != "1" or not have("perf"):
        return
    if isinstance(lab.url.get("sluice-tunnel"), tuple):
        port, host = lab.url["sluice-tunnel"]
        log("profile: perf record of the tunnel edge and the agent under wrk (1k, inspection on)")
        w, cs = perf_processes(
            {"edge": lab.pids["sluice-tunnel-edge"], "agent": lab.pids["sluice-agent"]},
            lambda: wrk(port, host, FILES["1k"][0], DURATION),
            "perf profile of the sluice tunnel: edge + `sluice http` agent (inspection on), 1 KiB, "
            "wrk -t2 -c64", BENCH / "profile-tunnel.txt")
        results["profile_tunnel"] = {"file": "bench/profile-tunnel.txt", "rps_during": w.get("rps"),
                                     "ctx_switches_per_req": cs}
    if isinstance(lab.iperf.get("sluice-tunnel"), int) and "sluice-tcp-agent" in lab.pids:
        log("profile: perf record of the tunnel edge and the tcp agent under iperf3")
        w, cs = perf_processes(
            {"edge": lab.pids["sluice-tunnel-edge"], "tcp-agent": lab.pids["sluice-tcp-agent"]},
            lambda: iperf(lab.iperf["sluice-tunnel"], DURATION),
            "perf profile of the sluice TCP tunnel: edge + `sluice tcp` agent, one iperf3 stream",
            BENCH / "profile-tunnel-tcp.txt")
        results["profile_tunnel_tcp"] = {"file": "bench/profile-tunnel-tcp.txt",
                                         "gbps_during": w.get("gbps"), "ctx_switches_per_gb": cs}


def fresh_row(fresh: dict, key: str, why: object) -> dict:
    if key in fresh and fresh[key]:
        return {"median": {"idle_kib": fresh[key]}}
    return {"na": why if isinstance(why, str) else "n/a: not running"}


def scenario_criterion(results: dict, started: float) -> None:
    """6. cargo bench -p sluice-modules --bench policy_eval, parsed from target/criterion."""
    out = results.setdefault("criterion", {})
    argv = ["cargo", "bench", "-p", "sluice-modules", "--bench", "policy_eval", "--",
            "--warm-up-time", "1", "--measurement-time", "3", "--noplot"]
    log("scenario 6: " + " ".join(argv))
    r = run(argv, 900, cwd=SRC)
    (WORK / "criterion.log").write_text(r.stdout + r.stderr)
    if r.returncode != 0:
        out["error"] = (r.stderr or r.stdout).strip()[-500:]
        log(f"  criterion failed: {out['error'][-200:]}")
    crit = SRC / "target" / "criterion"
    for est in sorted(crit.glob("*/new/estimates.json")):
        d = est.parent.parent
        try:
            e = json.loads(est.read_text())
            name = json.loads((est.parent / "benchmark.json").read_text()).get("full_id", d.name)
        except (OSError, json.JSONDecodeError):
            continue
        out.setdefault("benches", {})[name] = {
            "median_ns": e["median"]["point_estimate"], "mean_ns": e["mean"]["point_estimate"],
            "stale": est.stat().st_mtime < started}
    for name, b in out.get("benches", {}).items():
        log(f"  {name:<40} median {b['median_ns']:,.0f} ns" + ("  (stale)" if b["stale"] else ""))


def profile_edge(lab: Lab, results: dict) -> None:
    """perf record of the edge while wrk drives the policy endpoint; flat profile to bench/."""
    if os.environ.get("BENCH_PERF", "1") != "1" or not have("perf"):
        return
    if not isinstance(lab.url.get("sluice-edge+policy"), tuple):
        return
    data = WORK / "perf.data"
    port, host = lab.url["sluice-edge+policy"]
    log("profile: perf record of the edge under wrk (1k, policy endpoint)")
    rec = start("perf", ["perf", "record", "-F", "999", "-g", "-o", str(data), "-p", str(lab.pids["sluice-edge"]),
                         "--", "sleep", str(DURATION)])
    time.sleep(0.5)
    cs0 = ctx_switches(lab.pids["sluice-edge"])
    w = wrk(port, host, FILES["1k"][0], DURATION)
    cs = (ctx_switches(lab.pids["sluice-edge"]) - cs0) / max(1, w.get("requests", 0))
    rec.wait(timeout=DURATION + 60)
    rep = run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso,symbol",
               "--percent-limit", "0.7", "-g", "none"], 300)
    dso = run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso",
               "-g", "none"], 300)
    own = run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--dsos", SLUICE.name,
               "--sort", "symbol", "--percent-limit", "0.3", "-g", "none"], 300)
    text = ("# perf profile of `sluice edge` (policy endpoint, 1 KiB, wrk -t2 -c64)\n"
            f"# wrk during the profile: {w.get('rps', 0):,.0f} req/s; edge context switches per request: {cs:.2f}\n\n"
            "## by shared object\n" + strip_perf(dso.stdout) +
            "\n## by symbol (>= 0.7 %)\n" + strip_perf(rep.stdout) +
            "\n## inside the sluice binary (>= 0.3 % of all samples)\n" + strip_perf(own.stdout))
    (BENCH / "profile-edge.txt").write_text(text)
    results["profile"] = {"file": "bench/profile-edge.txt", "rps_during": w.get("rps"),
                          "ctx_switches_per_req": cs}


def strip_perf(text: str) -> str:
    lines = (re.sub(r"(\s+-)+\s*$", "", l).rstrip() for l in text.splitlines())
    return "\n".join(l for l in lines if l.strip() and not l.startswith("#")) + "\n"


# --------------------------------------------------------------------------------------------
# the report


def fmt_num(v: float | None, unit: str) -> str:
    if v is None or v != v:
        return "—"
    if unit == "req/s":
        return f"{v:,.0f}"
    if unit == "ms":
        return f"{v:.3f}" if v < 1 else f"{v:.2f}"
    if unit == "Gbit/s":
        return f"{v:.2f}"
    if unit == "MiB":
        return f"{v / 1024:.1f}"
    if unit == "ns":
        return f"{v:,.0f}"
    if unit == "us":
        return f"{v:.1f}"
    return f"{v}"


def cell(table: dict, c: str, key: str, unit: str, higher_better: bool, direct: str | None = "direct") -> str:
    """value · ×direct · ×best peer (the best of nginx/rathole/bore in this same table)."""
    row = table.get(c, {})
    if "na" in row:
        return str(row["na"])
    med = row.get("median", {})
    if "error" in med:
        return "error: " + str(med["error"])[:80].replace("|", "/").replace("\n", " ")
    v = med.get(key)
    if v is None:
        return "—"
    parts = [fmt_num(v, unit)]
    d = table.get(direct, {}).get("median", {}).get(key) if direct else None
    if d:
        parts.append(f"{v / d:.2f}×d")
    peers = [(p, table[p]["median"][key]) for p in PEERS if p in table and isinstance(
        table[p].get("median", {}).get(key), (int, float))]
    if peers:
        best = max(peers, key=lambda t: t[1]) if higher_better else min(peers, key=lambda t: t[1])
        parts.append(f"{v / best[1]:.2f}×p")
    if med.get("warning"):
        parts.append("⚠ " + med["warning"])
    return " · ".join(parts)


def best_peer(table: dict, key: str, higher_better: bool) -> str:
    peers = [(p, table[p]["median"][key]) for p in PEERS if p in table and isinstance(
        table[p].get("median", {}).get(key), (int, float))]
    if not peers:
        return "none"
    return (max if higher_better else min)(peers, key=lambda t: t[1])[0]


def ratio_to(table: dict, c: str, peers: list[str], key: str, higher_better: bool) -> str:
    """"<value> (×<ratio> <best peer>)" for the summary, or the row's n/a text."""
    row = table.get(c, {})
    if "na" in row:
        return str(row["na"]).split(":")[0] + " (see below)"
    v = row.get("median", {}).get(key)
    if not isinstance(v, (int, float)):
        return "—"
    text = f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
    vals = [(p, table[p]["median"][key]) for p in peers
            if isinstance(table.get(p, {}).get("median", {}).get(key), (int, float))]
    if not vals:
        return text
    best = (max if higher_better else min)(vals, key=lambda t: t[1])
    return f"{text} (×{v / best[1]:.2f} {best[0]})"


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
                     f"{ratio_to(t, 'sluice-tunnel', ['rathole', 'bore'], 'cpu_us_per_req', False)}")
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
    # the same reason once per scenario is enough
    seen, uniq = set(), []
    for m in out:
        key = m.split(": ", 1)[-1] + m.split(" ")[0]
        if key not in seen:
            seen.add(key)
            uniq.append(m)
    return uniq


def report(results: dict, meta: dict) -> str:
    L: list[str] = []
    L.append("# sluice benchmark results\n")
    L.append(f"Generated by `bench/run` on {meta['date']} at commit `{meta['commit']}`"
             f"{' (with uncommitted changes)' if meta['dirty'] else ''}; sluice built from the "
             f"{meta['source']}; {meta['cpus']} cores, "
             f"{meta['mem_gib']} GiB; run took {meta['elapsed_min']:.1f} min. Everything ran on 127.0.0.1.\n")
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
    L.append(f"**Noise:** other engineers were compiling on this 2-core machine during the run: "
             f"compiler processes were seen in {n['samples_with_compilers']} of {n['samples']} "
             f"measurements; 1-minute load average {n['load_min']:.1f}–{n['load_max']:.1f} "
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
        L.append(f"## 2. Fixed-rate latency (oha -q 1000 -z {DURATION}s -c 64 --latency-correction, one run)\n")
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


def main() -> int:
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it (nginx, edge)
    started = time.time()
    want = (lambda s: not ONLY or s in ONLY)
    results: dict = {}
    log(f"scratch directory {WORK}")
    for tool in ("nginx", "wrk", "oha", "h2load", "iperf3", "rathole", "bore"):
        log(f"  {tool:<8} {shutil.which(tool) or 'not installed'}")
    lab = Lab()
    log("contenders: " + ", ".join(f"{c}={v if isinstance(v, str) else v[0]}" for c, v in lab.url.items()))
    def guarded(name: str, fn, *args) -> None:
        """A scenario that crashes is recorded in results["failed"]; the others still run."""
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - report, go on
            import traceback
            log(f"scenario {name} failed: {e!r}")
            results.setdefault("failed", {})[name] = traceback.format_exc()[-1500:]

    try:
        if want("http1"):
            guarded("http1", scenario_http1, lab, results)
        if want("rate"):
            log("scenario 2: fixed-rate latency")
            guarded("rate", scenario_rate, lab, results)
        if want("h2"):
            log("scenario 3: h2load")
            guarded("h2", scenario_h2, lab, results)
        if want("iperf"):
            log("scenario 4: iperf3")
            guarded("iperf", scenario_iperf, lab, results)
        if want("http1"):
            guarded("profile", profile_edge, lab, results)
            guarded("profile_tunnel", profile_tunnel, lab, results)
        if want("memory"):
            log("scenario 5: memory")
            for k in ("sluice-edge", "sluice-tunnel-edge", "sluice-agent", "sluice-agent-noinspect"):
                if k in lab.pids:
                    results.setdefault("rss_after_load_kib", {})[k] = rss_kib(lab.pids[k])
            guarded("memory", scenario_memory, lab, results)
            log(f"scenario 5b: {IDLE_TUNNELS:,} idle tunnels")
            guarded("tunnels", scenario_tunnels, lab, results)
        if want("times"):
            log("scenario 7: start-up and reconnect times")
            guarded("times", scenario_times, lab, results)
    finally:
        for p in reversed([p for _, p in PROCS]):
            stop(p)
    if want("criterion"):
        guarded("criterion", scenario_criterion, results, started)

    samples = [r for s in ("http1", "rate", "h2") for t in results.get(s, {}).values()
               for row in t.values() for r in row.get("runs", [])]
    samples += [r for row in results.get("iperf", {}).values() for r in row.get("runs", [])]
    samples += [r for t in results.get("times", {}).values() for row in t.values()
                for r in row.get("runs", []) if "loadavg1" in r]
    loads = [r["loadavg1"] for r in samples] or [0.0]
    rev = run(["git", "rev-parse", "--short", "HEAD"], 10, cwd=ROOT).stdout.strip()
    dirty = bool(run(["git", "status", "--porcelain"], 10, cwd=ROOT).stdout.strip())
    meta = {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "commit": rev or "unknown", "dirty": dirty, "source": SOURCE, "cpus": os.cpu_count(),
        "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "elapsed_min": (time.time() - float(os.environ.get("BENCH_T0", started))) / 60,
        "duration_s": DURATION, "rounds": ROUNDS, "idle_conns": IDLE_CONNS,
        "noise": {"samples": len(samples), "samples_with_compilers": sum(1 for r in samples if r["compilers"]),
                  "load_min": min(loads), "load_max": max(loads)},
        "tools": {t: shutil.which(t) for t in ("nginx", "wrk", "oha", "h2load", "iperf3", "rathole", "bore")},
        "sluice_bin": str(SLUICE), "idle_tunnels": IDLE_TUNNELS, "starts": STARTS,
        "sluice_commands": {c: sluice_help(c) is not None for c in ("http", "tcp", "start")},
    }
    (BENCH / "results.json").write_text(json.dumps({"meta": meta, **results}, indent=2, default=str) + "\n")
    (BENCH / "RESULTS.md").write_text(report(results, meta))
    log(f"wrote bench/RESULTS.md and bench/results.json ({meta['elapsed_min']:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
