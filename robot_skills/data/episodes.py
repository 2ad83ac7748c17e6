"""One expert episode as stacked arrays (`EpisodeRecord`): what a generate worker computes from
a seed and sends to the writer. It depends on the seed only, never on which worker ran it."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from robot_skills.data.features import encode_depth


@dataclasses.dataclass
class EpisodeRecord:
    seed: int
    observation: dict[str, np.ndarray]  # state (T, D) f32; depth (T, H, W, 1) u16 mm; rgb u8
    action: np.ndarray  # (T, A) float32 clean expert labels
    reward: np.ndarray  # (T,) float32
    skill: np.ndarray  # (T,) int64 expert skill id (sim.skills.Skill)
    terminated: bool  # ended by success or a failure, not by the time limit
    metadata: dict  # the episode_metadata fields of features.rlds_features

    @property
    def length(self) -> int:
        return len(self.action)

    @property
    def success(self) -> bool:
        return bool(self.metadata["expert_success"])

    def row(self) -> dict:
        """The per-episode row of a success report (robot_skills.metrics.summarise_episodes)."""
        return {"seed": self.seed, "success": self.success, "length": self.length,
                "failure": self.metadata["failure"], "stages": json.loads(self.metadata["stages"])}


def record_episode(env, expert, seed: int, noise_std: float, driver=None, beta: float = 0.0
                   ) -> EpisodeRecord:
    """Runs the expert on `seed` in `env` (or a driver labelled by it: sim.rollout) and packs
    the episode for the writer. With a driver, metadata expert_success is the success of what
    was executed (the driver / expert mixture)."""
    from sim.instructions import instruction
    from sim.rollout import run_expert_episode

    ep = run_expert_episode(env, expert, seed, record=True, driver=driver, beta=beta)
    obs = ep.observations
    observation = {"state": np.stack([o["state"] for o in obs]).astype(np.float32)}  # (T, D)
    if "depth" in obs[0]:
        observation["depth"] = encode_depth(np.stack([o["depth"] for o in obs]))  # (T, H, W, 1)
    if "rgb" in obs[0]:
        observation["rgb"] = np.stack([o["rgb"] for o in obs]).astype(np.uint8)  # (T, H, W, 3)
    scene = env.unwrapped.episode_scene  # not env.scene: a multi-move task moved it on
    task = scene.task
    metadata = {
        "seed": int(seed), "task": task.task, "split": scene.split, "layout": scene.family,
        "expert_success": bool(ep.success), "failure": ep.failure, "length": int(ep.length),
        "instruction": instruction(scene, seed), "target": task.target, "source": task.source,
        "goal": task.goal, "goal_closed": bool(task.goal_closed), "noise_std": float(noise_std),
        "stages": json.dumps(ep.stages, sort_keys=True),
    }
    return EpisodeRecord(
        seed=int(seed), observation=observation,
        action=np.stack(ep.actions).astype(np.float32),  # (T, A)
        reward=np.asarray(ep.rewards, np.float32),  # (T,)
        skill=np.asarray(ep.skills, np.int64),  # (T,)
        terminated=ep.terminated,
        metadata=metadata)
