"""`make demo` until the learning stages exist: the scripted expert on a few rearrange_hard
episodes, with the success report, a video and a picture of the scenes."""

from __future__ import annotations

import os

from train.expert_job import format_report, run_expert_report, write_json


def run_demo(out: str, episodes: int = 4) -> int:
    from train.cli import record_expert_video
    os.makedirs(out, exist_ok=True)
    s = run_expert_report("rearrange_hard", episodes, "eval")
    print(format_report(s))
    write_json(os.path.join(out, "expert_report.json"), s)
    video = record_expert_video("rearrange_hard", "eval", os.path.join(out, "expert.mp4"), episodes=2)
    scenes = render_scenes(os.path.join(out, "scenes.png"))
    print(f"  report         {os.path.join(out, 'expert_report.json')}")
    print(f"  video          {video}")
    print(f"  scenes         {scenes}")
    return 0


def render_scenes(path: str, seeds=(1_000_000, 1_000_001, 1_000_002, 2_000_000)) -> str:
    from sim.env import RearrangeEnv
    from train.video import write_grid
    env = RearrangeEnv(task="rearrange_hard", split="eval")
    images = []
    for s in seeds:
        env.reset(options={"episode_seed": s})
        images.append(env.render())
    env.close()
    return str(write_grid(path, images, cols=2))
