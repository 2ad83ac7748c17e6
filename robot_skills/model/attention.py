"""THE attention structure of the SkillTransformer, declared once (Octo style): which token
group may attend to which, as a function of the two tokens' time steps.

Token sequence: P prefix tokens (task embedding, planner latents), then per time step t the
tokens of STEP_GROUPS in order: state_t, skill_t, action_t.

  query \\ key   prefix   state_s     skill_s     action_s
  prefix        ALL      -           -           -
  state_t       ALL      s <= t      -           -
  skill_t       ALL      s <= t      s <= t      s < t
  action_t      ALL      s <= t      s <= t      s <= t

So every token sees the prefix, nothing sees the future, and within a step the information
flows state -> skill -> action: the action (read at action_t) sees the skill token of its own
step. The skill logits (read at state_t) see the observation history only: no skill token and
no action token (which has read skill tokens) of any step. Skill tokens are the expert's labels
while training, so a state token that could read skill_{t-1} learns "keep the last skill"
(right at ~99% of steps) and, in closed loop, copies its own past choices and never switches
(measured: a policy that stood at the pick pose kept predicting navigate for 100+ steps). Step-to-step rules also
require t - s < span (the context): a sliding window, which is what a KV cache of `span` steps
computes exactly.

Both the full-window forward pass and KV-cached stepping build their masks with
`attention_mask`, so the structure lives here and nowhere else.
"""

from __future__ import annotations

import enum

import jax.numpy as jnp
import numpy as np


class Group(enum.IntEnum):
    """Token groups. PREFIX tokens precede the steps; the others repeat every time step."""

    PREFIX = 0
    STATE = 1
    SKILL = 2
    ACTION = 3


STEP_GROUPS: tuple[Group, ...] = (Group.STATE, Group.SKILL, Group.ACTION)  # order within a step
TOKENS_PER_STEP = len(STEP_GROUPS)


class Rule(enum.IntEnum):
    NEVER = 0
    ALL = 1  # regardless of time steps
    CAUSAL = 2  # key step <= query step (and within the span)
    PAST = 3  # key step < query step (and within the span)


# query group -> {key group: rule}; a pair not listed is NEVER.
RULES: dict[Group, dict[Group, Rule]] = {
    Group.PREFIX: {Group.PREFIX: Rule.ALL},
    Group.STATE: {Group.PREFIX: Rule.ALL, Group.STATE: Rule.CAUSAL},
    Group.SKILL: {Group.PREFIX: Rule.ALL, Group.STATE: Rule.CAUSAL, Group.SKILL: Rule.CAUSAL,
                  Group.ACTION: Rule.PAST},
    Group.ACTION: {Group.PREFIX: Rule.ALL, Group.STATE: Rule.CAUSAL, Group.SKILL: Rule.CAUSAL,
                   Group.ACTION: Rule.CAUSAL},
}


def rule_table() -> np.ndarray:
    """RULES as an int array (G_query, G_key)."""
    n = len(Group)
    table = np.full((n, n), int(Rule.NEVER), np.int32)
    for q, row in RULES.items():
        for k, rule in row.items():
            table[q, k] = int(rule)
    return table


def sequence_layout(num_prefix: int, num_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Group and time step of every token of a full sequence: (L,) each, L = P + 3 T.
    Prefix tokens carry step 0 (their rule ignores steps)."""
    groups = np.concatenate([np.full(num_prefix, int(Group.PREFIX), np.int32),
                             np.tile(np.asarray(STEP_GROUPS, np.int32), num_steps)])
    steps = np.concatenate([np.zeros(num_prefix, np.int32),
                            np.repeat(np.arange(num_steps, dtype=np.int32), TOKENS_PER_STEP)])
    return groups, steps


def attention_mask(q_groups, q_steps, k_groups, k_steps, k_valid, span: int):
    """Which query may attend to which key: bool (B, Lq, Lk).

    q_groups (Lq,), k_groups (Lk,) int; q_steps (B, Lq) or (Lq,); k_steps (B, Lk) or (Lk,);
    k_valid (B, Lk) bool (False: padding or an empty cache slot).
    """
    table = jnp.asarray(rule_table())
    rule = table[jnp.asarray(q_groups)[:, None], jnp.asarray(k_groups)[None, :]]  # (Lq, Lk)
    dt = jnp.asarray(q_steps)[..., :, None] - jnp.asarray(k_steps)[..., None, :]  # (B?, Lq, Lk)
    in_span = dt < span
    allowed = ((rule == Rule.ALL)
               | ((rule == Rule.CAUSAL) & (dt >= 0) & in_span)
               | ((rule == Rule.PAST) & (dt > 0) & in_span))
    return allowed & jnp.asarray(k_valid)[:, None, :]  # (B, Lq, Lk)


def relative_position(q_steps, k_groups, k_steps, span: int):
    """Index into a per-head bias table of size span + 1: the step distance t - s clipped to
    [0, span - 1] for step keys, `span` for prefix keys. int (B?, Lq, Lk)."""
    dt = jnp.asarray(q_steps)[..., :, None] - jnp.asarray(k_steps)[..., None, :]
    is_prefix = jnp.asarray(k_groups) == Group.PREFIX  # (Lk,)
    return jnp.where(is_prefix, span, jnp.clip(dt, 0, span - 1))
