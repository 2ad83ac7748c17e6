"""`robot-skills bench sim`: env control-step throughput vs raw mj_step throughput of the same
model and substeps, measured side by side in one run, and expert episodes per minute."""

from __future__ import annotations

import os
import platform
import time

import mujoco
import numpy as np


def bench_sim(task: str = "rearrange_hard", seconds: float = 5.0, expert_episodes: int = 4,
              seed: int = 0) -> dict:
    os.environ.setdefault("MUJOCO_GL", "egl")
    from sim.env import RearrangeEnv
    from sim.rollout import default_expert, run_expert_episode
    from sim.scene import split_seed

    env = RearrangeEnv(task=task, split="eval")
    env.reset(seed=seed)
    m = env.world.model
    substeps = env.world.substeps

    # Raw physics: the same model and state, mj_step in a tight loop.
    d = mujoco.MjData(m)
    d.qpos[:] = env.world.data.qpos
    d.ctrl[:] = env.world.data.ctrl
    mujoco.mj_forward(m, d)
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        mujoco.mj_step(m, d, nstep=500)
        n += 500
    raw = n / (time.perf_counter() - t0)

    # Env: control steps with small random actions (resetting on episode end).
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    steps = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a = rng.uniform(-0.3, 0.3, env.action_space.shape).astype(np.float32)
        a[0] = 0.0  # keep the base still so episodes do not end in collisions
        _, _, term, trunc, _ = env.step(a)
        steps += 1
        if term or trunc:
            env.reset(seed=seed)
    env_rate = steps / (time.perf_counter() - t0)

    # Expert: whole episodes, one process.
    expert = default_expert()
    t0 = time.perf_counter()
    lengths, ok = [], 0
    for i in range(expert_episodes):
        ep = run_expert_episode(env, expert, split_seed("eval", i))
        lengths.append(ep.length)
        ok += ep.success
    ep_wall = time.perf_counter() - t0
    env.close()
    return {
        "task": task,
        "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                    "mujoco": mujoco.__version__},
        "substeps_per_control_step": substeps,
        "timestep": m.opt.timestep,
        "raw_mj_step_per_s": raw,
        "env_control_steps_per_s": env_rate,
        "env_physics_steps_per_s": env_rate * substeps,
        "env_over_raw_ratio": env_rate * substeps / raw,
        "expert_episodes": expert_episodes,
        "expert_episodes_per_minute": 60.0 * expert_episodes / ep_wall,
        "expert_mean_length": float(np.mean(lengths)),
        "expert_success": ok / expert_episodes,
    }
