"""An LCB checkpoint acting in closed loop behind the Policy interface (reset(env_ids=...),
act(obs) -> action, skill, skill_probs), so `robot-skills eval` runs it like any policy.

At each env's reset the agent reads the env's scene, phrases an instruction for it
(sim.instruction_samples.scene_instruction: "train" or "heldout_template" phrasings) and
computes the policy's prefix once for the episode:
  lcb          Planner.plan(instruction, scene text) -> latent codes (greedy decoding)
  text         the planner's decoded plan -> the policy's word embedding per step
  oracle       the ground-truth plan (sim.plans.plan_for) -> word embedding per step
  instruction  the instruction's words -> one mean-embedded token
Then every step is the Policy's KV-cached step with that prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robot_skills.planner.episodes import word_slots
from robot_skills.planner.joint import LCBModel
from robot_skills.planner.tokenizer import PlanTokenizer


class LCBAgent:
    def __init__(self, model: LCBModel, tok: PlanTokenizer, stats: dict,
                 normalization: dict | None, envs: Sequence, phrasing: str = "train"):
        from robot_skills.planner.checkpoint import Planner
        from robot_skills.policy import Policy
        self.model, self.tok, self.envs, self.phrasing = model, tok, list(envs), phrasing
        c = model.policy.transformer.config
        self.policy = Policy(model.policy.transformer, stats, normalization,
                             batch_size=len(self.envs),
                             prefix=np.zeros((len(self.envs), c.prefix_tokens, c.d_model)))
        self.planner = Planner(model.planner, tok) if model.planner is not None else None
        self.language: list[dict | None] = [None] * len(self.envs)  # episode_language(i)

    @classmethod
    def load(cls, checkpoint_dir: str, envs: Sequence, phrasing: str = "train") -> LCBAgent:
        from robot_skills.planner.stage2 import load_lcb_checkpoint
        model, tok, meta = load_lcb_checkpoint(checkpoint_dir)
        return cls(model, tok, meta["stats"], meta["normalization"], envs, phrasing)

    @property
    def config(self):
        return self.policy.config

    @property
    def batch_size(self) -> int:
        return len(self.envs)

    @property
    def predicts_skill(self) -> bool:
        return self.policy.predicts_skill

    def prefix_for(self, scene) -> tuple[np.ndarray, np.ndarray, str]:
        """(prefix (K, d), mask (K,), plan text or "") for an episode's scene."""
        prefix, mask, language = self._episode(scene)
        return prefix, mask, language["plan"]

    def _episode(self, scene) -> tuple[np.ndarray, np.ndarray, dict]:
        """(prefix (K, d), mask (K,), episode_language's dict) for an episode's scene."""
        from sim.instruction_samples import scene_instruction
        from sim.plans import plan_for, plan_text
        from sim.scene_facts import scene_text
        bridge = self.model.bridge_config.bridge
        instruction = scene_instruction(scene, scene.seed, self.phrasing)
        truth = plan_text(plan_for(scene))
        plan, got = "", None
        if self.planner is not None:
            result = self.planner.plan(instruction, scene_text(scene))
            plan = result.text
            if bridge == "lcb":
                got = np.asarray(result.latents), np.asarray(result.mask)
        elif bridge == "oracle":
            plan = truth
        if got is None:
            words = word_slots(self.tok, self.model.planner_config, self.model.bridge_config,
                               instruction, plan)
            z, mask = self.model.policy.words(words[None])
            got = np.asarray(z[0]), np.asarray(mask[0])
        language = {"instruction": instruction, "plan": plan,
                    "plan_exact": plan == truth if self.planner is not None else None}
        return *got, language | self._pointer(scene, *got)

    def _pointer(self, scene, prefix, mask) -> dict:
        """With a slot pointer: the receptacle its first head points at for each move and
        whether every move's is the goal (the report's "pointer at goal")."""
        policy = self.model.policy.transformer
        if policy.pointer is None:
            return {}
        from sim.observation import SLOT_KINDS
        w = np.asarray(policy.pointer_weights(prefix[None], mask[None]))[0, :, 0]  # (M, N)
        goals = [m.goal for m in scene.task_moves]
        kinds = [SLOT_KINDS[int(k)] for k in w.argmax(-1)[:len(goals)]]
        return {"pointer": kinds, "pointer_at_goal": kinds == goals}

    def reset(self, batch_size: int | None = None, *, env_ids: Sequence[int] | None = None):
        ids = list(range(self.batch_size) if env_ids is None else env_ids)
        if not ids:
            return
        got = [self._episode(self.envs[i].unwrapped.scene) for i in ids]
        for i, (_, _, language) in zip(ids, got):
            self.language[i] = language
        self.policy.reset(env_ids=ids, prefix=np.stack([g[0] for g in got]),
                          prefix_mask=np.stack([g[1] for g in got]))

    def act(self, obs) -> dict:
        return self.policy.act(obs)

    def episode_language(self, i: int) -> dict | None:
        """Env slot i's current episode: instruction, plan (decoded; the ground truth for the
        oracle; "" for the instruction bridge) and plan_exact (decoded == ground truth; None
        without a planner); with a slot pointer also pointer (the receptacle it points at per
        move) and pointer_at_goal. The closed-loop report keeps it per episode."""
        return self.language[i]
