"""Running the scripted expert for one episode: the shared loop of the `expert` report, the
dataset generator and the benchmarks."""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np

from sim.env import RearrangeEnv
from sim.expert import Expert, ExpertConfig


@dataclasses.dataclass
class Episode:
    seed: int
    success: bool
    failure: str
    length: int
    terminated: bool  # ended by success or failure (not by the time limit)
    stages: dict[str, bool]
    skills: list[int]  # expert skill label per step
    observations: list[dict] | None = None  # o_0 .. o_{T-1}
    actions: list[np.ndarray] | None = None  # expert labels
    rewards: list[float] | None = None
    frames: list[np.ndarray] | None = None
    calls: list[str] | None = None

    def row(self) -> dict:
        return {"seed": self.seed, "success": self.success, "length": self.length,
                "failure": self.failure, "stages": self.stages}


class Driver(Protocol):
    """Another agent that drives while the expert labels (DAgger): a closed-loop policy."""

    def reset(self) -> None: ...

    def act(self, obs: dict) -> np.ndarray: ...


def run_expert_episode(env: RearrangeEnv, expert: Expert, episode_seed: int, record: bool = False,
                       render: bool = False, render_every: int = 1, driver: Driver | None = None,
                       beta: float = 0.0) -> Episode:
    """One episode; every step is labelled with the expert's clean action and skill. Without a
    driver the expert's (possibly noisy) action is executed. With one (DAgger), the driver's
    action is executed, except with probability `beta` per step (drawn from the episode seed)
    the expert's: the states are the mixture's, the labels stay the expert's."""
    obs, info = env.reset(options={"episode_seed": episode_seed})
    expert.reset(env)
    if driver is not None:
        driver.reset()
        mix = np.random.default_rng([episode_seed, 0xDA6])
    skills, observations, actions, rewards, frames, calls = [], [], [], [], [], []
    while True:
        label, executed = expert.act(env)
        if driver is not None:
            action = driver.act(obs)
            if mix.random() >= beta:
                executed = action
        skills.append(info["expert_skill"])
        calls.append(info["expert_call"])
        if record:
            observations.append(obs)
            actions.append(label)
        if render and (len(skills) - 1) % render_every == 0:
            frames.append(env.render())
        obs, reward, terminated, truncated, info = env.step(executed)
        if record:
            rewards.append(float(reward))
        if terminated or truncated:
            break
    stages = {k[len("stage/"):]: bool(v) for k, v in info.items() if k.startswith("stage/")}
    return Episode(seed=episode_seed, success=bool(info["success"]), failure=info["failure"],
                   length=info["step"], terminated=bool(terminated), stages=stages, skills=skills,
                   observations=observations if record else None,
                   actions=actions if record else None, rewards=rewards if record else None,
                   frames=frames if render else None, calls=calls)


def default_expert(noise_std: float = 0.0, noise_seed: int = 0) -> Expert:
    return Expert(ExpertConfig(noise_std=noise_std, noise_seed=noise_seed))
