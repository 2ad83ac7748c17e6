"""`robot-skills generate`: run the scripted expert over a split's seeds in worker processes and
write the episodes as an RLDS dataset (robot_skills.data.rlds_writer).

Seeds are tried in order (split_seed(split, start), +1, ...) and results are consumed in seed
order, not completion order, with a bounded look-ahead; failed expert episodes are dropped
unless keep_failed, and the job stops once `episodes` are kept. So the dataset is a function of
the config alone, whatever the number of workers.
"""

from __future__ import annotations

import collections
import itertools
import math
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor

from tqdm import tqdm

from robot_skills.metrics import summarise_episodes
from sim.scene import SPLIT_SIZE, split_seed

_WORKER = {}


class PolicyDriver:
    """A trained policy driving one env while the expert labels (sim.rollout.Driver)."""

    def __init__(self, checkpoint: str):
        from robot_skills.policy import Policy
        self.policy = Policy.load(checkpoint, batch_size=1)

    def reset(self) -> None:
        self.policy.reset(1)

    def act(self, obs: dict):
        return self.policy.act([obs])["action"][0]


def _init_worker(task: str, split: str, cameras: tuple[str, ...], camera_size: int,
                 noise_std: float, driver: str = "", beta: float = 0.0,
                 extra_train_families: tuple[str, ...] = (),
                 receptacle_slots: bool = False) -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        from sim.env import EnvConfig, RearrangeEnv
        from sim.rollout import default_expert
        from sim.scene import SceneConfig
        _WORKER["env"] = RearrangeEnv(config=EnvConfig(
            task=task, split=split, cameras=cameras, camera_size=camera_size,
            receptacle_slots=receptacle_slots,
            scene=SceneConfig(extra_train_families=extra_train_families)))
        _WORKER["expert"] = default_expert(noise_std)
        _WORKER["noise_std"] = noise_std
        _WORKER["driver"] = PolicyDriver(driver) if driver else None
        _WORKER["beta"] = beta
    except Exception as e:  # noqa: BLE001 - reported by the first episode, with its cause
        _WORKER["error"] = e


def _run_seed(seed: int):
    from robot_skills.data.episodes import record_episode
    if "error" in _WORKER:
        e = _WORKER["error"]
        raise RuntimeError(f"expert worker setup failed: {e!r}") from e
    return record_episode(_WORKER["env"], _WORKER["expert"], seed, _WORKER["noise_std"],
                          driver=_WORKER["driver"], beta=_WORKER["beta"])


def _in_seed_order(pool: ProcessPoolExecutor, seeds, lookahead: int):
    """Results of _run_seed over `seeds`, in seed order, at most `lookahead` in flight."""
    pending = collections.deque()
    for seed in seeds:
        pending.append(pool.submit(_run_seed, seed))
        if len(pending) >= lookahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def expert_records(config, episodes: int, workers: int, keep_failed: bool, progress: bool,
                   rows: list):
    """EpisodeRecords in ascending seed order until `episodes` are kept; appends a report row
    per expert episode run to `rows`."""
    d = config.data
    max_runs = episodes if keep_failed else max(episodes, math.ceil(d.max_attempts * episodes))
    max_runs = min(max_runs, SPLIT_SIZE - d.start)
    seeds = (split_seed(d.split, d.start + i) for i in range(max_runs))
    driver = ""
    if d.get("driver"):
        from train.eval_job import run_checkpoint
        driver = run_checkpoint(d.driver, "data.driver")
    args = (config.task.name, d.split, tuple(config.env.cameras), int(config.env.camera_size),
            float(d.noise_std), driver, float(d.get("beta", 0.0)), extra_families(config),
            bool(config.env.get("receptacle_slots", False)))
    pool = None
    if workers == 1:
        _init_worker(*args)
        results = map(_run_seed, seeds)
    else:
        from train.eval_workers import worker_environ
        # A worker that dies raises BrokenProcessPool here instead of hanging the job.
        with worker_environ():  # one XLA/BLAS thread per worker (they start in submit())
            pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                                       initializer=_init_worker, initargs=args)
            results = _in_seed_order(pool, seeds, lookahead=2 * workers)
            next_result = next(results, None)  # submits the first look-ahead inside the block
        results = itertools.chain([] if next_result is None else [next_result], results)
    who = "policy+expert labels" if driver else config.task.name
    bar = tqdm(total=episodes, desc=f"generate {who}", unit="ep", disable=not progress)
    kept = 0
    try:
        for rec in results:
            rows.append(rec.row())
            ok = sum(r["success"] for r in rows)
            bar.set_postfix(expert_success=f"{ok / len(rows):.3f}", runs=len(rows), refresh=False)
            if rec.success or keep_failed:
                kept += 1
                bar.update(1)
                yield rec
            else:
                bar.refresh()
            if kept == episodes:
                return
        raise RuntimeError(
            f"only {kept} of {episodes} episodes after {len(rows)} expert runs (expert success "
            f"{sum(r['success'] for r in rows)}/{len(rows)}); raise data.max_attempts "
            f"({d.max_attempts}), lower data.noise_std ({d.noise_std}) or pass --keep-failed")
    finally:
        bar.close()
        if pool is not None:
            stop_pool(pool)


def extra_families(config) -> tuple[str, ...]:
    """config.env.extra_train_families, checked (sim.scene.SceneConfig) before any worker starts;
    refused for a split other than train, where it would change nothing."""
    from sim.scene import SceneConfig
    extra = tuple(config.env.get("extra_train_families", ()))
    SceneConfig(extra_train_families=extra)  # names the bad family and the valid ones
    if extra and config.data.split != "train":
        raise ValueError(f"env.extra_train_families={list(extra)} only changes training-split "
                         f"scenes, but data.split is {config.data.split!r}; drop the override "
                         f"or generate from data.split=train")
    return extra


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Shuts the pool down without waiting for look-ahead episodes nobody needs any more."""
    workers = list((getattr(pool, "_processes", None) or {}).values())  # private, best effort
    pool.shutdown(wait=False, cancel_futures=True)
    for p in workers:
        p.terminate()
    for p in workers:
        p.join()


def generate_dataset(config, out: str | None = None, episodes: int | None = None,
                     workers: int | None = None, keep_failed: bool | None = None,
                     overwrite: bool = False, progress: bool = True, tap=None) -> dict:
    """Writes the dataset the config describes; returns a summary (expert report + sizes).
    `tap(record)`, if given, sees every EpisodeRecord written (benchmarks reuse them)."""
    from robot_skills.data.features import DataSpec
    from robot_skills.data.rlds_writer import check_writable, write_dataset

    d = config.data
    out = out or d.dir
    episodes = int(episodes if episodes is not None else d.episodes)
    keep_failed = bool(d.keep_failed if keep_failed is None else keep_failed)
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    workers = max(1, min(workers or d.workers or os.cpu_count() or 1, episodes))
    spec = DataSpec.from_config(config)
    check_writable(os.path.abspath(out), overwrite)
    rows: list[dict] = []
    info = {"task": config.task.name, "split": d.split, "start": d.start,
            "noise_std": d.noise_std, "keep_failed": keep_failed,
            "driver": d.get("driver", ""), "beta": d.get("beta", 0.0),
            "cameras": list(config.env.cameras), "camera_size": config.env.camera_size,
            "extra_train_families": list(extra_families(config)),
            "receptacle_slots": bool(config.env.get("receptacle_slots", False))}
    t0 = time.perf_counter()
    records = expert_records(config, episodes, workers, keep_failed, progress, rows)
    try:
        stream = records if tap is None else (tap(r) or r for r in records)
        index = write_dataset(out, spec, stream, overwrite=overwrite, info=info)
    finally:
        records.close()  # stops the worker pool even when writing failed
    wall = time.perf_counter() - t0
    summary = summarise_episodes(rows)
    summary.update(
        task=config.task.name, split=d.split, noise_std=d.noise_std, workers=workers, out=out,
        driver=d.get("driver", ""), beta=d.get("beta", 0.0),
        episodes_written=index["num_episodes"], steps_written=index["num_steps"],
        bytes_on_disk=directory_bytes(out), wall_seconds=wall,
        expert_episodes_per_minute=60.0 * len(rows) / wall,
        written_episodes_per_minute=60.0 * index["num_episodes"] / wall, rows=rows)
    summary["bytes_per_step"] = summary["bytes_on_disk"] / max(1, index["num_steps"])
    return summary


def ensure_dataset(config, out: str | None = None, *, progress: bool = True,
                   say=print) -> str:
    """The config's dataset at `out` (default data.dir): reused when it opens and matches the
    config's features, generated when the directory is missing or empty. A directory that holds
    something else (a corrupt or mismatching dataset) is an error that names it: nothing is
    overwritten behind the user's back. `say` gets one line about which, then the generation
    summary. Returns the directory."""
    from robot_skills.data.dataset import EpisodeDataset
    from robot_skills.data.features import DataSpec

    out = out or config.data.dir
    if os.path.isdir(out) and os.listdir(out):
        try:
            n = len(EpisodeDataset(out, DataSpec.from_config(config)))
        except Exception as e:  # noqa: BLE001 - re-raised with the fix named
            raise RuntimeError(f"{out} exists but is not a usable dataset for this config "
                               f"({type(e).__name__}: {e}); point data.dir elsewhere, or delete "
                               f"it / run `robot-skills generate --overwrite` to regenerate "
                               f"it") from e
        say(f"reusing {out} ({n} episodes)")
        return out
    say(f"generating {config.data.episodes} expert episodes ({config.task.name}) -> {out}")
    say(format_summary(generate_dataset(config, out=out, overwrite=True, progress=progress)))
    return out


def directory_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f))
               for root, _, files in os.walk(path) for f in files)


def format_summary(s: dict) -> str:
    lo, hi = s["ci95"]
    return "\n".join([
        f"dataset {s['out']}: {s['episodes_written']} episodes, {s['steps_written']} steps "
        f"({s['task']} / {s['split']}, noise_std {s['noise_std']})",
        (f"  policy+expert (beta {s['beta']}) success " if s.get("driver") else
         "  expert success ") + f"{s['success_rate']:.3f}  (95% CI {lo:.3f}-{hi:.3f}, "
        f"{s['successes']}/{s['episodes']} runs)",
        f"  on disk        {s['bytes_on_disk'] / 2**20:.1f} MiB "
        f"({s['bytes_per_step']:.0f} bytes/step)",
        f"  wall time      {s['wall_seconds']:.1f} s ({s['expert_episodes_per_minute']:.1f} expert "
        f"episodes/min, {s['workers']} workers)",
    ])

