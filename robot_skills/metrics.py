"""Success-rate statistics shared by the expert report and policy evaluation."""

from __future__ import annotations

import math
from collections import Counter


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion (well behaved at 0 and 1)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # The interval contains p; rounding can put an end a hair on the wrong side (at p = 1,
    # centre + half = 0.99999...), which a plot's error bar rejects as negative.
    return (min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half)))


def proportion(hits: list) -> dict:
    """{"rate", "ci95"} of a non-empty list of outcomes (truthy = success)."""
    k = sum(map(bool, hits))
    return {"rate": k / len(hits), "ci95": wilson_interval(k, len(hits))}


def summarise_episodes(rows: list[dict]) -> dict:
    """Aggregate per-episode rows ({success, length, failure, stages: {name: bool}})."""
    n = len(rows)
    k = sum(bool(r["success"]) for r in rows)
    stage_names: list[str] = []
    # Task order: the longest stage sequence first (rearrange_hard: goal_opened before picked).
    for r in sorted(rows, key=lambda r: -len(r.get("stages", {}))):
        for s in r.get("stages", {}):
            if s not in stage_names:
                stage_names.append(s)
    stages = {}
    for s in stage_names:
        have = [r["stages"][s] for r in rows if s in r.get("stages", {})]
        stages[s] = {**proportion(have), "n": len(have)}
    failures = Counter(r["failure"] for r in rows if r["failure"])
    # Episodes of one task can have different stage sequences (rearrange_hard: a goal surface,
    # or a goal container opened and closed again); success per sequence, in order of appearance.
    groups: dict[tuple[str, ...], list[bool]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get("stages", {})), []).append(bool(r["success"]))
    by_sequence = [{"stages": list(seq), "episodes": len(ok), "successes": sum(ok),
                    **proportion(ok)} for seq, ok in groups.items()]
    return {
        "episodes": n,
        "success_rate": k / n if n else 0.0,
        "successes": k,
        "ci95": wilson_interval(k, n),
        "stages": stages,
        "failures": dict(sorted(failures.items())),
        "mean_length": sum(r["length"] for r in rows) / n if n else 0.0,
        "by_stage_sequence": by_sequence,
    }
