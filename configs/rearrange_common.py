"""The sections every rearrange config shares (`task`, `env`, `data`) and its variants.

`configs/rearrange_easy.py` and `configs/rearrange_hard.py` call `rearrange_config`; later stages
add `model` and `train` sections next to these. Variants are comma-separated tokens:
"small" (the `make demo` size), "depth" / "rgb" (head-camera streams in the observation).
"""

from __future__ import annotations

import ml_collections

VARIANTS = ("small", "depth", "rgb")


def parse_variant(variant: str) -> set[str]:
    tokens = {t.strip() for t in variant.split(",") if t.strip()}
    unknown = sorted(tokens - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown config variant(s) {unknown}; valid variants: "
                         f"{', '.join(VARIANTS)} (combine with commas, e.g. 'small,depth')")
    return tokens


def rearrange_config(task: str, variant: str, episodes: int, small_episodes: int
                     ) -> ml_collections.ConfigDict:
    tokens = parse_variant(variant)
    c = ml_collections.ConfigDict()
    c.task = ml_collections.ConfigDict({"name": task})

    c.env = ml_collections.ConfigDict()
    c.env.cameras = tuple(cam for cam in ("depth", "rgb") if cam in tokens)  # head camera streams
    c.env.camera_size = 64  # pixels (square)

    d = c.data = ml_collections.ConfigDict()
    suffix = "".join(f"_{t}" for t in sorted(tokens))
    d.dir = f"runs/data/{task}{suffix}"  # dataset directory: `generate --out` default
    # Generation (`robot-skills generate`).
    d.split = "train"  # seed split the episodes come from
    d.start = 0  # first episode index in the split
    d.episodes = small_episodes if "small" in tokens else episodes  # episodes written
    d.noise_std = 0.05  # DART noise on the executed action (labels stay clean)
    d.keep_failed = False  # keep failed expert episodes (metadata expert_success=False)
    d.max_attempts = 4.0  # give up after max_attempts * episodes expert runs
    d.workers = 0  # expert processes; 0 = all cores
    # Reading (robot_skills.data.WindowLoader).
    d.window = 16  # T: steps per training window
    d.batch_size = 64  # B
    d.val_fraction = 0.05  # episodes held out for validation (by episode, deterministic)
    d.seed = 0  # batch order and train/val split are pure functions of it
    d.normalization = ml_collections.ConfigDict({"state": "mean_std", "action": "none"})
    d.prefetch = 4  # batches built ahead by background threads
    d.threads = 2  # loader threads
    d.cache_mb = 8  # bound on decoded episodes kept in memory (LRU)
    return c
