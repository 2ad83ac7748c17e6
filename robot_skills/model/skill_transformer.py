"""SkillTransformer (Skill Transformer, ICCV 2023, in flax.nnx): a causal transformer over the
observation history that predicts a skill at every step and an action conditioned on a skill.

Per time step three tokens (attention.STEP_GROUPS): the state token (observation tokenizer),
the skill token (learned embedding of the step's skill: ground truth while training, the
model's own argmax at inference) and an action read-out token. Optional prefix tokens (a learned
task embedding, external planner latents) come first; with a slot pointer
(robot_skills.model.pointer) the planner latents also, or only (prefix_attention=False), pick
the receptacle slots whose fields join the state token. The skill head reads the state token; the
action head reads the action token together with the skill embedding. Positions are relative
(a learned bias per head and step distance), which makes KV-cached stepping exact.

Baselines keep the token layout and the attention rules (so the same compute per step):
`skill_conditioning=False` has no skill embedding at all: the skill token is a constant learned
token (its group embedding) and the action head reads the action token alone (input d, not 2d),
so the action never sees a skill; `skill_head=False` (flat behaviour cloning, which also needs
no conditioning) has no skill classifier: its skill logits are zeros and its chosen skill is
NO_SKILL (-1).

Skill roles (`num_roles` > 0, robot_skills.data.roles): a role head reads the state token next
to the skill head, and the role's embedding is added to the skill's wherever the skill
conditions (the skill token, the action head), so the condition says which receptacle the
skill serves (navigate to the source vs to the goal). `role` is then required wherever `skill`
is passed; outputs gain "role_logits".
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from robot_skills.model import attention as A
from robot_skills.model.actions import NUM_CONTINUOUS, decode_bins, num_binned
from robot_skills.model.config import ModelConfig
from robot_skills.model.pointer import SlotPointer
from robot_skills.model.tokenizers import StateTokenizer
from robot_skills.model.transformer import MLP, Block, dropout

NO_SKILL = -1  # the skill a model without a skill head "chooses" (never embedded)


def count_parameters(config: ModelConfig) -> int:
    """Number of parameters of the model `config` builds (shapes only, nothing allocated)."""
    model = nnx.eval_shape(lambda: SkillTransformer(config, rngs=nnx.Rngs(0)))
    return sum(int(x.size) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


class SkillTransformer(nnx.Module):
    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        c = self.config = config
        dt = c.compute_dtype
        d = c.d_model
        self.tokenizer = StateTokenizer(c, rngs=rngs)
        self.pointer = SlotPointer(c, rngs=rngs) if c.slot_pointer else None
        self.skill_embed = (nnx.Embed(c.num_skills, d, dtype=dt, rngs=rngs)
                            if c.skill_conditioning else None)
        init = nnx.initializers.normal(0.02)
        self.group_embed = nnx.Param(init(rngs.params(), (len(A.Group), d)))  # (G, d)
        self.role_embed = (nnx.Embed(c.num_roles, d, dtype=dt, rngs=rngs)
                           if c.num_roles else None)
        self.role_head = nnx.Linear(d, c.num_roles, dtype=dt, rngs=rngs) if c.num_roles else None
        self.task_embed = (nnx.Embed(c.num_tasks, c.task_tokens * d, dtype=dt, rngs=rngs)
                           if c.num_tasks > 0 else None)
        self.blocks = nnx.List([Block(d, c.num_heads, c.mlp_dim, c.context, c.dropout,
                                      dtype=dt, rngs=rngs) for _ in range(c.num_layers)])
        self.final_norm = nnx.LayerNorm(d, dtype=dt, rngs=rngs)
        self.skill_head = (nnx.Linear(d, c.num_skills, dtype=dt, rngs=rngs)
                           if c.skill_head else None)
        action_in = 2 * d if c.skill_conditioning else d  # action token (+ skill embedding)
        self.num_binned = num_binned(c.action_bins, c.bin_dims)  # dims read as categories
        width = self.num_binned * c.action_bins + (NUM_CONTINUOUS - self.num_binned) + 2
        self.action_head = MLP(action_in, c.mlp_dim, width, dtype=dt, rngs=rngs)

    # ------------------------------------------------------------------ tokens
    def _group(self, g: A.Group):
        return self.group_embed[...][int(g)].astype(self.config.compute_dtype)  # (d,)

    def state_tokens(self, observation: dict, pointer=None):
        """(B, T, d) (or (B, d) for one step); pointer: the slot pointer's weights
        (pointer_weights), required by a model with a slot pointer."""
        tok = self.tokenizer(observation)
        if self.pointer is not None:
            if pointer is None:
                raise ValueError("this model has a slot pointer (slot_pointer="
                                 f"{self.config.slot_pointer}): pass its prefix")
            tok = tok + self.pointer.read(observation["state"], pointer).astype(tok.dtype)
        return tok + self._group(A.Group.STATE)

    def pointer_weights(self, prefix, prefix_mask=None):
        """(B, M, H, N) slot-pointer weights from the prefix (B, K, d), or None without one."""
        if self.pointer is None:
            return None
        if prefix is None:
            raise ValueError("this model has a slot pointer: pass prefix (B, K, d)")
        return self.pointer(prefix, prefix_mask)

    def condition(self, skill, role=None):
        """(...,) int skill (and role, required with num_roles > 0) -> (..., d) embedding."""
        z = self.skill_embed(skill)
        if self.role_embed is not None:
            if role is None:
                raise ValueError(f"this model has skill roles (num_roles="
                                 f"{self.config.num_roles}): pass role with the skill")
            z = z + self.role_embed(jnp.asarray(role, jnp.int32))
        return z

    def skill_tokens(self, skill, role=None):
        """(...,) int -> (..., d); without conditioning the same learned token for any skill."""
        if self.skill_embed is None:
            return jnp.broadcast_to(self._group(A.Group.SKILL),
                                    jnp.shape(skill) + (self.config.d_model,))
        return self.condition(skill, role) + self._group(A.Group.SKILL)

    def action_tokens(self, shape: tuple[int, ...]):
        return jnp.broadcast_to(self._group(A.Group.ACTION), shape + (self.config.d_model,))

    def prefix_tokens(self, batch_size: int, task_id=None, prefix=None):
        """(B, P, d) conditioning tokens, or None when P == 0. task_id (B,) int; prefix
        (B, prefix_tokens, d) float (planner latents)."""
        c = self.config
        parts = []
        if c.num_tasks > 0:
            if task_id is None:
                raise ValueError(f"this model has a task embedding (num_tasks={c.num_tasks}): "
                                 f"pass task_id (B,)")
            t = self.task_embed(jnp.asarray(task_id, jnp.int32))  # (B, task_tokens * d)
            parts.append(t.reshape(batch_size, c.task_tokens, c.d_model))
        if c.prefix_tokens > 0:
            if prefix is None or prefix.shape[1:] != (c.prefix_tokens, c.d_model):
                raise ValueError(f"this model takes prefix tokens (B, {c.prefix_tokens}, "
                                 f"{c.d_model}); got "
                                 f"{None if prefix is None else prefix.shape}")
            if c.prefix_attention:
                parts.append(jnp.asarray(prefix).astype(c.compute_dtype))
        if not parts:
            return None
        return jnp.concatenate(parts, axis=1) + self._group(A.Group.PREFIX)  # (B, P, d)

    def prefix_valid(self, batch_size: int, prefix_mask=None):
        """(B, P) bool: which prefix tokens the layers may attend to (prefix_mask (B, P), or
        all; with prefix_attention=False the prefix is not among them)."""
        P = self.config.num_prefix
        if prefix_mask is None or not self.config.prefix_attention:
            return jnp.ones((batch_size, P), bool)
        return jnp.asarray(prefix_mask, bool)

    # ------------------------------------------------------------------ heads
    def skill_logits(self, h_state):
        """(..., d) final state-token features -> (..., S) float32 (zeros without a head)."""
        if self.skill_head is None:
            return jnp.zeros(h_state.shape[:-1] + (self.config.num_skills,), jnp.float32)
        return self.skill_head(h_state).astype(jnp.float32)

    def choose_skill(self, logits):
        """(..., S) -> (...,) int32: the argmax, or NO_SKILL for a model without a skill head."""
        if self.skill_head is None:
            return jnp.full(logits.shape[:-1], NO_SKILL, jnp.int32)
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)

    def role_logits(self, h_state):
        """(..., d) -> (..., R) float32, or None for a model without roles."""
        return None if self.role_head is None else self.role_head(h_state).astype(jnp.float32)

    def action_outputs(self, h_action, skill, role=None) -> dict:
        """(..., d) action-token features and (...,) skill -> float32 {"action": (..., 7)
        normalised, "gripper_logits": (..., 2)} and, with action_bins = K, "action_logits"
        (..., n, K) for the first n = num_binned dims (7, or 2 with bin_dims="base"; "action"
        holds their read-out). Without conditioning `skill` is not read."""
        c = self.config
        z = h_action
        if self.skill_embed is not None:
            z = jnp.concatenate([h_action, self.condition(skill, role).astype(h_action.dtype)],
                                -1)
        out = self.action_head(z).astype(jnp.float32)
        grip = out[..., -2:]
        n = self.num_binned
        if not n:
            return {"action": out[..., :NUM_CONTINUOUS], "gripper_logits": grip}
        split = n * c.action_bins
        logits = out[..., :split].reshape(out.shape[:-1] + (n, c.action_bins))
        action = jnp.concatenate([decode_bins(logits, c.action_readout), out[..., split:-2]], -1)
        return {"action": action, "gripper_logits": grip, "action_logits": logits}

    # ------------------------------------------------------------------ full window
    def __call__(self, observation: dict, skill, *, mask=None, task_id=None, prefix=None,
                 prefix_mask=None, rng=None, role=None) -> dict:
        """Teacher-forced forward pass over a window.

        observation {"state": (B, T, D), [images (B, T, H, W, C)]}; skill (B, T) int (the skill
        token and the action head's condition at every step); mask (B, T) bool (False: left
        padding); task_id (B,); prefix (B, K, d); prefix_mask (B, P) bool; rng: dropout key.
        Returns float32 {"skill_logits": (B, T, S), "action": (B, T, 7), "gripper_logits":
        (B, T, 2)} (and "action_logits" (B, T, n, K) with action_bins = K; "role_logits"
        (B, T, R) with roles, whose role (B, T) int is then required like skill). T may exceed
        config.context: attention then slides (span = context).
        """
        c = self.config
        skill = jnp.asarray(skill, jnp.int32)
        B, T = skill.shape
        mask = jnp.ones((B, T), bool) if mask is None else jnp.asarray(mask, bool)
        state = self.state_tokens(observation, self.pointer_weights(prefix, prefix_mask))
        tokens = jnp.stack([state, self.skill_tokens(skill, role),
                            self.action_tokens((B, T))], axis=2)  # (B, T, 3, d)
        x = tokens.reshape(B, T * A.TOKENS_PER_STEP, c.d_model)  # (B, 3T, d)
        valid = jnp.repeat(mask, A.TOKENS_PER_STEP, axis=1)  # (B, 3T)
        pre = self.prefix_tokens(B, task_id, prefix)
        P = 0 if pre is None else pre.shape[1]
        if pre is not None:
            x = jnp.concatenate([pre, x], axis=1)  # (B, P + 3T, d)
            valid = jnp.concatenate([self.prefix_valid(B, prefix_mask), valid], axis=1)
        groups, steps = A.sequence_layout(P, T)
        att = A.attention_mask(groups, steps, groups, steps, valid, c.context)  # (B, L, L)
        rel = A.relative_position(steps, groups, steps, c.context)  # (L, L)
        keys = [None] * (len(self.blocks) + 1) if rng is None else \
            list(jax.random.split(rng, len(self.blocks) + 1))
        x = dropout(x, c.dropout, keys[0])
        for block, key in zip(self.blocks, keys[1:]):
            x, _ = block(x, att, rel, rng=key)
        h = self.final_norm(x)[:, P:].reshape(B, T, A.TOKENS_PER_STEP, c.d_model)
        h_state = h[:, :, A.STEP_GROUPS.index(A.Group.STATE)]  # (B, T, d)
        h_action = h[:, :, A.STEP_GROUPS.index(A.Group.ACTION)]
        out = {"skill_logits": self.skill_logits(h_state),
               **self.action_outputs(h_action, skill, role)}
        if self.role_head is not None:
            out["role_logits"] = self.role_logits(h_state)
        return out

    def predict_last(self, observation: dict, past_skill, *, mask=None, task_id=None,
                     prefix=None, past_role=None) -> dict:
        """Closed-loop prediction for the last step of a window by full recomputation (the
        reference the KV cache is benchmarked against): pass 1 reads the skill at step T-1
        (its logits never see skill_{T-1}), pass 2 conditions the action on that argmax.
        past_skill (B, T): skills the policy chose at earlier steps (entry T-1 is ignored);
        past_role (B, T) likewise, for a model with roles.
        Returns {"skill_logits": (B, S), "skill": (B,), "action": (B, 7), "gripper_logits": (B, 2)}
        (and "role_logits" (B, R), "role" (B,) with roles).
        """
        skill = jnp.asarray(past_skill, jnp.int32)
        role = None if past_role is None else jnp.asarray(past_role, jnp.int32)
        first = self(observation, skill, mask=mask, task_id=task_id, prefix=prefix, role=role)
        logits = first["skill_logits"][:, -1]
        chosen = self.choose_skill(logits)
        out = {"skill_logits": logits, "skill": chosen}
        if self.role_head is not None:
            out["role_logits"] = first["role_logits"][:, -1]
            out["role"] = jnp.argmax(out["role_logits"], -1).astype(jnp.int32)
            role = role.at[:, -1].set(out["role"])
        second = self(observation, skill.at[:, -1].set(chosen), mask=mask, task_id=task_id,
                      prefix=prefix, role=role)
        return out | {"action": second["action"][:, -1],
                      "gripper_logits": second["gripper_logits"][:, -1]}
