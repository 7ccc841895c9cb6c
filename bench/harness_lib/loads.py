"""The load generators (wrk, sluice-loadgen, h2load, iperf3): one bounded run each, parsed into a dict.

Each function runs its tool for a fixed duration under a subprocess timeout and returns the
figures the report uses (req/s, latency percentiles in ms, Gbit/s), the command line and the
machine noise at that time, or an "error" key with the tool's last output; median_of() folds
the interleaved rounds into one row.
"""

from __future__ import annotations

import json
import re
import statistics

from .config import HOST, LOADGEN
from .procs import noise, run


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


def loadgen(port: int, host: str, path: str, duration: int) -> dict:
    """bench/loadgen at a fixed 1,000 req/s over 64 keep-alive connections; latency counted
    from when each request was due (see bench/loadgen/src/main.rs)."""
    argv = [str(LOADGEN), "--addr", f"{HOST}:{port}", "--host", host, "--path", f"/{path}",
            "--rate", "1000", "--duration", str(duration), "--connections", "64"]
    r = run(argv, duration + 30)
    res: dict = {"cmd": " ".join(argv[1:]), **noise()}
    try:
        j = json.loads(r.stdout)
    except json.JSONDecodeError:
        res["error"] = (r.stderr or r.stdout).strip()[-300:] or f"exit {r.returncode}"
        return res
    res["rps"] = j.get("achieved_rps")
    for k in ("p50_ms", "p99_ms", "p999_ms"):
        v = j.get(k)
        res[k] = v if isinstance(v, (int, float)) else float("nan")
    res["non2xx"] = j.get("errors", 0)
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
