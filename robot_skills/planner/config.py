"""Sizes and sequence layout of the planner LM: a frozen dataclass built from the `model` section
of configs/planner.py and stored as JSON inside every planner checkpoint.

Sequence layout (robot_skills.planner.sequence): a prompt of `prompt_len` tokens, left-padded
("<pad>.. <bos> instruction <scene> scene <sep>"), then the plan, right-padded to `plan_len`
("navigate drawer <ACT> ... stop <ACT> <eos> <pad>.."). Positions are relative, so padding never
changes what the valid tokens compute.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import ml_collections

from robot_skills.model.config import _check_keys, check_width


@dataclasses.dataclass(frozen=True)
class PlannerConfig:
    vocab_size: int = 0  # set from the tokenizer when the model is built
    d_model: int = 128
    num_layers: int = 3
    num_heads: int = 4
    mlp_dim: int = 512
    prompt_len: int = 104  # P: <bos> instruction <scene> scene <sep>, left-padded
    instruction_tokens: int = 48  # longer instructions are truncated (with a warning)
    plan_len: int = 64  # plan tokens incl. <eos>; decoding stops here
    latent_dim: int = 128  # size of a latent code (= the policy's d_model)
    max_act: int = 20  # latent codes returned per plan (<ACT> tokens beyond are dropped)
    dropout: float = 0.0
    dtype: str = "float32"

    def __post_init__(self):
        check_width(self.d_model, self.num_heads, self.dtype)
        if self.instruction_tokens + 3 >= self.prompt_len:
            raise ValueError(f"prompt_len ({self.prompt_len}) must exceed instruction_tokens + 3 "
                             f"({self.instruction_tokens + 3}) to leave room for the scene")

    @property
    def max_len(self) -> int:
        """L: the whole sequence (prompt + plan)."""
        return self.prompt_len + self.plan_len

    @property
    def compute_dtype(self):
        import jax.numpy as jnp

        return jnp.dtype(self.dtype)

    @classmethod
    def from_config(cls, section: Mapping | ml_collections.ConfigDict, **overrides
                    ) -> PlannerConfig:
        """From the `model` section of a planner config (or `to_dict()`); unknown keys are an
        error. `overrides` (e.g. vocab_size=...) win over the section."""
        d = dict(section.to_dict() if isinstance(section, ml_collections.ConfigDict)
                 else section)
        d.update(overrides)
        _check_keys(cls, d, "model")
        return cls(**d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
