"""TCP scenario: 4. one iperf3 stream through each TCP tunnel, and openssl speed as the ceiling.

Kept apart from the HTTP scenarios because it measures raw byte throughput (Gbit/s) through
the tunnels Lab set up for iperf3, and the cipher's single-core speed that bounds sluice's
TLS tunnel.
"""

from __future__ import annotations

import re
import time

from .config import DURATION, ROUNDS
from .contenders import Lab
from .loads import iperf, median_of
from .procs import log, run


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
