"""`robot-skills bench data`: the dataset figures of issue 4, measured in one run.

- generation: expert episodes/min writing the same episodes with 1 and with 2 workers (failed
  episodes kept, so both runs do identical work), their ratio, and whether the two datasets are
  byte-identical;
- bytes on disk per step of that dataset;
- loader: batches/s at the config's batch size and window, and peak RSS of a fresh process
  iterating a `big`-episode dataset vs a `small`-episode one. Those two datasets are written
  with the real writer from the generated episodes repeated under new seeds (running the
  expert 1,000 times would take hours on 2 cores); the JSON says so.
"""

from __future__ import annotations

import dataclasses
import filecmp
import json
import os
import platform
import subprocess
import sys
import tempfile

from train.config import load_config
from train.generate_job import directory_bytes, generate_dataset

_PROBE = """
import json, sys, time
from train.config import load_config
from robot_skills.data.loader import WindowLoader

def status_mib(key):  # VmHWM: this process's peak RSS (ru_maxrss would include the parent's)
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key + ":")) / 1024

config = load_config(sys.argv[1], json.loads(sys.argv[2]))
rss_start = status_mib("VmRSS")
loader = WindowLoader.from_config(config, "train", data_dir=sys.argv[3])
batches = int(sys.argv[4])
it = loader.iterate(0)
next(it)  # threads started, first batch built
t0 = time.perf_counter()
for _ in range(batches):
    next(it)
wall = time.perf_counter() - t0
t0 = time.perf_counter()
for s in range(batches // 4):
    loader.batch(10_000 + s)
sync = (batches // 4) / (time.perf_counter() - t0)
print(json.dumps({"batches_per_second": batches / wall, "sync_batches_per_second": sync,
                  "peak_rss_mib": status_mib("VmHWM"), "rss_after_imports_mib": rss_start,
                  "episodes": len(loader.dataset),
                  "cache_mib": loader.cache.bytes / 2**20}))
"""


def bench_data(config_spec: str = "configs/rearrange_hard.py", overrides=(), gen_episodes: int = 8,
               batches: int = 200, small: int = 100, big: int = 1000, workdir: str | None = None
               ) -> dict:
    from robot_skills.data.features import DataSpec
    from robot_skills.data.rlds_writer import write_dataset

    config = load_config(config_spec, list(overrides))
    tmp = tempfile.TemporaryDirectory(prefix="bench_data_") if workdir is None else None
    root = workdir or tmp.name
    try:
        # Generation, 1 and 2 workers, identical work (failed episodes kept).
        records = []
        gen = {}
        load_before = os.getloadavg()
        for workers in (1, 2):
            out = os.path.join(root, f"gen_{workers}w")
            t0 = os.times()
            s = generate_dataset(config, out=out, episodes=gen_episodes, workers=workers,
                                 keep_failed=True, overwrite=True, progress=False,
                                 tap=records.append if workers == 1 else None)
            t1 = os.times()
            # CPU seconds of this process and its (reaped) workers: if they stay level while
            # the wall time does not halve, other jobs on the machine took the second core.
            s["cpu_seconds"] = sum(t1[:4]) - sum(t0[:4])
            gen[workers] = s
        gen_dir = os.path.join(root, "gen_1w")
        shard_bytes = sum(os.path.getsize(os.path.join(gen_dir, f))
                          for f in os.listdir(gen_dir) if ".array_record-" in f)
        same = _same_files(os.path.join(root, "gen_1w"), os.path.join(root, "gen_2w"))
        steps = gen[1]["steps_written"]

        # Datasets of `small` and `big` episodes from the recorded ones, under new seeds.
        spec = DataSpec.from_config(config)
        loader = {}
        for n in (small, big):
            out = os.path.join(root, f"repeat_{n}")
            write_dataset(out, spec, _repeated(records, n), overwrite=True)
            loader[n] = _probe(config_spec, list(overrides), out, batches)
            loader[n]["bytes_on_disk"] = directory_bytes(out)
        rss_small, rss_big = loader[small]["peak_rss_mib"], loader[big]["peak_rss_mib"]
        return {
            "config": config_spec, "overrides": list(overrides), "task": config.task.name,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "load_average_before": load_before,
                        "load_average_at_end": os.getloadavg()},
            "generation": {
                "episodes": gen_episodes, "noise_std": config.data.noise_std,
                "expert_success": gen[1]["success_rate"], "steps": steps,
                "episodes_per_minute_1_worker": gen[1]["expert_episodes_per_minute"],
                "episodes_per_minute_2_workers": gen[2]["expert_episodes_per_minute"],
                "speedup_2_vs_1": gen[2]["expert_episodes_per_minute"]
                / gen[1]["expert_episodes_per_minute"],
                "byte_identical_1_vs_2_workers": same,
                "wall_seconds": {"1_worker": gen[1]["wall_seconds"],
                                 "2_workers": gen[2]["wall_seconds"]},
                "cpu_seconds": {"1_worker": gen[1]["cpu_seconds"],
                                "2_workers": gen[2]["cpu_seconds"]},
            },
            "disk": {"bytes_per_step": gen[1]["bytes_on_disk"] / steps,
                     "shard_bytes_per_step": shard_bytes / steps,
                     "cameras": list(config.env.cameras)},
            "loader": {
                "what": (f"WindowLoader.iterate over datasets of {small} and {big} episodes "
                         f"written by the real writer from the {gen_episodes} generated episodes "
                         "repeated under new seeds; each measured in a fresh process; "
                         f"{batches} batches after the first"),
                "batch_size": config.data.batch_size, "window": config.data.window,
                "threads": config.data.threads, "prefetch": config.data.prefetch,
                "cache_mb": config.data.cache_mb,
                f"episodes_{small}": loader[small], f"episodes_{big}": loader[big],
                "batches_per_second": loader[big]["batches_per_second"],
                "peak_rss_ratio_big_vs_small": rss_big / rss_small,
            },
        }
    finally:
        if tmp is not None:
            tmp.cleanup()


def _repeated(records: list, n: int):
    """n EpisodeRecords cycling through `records`, with fresh ascending seeds."""
    for i in range(n):
        r = records[i % len(records)]
        seed = 10_000_000 + i  # outside every split: marks the episode as a benchmark copy
        yield dataclasses.replace(r, seed=seed, metadata=dict(r.metadata, seed=seed))


def _probe(config_spec: str, overrides: list, data_dir: str, batches: int) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.getcwd()] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    out = subprocess.run([sys.executable, "-c", _PROBE, config_spec, json.dumps(overrides),
                          data_dir, str(batches)], capture_output=True, text=True, env=env,
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(f"loader probe failed on {data_dir}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _same_files(a: str, b: str) -> bool:
    names = sorted(os.listdir(a))
    return names == sorted(os.listdir(b)) and all(
        filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False) for f in names)
