"""sluice through its tunnel: an edge with a tunnel listener, and agents (`sluice http|tcp|start`).

TunnelEdge runs a `sluice edge` with an http and a tunnel listener (and a tcp: port range when
the binary accepts one) and can restart on the same ports; start_agent() and start_tcp_agent()
start the agents and read the public URL they print. sluice_help() caches `sluice <sub> --help`
so every scenario can tell which commands and flags this binary has and say "skipped" instead
of failing when an older or newer sluice lacks one.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time

from .config import HOST, SLUICE, TOKEN, WORK
from .ports import free_port, wait_port
from .procs import run, start, stop, write


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

    def __init__(self, name: str, tcp: bool = True, binary=None) -> None:
        self.name = name
        self.binary = binary or SLUICE
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
        if not self.binary.exists():
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
        self.proc = start(log_name, [str(self.binary), "edge", "--config", str(conf)])
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
                timeout: float = 20, binary=None) -> tuple[subprocess.Popen, str] | str:
    """Starts `sluice <argv_tail>` (or `binary`) and waits until it prints a forwarding URL
    (the one containing `want`, when given). Returns (process, url) or an "n/a: ..." string."""
    p = start(name, [str(binary or SLUICE), *argv_tail])
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


FORWARD_INTERNAL_URL = "https://bench-api.internal"


def start_forward_internal(edge: TunnelEdge, upstream: int, name: str) -> tuple[list[int], tuple[int, str]] | str:
    """The `sluice-forward-internal` row: an agent binds the upstream as the internal endpoint
    FORWARD_INTERNAL_URL, and a gateway agent binds `http://<name>.localhost` whose policy
    hands every request to it with `forward-internal` (in-process on the edge; the gateway's
    own upstream is never reached). Both without inspection, to compare with
    `sluice-tunnel-noinspect`. Returns (agent pids, (port, host)) or an "n/a: ..." string."""
    if "--binding" not in (sluice_help("http") or ""):
        return "skipped: `sluice http` has no --binding flag (no internal endpoints)"
    r = start_agent(f"{name}-internal",
                    http_agent_args(edge, upstream, FORWARD_INTERNAL_URL, inspect=False),
                    want="bench-api.internal")
    if isinstance(r, str):
        return r
    internal = r[0]
    policy = write(WORK / "forward-internal.yml",
                   "on_http_request:\n  - actions:\n      - type: forward-internal\n"
                   f"        config: {{url: \"{FORWARD_INTERNAL_URL}\"}}\n")
    argv = http_agent_args(edge, upstream, f"http://{name}.localhost", inspect=False)
    argv[-1:-1] = ["--traffic-policy-file", str(policy)]
    r = start_agent(name, argv, want=f"{name}.localhost")
    if isinstance(r, str):
        stop(internal)
        return r
    gateway, url = r
    target = split_url(url) or (edge.http, f"{name}.localhost:{edge.http}")
    return [internal.pid, gateway.pid], target
