"""`robot-skills eval`: closed-loop evaluation of a checkpoint (or the expert, the ceiling) on
held-out seeds, in W worker processes (train/eval_workers.py) each stepping K envs together with
one batched policy call per control step; optionally under a disturbance (sim/disturbances.py).

Writes DIR/eval_<task>_<split>[_<disturbance>]/: report.json (aggregate + per-episode rows
with seed), report.md, video_<seed>.mp4 (predicted skill on every frame), timeline_<seed>.png
(predicted vs expert skill over time) and stages.png (success per stage).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

from robot_skills.evaluation import episode_row, summarise
from robot_skills.evaluation.plots import plot_stage_success
from robot_skills.evaluation.report import format_block, format_markdown
from sim.disturbances import DisturbanceConfig
from sim.scene import split_seed
from train.eval_workers import EvalSetup, evaluate


def checkpoint_dir(workdir: str, checkpoint: str | None = None) -> str:
    """An explicit path, else DIR/checkpoints (the latest: the policy at the end of training),
    else DIR/best. The lowest validation loss is a poor pick for closed loop: with DAgger data
    it is dominated by ambiguous skill labels of the policy's own failures and chose steps
    799-1999 of 4000-5000-step runs, which picked 0/30 where the final step picked 7/30."""
    if checkpoint:
        return checkpoint
    for name in ("checkpoints", "best"):
        p = os.path.join(workdir, name)
        if os.path.isdir(p) and any(n.isdigit() for n in os.listdir(p)):
            return p
    raise FileNotFoundError(f"{workdir} has no checkpoints/ or best/ with a saved step; train "
                            f"first or pass --checkpoint")


def run_checkpoint(path: str, what: str) -> str:
    """A training workdir (its checkpoints/, else best/) or a checkpoint directory; `what` names
    the option in the error."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{what}={path!r} does not exist; pass a training workdir or a "
                                f"checkpoint directory")
    if any(os.path.isdir(os.path.join(path, n)) for n in ("best", "checkpoints")):
        return checkpoint_dir(path)
    return path


def _camera_size(workdir: str) -> int:
    try:
        with open(os.path.join(workdir, "config.json")) as f:
            return int(json.load(f)["env"]["camera_size"])
    except (OSError, KeyError, ValueError, TypeError):
        return 64


def run_eval(workdir: str, task: str = "rearrange_hard", episodes: int = 100,
             split: str = "eval", policy: str = "checkpoint", envs: int = 4, videos: int = 2,
             start: int = 0, checkpoint: str | None = None, progress: bool = True,
             workers: int | None = None, disturb: str | None = None,
             disturb_delay: int = 5, instructions: str = "train",
             clamp_state: bool = False, route_length_cap: float | None = None) -> dict:
    """Runs the evaluation and writes its files; returns the report dict (with "out").
    workers: processes (default all cores; 1 = this process). disturb: a sim.disturbances kind
    applied `disturb_delay` steps after its trigger stage; the report adds recovery success.
    instructions: how an LCB checkpoint's planner is asked ("train" or "heldout_template"
    phrasings, sim.instruction_samples.PHRASINGS); other policies read no language.
    clamp_state: a checkpoint's policy clips the state to its training data's range
    (Policy(clamp_state=True)); writes eval_<task>_<split>..._clamped/.
    route_length_cap: a checkpoint's policy reads each route's length as min(length, cap) m
    instead of what it was trained with (Policy(route_length_cap=...)); writes ..._cap<M>m/."""
    seeds = [split_seed(split, start + i) for i in range(episodes)]
    K = max(1, min(envs, episodes))
    W = max(1, min(workers or os.cpu_count() or 1, episodes))
    disturbance = DisturbanceConfig(disturb, disturb_delay) if disturb else None
    from sim.instruction_samples import PHRASINGS
    if instructions not in PHRASINGS:
        raise ValueError(f"unknown instructions {instructions!r}; use one of {tuple(PHRASINGS)}")
    out = Path(workdir) / (f"eval_{task}_{split}" + (f"_{disturb}" if disturb else "")
                           + (f"_{instructions}" if instructions != "train" else "")
                           + ("_clamped" if clamp_state else "")
                           + (f"_cap{route_length_cap:g}m" if route_length_cap is not None
                              else ""))
    setup = EvalSetup(task, split, policy, camera_size=_camera_size(workdir),
                      disturbance=disturbance, out=str(out),
                      instructions=instructions, clamp_state=clamp_state,
                      route_length_cap=route_length_cap)  # checks the policy name
    if policy == "checkpoint":
        setup = dataclasses.replace(setup, checkpoint=checkpoint_dir(workdir, checkpoint))
    source = setup.checkpoint or "expert"
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    traces = evaluate(setup, seeds, envs=K, workers=W, record=range(min(videos, episodes)),
                      progress=progress,
                      desc=f"eval {task}/{split}" + (f"/{disturb}" if disturb else ""))
    wall = time.perf_counter() - t0
    predicts = setup.predicts_skill()
    rows = [episode_row(t, predicts_skill=predicts) for t in traces]
    summary = summarise(rows, wall, workers=W, disturbance=disturbance)
    files = {}
    for t in traces:
        files.update(t.files)
    title = f"{task} / {split} / {policy}" + (f" / {disturb}" if disturb else "")
    files["stages"] = str(plot_stage_success(
        out / "stages.png", summary, f"{title}: success per stage (n={len(rows)})"))
    report = {"task": task, "split": split, "policy": policy, "checkpoint": source,
              "predicts_skill": predicts, "envs": K, "workers": W,
              "disturbance": dataclasses.asdict(disturbance) if disturbance else None,
              "instructions": instructions, "clamp_state": clamp_state,
              "route_length_cap": route_length_cap, "start": start,
              "seeds": seeds, "summary": summary, "files": files, "episodes": rows}
    files["report_json"] = str(out / "report.json")
    files["report_md"] = str(out / "report.md")
    with open(out / "report.json", "w") as f:
        json.dump(report, f, indent=2)
    with open(out / "report.md", "w") as f:
        f.write(format_markdown(report))
    report["out"] = str(out)
    return report


def format_report(report: dict) -> str:
    d = report.get("disturbance")
    title = (f"eval {report['task']} / {report['split']} / policy {report['policy']} "
             f"({report['checkpoint']})" + (f" / disturbance {d['kind']}" if d else ""))
    lines = [format_block(report["summary"], title)]
    lines += [f"  {k:<14} {v}" for k, v in report["files"].items()]
    return "\n".join(lines)
