"""Memory scenarios: 5. VmRSS with idle client connections, and 5b. many idle tunnels per agent.

Scenario 5 starts fresh sluice edges and a fresh nginx, opens IDLE_CONNS idle connections and
compares RSS before and after; it also reports the RSS of Lab's tunnel processes while fresh.
Scenario 5b binds IDLE_TUNNELS tunnels through one sluice agent (and one rathole client) and
derives bytes per tunnel on each side.
"""

from __future__ import annotations

import resource
import socket
import subprocess
import time

from .config import AB, HOST, IDLE_CONNS, IDLE_TUNNELS, SLUICE, TOKEN, WORK
from .contenders import Lab, nginx_conf, rathole_pair, start_edge, start_nginx
from .ports import free_port, poll_200, wait_port
from .procs import have, log, rss_kib, run, start, stop, write
from .sluice_tunnel import TunnelEdge, last_line, sluice_help


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


def fresh_row(fresh: dict, key: str, why: object) -> dict:
    if key in fresh and fresh[key]:
        return {"median": {"idle_kib": fresh[key]}}
    return {"na": why if isinstance(why, str) else "n/a: not running"}


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
