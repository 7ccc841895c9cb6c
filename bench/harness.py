#!/usr/bin/env python3
"""bench/harness.py: the scenarios of bench/run (Python 3.11, standard library only).

bench/run installs the tools and builds sluice, then runs this. Everything listens on
127.0.0.1 on free ports; every load run is bounded by a fixed duration and a subprocess
timeout; every process started here is stopped on exit (also on Ctrl-C / SIGTERM).

This file only runs the scenarios in order and writes bench/results.json and bench/RESULTS.md;
the code lives in the package bench/harness_lib/ (one module per concern, see its __init__.py).

Environment (BENCH_DURATION, BENCH_ROUNDS, BENCH_CONNS, BENCH_PERF, BENCH_ONLY, BENCH_KEEP,
BENCH_TUNNELS, BENCH_STARTS, SLUICE_BIN, BENCH_AB, BENCH_EDGE_EVENTS, BENCH_CONTENDERS): every
knob, its meaning and its default is listed in the docstring of bench/harness_lib/config.py.
"""

from __future__ import annotations

import atexit
import json
import resource
import shutil
import signal
import sys
import time

# Python never caches the script it runs; the package would get a bench/harness_lib/__pycache__
# (untracked, not in .gitignore) on every run: do not write one.
sys.dont_write_bytecode = True

from harness_lib import meta, procs
from harness_lib.config import BENCH, IDLE_TUNNELS, ONLY, WORK
from harness_lib.contenders import Lab
from harness_lib.criterion import scenario_criterion
from harness_lib.procs import log, on_signal, rss_kib, stop, stop_all
from harness_lib.profiles import profile_edge, profile_tunnel
from harness_lib.report import report
from harness_lib.scenario_http import scenario_h2, scenario_http1, scenario_rate
from harness_lib.scenario_memory import scenario_memory, scenario_tunnels
from harness_lib.scenario_tcp import scenario_iperf
from harness_lib.scenario_times import scenario_times


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
    for tool in ("nginx", "wrk", "h2load", "iperf3", "rathole", "bore"):
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
        for p in reversed([p for _, p in procs.PROCS]):
            stop(p)
    if want("criterion"):
        guarded("criterion", scenario_criterion, results, started)

    run_meta = meta.collect(results, started)
    (BENCH / "results.json").write_text(json.dumps({"meta": run_meta, **results}, indent=2, default=str) + "\n")
    (BENCH / "RESULTS.md").write_text(report(results, run_meta))
    log(f"wrote bench/RESULTS.md and bench/results.json ({run_meta['elapsed_min']:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
