"""Pre-LayerNorm transformer block with a learned relative-position bias, written so that the
same block runs a full window (keys = the window's tokens) or one KV-cached step (the new
tokens' keys/values are written into a cache layer first, then the queries attend to the whole
cache). Masks come from robot_skills.model.attention; this file only does the arithmetic.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

NEG_INF = -1e30  # masked logits (finite: a fully masked row is uniform, never NaN)


def dropout(x, rate: float, rng):
    """Inverted dropout with an explicit key (rng None or rate 0: identity). Keys are passed in,
    not stored in the model, so a train step is a pure function of (params, batch, key)."""
    if rng is None or rate <= 0.0:
        return x
    keep = jax.random.bernoulli(rng, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0).astype(x.dtype)


class Attention(nnx.Module):
    """Multi-head attention with a learned bias[h, r] per relative position r
    (attention.relative_position)."""

    def __init__(self, d_model: int, num_heads: int, span: int, *, dtype, rngs: nnx.Rngs):
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.qkv = nnx.Linear(d_model, 3 * d_model, dtype=dtype, rngs=rngs)
        self.out = nnx.Linear(d_model, d_model, dtype=dtype, rngs=rngs)
        self.rel_bias = nnx.Param(jnp.zeros((num_heads, span + 1), jnp.float32))  # (H, span+1)

    def project(self, x):
        """x (B, L, d) -> q, k, v each (B, L, H, Dh)."""
        B, L, _ = x.shape
        qkv = self.qkv(x).reshape(B, L, 3, self.num_heads, self.head_dim)
        return qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]

    def attend(self, q, k, v, mask, rel_idx):
        """q (B, Lq, H, Dh), k/v (B, Lk, H, Dh), mask (B, Lq, Lk) bool, rel_idx (B?, Lq, Lk)
        -> (B, Lq, d)."""
        B, Lq = q.shape[:2]
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k, preferred_element_type=jnp.float32)
        logits = logits / jnp.sqrt(jnp.float32(self.head_dim))
        bias = jnp.moveaxis(self.rel_bias[...][:, rel_idx], 0, -3)  # (B?, H, Lq, Lk)
        logits = jnp.where(mask[:, None], logits + bias, NEG_INF)  # (B, H, Lq, Lk)
        probs = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
        out = jnp.einsum("bhqk,bkhd->bqhd", probs, v)  # (B, Lq, H, Dh)
        return self.out(out.reshape(B, Lq, self.num_heads * self.head_dim))


class MLP(nnx.Module):
    def __init__(self, d_in: int, hidden: int, d_out: int, *, dtype, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(d_in, hidden, dtype=dtype, rngs=rngs)
        self.fc2 = nnx.Linear(hidden, d_out, dtype=dtype, rngs=rngs)

    def __call__(self, x):
        return self.fc2(jax.nn.gelu(self.fc1(x)))


class Block(nnx.Module):
    def __init__(self, d_model: int, num_heads: int, mlp_dim: int, span: int, dropout: float,
                 *, dtype, rngs: nnx.Rngs):
        self.norm1 = nnx.LayerNorm(d_model, dtype=dtype, rngs=rngs)
        self.attn = Attention(d_model, num_heads, span, dtype=dtype, rngs=rngs)
        self.norm2 = nnx.LayerNorm(d_model, dtype=dtype, rngs=rngs)
        self.mlp = MLP(d_model, mlp_dim, d_model, dtype=dtype, rngs=rngs)
        self.dropout = dropout

    def __call__(self, x, mask, rel_idx, *, cache=None, write_at=None, rng=None):
        """x (B, L, d). Full window: keys are x's own tokens (mask (B, L, L)).
        Cached: cache = (k, v) each (B, C, H, Dh); x's keys/values are written at slots
        [write_at, write_at + L) and x attends to all C slots (mask (B, L, C)).
        Returns (x, (k, v)): the keys/values attended to (the updated cache layer)."""
        q, k, v = self.attn.project(self.norm1(x))
        if cache is not None:
            ck, cv = cache
            k = jax.lax.dynamic_update_slice_in_dim(ck, k.astype(ck.dtype), write_at, axis=1)
            v = jax.lax.dynamic_update_slice_in_dim(cv, v.astype(cv.dtype), write_at, axis=1)
        r1, r2 = (None, None) if rng is None else tuple(jax.random.split(rng))
        x = x + dropout(self.attn.attend(q, k, v, mask, rel_idx), self.dropout, r1)
        x = x + dropout(self.mlp(self.norm2(x)), self.dropout, r2)
        return x, (k, v)
