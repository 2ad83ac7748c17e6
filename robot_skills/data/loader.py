"""Training batches from a dataset directory: windows (B, T, ...) with masks, normalised, with
the ground-truth skill per step.

`loader.batch(step)` is a pure function of (seed, split, step), so a resumed run sees exactly the
batches it would have seen; `loader.iterate(start_step)` yields batch(start_step),
batch(start_step + 1), ... built ahead by background threads. Host memory holds the episode
index (two ints per episode), a byte-bounded LRU cache of decoded episodes and the prefetched
batches: it does not grow with the dataset.

Batch layout (B = batch_size, T = window):
  observation/state  (B, T, D) float32, normalised    observation/depth (B, T, H, W, 1) metres
  action             (B, T, A) float32, normalised    observation/rgb   (B, T, H, W, 3) uint8
  skill              (B, T) int32                     mask              (B, T) bool (False: padding)
  is_first           (B, T) bool                      language_instruction (B,) str
  episode, t         (B,) record index and last step of each window
  condition_skill    (B, T) int32, train split with skill_shift > 0: the skill the action is
                     conditioned on; in a random skill_shift_prob of the windows the expert's
                     labels k steps later or earlier (0 < |k| <= skill_shift, clipped to the
                     episode), so the action head learns the expert's action under a skill
                     switched too early or too late, as a closed-loop skill head does. `skill`
                     stays the skill head's target.
  role, condition_role (B, T) int32, with roles="receptacle" or "route" (a scheme of
                     robot_skills.data.roles): the skill roles (derived per episode from its
                     skill labels and raw state), shifted like condition_skill.
With episodes_per_batch = G > 0 the rows come in G group-major runs of B/G windows of one episode
(robot_skills.data.sampling.sample_positions).
Padding steps are zeros (skill 0) with mask False.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from robot_skills.data.dataset import EpisodeDataset, EpisodeDatasets, open_dataset
from robot_skills.data.errors import DatasetError
from robot_skills.data.features import DataSpec
from robot_skills.data.normalization import FIELDS, MODES, normalize
from robot_skills.data.roles import num_roles, skill_roles
from robot_skills.data.sampling import (SPLITS, check_skill_shift, sample_positions,
                                        skill_shifts, split_episodes, window_indices)
from sim.observation import STATE_DIM, route_length_bounds

_STEP_FIELDS = ("state", "depth", "rgb", "action", "skill", "role", "is_first")


class EpisodeCache:
    """LRU cache of decoded episodes, bounded by their total bytes; shared by threads. It pays
    off when the dataset (nearly) fits; for large datasets it is a small constant."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: collections.OrderedDict[int, dict] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: int, load) -> dict:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        ep = load(key)
        size = _nbytes(ep)
        with self._lock:
            if key not in self._items and size <= self.max_bytes:
                self._items[key] = ep
                self.bytes += size
                while self.bytes > self.max_bytes:
                    self.bytes -= _nbytes(self._items.popitem(last=False)[1])
        return ep


def _nbytes(ep: dict) -> int:
    return sum(v.nbytes for v in ep.values() if isinstance(v, np.ndarray))


def role_scheme(config) -> str:
    """The role scheme a config trains with: "" when model.num_roles is 0 (no roles), else
    data.role_scheme (default "receptacle"), whose role count must equal model.num_roles."""
    n = int((config.get("model") or {}).get("num_roles", 0))
    if n == 0:
        return ""
    scheme = str(config.data.get("role_scheme", "receptacle"))
    if num_roles(scheme) != n:
        raise ValueError(f"model.num_roles={n} but data.role_scheme={scheme!r} has "
                         f"{num_roles(scheme)} roles: set model.num_roles={num_roles(scheme)} "
                         f"or pick the scheme with {n} roles (robot_skills.data.roles.SCHEMES)")
    return scheme


def state_bounds(config) -> np.ndarray | None:
    """The raw-state upper bounds a config trains with (model.route_length_cap), or None."""
    model = config.get("model") or {}
    cap = float(model.get("route_length_cap", 0.0))
    return route_length_bounds(cap, int(model.get("state_dim", STATE_DIM))) if cap > 0 else None


class WindowLoader:
    """Windows of one split (train or val) of an EpisodeDataset."""

    def __init__(self, dataset: EpisodeDataset | EpisodeDatasets, split: str = "train", *,
                 window: int = 16, batch_size: int = 64, seed: int = 0, val_fraction: float = 0.05,
                 normalization: dict | None = None, prefetch: int = 4, threads: int = 2,
                 cache_mb: float = 8, episodes_per_batch: int = 0, skill_shift: int = 0,
                 skill_shift_prob: float = 0.0, roles: str = "",
                 state_hi: np.ndarray | None = None):
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
        if window < 1 or batch_size < 1:
            raise ValueError(f"window ({window}) and batch_size ({batch_size}) must be >= 1")
        self.dataset = dataset
        self.split = split
        self.window = window
        self.batch_size = batch_size
        self.seed = seed
        self.normalization = dict(normalization or {"state": "mean_std", "action": "none"})
        for field, mode in self.normalization.items():
            if field not in FIELDS or mode not in MODES:
                raise ValueError(f"normalization {field}={mode!r}: fields are {FIELDS}, modes "
                                 f"{MODES}")
        if episodes_per_batch < 0 or (episodes_per_batch and batch_size % episodes_per_batch):
            raise ValueError(f"episodes_per_batch={episodes_per_batch} must be 0 (windows drawn "
                             f"independently) or divide batch_size={batch_size}")
        self.episodes_per_batch = episodes_per_batch
        check_skill_shift(skill_shift_prob, skill_shift)
        # training augmentation only: validation windows stay conditioned on the true labels
        on = split == "train" and skill_shift > 0
        self.skill_shift = int(skill_shift) if on else 0
        self.skill_shift_prob = float(skill_shift_prob) if on else 0.0
        self.prefetch = max(1, prefetch)
        self.threads = max(1, threads)
        self.episodes = split_episodes(len(dataset), val_fraction, seed)[split]  # record indices
        if len(self.episodes) == 0:
            raise DatasetError(f"{dataset.path}: the {split!r} split is empty ({len(dataset)} "
                               f"episodes, val_fraction={val_fraction})")
        self.lengths = dataset.lengths[self.episodes]  # (N_split,)
        self.cache = EpisodeCache(int(cache_mb * 2**20))
        if roles:
            num_roles(roles)  # validates the scheme
        self.roles = roles  # "" or a robot_skills.data.roles scheme
        # (D,) upper bounds applied to the raw state before normalising (the model's
        # route_length_cap; Policy applies the same at run time), or None
        self.state_hi = None if state_hi is None else np.asarray(state_hi, np.float32)

    def _episode(self, record: int) -> dict:
        ep = self.dataset.episode(record)
        if self.roles:
            ep = dict(ep, role=skill_roles(ep["skill"], ep["state"], self.roles))
        return ep

    @classmethod
    def from_config(cls, config, split: str = "train", data_dir: str | None = None
                    ) -> WindowLoader:
        """The loader a config describes; the dataset must match its DataSpec. data_dir (or
        data.dir): one directory or several, comma-separated (read as one dataset)."""
        d = config.data
        dataset = open_dataset(data_dir or d.dir, DataSpec.from_config(config))
        return cls(dataset, split, window=d.window, batch_size=d.batch_size, seed=d.seed,
                   val_fraction=d.val_fraction, normalization=dict(d.normalization),
                   prefetch=d.prefetch, threads=d.threads, cache_mb=d.cache_mb,
                   episodes_per_batch=int(d.get("episodes_per_batch", 0)),
                   skill_shift=int(d.get("skill_shift", 0)),
                   skill_shift_prob=float(d.get("skill_shift_prob", 0.0)),
                   roles=role_scheme(config), state_hi=state_bounds(config))

    @property
    def num_steps(self) -> int:
        """Steps in this split: the number of distinct windows."""
        return int(self.lengths.sum())

    def batch(self, step: int) -> dict:
        """Batch number `step` (a pure function of seed, split and step). Episodes are decoded
        one at a time and sliced straight into the batch, so a batch in flight holds at most
        one decoded episode besides the cache."""
        B, T = self.batch_size, self.window
        pos, t = sample_positions(self.seed, self.split, step, self.lengths, B,
                                  self.episodes_per_batch)
        records = self.episodes[pos]  # (B,) record indices
        idx, mask = window_indices(t, T)  # (B, T) each
        cols: dict[str, np.ndarray] = {}
        instruction = np.empty(B, dtype=object)
        shift = skill_shifts(self.seed, self.split, step, B, self.skill_shift_prob,
                             self.skill_shift)  # (B,)
        conditions = ("skill", "role") if self.roles else ("skill",)
        if self.skill_shift > 0:
            for k in conditions:
                cols[f"condition_{k}"] = np.zeros((B, T), np.int32)
        for r in np.unique(records):
            ep = self.cache.get(int(r), self._episode)
            rows = np.flatnonzero(records == r)
            for k in _STEP_FIELDS:
                if k in ep:
                    if k not in cols:
                        cols[k] = np.zeros((B, T) + ep[k].shape[1:], ep[k].dtype)  # (B, T, ...)
                    cols[k][rows] = ep[k][idx[rows]]
            instruction[rows] = ep["instruction"]
            if "condition_skill" in cols:
                shifted = np.clip(idx[rows] + shift[rows, None], 0, len(ep["skill"]) - 1)
                for k in conditions:
                    cols[f"condition_{k}"][rows] = ep[k][shifted]
        stats, modes = self.dataset.stats, self.normalization
        if self.state_hi is not None:
            cols["state"] = np.minimum(cols["state"], self.state_hi)
        for k in FIELDS:
            cols[k] = normalize(cols[k], stats[k], modes.get(k, "none"))
        for v in cols.values():
            v[~mask] = 0  # padding
        observation = {k: cols.pop(k) for k in ("state", "depth", "rgb") if k in cols}
        return dict(cols, observation=observation, mask=mask, language_instruction=instruction,
                    skill=cols["skill"].astype(np.int32), episode=records.astype(np.int32),
                    t=t.astype(np.int32))

    def iterate(self, start_step: int = 0) -> Iterator[dict]:
        """batch(start_step), batch(start_step + 1), ...; `prefetch` batches are built ahead."""
        pool = ThreadPoolExecutor(self.threads, thread_name_prefix="window-loader")
        try:
            pending = collections.deque(pool.submit(self.batch, s)
                                        for s in range(start_step, start_step + self.prefetch))
            step = start_step + self.prefetch
            while True:
                out = pending.popleft().result()
                pending.append(pool.submit(self.batch, step))
                step += 1
                yield out
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
