"""Greedy decoding: a fixed-length `lax.scan` of argmax steps (deterministic: no sampling, no
data-dependent shapes), jit-compiled once per (batch size, config).

Two paths compute the same tokens: `greedy_cached` (prefill the prompt into a KV cache, then
one token per step; needs `lm.init_cache` / `lm.extend`, which DecoderLM has) and
`greedy_full` (recomputes the whole sequence every step; any PlannerLM). Rows that produced
<eos> emit <pad> from then on.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from robot_skills.planner.tokenizer import EOS_ID, PAD_ID


def _argmax(logits):
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)


def greedy_cached(lm, prompt, prompt_valid, plan_len: int):
    """prompt (B, P) int32 left-padded (P <= config.prompt_len: leading all-padding columns
    may be dropped), prompt_valid (B, P) -> plan tokens (B, plan_len)."""
    B, P = prompt.shape
    cache = lm.init_cache(B)
    C = cache[0][0].shape[1]  # slots (config.max_len >= P + plan_len)
    key_valid = jnp.concatenate([prompt_valid, jnp.ones((B, C - P), bool)], axis=1)  # (B, C)
    h, cache = lm.extend(prompt, key_valid, cache, 0)
    first = _argmax(lm.head(h[:, -1]))  # (B,)

    def step(carry, i):
        tok, done, cache = carry
        out = jnp.where(done, PAD_ID, tok)
        h, cache = lm.extend(tok[:, None], key_valid, cache, P + i)
        return (_argmax(lm.head(h[:, 0])), done | (tok == EOS_ID), cache), out

    init = (first, jnp.zeros((B,), bool), cache)
    _, out = jax.lax.scan(step, init, jnp.arange(plan_len))
    return out.T  # (B, plan_len)


def greedy_full(lm, prompt, prompt_valid, plan_len: int):
    """Same contract as greedy_cached, by full recomputation (the reference; any PlannerLM)."""
    B, P = prompt.shape
    tokens = jnp.concatenate([prompt, jnp.full((B, plan_len), PAD_ID, jnp.int32)], axis=1)
    valid = jnp.concatenate([prompt_valid, jnp.zeros((B, plan_len), bool)], axis=1)

    def step(carry, i):
        tokens, valid, done = carry
        logits = lm.logits(tokens, valid)  # (B, L, V)
        tok = _argmax(jax.lax.dynamic_index_in_dim(logits, P - 1 + i, axis=1, keepdims=False))
        out = jnp.where(done, PAD_ID, tok)
        tokens = jax.lax.dynamic_update_index_in_dim(tokens, out, P + i, axis=1)
        valid = jax.lax.dynamic_update_index_in_dim(valid, ~done, P + i, axis=1)
        return (tokens, valid, done | (tok == EOS_ID)), out

    _, out = jax.lax.scan(step, (tokens, valid, jnp.zeros((B,), bool)), jnp.arange(plan_len))
    return out.T


def greedy(lm, prompt, prompt_valid, plan_len: int):
    """The cached path when the LM has one, else full recomputation."""
    if hasattr(lm, "extend") and hasattr(lm, "init_cache"):
        return greedy_cached(lm, prompt, prompt_valid, plan_len)
    return greedy_full(lm, prompt, prompt_valid, plan_len)


def plan_and_latents(planner, prompt, prompt_valid):
    """LatentPlanner + prompt -> (plan tokens (B, N), latents (B, A, latent), latent mask): the
    latents are recomputed over the finished sequence, exactly as training computes them."""
    c = planner.config
    plan = greedy(planner.lm, prompt, prompt_valid, c.plan_len)  # (B, N)
    tokens = jnp.concatenate([prompt, plan], axis=1)  # (B, L)
    valid = jnp.concatenate([prompt_valid, plan != PAD_ID], axis=1)
    z, mask = planner.latents(tokens, valid)
    return plan, z, mask


def jit_plan_fn(planner):
    """A jitted (prompt, prompt_valid) -> (plan, latents, mask) over the planner's current
    parameters (nnx.split / merge around jax.jit: no per-call graph traversal)."""
    graphdef, state = nnx.split(planner)

    @jax.jit
    def run(state, prompt, prompt_valid):
        return plan_and_latents(nnx.merge(graphdef, state), prompt, prompt_valid)

    return lambda prompt, prompt_valid: run(state, jnp.asarray(prompt, jnp.int32),
                                            jnp.asarray(prompt_valid, bool))
