"""`make demo`: the whole pipeline on the small default: generate a small rearrange_hard
dataset with the scripted expert, train the small Skill Transformer, evaluate it closed loop next
to the expert ceiling, and print the success table with the paths of reports, plots and videos.
Rerunning reuses the dataset and the finished training run in `--out`."""

from __future__ import annotations

import os
import time

from robot_skills.evaluation.report import success_text

CONFIG = "configs/rearrange_hard.py:small"


def run_demo(out: str, episodes: int = 10) -> int:
    from train.config import load_config
    from train.eval_job import format_report, run_eval
    from train.generate_job import ensure_dataset
    from train.train_job import train

    t0 = time.perf_counter()
    os.makedirs(out, exist_ok=True)
    config = load_config(CONFIG)
    workdir = os.path.join(out, "train")
    data_dir = ensure_dataset(config, os.path.join(out, "data"),
                              say=lambda m: print(f"[1/4] dataset     {m}"))
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
    print("\n".join(["rearrange_hard / eval success",
                     f"  {'Skill Transformer':<22} {success_text(learned['summary'], 2)}",
                     f"  {'scripted expert':<22} {success_text(expert['summary'], 2)}"]))
    print(f"demo finished in {time.perf_counter() - t0:.0f} s; outputs under {out}")
    print("side by side with its baselines (flat BC, unconditioned skill head): "
          "robot-skills compare --config configs/rearrange_hard.py:small --workdir runs/cmp")
    return 0
