"""The cells of the markdown report: numbers formatted per unit, with ratios to direct and to the best peer.

Every table in RESULTS.md is made of cell()s ("value · ×direct · ×best peer"); the summary lines
use ratio_to(). Kept apart from report.py so the layout of the sections stays readable.
"""

from __future__ import annotations

from .config import PEERS


def fmt_num(v: float | None, unit: str) -> str:
    if v is None or v != v:
        return "—"
    if unit == "req/s":
        return f"{v:,.0f}"
    if unit == "ms":
        return f"{v:.3f}" if v < 1 else f"{v:.2f}"
    if unit == "Gbit/s":
        return f"{v:.2f}"
    if unit == "MiB":
        return f"{v / 1024:.1f}"
    if unit == "ns":
        return f"{v:,.0f}"
    if unit == "us":
        return f"{v:.1f}"
    return f"{v}"


def cell(table: dict, c: str, key: str, unit: str, higher_better: bool, direct: str | None = "direct") -> str:
    """value · ×direct · ×best peer (the best of nginx/rathole/bore in this same table)."""
    row = table.get(c, {})
    if "na" in row:
        return str(row["na"])
    med = row.get("median", {})
    if "error" in med:
        return "error: " + str(med["error"])[:80].replace("|", "/").replace("\n", " ")
    v = med.get(key)
    if v is None:
        return "—"
    parts = [fmt_num(v, unit)]
    d = table.get(direct, {}).get("median", {}).get(key) if direct else None
    if d:
        parts.append(f"{v / d:.2f}×d")
    peers = [(p, table[p]["median"][key]) for p in PEERS if p in table and isinstance(
        table[p].get("median", {}).get(key), (int, float))]
    if peers:
        best = max(peers, key=lambda t: t[1]) if higher_better else min(peers, key=lambda t: t[1])
        parts.append(f"{v / best[1]:.2f}×p")
    if med.get("warning"):
        parts.append("⚠ " + med["warning"])
    return " · ".join(parts)


def best_peer(table: dict, key: str, higher_better: bool) -> str:
    peers = [(p, table[p]["median"][key]) for p in PEERS if p in table and isinstance(
        table[p].get("median", {}).get(key), (int, float))]
    if not peers:
        return "none"
    return (max if higher_better else min)(peers, key=lambda t: t[1])[0]


def ratio_to(table: dict, c: str, peers: list[str], key: str, higher_better: bool) -> str:
    """"<value> (×<ratio> <best peer>)" for the summary, or the row's n/a text."""
    row = table.get(c, {})
    if "na" in row:
        return str(row["na"]).split(":")[0] + " (see below)"
    v = row.get("median", {}).get(key)
    if not isinstance(v, (int, float)):
        return "—"
    text = f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
    vals = [(p, table[p]["median"][key]) for p in peers
            if isinstance(table.get(p, {}).get("median", {}).get(key), (int, float))]
    if not vals:
        return text
    best = (max if higher_better else min)(vals, key=lambda t: t[1])
    return f"{text} (×{v / best[1]:.2f} {best[0]})"
