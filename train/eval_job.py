"""`robot-skills eval`: closed-loop evaluation of a checkpoint (or the expert, the ceiling) on
held-out seeds, K envs stepped together with one batched policy call per control step.

Writes DIR/eval_<task>_<split>/: report.json (aggregate + per-episode rows with seed),
report.md, video_<seed>.mp4 (predicted skill on every frame), timeline_<seed>.png (predicted
vs expert skill over time) and stages.png (success per stage).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from robot_skills.evaluation import ExpertPolicy, episode_row, run_episodes, summarise
from robot_skills.evaluation.plots import plot_skill_timeline, plot_stage_success
from robot_skills.evaluation.report import format_block, format_markdown
from sim.env import RearrangeEnv
from sim.scene import split_seed
from sim.skills import SKILL_NAMES


def checkpoint_dir(workdir: str, checkpoint: str | None = None) -> str:
    """An explicit path, else DIR/best (lowest validation loss), else DIR/checkpoints (latest)."""
    if checkpoint:
        return checkpoint
    for name in ("best", "checkpoints"):
        p = os.path.join(workdir, name)
        if os.path.isdir(p) and any(n.isdigit() for n in os.listdir(p)):
            return p
    raise FileNotFoundError(f"{workdir} has no best/ or checkpoints/ with a saved step; train "
                            f"first or pass --checkpoint")


def _camera_size(workdir: str) -> int:
    try:
        with open(os.path.join(workdir, "config.json")) as f:
            return int(json.load(f)["env"]["camera_size"])
    except (OSError, KeyError, ValueError, TypeError):
        return 64


def _skill(s: int) -> str:
    return SKILL_NAMES[s] if 0 <= s < len(SKILL_NAMES) else "-"


def _video_frames(trace) -> list:
    from train.video import caption
    frames = [caption(f, f"seed {trace.seed}  t {t}  predicted: {_skill(p)}  "
                         f"expert: {_skill(e)}")
              for t, (f, p, e) in enumerate(zip(trace.frames, trace.predicted_skills,
                                                trace.expert_skills))]
    verdict = "success" if trace.success else f"failed: {trace.failure}"
    return frames + [caption(trace.frames[-1], f"seed {trace.seed}  {verdict}")] * 10


def run_eval(workdir: str, task: str = "rearrange_hard", episodes: int = 100,
             split: str = "eval", policy: str = "checkpoint", envs: int = 4, videos: int = 2,
             start: int = 0, checkpoint: str | None = None, progress: bool = True) -> dict:
    """Runs the evaluation and writes its files; returns the report dict (with "out")."""
    seeds = [split_seed(split, start + i) for i in range(episodes)]
    K = max(1, min(envs, episodes))
    if policy == "expert":
        env_list = [RearrangeEnv(task=task, split=split) for _ in range(K)]
        agent, source = ExpertPolicy(env_list), "expert"
    elif policy == "checkpoint":
        from robot_skills.policy import Policy
        source = checkpoint_dir(workdir, checkpoint)
        agent = Policy.load(source, batch_size=K)
        cams = tuple(agent.config.image_keys)
        env_list = [RearrangeEnv(task=task, split=split, cameras=cams,
                                 camera_size=_camera_size(workdir)) for _ in range(K)]
    else:
        raise ValueError(f"unknown policy {policy!r}; use 'expert' or 'checkpoint'")
    predicts = getattr(agent, "predicts_skill", True)
    record = range(min(videos, episodes))
    t0 = time.perf_counter()
    traces = run_episodes(env_list, agent, seeds, record=record, progress=progress,
                          desc=f"eval {task}/{split}")
    wall = time.perf_counter() - t0
    for e in env_list:
        e.close()
    rows = [episode_row(t, predicts) for t in traces]
    out = Path(workdir) / f"eval_{task}_{split}"
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(rows, wall)
    files = {}
    from train.video import write_video
    fps = env_list[0].metadata["render_fps"]
    for t in traces:
        if t.frames:
            files[f"video_{t.seed}"] = str(write_video(out / f"video_{t.seed}.mp4",
                                                       _video_frames(t), fps=fps))
            files[f"timeline_{t.seed}"] = str(plot_skill_timeline(
                out / f"timeline_{t.seed}.png", t, predicted=predicts))
    files["stages"] = str(plot_stage_success(
        out / "stages.png", summary, f"{task} / {split} / {policy}: success per stage "
                                     f"(n={len(rows)})"))
    report = {"task": task, "split": split, "policy": policy, "checkpoint": source,
              "predicts_skill": predicts, "envs": K, "start": start, "seeds": seeds,
              "summary": summary, "files": files, "episodes": rows}
    files["report_json"] = str(out / "report.json")
    files["report_md"] = str(out / "report.md")
    with open(out / "report.json", "w") as f:
        json.dump(report, f, indent=2)
    with open(out / "report.md", "w") as f:
        f.write(format_markdown(report))
    report["out"] = str(out)
    return report


def format_report(report: dict) -> str:
    title = (f"eval {report['task']} / {report['split']} / policy {report['policy']} "
             f"({report['checkpoint']})")
    lines = [format_block(report["summary"], title)]
    lines += [f"  {k:<14} {v}" for k, v in report["files"].items()]
    return "\n".join(lines)
