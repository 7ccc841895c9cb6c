"""Every knob and constant of the benchmark harness (bench/harness.py), read in one place.

bench/run installs the tools and builds sluice, then runs bench/harness.py. Everything listens
on 127.0.0.1 on free ports; every load run is bounded by a fixed duration and a subprocess
timeout; every process started is stopped on exit (also on Ctrl-C / SIGTERM). Each environment
variable below is read here, once, at import, and the other modules of bench/harness_lib import
these names; none is rebound after import (HTTP_CONTENDERS is only extended here, for BENCH_AB).
Importing this module creates WORK, the scratch directory.

Environment:
  BENCH_DURATION   seconds per wrk / loadgen / h2load / iperf3 run   (default 3)
  BENCH_ROUNDS     interleaved rounds for wrk and iperf3         (default 3)
  BENCH_CONNS      idle connections for the memory scenario      (default 10000)
  BENCH_PERF       1 = perf record the edge under wrk            (default 1 when perf works)
  BENCH_ONLY       comma list of scenarios to run: http1,rate,h2,iperf,memory,times,tls,cluster,
                   criterion (tls and/or cluster alone: their sections go into the last run's
                   RESULTS.md and results.json)
  BENCH_KEEP       1 = keep the scratch directory
  BENCH_TUNNELS    idle tunnels bound by one agent for the memory scenario (default 1000)
  BENCH_STARTS     runs of each start-up timing, median reported       (default 5)
  SLUICE_BIN       the sluice binary to measure (default target/release/sluice under BENCH_SRC)
  BENCH_AB         a second sluice binary (before/after): its edge gets rows "sluice-edge@B" and
                   "sluice-edge+policy@B" in scenarios 1, 2 and 5, alternated with the others;
                   a tunnel edge and two agents of it give "sluice-tunnel@B" and
                   "sluice-tunnel-noinspect@B" in scenarios 1 and 2
  BENCH_EDGE_EVENTS  "file": the edges write their events to a file in the scratch directory
                   instead of /dev/null
  BENCH_CONTENDERS comma list: measure only these HTTP rows (the others say skipped)
Set by bench/run:
  BENCH_SRC        the source tree that was built (default: this checkout)
  BENCH_SOURCE     how it was chosen, for the report (default "working tree")
  BENCH_PIDFILE    file to append every started process group's pid to (default WORK/pids)
  BENCH_T0         epoch seconds bench/run started, for the elapsed time (default: harness start)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BENCH = ROOT / "bench"
# The source tree that was built: the working tree, or a HEAD snapshot when it did not build.
SRC = Path(os.environ.get("BENCH_SRC", ROOT))
SOURCE = os.environ.get("BENCH_SOURCE", "working tree")
# The fixed-rate load generator of bench/loadgen, built by bench/run next to sluice.
LOADGEN = SRC / "target" / "release" / "sluice-loadgen"
SLUICE = Path(os.environ["SLUICE_BIN"]).resolve() if os.environ.get("SLUICE_BIN") \
    else SRC / "target" / "release" / "sluice"

DURATION = int(os.environ.get("BENCH_DURATION", "3"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
IDLE_CONNS = int(os.environ.get("BENCH_CONNS", "10000"))
IDLE_TUNNELS = int(os.environ.get("BENCH_TUNNELS", "1000"))
STARTS = int(os.environ.get("BENCH_STARTS", "5"))
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
KEEP = os.environ.get("BENCH_KEEP") == "1"
# perf profiles after scenario 1 (profiles.py); they also need `perf` on PATH
PERF = os.environ.get("BENCH_PERF", "1") == "1"
# when bench/run started (epoch seconds, a string), or None: main() then uses its own start
T0 = os.environ.get("BENCH_T0")
HOST = "127.0.0.1"
FILES = {"1k": ("1k.bin", 1024), "100k": ("100k.bin", 100 * 1024)}
# Rows, in the order printed. "peer" rows compete for "best peer"; sluice rows are ours.
# sluice-tunnel: edge + `sluice http --connect-url` agent (inspection on, the default);
# sluice-tunnel-noinspect: the same with `--inspect false`.
# sluice-forward-internal: a gateway agent's endpoint whose policy hands each request to an
# internal endpoint (`forward-internal`) bound by a second agent, both without inspection.
HTTP_CONTENDERS = ["direct", "nginx", "sluice-edge", "sluice-edge+policy", "sluice-tunnel",
                   "sluice-tunnel-noinspect", "sluice-forward-internal", "rathole", "bore"]
AB = Path(os.environ["BENCH_AB"]).resolve() if os.environ.get("BENCH_AB") else None
if AB:
    HTTP_CONTENDERS[4:4] = ["sluice-edge@B", "sluice-edge+policy@B"]
    HTTP_CONTENDERS[8:8] = ["sluice-tunnel@B", "sluice-tunnel-noinspect@B"]
CONTENDERS_ONLY = set(filter(None, os.environ.get("BENCH_CONTENDERS", "").split(",")))
EDGE_EVENTS = os.environ.get("BENCH_EDGE_EVENTS", "null")
PEERS = {"nginx", "rathole", "bore"}
H2_CONTENDERS = ["direct", "nginx", "sluice-edge", "sluice-edge+policy"]
TOKEN = "bench-token"
# Why a sluice row could not be measured, filled in as the harness finds out (for the report).
SKIPPED: dict[str, str] = {}

WORK = Path(tempfile.mkdtemp(prefix="sluice-bench-"))
WORK.chmod(0o755)  # nginx workers run as an unprivileged user and must read the files
PIDFILE = Path(os.environ.get("BENCH_PIDFILE", WORK / "pids"))
