"""Slot pointer: the conditioning prefix (planner latents, plan words) points at receptacles.

The state is one token per step (an MLP over the whole vector), so with the goal's fields hidden
(configs "langgoal") a policy that reads the goal from its prefix must, inside its layers, gate
which receptacle slot's route it follows by what attention brought in from the prefix: a product
of two inputs that a few thousand steps of behaviour cloning did not learn (README, "The goal
named only by the instruction"). The pointer makes the choice explicit, as object-centric
language-conditioned policies attend from language to entities:

  weights = pointer(prefix)           per move m and head h: attention pooling over the prefix
                                      tokens with a learned query, then a distribution over the
                                      receptacle kinds (sim.observation.SLOT_KINDS)  (B, M, H, N)
  token  += read(state, weights)      the slots' fields averaged by the weights of the move under
                                      way (the state's move one-hot; one move without it), an MLP
                                      of the H averages, added to the state token

Everything the pointer knows comes from the prefix: for the LCB bridge the policy loss reaches
the planner through the weights as through the prefix tokens. Trained on the policy loss alone
the pointer stayed uniform (README, "With a slot pointer"); stage 2 adds a goal cross-entropy on
its first head (robot_skills.planner.joint.pointer_loss). The read-out's last layer starts
at zero, so a model with a pointer computes at initialisation what the same model without one
computes (a policy started from a plain run, train.init_from, starts where that run ended).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from robot_skills.model.transformer import NEG_INF, MLP
from sim.observation import MAX_MOVES, SLOT_DIM, SLOT_KINDS, layout_of, state_slices


def slot_span(state_dim: int) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """(start, stop) of the receptacle slots' columns and of the move one-hot's (or None) in
    the state (ints, not slices: module attributes are hashed with the graph definition)."""
    slots, moves = layout_of(state_dim)
    if not slots:
        raise ValueError(f"a slot pointer needs the receptacle slots in the state (state dim "
                         f"{state_dim}); use a 'langgoal' config (env.receptacle_slots)")
    sl = state_slices(slots, moves)
    first, last = sl[f"{SLOT_KINDS[0]}_present"], sl[f"{SLOT_KINDS[-1]}_open_fraction"]
    return (first.start, last.stop), ((sl["move"].start, sl["move"].stop) if moves else None)


def pointer_shape(config) -> tuple[int, int, int]:
    """(M, H, N) of a model's pointer weights per env: moves, heads, receptacle kinds."""
    moves = MAX_MOVES if slot_span(config.state_dim)[1] is not None else 1
    return moves, config.slot_pointer, len(SLOT_KINDS)


class SlotPointer(nnx.Module):
    def __init__(self, config, *, rngs: nnx.Rngs):
        d, dt = config.d_model, config.compute_dtype
        self.slots, self.move = slot_span(config.state_dim)
        self.moves, self.heads, _ = pointer_shape(config)
        self.dtype = dt
        init = nnx.initializers.normal(1.0)  # logits O(1): a uniform pool learns slowest
        self.query = nnx.Param(init(rngs.params(), (self.moves * self.heads, d)))  # (M*H, d)
        self.key = nnx.Linear(d, d, dtype=dt, rngs=rngs)
        self.kind = nnx.Linear(d, len(SLOT_KINDS), dtype=dt, rngs=rngs)
        self.read_mlp = MLP(self.heads * SLOT_DIM, config.state_hidden, d, dtype=dt, rngs=rngs)
        fc2 = self.read_mlp.fc2
        fc2.kernel[...] = jnp.zeros_like(fc2.kernel[...])  # starts as "no pointer"

    def __call__(self, prefix, prefix_mask=None):
        """prefix (B, K, d), prefix_mask (B, K) bool -> weights (B, M, H, N) float32, each row
        a distribution over the receptacle kinds."""
        p = jnp.asarray(prefix).astype(self.dtype)
        B, K, d = p.shape
        mask = jnp.ones((B, K), bool) if prefix_mask is None else jnp.asarray(prefix_mask, bool)
        logits = jnp.einsum("qd,bkd->bqk", self.query[...].astype(self.dtype), self.key(p))
        logits = jnp.where(mask[:, None], logits.astype(jnp.float32) / jnp.sqrt(d), NEG_INF)
        pooled = jnp.einsum("bqk,bkd->bqd", jax.nn.softmax(logits, -1).astype(self.dtype), p)
        kinds = jax.nn.softmax(self.kind(pooled).astype(jnp.float32), -1)  # (B, M*H, N)
        return kinds.reshape(B, self.moves, self.heads, len(SLOT_KINDS))

    def read(self, state, weights):
        """state (B, T, D) or (B, D) (normalised, as the tokenizer reads it), weights
        (B, M, H, N) -> (B, T, d) or (B, d): the read-out added to the state token."""
        state = jnp.asarray(state)
        lead = state.shape[:-1]
        slots = state[..., slice(*self.slots)].reshape(lead + (len(SLOT_KINDS), SLOT_DIM))
        if self.move is None:  # one move
            now = jnp.ones(lead + (1,), weights.dtype)
        else:  # the move under way: the largest entry of the (normalised) one-hot
            now = jax.nn.one_hot(jnp.argmax(state[..., slice(*self.move)], -1), self.moves)
        per_step = weights if state.ndim == 2 else weights[:, None]  # (B, [1,] M, H, N)
        w = jnp.einsum("...m,...mhn->...hn", now, per_step)  # (B, [T,] H, N)
        picked = jnp.einsum("...hn,...nf->...hf", w.astype(self.dtype), slots.astype(self.dtype))
        return self.read_mlp(picked.reshape(lead + (self.heads * SLOT_DIM,)))
