"""perf profiles taken under load: the edge under wrk, the tunnel edge and agents under wrk/iperf3.

Run after scenario 1 when BENCH_PERF is 1 and perf works. Each profile records the processes
at 999 Hz while a load runs, counts their context switches, and writes a flat text report
(by thread, shared object, symbol) to bench/profile-*.txt; results only keep the file name
and the figures during the profile.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from .config import BENCH, DURATION, FILES, PERF, SLUICE, WORK
from .contenders import Lab
from .loads import iperf, wrk
from .procs import ctx_switches, have, log, run, start


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
    if not PERF or not have("perf"):
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


def profile_edge(lab: Lab, results: dict) -> None:
    """perf record of the edge while wrk drives the policy endpoint; flat profile to bench/."""
    if not PERF or not have("perf"):
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
