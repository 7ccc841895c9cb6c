"""Time scenarios: 7. start-up (spawn to first 200 through the printed URL) and reconnect.

time_start() times one agent from spawn to its first 200; scenario_times() alternates the
contenders for STARTS runs and reports the median; reconnect_sluice() and reconnect_rathole()
restart the server side on the same ports and time until the same URL answers again.
"""

from __future__ import annotations

import os
import statistics
import time

from .config import HOST, SLUICE, STARTS, WORK
from .contenders import Lab, rathole_pair
from .loads import median_of
from .ports import free_bore_port, free_port, get_once, poll_200, wait_port
from .procs import have, log, noise, start, stop
from .sluice_tunnel import (
    TunnelEdge, agent_urls, http_agent_args, last_line, sluice_help, split_url, start_agent,
)


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
