"""Scenario 6: the criterion microbenchmarks (`cargo bench -p sluice-modules --bench policy_eval`).

Runs after every process of the other scenarios has stopped, in the source tree that was built
(SRC), and reads the medians back from target/criterion, marking estimates not rewritten by
this run as stale.
"""

from __future__ import annotations

import json

from .config import SRC, WORK
from .procs import log, run


def scenario_criterion(results: dict, started: float) -> None:
    """6. cargo bench -p sluice-modules --bench policy_eval, parsed from target/criterion."""
    out = results.setdefault("criterion", {})
    argv = ["cargo", "bench", "-p", "sluice-modules", "--bench", "policy_eval", "--",
            "--warm-up-time", "1", "--measurement-time", "2", "--noplot"]
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
