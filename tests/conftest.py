"""Shared test setup for the `sim` package.

MUJOCO_GL must be set before anything imports mujoco (the head camera and render() use an
offscreen GL context), so it is set here, at the top of the first module pytest imports.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import dataclasses  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@dataclasses.dataclass
class Rollout:
    """Everything recorded while the scripted expert drives one episode."""

    states: np.ndarray  # (T + 1, STATE_DIM): reset observation, then one per step
    labels: np.ndarray  # (T, 8) clean expert actions
    executed: np.ndarray  # (T, 8) actions actually stepped (noisy when noise_std > 0)
    rewards: np.ndarray  # (T,)
    infos: list  # T + 1 info dicts (reset first)
    terminated: bool
    truncated: bool

    @property
    def steps(self) -> int:
        return len(self.labels)

    @property
    def calls(self) -> list[str]:
        """Distinct consecutive expert calls ("navigate drawer", "open drawer", ...)."""
        out: list[str] = []
        for info in self.infos:
            if not out or out[-1] != info["expert_call"]:
                out.append(info["expert_call"])
        return out


def run_expert(env, seed: int, max_steps: int | None = None, expert_config=None) -> Rollout:
    """Resets `env` with `seed` and steps it with a fresh Expert until the episode ends or
    `max_steps` steps were taken."""
    from sim.expert import Expert, ExpertConfig

    expert = Expert(expert_config or ExpertConfig())
    obs, info = env.reset(seed=seed)
    expert.reset(env)
    states, labels, executed, rewards, infos = [obs["state"]], [], [], [], [info]
    terminated = truncated = False
    while max_steps is None or len(labels) < max_steps:
        label, act = expert.act(env)
        obs, reward, terminated, truncated, info = env.step(act)
        labels.append(label)
        executed.append(act)
        rewards.append(reward)
        states.append(obs["state"])
        infos.append(info)
        if terminated or truncated:
            break
    return Rollout(np.stack(states), np.stack(labels), np.stack(executed), np.asarray(rewards),
                   infos, bool(terminated), bool(truncated))


@pytest.fixture
def make_env():
    """Factory for RearrangeEnv instances that are closed (renderers freed) after the test."""
    from sim.env import RearrangeEnv

    envs = []

    def factory(**kwargs):
        env = RearrangeEnv(**kwargs)
        envs.append(env)
        return env

    yield factory
    for env in envs:
        env.close()


@pytest.fixture(scope="session")
def expert_rollout():
    """`run_expert(env, seed, max_steps=None, expert_config=None) -> Rollout` (a fixture so that
    test modules need not import conftest)."""
    return run_expert


@pytest.fixture
def mujoco_log_in_tmp(tmp_path, monkeypatch):
    """MuJoCo appends its warnings (e.g. "Nan, Inf or huge value in QACC") to MUJOCO_LOG.TXT in
    the working directory; tests that blow up the physics on purpose run in a temp dir so the
    repository stays clean."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
