"""The metadata of a run (bench/results.json "meta"): when, which commit and binary, how noisy.

The report's header and noise note are drawn from it, and it records the settings (duration,
rounds, connections, tunnels, starts), the tools found and which sluice commands exist, so a
results.json can be read without the environment that produced it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time

from .config import DURATION, IDLE_CONNS, IDLE_TUNNELS, LOADGEN, ROOT, ROUNDS, SLUICE, SOURCE, STARTS, T0
from .procs import run
from .sluice_tunnel import sluice_help


def collect(results: dict, started: float) -> dict:
    """The meta dict of this run; `started` is when the harness started (time.time())."""
    samples = [r for s in ("http1", "rate", "h2") for t in results.get(s, {}).values()
               for row in t.values() for r in row.get("runs", [])]
    samples += [r for row in results.get("iperf", {}).values() for r in row.get("runs", [])]
    samples += [r for row in results.get("tls", {}).values() for r in row.get("runs", [])]
    samples += [r for t in results.get("cluster", {}).values() for row in t.values()
                for r in row.get("runs", [])]
    samples += [r for t in results.get("times", {}).values() for row in t.values()
                for r in row.get("runs", []) if "loadavg1" in r]
    loads = [r["loadavg1"] for r in samples] or [0.0]
    rev = run(["git", "rev-parse", "--short", "HEAD"], 10, cwd=ROOT).stdout.strip()
    # the files this run writes (bench/RESULTS.md, results.json, profile-*.txt) do not count
    dirty = bool(run(["git", "status", "--porcelain", "--", ".", ":!bench/RESULTS.md",
                      ":!bench/results.json", ":!bench/profile-*.txt"], 10, cwd=ROOT).stdout.strip())
    return {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "commit": rev or "unknown", "dirty": dirty, "source": SOURCE, "cpus": os.cpu_count(),
        "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "elapsed_min": (time.time() - float(T0 if T0 is not None else started)) / 60,
        # installs and builds by bench/run before the harness started
        "setup_min": (started - float(T0)) / 60 if T0 is not None else 0.0,
        "duration_s": DURATION, "rounds": ROUNDS, "idle_conns": IDLE_CONNS,
        "noise": {"samples": len(samples), "samples_with_compilers": sum(1 for r in samples if r["compilers"]),
                  "load_min": min(loads), "load_max": max(loads)},
        "tools": {**{t: shutil.which(t) for t in ("nginx", "wrk", "h2load", "iperf3", "rathole", "bore")},
                  "sluice-loadgen": str(LOADGEN) if LOADGEN.exists() else None},
        "sluice_bin": str(SLUICE), "idle_tunnels": IDLE_TUNNELS, "starts": STARTS,
        "sluice_commands": {c: sluice_help(c) is not None for c in ("http", "tcp", "start")},
    }
