"""Matplotlib PNGs of an evaluation: a skill timeline per episode (predicted vs expert skill
over time) and success per stage with 95% intervals."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sim.skills import SKILL_NAMES  # noqa: E402


def plot_skill_timeline(path: str | os.PathLike, trace, title: str = "",
                        predicted: bool = True) -> Path:
    """Predicted (line) and expert (shaded band) skill per control step of one episode;
    predicted=False (a policy that predicts no skill) draws the expert band only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(len(trace.expert_skills))
    fig, ax = plt.subplots(figsize=(9, 3.2), dpi=100)
    ax.step(t, trace.expert_skills, where="post", lw=6, alpha=0.35, color="tab:green",
            label="expert label")
    if predicted:
        ax.step(t, trace.predicted_skills, where="post", lw=1.5, color="tab:blue",
                label="predicted")
    if getattr(trace, "disturbed_at", None) is not None:
        ax.axvline(trace.disturbed_at, color="tab:red", ls="--", lw=1, label="disturbance")
    ax.set_yticks(range(len(SKILL_NAMES)), SKILL_NAMES)
    ax.set_ylim(-0.5, len(SKILL_NAMES) - 0.5)
    ax.set_xlabel("control step (10 Hz)")
    verdict = "success" if trace.success else f"failed: {trace.failure}"
    ax.set_title(title or f"seed {trace.seed}: {verdict}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_stage_success(path: str | os.PathLike, summary: dict, title: str = "") -> Path:
    """Bar per stage (and overall success, and recovery success under a disturbance) with the
    Wilson 95% interval as error bars."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    items = list(summary["stages"].items()) + [
        ("success", {"rate": summary["success_rate"], "ci95": summary["ci95"],
                     "n": summary["episodes"]})]
    d = summary.get("disturbance")
    if d and d["recovery_rate"] is not None:
        items.append(("recovery", {"rate": d["recovery_rate"], "ci95": d["ci95"],
                                   "n": d["episodes_disturbed"]}))
    names = [k for k, _ in items]
    rate = np.array([v["rate"] for _, v in items])
    lo = np.array([v["ci95"][0] for _, v in items])
    hi = np.array([v["ci95"][1] for _, v in items])
    fig, ax = plt.subplots(figsize=(max(4, 1.3 * len(names)), 3.5), dpi=100)
    colors = ["tab:blue"] * len(summary["stages"]) + ["tab:orange"] * (len(names) -
                                                                       len(summary["stages"]))
    ax.bar(names, rate, color=colors, yerr=[rate - lo, hi - rate], capsize=4)
    for x, r in enumerate(rate):
        ax.text(x, min(r + 0.03, 1.02), f"{r:.2f}", ha="center", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("reached (fraction of episodes)")
    ax.set_title(title or "success per stage")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
