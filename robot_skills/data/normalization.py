"""Normalisation statistics of the vector fields (state, action): computed once while a dataset
is written, stored beside it as JSON (and later inside every checkpoint), applied by the loader
and undone by the policy.

Mean, std, min and max are exact (streaming, float64). Quantiles come from a deterministic
reservoir sample of at most `RESERVOIR` steps (exact for smaller datasets), so computing them
never holds the whole dataset in memory.
"""

from __future__ import annotations

import json

import numpy as np

FIELDS = ("state", "action")
QUANTILES = (0.01, 0.05, 0.5, 0.95, 0.99)
MODES = ("mean_std", "bounds", "none")
RESERVOIR = 100_000
STD_FLOOR = 1e-2  # a dimension that barely varies is centred, not blown up
STATS_FILE = "normalization.json"


def quantile_key(q: float) -> str:
    return f"q{round(q * 100):02d}"


class StatsAccumulator:
    """Streaming per-dimension statistics of one (T, D) field."""

    def __init__(self, dim: int, reservoir: int = RESERVOIR, seed: int = 0):
        self.dim = dim
        self.count = 0
        self.mean = np.zeros(dim)
        self.m2 = np.zeros(dim)  # sum of squared deviations (Chan et al. merge)
        self.min = np.full(dim, np.inf)
        self.max = np.full(dim, -np.inf)
        self.sample = np.zeros((reservoir, dim), np.float32)
        self.rng = np.random.default_rng(seed)

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64).reshape(-1, self.dim)  # (T, D)
        n = len(x)
        if n == 0:
            return
        mean_b = x.mean(0)
        m2_b = ((x - mean_b) ** 2).sum(0)
        total = self.count + n
        delta = mean_b - self.mean
        self.mean = self.mean + delta * n / total
        self.m2 = self.m2 + m2_b + delta ** 2 * self.count * n / total
        self.min = np.minimum(self.min, x.min(0))
        self.max = np.maximum(self.max, x.max(0))
        # Reservoir sampling (algorithm R), vectorised over the rows of x.
        cap = len(self.sample)
        idx = self.count + np.arange(n)  # global row indices
        fill = idx < cap
        self.sample[idx[fill]] = x[fill]
        rest = ~fill
        if rest.any():
            j = self.rng.integers(0, idx[rest] + 1)
            keep = j < cap
            self.sample[j[keep]] = x[rest][keep]
        self.count = total

    def result(self) -> dict:
        if self.count == 0:
            raise ValueError("no data: cannot compute statistics of an empty field")
        sample = self.sample[: min(self.count, len(self.sample))]
        qs = np.quantile(sample.astype(np.float64), QUANTILES, axis=0)  # (Q, D)
        out = {"count": int(self.count), "mean": self.mean.tolist(),
               "std": np.sqrt(self.m2 / self.count).tolist(),
               "min": self.min.tolist(), "max": self.max.tolist(),
               "quantile_sample": int(len(sample))}
        for q, v in zip(QUANTILES, qs):
            out[quantile_key(q)] = v.tolist()
        return out


def save_stats(path: str, stats: dict) -> None:
    with open(path, "w") as f:
        json.dump(stats, f, indent=1)


def load_stats(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def affine(field_stats: dict, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(shift, scale) of a mode: normalised = (x - shift) / scale."""
    if mode == "mean_std":
        shift = np.asarray(field_stats["mean"], np.float32)
        scale = np.maximum(np.asarray(field_stats["std"], np.float32), STD_FLOOR)
    elif mode == "bounds":  # [q01, q99] -> [-1, 1]
        lo, hi = (np.asarray(field_stats[k], np.float32) for k in ("q01", "q99"))
        shift, scale = (lo + hi) / 2, np.maximum((hi - lo) / 2, STD_FLOOR)
    elif mode == "none":
        shift, scale = np.float32(0.0), np.float32(1.0)
    else:
        raise ValueError(f"unknown normalisation mode {mode!r}; use one of {MODES}")
    return shift, scale


def normalize(x: np.ndarray, field_stats: dict, mode: str) -> np.ndarray:
    """x (..., D) -> float32 (x - mean) / std ("mean_std"), [q01, q99] -> [-1, 1] clipped
    ("bounds"), or unchanged ("none")."""
    shift, scale = affine(field_stats, mode)
    y = (np.asarray(x, np.float32) - shift) / scale
    return np.clip(y, -1.0, 1.0) if mode == "bounds" else y


def denormalize(y: np.ndarray, field_stats: dict, mode: str) -> np.ndarray:
    """Inverse of `normalize` (for "bounds", exact inside [q01, q99])."""
    shift, scale = affine(field_stats, mode)
    return (np.asarray(y, np.float32) * scale + shift).astype(np.float32)
