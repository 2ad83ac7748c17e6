"""KV-cached closed-loop stepping of a SkillTransformer: one time step per call, for a batch of
environments that reset independently.

The cache holds, per layer, the keys/values of C = P + 3 * context slots: P prefix slots (written
at reset) and a ring buffer of `context` steps x 3 tokens. One call writes step t of every env
into ring slot (pos mod context), where pos is a write pointer shared by the batch (every env
steps on every call). When the ring is full the oldest step is overwritten: the model then
attends to the last `context` steps -- exactly what the full-window forward pass computes for
a sequence of any length, whose attention span is `context` steps (attention.py). For the
first `context` steps of an episode this equals recomputing the whole episode; later it is a
sliding window (Mistral style), not a recompute of the last `context` steps from scratch
(which would discard what the cached keys saw before the window).

Per step two passes go through the layers: the state token (-> skill logits), then the skill
token of the chosen skill and the action read-out token (-> action). Each env carries its own
step counter (relative positions and the span rule use it); a reset clears its slots.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from robot_skills.model import attention as A
from robot_skills.model.pointer import pointer_shape


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class KVCache:
    keys: tuple  # per layer (B, C, H, Dh)
    values: tuple  # per layer (B, C, H, Dh)
    slot_step: jax.Array  # (B, C) int32: time step of the token in each slot
    slot_valid: jax.Array  # (B, C) bool: slot holds a token the env may attend to
    step: jax.Array  # (B,) int32: steps taken since each env's reset
    pos: jax.Array  # () int32: ring write pointer (shared by the batch)
    # (B, M, H, N) slot-pointer weights of each env's prefix (written at reset); None without
    # a slot pointer (robot_skills.model.pointer).
    pointer: jax.Array | None = None

    @property
    def batch_size(self) -> int:
        return self.step.shape[0]


def slot_groups(config) -> np.ndarray:
    """Token group of every cache slot: (C,) = P prefix slots, then STEP_GROUPS x context."""
    return A.sequence_layout(config.num_prefix, config.context)[0]


def init_cache(config, batch_size: int) -> KVCache:
    """An empty cache (every slot invalid); call reset_cache before the first step."""
    C = config.num_prefix + A.TOKENS_PER_STEP * config.context
    H = config.num_heads
    shape = (batch_size, C, H, config.d_model // H)
    def zeros():  # distinct buffers per layer and for keys/values (the policy donates them)
        return tuple(jnp.zeros(shape, config.compute_dtype) for _ in range(config.num_layers))

    pointer = (jnp.zeros((batch_size,) + pointer_shape(config)) if config.slot_pointer
               else None)
    return KVCache(keys=zeros(), values=zeros(), slot_step=jnp.zeros((batch_size, C), jnp.int32),
                   slot_valid=jnp.zeros((batch_size, C), bool),
                   step=jnp.zeros(batch_size, jnp.int32), pos=jnp.zeros((), jnp.int32),
                   pointer=pointer)


def _layers(model, cache: KVCache, x, q_groups, q_steps, slot_step, slot_valid, write_at):
    """Runs tokens x (B, L, d) through every layer against the cache; returns (final-norm
    features (B, L, d), new keys, new values)."""
    c = model.config
    groups = slot_groups(c)
    att = A.attention_mask(q_groups, q_steps, groups, slot_step, slot_valid, c.context)
    rel = A.relative_position(q_steps, groups, slot_step, c.context)  # (B, L, C)
    keys, values = [], []
    for block, k, v in zip(model.blocks, cache.keys, cache.values):
        x, (k, v) = block(x, att, rel, cache=(k, v), write_at=write_at)
        keys.append(k)
        values.append(v)
    return model.final_norm(x), tuple(keys), tuple(values)


def reset_cache(model, cache: KVCache, reset, task_id=None, prefix=None, prefix_mask=None
                ) -> KVCache:
    """Starts a new episode for the envs where reset (B,) is True: their slots are cleared,
    their step counters set to 0 and their prefix tokens (task_id (B,), prefix (B, K, d))
    written into the prefix slots. Other envs are untouched."""
    c = model.config
    B = cache.batch_size
    reset = jnp.asarray(reset, bool)
    P = c.num_prefix
    slot_valid = jnp.where(reset[:, None], False, cache.slot_valid)
    slot_step = jnp.where(reset[:, None], 0, cache.slot_step)
    keys, values = cache.keys, cache.values
    pointer = cache.pointer
    if pointer is not None:
        pw = model.pointer_weights(prefix, prefix_mask)
        pointer = jnp.where(reset[:, None, None, None], pw, pointer)
    if P > 0:
        pv = model.prefix_valid(B, prefix_mask)
        fresh_valid = jnp.zeros_like(slot_valid).at[:, :P].set(pv)
        x = model.prefix_tokens(B, task_id, prefix)  # (B, P, d)
        groups = np.full(P, int(A.Group.PREFIX), np.int32)
        _, new_k, new_v = _layers(model, cache, x, groups, jnp.zeros((B, P), jnp.int32),
                                  jnp.zeros_like(slot_step), fresh_valid, 0)
        pick = reset[:, None, None, None]
        keys = tuple(jnp.where(pick, n, o) for n, o in zip(new_k, keys))
        values = tuple(jnp.where(pick, n, o) for n, o in zip(new_v, values))
        slot_valid = jnp.where(reset[:, None], fresh_valid, slot_valid)
    return KVCache(keys=keys, values=values, slot_step=slot_step, slot_valid=slot_valid,
                   step=jnp.where(reset, 0, cache.step), pos=cache.pos, pointer=pointer)


def cached_step(model, cache: KVCache, observation: dict, skill=None, role=None
                ) -> tuple[dict, KVCache]:
    """Advances every env by one time step.

    observation {"state": (B, D), [images (B, H, W, C)]}; skill (B,) int to force the skill
    condition (teacher forcing, tests), else model.choose_skill (argmax of the skill logits;
    NO_SKILL without a skill head); role (B,) likewise for a model with skill roles (else the
    argmax of its role logits).
    Returns ({"skill_logits": (B, S), "skill": (B,), "action": (B, 7) normalised,
    "gripper_logits": (B, 2)} (+ "role_logits" (B, R), "role" (B,) with roles), new cache).
    """
    c = model.config
    B = cache.batch_size
    base = c.num_prefix + A.TOKENS_PER_STEP * (cache.pos % c.context)  # first slot of this step
    n = A.TOKENS_PER_STEP
    steps = jnp.broadcast_to(cache.step[:, None], (B, n))  # (B, 3)
    slot_step = jax.lax.dynamic_update_slice(cache.slot_step, steps, (0, base))
    # Pass 1: the state token only (the skill/action slots of this step stay invalid).
    first_only = jnp.broadcast_to(jnp.arange(n) == 0, (B, n))
    slot_valid = jax.lax.dynamic_update_slice(cache.slot_valid, first_only, (0, base))
    x = model.state_tokens(observation, cache.pointer)[:, None]  # (B, 1, d)
    h, keys, values = _layers(model, cache, x, np.array([int(A.Group.STATE)], np.int32),
                              steps[:, :1], slot_step, slot_valid, base)
    logits = model.skill_logits(h[:, 0])  # (B, S)
    chosen = model.choose_skill(logits) if skill is None else jnp.asarray(skill, jnp.int32)
    role_logits = model.role_logits(h[:, 0])  # (B, R) or None
    if role_logits is not None and role is None:
        role = jnp.argmax(role_logits, -1).astype(jnp.int32)
    # Pass 2: skill token of the chosen skill + action read-out token.
    slot_valid = jax.lax.dynamic_update_slice(slot_valid, jnp.ones((B, n), bool), (0, base))
    x = jnp.stack([model.skill_tokens(chosen, role), model.action_tokens((B,))], axis=1)
    mid = dataclasses.replace(cache, keys=keys, values=values)
    q_groups = np.array([int(A.Group.SKILL), int(A.Group.ACTION)], np.int32)
    h, keys, values = _layers(model, mid, x, q_groups, steps[:, 1:], slot_step, slot_valid,
                              base + 1)
    heads = model.action_outputs(h[:, 1], chosen, role)
    out = {"skill_logits": logits, "skill": chosen, "action": heads["action"],
           "gripper_logits": heads["gripper_logits"]}
    if role_logits is not None:
        out |= {"role_logits": role_logits, "role": jnp.asarray(role, jnp.int32)}
    return out, KVCache(keys=keys, values=values, slot_step=slot_step, slot_valid=slot_valid,
                        step=cache.step + 1, pos=cache.pos + 1, pointer=cache.pointer)
