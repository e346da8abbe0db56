"""Figures derived from the measured cells: ratios between targets and the issue's goals.

Kept apart from the measurement so that they can be recomputed from a result file,
and apart from the rendering so that the JSON holds them too.
"""

from __future__ import annotations

from .settings import GOAL_CONNECTIONS
from .targets import BASELINE, CEILING, COLOCATED, NO_METRICS, SUBJECT

# The issue's goals, at GOAL_CONNECTIONS connections. Reported, never asserted.
GOALS = {
    "no_batch_req_vs_fastapi": 150.0,
    "batch64_rows_vs_fastapi": 100.0,
    "req_vs_ceiling": 0.90,
    "p99_ms": 1.0,
    "peak_rss_mib": 8.0,
    "cold_start_ms": 20.0,
    "req_with_over_without_metrics": 0.97,
    "colocated_p99_ms": 1.0,
}

# Figures the issue quotes for the FastAPI baseline on these 2-core machines
# (wrk, 20 s, median of 3); shown next to the re-measured ones, never used.
ISSUE_FASTAPI_REFERENCE = {
    ("no-batch", 10): {"req_per_s": 867, "p99_ms": 53.6},
    ("no-batch", 100): {"req_per_s": 767},
    ("batch-64", 10): {"req_per_s": 738, "rows_per_s": 47000},
    "rss_mib": 147,
    "cold_start_ms": 780,
}


def cell_of(results: dict, name: str, body: str, conns: int) -> dict | None:
    """The cell of target `name` for that body and connection count, if measured."""
    for t in results["targets"]:
        if t["name"] == name:
            for c in t["cells"]:
                if c["body"] == body and c["connections"] == conns:
                    return c
    return None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def ratios(results: dict) -> list[dict]:
    """Ours against FastAPI and the ceiling, per body and connection count."""
    out = []
    for b in results["bodies"]:
        for conns in results["settings"]["connections"]:
            ours = cell_of(results, SUBJECT, b["name"], conns)
            if not ours:
                continue
            base = cell_of(results, BASELINE, b["name"], conns)
            ceil = cell_of(results, CEILING, b["name"], conns)
            p99 = ours["latency_ms"]["p99"]
            out.append({
                "body": b["name"],
                "connections": conns,
                "ours_over_fastapi_req": ratio(ours["req_per_s"], base and base["req_per_s"]),
                "ours_over_ceiling_req": ratio(ours["req_per_s"], ceil and ceil["req_per_s"]),
                "fastapi_over_ours_p99": ratio(base and base["latency_ms"]["p99"], p99),
                "ours_over_ceiling_p99": ratio(p99, ceil and ceil["latency_ms"]["p99"]),
            })
    return out


def goals(results: dict) -> list[dict]:
    """The issue's goals at GOAL_CONNECTIONS connections, each met, missed or not measured."""
    c = GOAL_CONNECTIONS
    out = []

    def goal(text: str, value: float | None, key: str, at_least: bool, unit: str) -> None:
        threshold = GOALS[key]
        met = None if value is None else (value >= threshold if at_least else value <= threshold)
        out.append({"goal": text, "value": value, "threshold": threshold, "at_least": at_least,
                    "unit": unit, "met": met})

    def at(name: str, body: str, key: str):
        cell = cell_of(results, name, body, c)
        return cell and cell[key]

    def against(other: str, body: str, key: str) -> float | None:
        return ratio(at(SUBJECT, body, key), at(other, body, key))

    goal(f"no-batch req/s vs FastAPI at {c} conns", against(BASELINE, "no-batch", "req_per_s"),
         "no_batch_req_vs_fastapi", True, "x")
    goal(f"batch-64 rows/s vs FastAPI at {c} conns", against(BASELINE, "batch-64", "rows_per_s"),
         "batch64_rows_vs_fastapi", True, "x")
    names = [b["name"] for b in results["bodies"]]
    for b in names:
        goal(f"{b} req/s vs ceiling at {c} conns", against(CEILING, b, "req_per_s"),
             "req_vs_ceiling", True, "x")
    for b in names:
        latency = at(SUBJECT, b, "latency_ms")
        goal(f"{b} p99 at {c} conns", latency and latency["p99"], "p99_ms", False, "ms")
    ours = [t for t in results["targets"] if t["name"] == SUBJECT]
    for t in ours:
        peak = max((x["peak_rss_kb"] for x in t["cells"]), default=None)
        goal(f"{t['api']} peak RSS under load", peak and peak / 1024, "peak_rss_mib", False,
             "MiB")
    for t in ours:
        goal(f"{t['api']} cold start", t["cold_start_ms"], "cold_start_ms", False, "ms")
    goal(f"no-batch req/s with metrics / without at {c} conns",
         against(NO_METRICS, "no-batch", "req_per_s"), "req_with_over_without_metrics", True, "x")
    latency = at(COLOCATED, "no-batch", "latency_ms")
    goal(f"no-batch p99 at {c} conns, wrk co-located and unpinned, default threads",
         latency and latency["p99"], "colocated_p99_ms", False, "ms")
    return out


def derive(results: dict) -> None:
    """Add the ratios and the goals to a result."""
    results["ratios"] = ratios(results)
    results["goals"] = goals(results)
