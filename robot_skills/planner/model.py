"""The planner LM and the latent-code bridge (LCB, "From LLMs to Actions", 2024).

`PlannerLM` is the narrow interface the rest of the code uses (hidden states, logits), so a
pretrained Flax LM can replace `DecoderLM` later; `DecoderLM` is the small causal transformer
built from robot_skills.model.transformer.Block (relative positions, optional KV cache).
`LatentPlanner` = an LM + the bridge: the last-layer hidden state at every <ACT> token,
projected by a Linear to `latent_dim` (the policy's d_model), is a latent code.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import jax
import jax.numpy as jnp
from flax import nnx

from robot_skills.model.transformer import Block, dropout
from robot_skills.planner.config import PlannerConfig
from robot_skills.planner.tokenizer import ACT_ID


@runtime_checkable
class PlannerLM(Protocol):
    """What the planner needs from a language model. tokens (B, L) int, valid (B, L) bool
    (False: padding, never attended to); causal."""

    config: PlannerConfig

    def hidden(self, tokens, valid, *, rng=None) -> jax.Array:
        """(B, L, d_model) last-layer hidden states (after the final norm)."""

    def logits(self, tokens, valid, *, rng=None) -> jax.Array:
        """(B, L, vocab) float32 next-token logits."""

    def head(self, hidden) -> jax.Array:
        """(..., d_model) hidden states -> (..., vocab) float32 logits."""


def causal_mask(q_pos, k_pos, key_valid, span: int):
    """mask (B, Lq, Lk) bool: key at or before the query and valid; rel (Lq, Lk) int: the
    distance q - k clipped to [0, span] (the row of the relative-position bias)."""
    d = q_pos[:, None] - k_pos[None, :]  # (Lq, Lk)
    mask = (d >= 0)[None] & key_valid[:, None, :]
    return mask, jnp.clip(d, 0, span)


class DecoderLM(nnx.Module):
    """Token embedding -> causal Blocks -> final LayerNorm -> LM head (untied)."""

    def __init__(self, config: PlannerConfig, *, rngs: nnx.Rngs):
        if config.vocab_size <= 0:
            raise ValueError("PlannerConfig.vocab_size is unset: build the config with "
                             "vocab_size=tokenizer.vocab_size")
        c = self.config = config
        dt = c.compute_dtype
        self.embed = nnx.Embed(c.vocab_size, c.d_model, dtype=dt, rngs=rngs)
        self.blocks = nnx.List([Block(c.d_model, c.num_heads, c.mlp_dim, c.max_len, c.dropout,
                                      dtype=dt, rngs=rngs) for _ in range(c.num_layers)])
        self.final_norm = nnx.LayerNorm(c.d_model, dtype=dt, rngs=rngs)
        self.lm_head = nnx.Linear(c.d_model, c.vocab_size, dtype=dt, rngs=rngs)

    def head(self, hidden):
        return self.lm_head(hidden).astype(jnp.float32)

    def hidden(self, tokens, valid, *, rng=None):
        c = self.config
        tokens = jnp.asarray(tokens, jnp.int32)
        pos = jnp.arange(tokens.shape[1])
        mask, rel = causal_mask(pos, pos, jnp.asarray(valid, bool), c.max_len)
        keys = [None] * (c.num_layers + 1) if rng is None else \
            list(jax.random.split(rng, c.num_layers + 1))
        x = dropout(self.embed(tokens), c.dropout, keys[0])  # (B, L, d)
        for block, key in zip(self.blocks, keys[1:]):
            x, _ = block(x, mask, rel, rng=key)
        return self.final_norm(x)

    def logits(self, tokens, valid, *, rng=None):
        return self.head(self.hidden(tokens, valid, rng=rng))

    # ------------------------------------------------------------ KV-cached decoding
    def init_cache(self, batch_size: int) -> list[tuple[jax.Array, jax.Array]]:
        """Per layer (k, v), each (B, L, H, Dh), zeros."""
        c = self.config
        shape = (batch_size, c.max_len, c.num_heads, c.d_model // c.num_heads)
        return [(jnp.zeros(shape, c.compute_dtype), jnp.zeros(shape, c.compute_dtype))
                for _ in range(c.num_layers)]

    def extend(self, tokens, key_valid, cache, write_at):
        """Runs tokens (B, n) at positions write_at .. write_at + n - 1 against the cache.
        key_valid (B, L): which cache slots hold real tokens (causality is added here).
        Returns (hidden (B, n, d) after the final norm, updated cache)."""
        c = self.config
        n = tokens.shape[1]
        q_pos = write_at + jnp.arange(n)
        mask, rel = causal_mask(q_pos, jnp.arange(c.max_len), key_valid, c.max_len)
        x = self.embed(jnp.asarray(tokens, jnp.int32))
        new_cache = []
        for block, layer in zip(self.blocks, cache):
            x, kv = block(x, mask, rel, cache=layer, write_at=write_at)
            new_cache.append(kv)
        return self.final_norm(x), new_cache


def act_positions(tokens, max_act: int):
    """Indices of the first `max_act` <ACT> tokens per row, in order: idx (B, A) int32 (0 where
    there are fewer) and mask (B, A) bool."""
    is_act = jnp.asarray(tokens) == ACT_ID  # (B, L)
    order = jnp.argsort(~is_act, axis=1, stable=True)[:, :max_act].astype(jnp.int32)
    mask = jnp.arange(max_act)[None, :] < is_act.sum(axis=1, keepdims=True)
    return jnp.where(mask, order, 0), mask


class LatentPlanner(nnx.Module):
    """An LM (DecoderLM unless `lm` is given) + the latent bridge (Linear d_model -> latent_dim)."""

    def __init__(self, config: PlannerConfig, *, rngs: nnx.Rngs, lm: PlannerLM | None = None):
        self.config = config
        self.lm = DecoderLM(config, rngs=rngs) if lm is None else lm
        self.bridge = nnx.Linear(config.d_model, config.latent_dim, rngs=rngs)

    def logits(self, tokens, valid, *, rng=None):
        return self.lm.logits(tokens, valid, rng=rng)

    def latents_from_hidden(self, hidden, tokens):
        """hidden (B, L, d), tokens (B, L) -> latents (B, max_act, latent_dim) float32
        (zero where masked), mask (B, max_act)."""
        idx, mask = act_positions(tokens, self.config.max_act)
        h = jnp.take_along_axis(hidden, idx[..., None], axis=1)  # (B, A, d)
        z = self.bridge(h.astype(jnp.float32))
        return jnp.where(mask[..., None], z, 0.0), mask

    def latents(self, tokens, valid, *, rng=None):
        """Latent codes of a full sequence (prompt + plan): (B, max_act, latent_dim), mask."""
        return self.latents_from_hidden(self.lm.hidden(tokens, valid, rng=rng), tokens)

    def __call__(self, tokens, valid, *, rng=None):
        """One pass for stage 2: {"logits" (B, L, V), "latents" (B, A, latent), "latent_mask"}."""
        h = self.lm.hidden(tokens, valid, rng=rng)
        z, mask = self.latents_from_hidden(h, tokens)
        return {"logits": self.lm.head(h), "latents": z, "latent_mask": mask}
