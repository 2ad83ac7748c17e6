"""`make demo`: the whole pipeline on the small default: generate a small rearrange_hard
dataset with the scripted expert, train the small Skill Transformer, evaluate it closed loop next
to the expert ceiling, and print the success table with the paths of reports, plots and videos.
Rerunning reuses the dataset and the finished training run in `--out`."""

from __future__ import annotations

import os
import time

CONFIG = "configs/rearrange_hard.py:small"


def run_demo(out: str, episodes: int = 10) -> int:
    from robot_skills.data.dataset import EpisodeDataset
    from train.config import load_config
    from train.eval_job import format_report, run_eval
    from train.generate_job import format_summary, generate_dataset
    from train.train_job import train

    t0 = time.perf_counter()
    os.makedirs(out, exist_ok=True)
    config = load_config(CONFIG)
    data_dir = os.path.join(out, "data")
    workdir = os.path.join(out, "train")
    try:
        EpisodeDataset(data_dir)
        print(f"[1/4] dataset     reusing {data_dir}")
    except Exception:  # noqa: BLE001 - missing or incomplete: (re)generate it
        print(f"[1/4] dataset     generating {config.data.episodes} expert episodes ({CONFIG})")
        print(format_summary(generate_dataset(config, out=data_dir, overwrite=True)))
    print(f"[2/4] training    {config.train.steps} steps -> {workdir}")
    r = train(config, workdir, data_dir=data_dir)
    print(f"      train loss {r.train_loss:.4f}, val loss {r.val_loss:.4f}")
    print(f"[3/4] evaluating  learned policy on {episodes} eval episodes")
    learned = run_eval(workdir, "rearrange_hard", episodes, "eval", policy="checkpoint",
                       envs=5, videos=1)
    print(format_report(learned))
    print(f"[4/4] evaluating  scripted expert (ceiling) on the same {episodes} episodes")
    expert = run_eval(os.path.join(out, "expert"), "rearrange_hard", episodes, "eval",
                      policy="expert", envs=5, videos=1)
    print(format_report(expert))
    print(_table(learned, expert))
    print(f"demo finished in {time.perf_counter() - t0:.0f} s; outputs under {out}")
    return 0


def _table(learned: dict, expert: dict) -> str:
    def row(name, rep):
        s = rep["summary"]
        lo, hi = s["ci95"]
        return (f"  {name:<22} {s['success_rate']:.3f}  ({s['successes']}/{s['episodes']}, "
                f"95% CI {lo:.2f}-{hi:.2f})")
    return "\n".join(["rearrange_hard / eval success", row("Skill Transformer", learned),
                      row("scripted expert", expert)])
