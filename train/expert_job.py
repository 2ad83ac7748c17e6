"""`robot-skills expert`: run the scripted expert over a split's seeds in worker processes and
report success (overall and per stage, with 95% intervals), failure reasons and lengths."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor

from tqdm import tqdm

from robot_skills.metrics import summarise_episodes
from sim.scene import split_seed

_WORKER = {}


def _init_worker(task: str, split: str, noise_std: float) -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")
    from sim.env import RearrangeEnv
    from sim.rollout import default_expert
    _WORKER["env"] = RearrangeEnv(task=task, split=split)
    _WORKER["expert"] = default_expert(noise_std)


def _run_seed(seed: int) -> dict:
    from sim.rollout import run_expert_episode
    ep = run_expert_episode(_WORKER["env"], _WORKER["expert"], seed)
    return ep.row()


def run_expert_report(task: str, episodes: int, split: str, workers: int | None = None,
                      noise_std: float = 0.0, start: int = 0, progress: bool = True) -> dict:
    seeds = [split_seed(split, start + i) for i in range(episodes)]
    workers = max(1, min(workers or os.cpu_count() or 1, episodes))
    t0 = time.perf_counter()
    rows: list[dict] = []
    bar = tqdm(total=episodes, desc=f"expert {task}/{split}", disable=not progress, unit="ep")
    pool = None
    if workers == 1:
        _init_worker(task, split, noise_std)
        results = map(_run_seed, seeds)
    else:
        # A ProcessPoolExecutor raises when a worker dies (mp.Pool would wait forever).
        pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                                   initializer=_init_worker, initargs=(task, split, noise_std))
        results = pool.map(_run_seed, seeds)
    try:
        for row in results:
            rows.append(row)
            ok = sum(r["success"] for r in rows)
            bar.set_postfix(success=f"{ok / len(rows):.3f}")
            bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    wall = time.perf_counter() - t0
    summary = summarise_episodes(rows)
    summary.update(task=task, split=split, noise_std=noise_std, workers=workers,
                   wall_seconds=wall, episodes_per_minute=60.0 * len(rows) / wall, rows=rows)
    return summary


def format_report(s: dict) -> str:
    lo, hi = s["ci95"]
    lines = [f"expert on {s['task']} / {s['split']}: {s['episodes']} episodes",
             f"  success        {s['success_rate']:.3f}  (95% CI {lo:.3f}-{hi:.3f}, {s['successes']}/{s['episodes']})"]
    for name, st in s["stages"].items():
        a, b = st["ci95"]
        lines.append(f"  stage {name:<14} {st['rate']:.3f}  (95% CI {a:.3f}-{b:.3f}, n={st['n']})")
    fails = ", ".join(f"{k}: {v}" for k, v in s["failures"].items()) or "none"
    lines.append(f"  failures       {fails}")
    lines.append(f"  mean length    {s['mean_length']:.1f} steps")
    lines.append(f"  wall time      {s['wall_seconds']:.1f} s ({s['episodes_per_minute']:.1f} episodes/min, {s['workers']} workers)")
    return "\n".join(lines)


def write_json(path: str, data: dict) -> None:
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
