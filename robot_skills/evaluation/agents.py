"""The scripted expert behind the `Policy` interface (reset(env_ids=...), act(obs) -> action,
skill, skill_probs), so that `--policy expert` runs through the same batched loop."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.expert import Expert, ExpertConfig
from sim.skills import NUM_SKILLS


class ExpertPolicy:
    """One sim.expert.Expert per env. It reads the privileged sim state of `envs[i]`, not the
    observation; reset(env_ids=[i]) must follow envs[i].reset() (as for a learned Policy)."""

    predicts_skill = False  # its skill is the env's expert label: accuracy would be trivially 1

    def __init__(self, envs: Sequence, config: ExpertConfig = ExpertConfig()):
        self.envs = list(envs)
        self.experts = [Expert(config) for _ in self.envs]

    @property
    def batch_size(self) -> int:
        return len(self.envs)

    def reset(self, batch_size: int | None = None, *, env_ids: Sequence[int] | None = None):
        ids = range(self.batch_size) if env_ids is None else env_ids
        for i in ids:
            if self.envs[i].unwrapped.world is not None:
                self.experts[i].reset(self.envs[i])

    def act(self, obs) -> dict:
        """obs is ignored (the expert reads the sim). (B, 8) executed actions; skill (B,) is the
        skill the planner asked for in this state; skill_probs its one-hot."""
        B = self.batch_size
        action = np.zeros((B, 8), np.float32)
        skill = np.zeros(B, np.int32)
        for i, (env, expert) in enumerate(zip(self.envs, self.experts)):
            env = env.unwrapped
            if env.plan is None or env._done:
                continue  # an idle slot (no episode left to run): its output is ignored
            _, executed = expert.act(env)
            action[i] = executed
            skill[i] = int(env.plan.call.skill)
        probs = np.eye(NUM_SKILLS, dtype=np.float32)[skill]  # (B, S)
        return {"action": action, "skill": skill, "skill_probs": probs}
