#!/usr/bin/env python3
"""bench/harness.py: the scenarios of bench/run (Python 3.11, standard library only).

bench/run installs the tools and builds sluice, then runs this. Everything listens on
127.0.0.1 on free ports; every load run is bounded by a fixed duration and a subprocess
timeout; every process started here is stopped on exit (also on Ctrl-C / SIGTERM).

Environment:
  BENCH_DURATION   seconds per wrk / oha / h2load / iperf3 run   (default 10)
  BENCH_ROUNDS     interleaved rounds for wrk and iperf3         (default 2)
  BENCH_CONNS      idle connections for the memory scenario      (default 10000)
  BENCH_PERF       1 = perf record the edge under wrk            (default 1 when perf works)
  BENCH_ONLY       comma list of scenarios to run: http1,rate,h2,iperf,memory,criterion
  BENCH_KEEP       1 = keep the scratch directory
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
SLUICE = SRC / "target" / "release" / "sluice"

DURATION = int(os.environ.get("BENCH_DURATION", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
IDLE_CONNS = int(os.environ.get("BENCH_CONNS", "10000"))
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
KEEP = os.environ.get("BENCH_KEEP") == "1"
HOST = "127.0.0.1"
FILES = {"1k": ("1k.bin", 1024), "100k": ("100k.bin", 100 * 1024)}
# Rows, in the order printed. "peer" rows compete for "best peer"; sluice rows are ours.
HTTP_CONTENDERS = ["direct", "nginx", "sluice-edge", "sluice-edge+policy", "sluice-tunnel",
                   "rathole", "bore"]
PEERS = {"nginx", "rathole", "bore"}
H2_CONTENDERS = ["direct", "nginx", "sluice-edge", "sluice-edge+policy"]
NA_TUNNEL = "n/a: tunnel not built yet"

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
        self.url["sluice-tunnel"] = NA_TUNNEL
        self.iperf["sluice-tunnel"] = NA_TUNNEL

        # iperf3 server (scenario 4)
        self.iperf_up = free_port()
        if have("iperf3"):
            p = start("iperf3-server", ["iperf3", "-s", "-B", HOST, "-p", str(self.iperf_up)])
            self.iperf["direct"] = self.iperf_up if wait_port(self.iperf_up, p) else "n/a: iperf3 server did not start"
        else:
            self.iperf["direct"] = "skipped: iperf3 not installed"

        self.start_rathole()
        self.start_bore()

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


def start_edge(name: str, port: int, upstream: int) -> subprocess.Popen | str:
    if not SLUICE.exists():
        return "n/a: target/release/sluice was not built"
    conf = write(WORK / f"{name}.yml", edge_config(port, upstream))
    p = start(name, [str(SLUICE), "edge", "--config", str(conf)])
    if not wait_port(port, p) or not http_ok(port, "plain.localhost") or not http_ok(port, "policy.localhost"):
        tail = (WORK / f"{name}.log").read_text(errors="replace")[-600:]
        return f"n/a: the edge did not start or answer 200 ({tail.strip().splitlines()[-1] if tail.strip() else 'no output'})"
    return p


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
                r = wrk(port, host, fname, DURATION)
                r["round"] = rnd + 1
                runs[f][c].append(r)
                log(f"  round {rnd + 1} {f:>4} {c:<20} " + (
                    f"{r['rps']:>10,.0f} req/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms"
                    + (f"  NON-2XX {r['non2xx']}" if r.get("non2xx") else "")
                    if "rps" in r else f"error: {r['error']}"))
    for f in FILES:
        out[f] = {}
        for c in HTTP_CONTENDERS:
            v = lab.url.get(c)
            if not isinstance(v, tuple):
                out[f][c] = {"na": v}
                continue
            med = median_of(runs[f][c], ["rps", "p50_ms", "p99_ms"])
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

    port = free_port()
    p = start_edge("sluice-edge-mem", port, lab.up)
    if isinstance(p, str):
        out["sluice-edge"] = {"na": p}
    else:
        out["sluice-edge"] = {"median": measure("sluice-edge", port, p, False)}
        stop(p)
    out["sluice-agent"] = {"na": "n/a: agent not built yet"}
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
    w = wrk(port, host, FILES["1k"][0], DURATION)
    rec.wait(timeout=DURATION + 60)
    rep = run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso,symbol",
               "--percent-limit", "0.7", "-g", "none"], 300)
    dso = run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso",
               "-g", "none"], 300)
    own = run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--dsos", "sluice",
               "--sort", "symbol", "--percent-limit", "0.3", "-g", "none"], 300)
    text = ("# perf profile of `sluice edge` (policy endpoint, 1 KiB, wrk -t2 -c64)\n"
            f"# wrk during the profile: {w.get('rps', 0):,.0f} req/s\n\n"
            "## by shared object\n" + strip_perf(dso.stdout) +
            "\n## by symbol (>= 0.7 %)\n" + strip_perf(rep.stdout) +
            "\n## inside the sluice binary (>= 0.3 % of all samples)\n" + strip_perf(own.stdout))
    (BENCH / "profile-edge.txt").write_text(text)
    results["profile"] = {"file": "bench/profile-edge.txt", "rps_during": w.get("rps")}


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
            L.append("| contender | req/s | p50 ms | p99 ms |")
            L.append("|---|---|---|---|")
            for c in HTTP_CONTENDERS:
                L.append(f"| {c} | {cell(table, c, 'rps', 'req/s', True)} | "
                         f"{cell(table, c, 'p50_ms', 'ms', False)} | {cell(table, c, 'p99_ms', 'ms', False)} |")
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
        L.append("\nrathole and bore run plain TCP here (no TLS/Noise); an encrypted sluice tunnel pays "
                 "AES-GCM on both ends, bounded by the ceiling row.\n")
    if "memory" in results:
        t = results["memory"]
        L.append(f"## 5. Memory (VmRSS; nginx = master + 2 workers), fresh processes\n")
        L.append("| process | idle MiB | with idle conns MiB | conns opened / established | bytes per conn |")
        L.append("|---|---|---|---|---|")
        for c in ("sluice-edge", "sluice-agent", "nginx"):
            row = t.get(c, {})
            if "na" in row:
                L.append(f"| {c} | {row['na']} | | | |")
                continue
            m = row["median"]
            L.append(f"| {c} | {cell(t, c, 'idle_kib', 'MiB', False, None)} | "
                     f"{cell(t, c, 'conns_kib', 'MiB', False, None)} | "
                     f"{m['conns_opened']} / {m['conns_established_server_side']} | "
                     f"{cell(t, c, 'per_conn_bytes', '', False, None)} |")
        L.append("\n1,000 idle bound tunnels: n/a: tunnel not built yet.\n")
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
    if "profile" in results:
        L.append(f"## Profile\n\n`perf record` of the edge during a wrk run on the policy endpoint "
                 f"({results['profile']['rps_during'] or 0:,.0f} req/s under perf): `{results['profile']['file']}`.\n")
    for name, tb in results.get("failed", {}).items():
        L.append(f"**Scenario {name} crashed** (the harness went on):\n\n```\n{tb.strip()}\n```\n")
    L.append("## Not measured yet\n")
    L.append("- sluice through a tunnel (edge + agent, inspection on/off), sluice iperf3, agent memory, "
             "1,000 idle tunnels, start-to-first-request and reconnect time: the tunnel and agent do not exist yet.")
    if edge_https_support():
        L.append("- sluice HTTPS/h2: " + edge_https_support())
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
        if want("memory"):
            log("scenario 5: memory")
            if "sluice-edge" in lab.pids:
                results["edge_rss_after_load_kib"] = rss_kib(lab.pids["sluice-edge"])
            guarded("memory", scenario_memory, lab, results)
    finally:
        for p in reversed([p for _, p in PROCS]):
            stop(p)
    if want("criterion"):
        guarded("criterion", scenario_criterion, results, started)

    samples = [r for s in ("http1", "rate", "h2") for t in results.get(s, {}).values()
               for row in t.values() for r in row.get("runs", [])]
    samples += [r for row in results.get("iperf", {}).values() for r in row.get("runs", [])]
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
    }
    (BENCH / "results.json").write_text(json.dumps({"meta": meta, **results}, indent=2, default=str) + "\n")
    (BENCH / "RESULTS.md").write_text(report(results, meta))
    log(f"wrote bench/RESULTS.md and bench/results.json ({meta['elapsed_min']:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
