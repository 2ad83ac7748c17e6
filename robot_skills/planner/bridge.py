"""What the policy is conditioned on in stage 2, and the policy-side word embedding.

Bridges (the `bridge` field of BridgeConfig; one code path, the baselines are flags):
  lcb          the planner's latent codes (hidden state at each <ACT>, projected): policy
               losses reach the planner through them
  text         the plan's words, embedded by the policy's own WordBridge (ground-truth plan
               in training, the planner's decoded plan in closed loop): no gradient reaches
               the planner, which trains on its LM loss alone
  oracle       the ground-truth plan's words (training and evaluation), no planner
  instruction  one token: the mean embedding of the instruction's words, no planner

A word bridge reads `words` (B, K, n) int32: K slots of up to n token ids (PAD_ID = empty). For
plans a slot is one plan step ("pick red can"), so the prefix has as many tokens as the LCB
latents; each slot is the mean of its word embeddings plus a learned slot embedding (the
SkillTransformer's prefix keys share one relative position, so without it the step order would
be lost). For the instruction there is one slot holding the whole instruction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np
from flax import nnx

from robot_skills.model.config import _check_keys
from robot_skills.planner.config import PlannerConfig
from robot_skills.planner.tokenizer import ACT_ID, EOS_ID, PAD_ID

BRIDGES = ("lcb", "text", "oracle", "instruction")
PLANNER_BRIDGES = ("lcb", "text")  # the model holds a planner (trained on its LM loss)
WORD_BRIDGES = ("text", "oracle", "instruction")  # the policy embeds words itself


@dataclasses.dataclass(frozen=True)
class BridgeConfig:
    bridge: str = "lcb"
    lm_weight: float = 1.0  # weight of the planner's LM loss next to the policy loss
    step_words: int = 6  # words a plan-step slot holds (longer steps are cut)

    def __post_init__(self):
        if self.bridge not in BRIDGES:
            raise ValueError(f"unknown bridge {self.bridge!r}; choose one of {BRIDGES}")

    @property
    def has_planner(self) -> bool:
        return self.bridge in PLANNER_BRIDGES

    def slots(self, planner: PlannerConfig) -> int:
        """K: prefix tokens the policy gets (= ModelConfig.prefix_tokens)."""
        return 1 if self.bridge == "instruction" else planner.max_act

    def words_per_slot(self, planner: PlannerConfig) -> int:
        return planner.instruction_tokens if self.bridge == "instruction" else self.step_words

    @classmethod
    def from_config(cls, section: Mapping) -> BridgeConfig:
        d = dict(section.to_dict() if hasattr(section, "to_dict") else section)
        _check_keys(cls, d, "bridge")
        return cls(**d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def plan_step_slots(plan_ids, slots: int, words: int) -> np.ndarray:
    """Plan token ids ("navigate drawer <ACT> open drawer <ACT> ...", <eos>/padding allowed at
    the end) -> (slots, words) int32: the words of step k in row k, PAD_ID-padded; steps past
    `slots` are dropped (as latents past max_act are) and words past `words` cut."""
    out = np.full((slots, words), PAD_ID, np.int32)
    k, current = 0, []
    for t in plan_ids:
        t = int(t)
        if t in (EOS_ID, PAD_ID) or k >= slots:
            break
        if t == ACT_ID:
            n = min(len(current), words)
            out[k, :n] = current[:n]
            k, current = k + 1, []
        else:
            current.append(t)
    return out


def instruction_slot(instruction_ids, words: int) -> np.ndarray:
    """(1, words) int32: the instruction's ids, cut to `words`, PAD_ID-padded."""
    out = np.full((1, words), PAD_ID, np.int32)
    ids = list(instruction_ids)[:words]
    out[0, :len(ids)] = ids
    return out


class WordBridge(nnx.Module):
    """Policy-side embedding of word slots: words (B, K, n) -> prefix (B, K, d) (mean of the
    slot's word embeddings + a slot embedding; zero for an empty slot), mask (B, K)."""

    def __init__(self, vocab_size: int, slots: int, d_model: int, *, rngs: nnx.Rngs):
        self.embed = nnx.Embed(vocab_size, d_model, rngs=rngs)
        init = nnx.initializers.normal(0.02)
        self.slot_embed = nnx.Param(init(rngs.params(), (slots, d_model)))  # (K, d)

    def __call__(self, words):
        words = jnp.asarray(words, jnp.int32)  # (B, K, n)
        present = words != PAD_ID
        n = present.sum(-1, keepdims=True).astype(jnp.float32)  # (B, K, 1)
        e = self.embed(words) * present[..., None]  # (B, K, n, d)
        mask = n[..., 0] > 0  # (B, K)
        z = e.sum(-2) / jnp.maximum(n, 1.0) + self.slot_embed[...]  # (B, K, d)
        return jnp.where(mask[..., None], z, 0.0), mask
