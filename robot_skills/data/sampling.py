"""What each training batch contains, as pure functions of (seed, step): the train/validation
split by episode, uniform (episode, t) positions, and the left-padded window around each.

Batches draw their windows independently, or in groups of windows from one episode each (for
per-episode work such as the LCB planner; `groups`).

A window of T steps ends at the sampled step t and covers t-T+1 .. t; positions before the
episode start are padding (mask False). Every step of the split is equally likely to end a
window, whatever the episode lengths.
"""

from __future__ import annotations

import numpy as np

SPLITS = ("train", "val")
_SPLIT_SALT = 0x5B11
_STREAM = {"train": 0, "val": 1}
_SHIFT_SALT = 0x5A1F


def split_episodes(n: int, val_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """{"train": (n_train,), "val": (n_val,)} sorted record indices; disjoint, covering all n.

    The validation set is the first round(n * val_fraction) of a seeded permutation (at least
    one episode each side when val_fraction > 0 and n >= 2)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    perm = np.random.default_rng([seed, _SPLIT_SALT]).permutation(n)
    return {"train": np.sort(perm[n_val:]), "val": np.sort(perm[:n_val])}


def sample_positions(seed: int, split: str, step: int, lengths: np.ndarray, batch_size: int,
                     groups: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(episode (B,), t (B,)) for batch `step` (positions index into `lengths`).

    groups=0: B steps drawn uniformly over all steps of the episodes. groups=G > 0 (G divides
    B): G episodes drawn with probability proportional to their length (a uniform step's
    episode), then B/G steps uniformly within each; rows are group-major (rows g*B/G ..
    (g+1)*B/G - 1 share episode g), so every step is still equally likely to end a window and
    per-episode work (the LCB planner) runs G times a batch instead of B."""
    ends = np.cumsum(lengths)  # (N,)
    rng = np.random.default_rng([seed, _STREAM[split], step])
    if groups <= 0:
        flat = rng.integers(0, ends[-1], size=batch_size)  # (B,)
        episode = np.searchsorted(ends, flat, side="right")  # (B,)
        return episode, flat - (ends[episode] - lengths[episode])
    if batch_size % groups:
        raise ValueError(f"{groups} episode groups do not divide the batch of {batch_size}; "
                         f"choose data.episodes_per_batch dividing data.batch_size")
    picked = np.searchsorted(ends, rng.integers(0, ends[-1], size=groups), side="right")  # (G,)
    episode = np.repeat(picked, batch_size // groups)  # (B,) group-major
    return episode, (rng.random(batch_size) * lengths[episode]).astype(np.int64)


def window_indices(t: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Step indices (B, T) clipped to >= 0 and the mask (B, T) of the windows ending at t (B,)."""
    idx = t[:, None] - (window - 1) + np.arange(window)[None, :]  # (B, T)
    mask = idx >= 0
    return np.maximum(idx, 0), mask


def check_skill_shift(prob: float, max_shift: int) -> None:
    """Raise ValueError naming the config keys unless 0 <= prob <= 1 and max_shift >= 0."""
    if not 0.0 <= prob <= 1.0 or max_shift < 0:
        raise ValueError(f"skill shift: probability {prob} must be in [0, 1] and max_shift "
                         f"{max_shift} >= 0 (data.skill_shift_prob, data.skill_shift)")


def skill_shifts(seed: int, split: str, step: int, batch_size: int, prob: float,
                 max_shift: int) -> np.ndarray:
    """(B,) int: per window, 0 (keep the skill the action is conditioned on) or, with
    probability `prob`, a shift k, 0 < |k| <= max_shift: the window is conditioned
    on the expert's skill labels k steps later (k > 0, a premature switch) or earlier (k < 0,
    a late one). A pure function of (seed, split, step), drawn from its own stream."""
    check_skill_shift(prob, max_shift)
    if max_shift == 0 or prob == 0.0:
        return np.zeros(batch_size, np.int64)
    rng = np.random.default_rng([seed, _STREAM[split], step, _SHIFT_SALT])
    k = rng.integers(1, max_shift + 1, size=batch_size) * rng.choice([-1, 1], size=batch_size)
    return np.where(rng.random(batch_size) < prob, k, 0)
