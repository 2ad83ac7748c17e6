"""The planner's token sequences: prompt encoding (the API boundary: empty instructions are an
error, over-long ones are truncated with a warning) and the fixed layout shared by training and
decoding.

  positions 0 .. P-1      <pad>.. <bos> instruction <scene> scene <sep>    (left-padded prompt)
  positions P .. P+N-1    plan tokens ... <eos> <pad>..                      (right-padded plan)

Token j predicts token j + 1, so the loss covers the targets at positions P .. P + len(plan),
the <eos> included.
"""

from __future__ import annotations

import warnings

import numpy as np

from robot_skills.planner.config import PlannerConfig
from robot_skills.planner.tokenizer import (BOS_ID, EOS_ID, PAD_ID, SCENE_ID, SEP_ID,
                                            PlanTokenizer)


class InstructionTruncatedWarning(UserWarning):
    """An instruction longer than config.instruction_tokens lost its tail."""


def encode_prompt(tok: PlanTokenizer, instruction: str, scene: str, config: PlannerConfig,
                  *, byte_words=None) -> list[int]:
    """[<bos>, instruction.., <scene>, scene.., <sep>]. Raises ValueError on an empty
    instruction or a scene too long for the prompt; truncates an instruction longer than
    config.instruction_tokens (keeping its start) and warns."""
    if not isinstance(instruction, str):
        raise TypeError(f"instruction must be a str, got {type(instruction).__name__}")
    ids = tok.encode(instruction, byte_words=byte_words)
    if not ids:
        raise ValueError(f"empty instruction {instruction!r}: give the planner a request such as "
                         f"'put the red can on the table'")
    if len(ids) > config.instruction_tokens:
        warnings.warn(f"instruction of {len(ids)} tokens truncated to the planner's "
                      f"{config.instruction_tokens}: {tok.decode(ids[:config.instruction_tokens])!r}",
                      InstructionTruncatedWarning, stacklevel=2)
        ids = ids[:config.instruction_tokens]
    scene_ids = tok.encode(scene)
    prompt = [BOS_ID] + ids + [SCENE_ID] + scene_ids + [SEP_ID]
    if len(prompt) > config.prompt_len:
        raise ValueError(f"scene description of {len(scene_ids)} tokens does not fit the prompt "
                         f"({config.prompt_len} tokens with a {len(ids)}-token instruction); "
                         f"raise model.prompt_len")
    return prompt


def encode_plan(tok: PlanTokenizer, plan: str, config: PlannerConfig) -> list[int]:
    ids = tok.encode(plan, allow_special=True) + [EOS_ID]
    if len(ids) > config.plan_len:
        raise ValueError(f"plan of {len(ids)} tokens (with <eos>) exceeds model.plan_len="
                         f"{config.plan_len}: {plan[:80]!r}...")
    return ids


def layout(prompts: list[list[int]], plans: list[list[int]] | None, config: PlannerConfig
           ) -> dict[str, np.ndarray]:
    """Batch arrays: tokens (B, L) int32, valid (B, L) bool, and with plans, targets (B, L)
    int32 (token j+1 at j) and loss_mask (B, L) bool (targets that are plan tokens)."""
    P, L = config.prompt_len, config.max_len
    B = len(prompts)
    tokens = np.full((B, L), PAD_ID, np.int32)
    valid = np.zeros((B, L), bool)
    for b, p in enumerate(prompts):
        tokens[b, P - len(p):P] = p
        valid[b, P - len(p):P] = True
    out = {"tokens": tokens, "valid": valid}
    if plans is not None:
        loss_mask = np.zeros((B, L), bool)
        for b, q in enumerate(plans):
            tokens[b, P:P + len(q)] = q
            valid[b, P:P + len(q)] = True
            loss_mask[b, P - 1:P - 1 + len(q)] = True
        out["targets"] = np.concatenate([tokens[:, 1:], np.full((B, 1), PAD_ID, np.int32)], 1)
        out["loss_mask"] = loss_mask
    return out


def plan_ids(tokens_after_prompt) -> list[int]:
    """The generated plan ids up to (excluding) <eos>."""
    out = []
    for t in tokens_after_prompt:
        if int(t) in (EOS_ID, PAD_ID):
            break
        out.append(int(t))
    return out
