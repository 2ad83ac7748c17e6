"""Stage 2 of LCB: the planner and the policy as one module, trained on one loss.

`LCBModel` has two parameter groups, `planner` (a LatentPlanner, or None for the bridges
without one) and `policy` (the SkillTransformer and, for the word bridges, its WordBridge), so
`freeze.stage2_optimizer(mode, ...)` can train or freeze each (optax.multi_transform over
nnx.state(model, nnx.Param)).

`lcb_loss` = skill_transformer_loss(policy, prefix = the bridge's tokens) + lm_weight * the
planner's LM loss on the plan tokens (+ pointer_weight * the slot pointer's goal cross-entropy
for a policy with a slot pointer: the ground-truth plan's place receptacle, per move). The
planner runs teacher-forced on the ground-truth plan of the window's episode, and the latents
and the LM logits come from that one pass, so with the lcb bridge the policy loss reaches the
planner through the latents; the word bridges read integer word ids and give the planner no
gradient but its LM loss.

Batch fields beyond the loader's (robot_skills.planner.episodes attaches them):
  plan_tokens, plan_valid, plan_targets, plan_loss_mask  (B, W)  planner layout (with a planner),
      or (G, W): one row per run of B/G windows of one episode (data.episodes_per_batch)
  words                                                  (B, K, n) int32 (word bridges)
  goal_kinds                                             (B, MAX_MOVES) int32: each move's goal
      receptacle kind (sim.observation.SLOT_KINDS index, -1 none): the slot pointer's targets
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from robot_skills.model.config import ModelConfig
from robot_skills.model.loss import skill_transformer_loss
from robot_skills.model.skill_transformer import SkillTransformer
from robot_skills.planner.bridge import BridgeConfig, WordBridge
from robot_skills.planner.config import PlannerConfig
from robot_skills.planner.model import LatentPlanner
from robot_skills.planner.train import lm_loss_from_logits

PLAN_KEYS = ("plan_tokens", "plan_valid", "plan_targets", "plan_loss_mask")
WORD_KEYS = ("words",)
GOAL_KEYS = ("goal_kinds",)


def batch_keys(bridge: BridgeConfig) -> tuple[str, ...]:
    """The language fields a batch needs for this bridge (goal_kinds: read by a policy with a
    slot pointer)."""
    keys = PLAN_KEYS if bridge.has_planner else ()
    return keys + (WORD_KEYS if bridge.bridge != "lcb" else ()) + GOAL_KEYS


def pointer_loss(policy: SkillTransformer, prefix, prefix_mask, goal_kinds, window_mask):
    """(loss, metrics): cross-entropy of the slot pointer's first head, per move, against the
    move's goal kind (moves with goal -1 and episodes with no valid step left out)."""
    weights = policy.pointer_weights(prefix, prefix_mask)[:, :, 0]  # (B, M, N)
    goal = jnp.asarray(goal_kinds)[:, :weights.shape[1]]  # (B, M)
    valid = (goal >= 0) & jnp.any(window_mask, axis=1)[:, None]
    logp = jnp.log(jnp.clip(weights, 1e-9, 1.0))
    nll = -jnp.take_along_axis(logp, jnp.maximum(goal, 0)[..., None], -1)[..., 0]
    n = jnp.maximum(valid.sum(), 1)
    hit = jnp.argmax(weights, -1) == goal
    return jnp.sum(nll * valid) / n, {"pointer_loss": jnp.sum(nll * valid) / n,
                                      "pointer_accuracy": jnp.sum(hit * valid) / n}


def check_shapes(policy: ModelConfig, planner: PlannerConfig, bridge: BridgeConfig) -> None:
    """The policy's prefix must be exactly what the bridge produces."""
    k = bridge.slots(planner)
    if policy.prefix_tokens != k:
        raise ValueError(f"bridge {bridge.bridge!r} gives {k} prefix tokens but the policy "
                         f"takes model.prefix_tokens={policy.prefix_tokens}; set them equal")
    if bridge.bridge == "lcb" and planner.latent_dim != policy.d_model:
        raise ValueError(f"planner latent_dim={planner.latent_dim} must equal the policy's "
                         f"d_model={policy.d_model} (a latent code is a prefix token)")


class ConditionedPolicy(nnx.Module):
    """The `policy` group: the SkillTransformer and (word bridges) its own word embedding."""

    def __init__(self, config: ModelConfig, bridge: BridgeConfig, planner: PlannerConfig,
                 vocab_size: int, *, rngs: nnx.Rngs):
        self.transformer = SkillTransformer(config, rngs=rngs)
        self.words = (WordBridge(vocab_size, bridge.slots(planner), config.d_model, rngs=rngs)
                      if bridge.bridge != "lcb" else None)


class LCBModel(nnx.Module):
    """Planner (lcb, text bridges) + conditioned policy. `planner_config` fixes the language
    layout (prompt / plan lengths, max_act) even for the bridges without a planner."""

    def __init__(self, policy_config: ModelConfig, planner_config: PlannerConfig,
                 bridge: BridgeConfig, *, rngs: nnx.Rngs):
        check_shapes(policy_config, planner_config, bridge)
        self.bridge_config = bridge
        self.planner_config = planner_config  # the language layout, with or without a planner
        self.planner = LatentPlanner(planner_config, rngs=rngs) if bridge.has_planner else None
        self.policy = ConditionedPolicy(policy_config, bridge, planner_config,
                                        planner_config.vocab_size, rngs=rngs)

    @property
    def uses_dropout(self) -> bool:
        p = self.planner.config.dropout if self.planner is not None else 0.0
        return p > 0 or self.policy.transformer.config.dropout > 0

    def prefix(self, batch: dict, rng=None):
        """(prefix (B, K, d), prefix_mask (B, K), planner outputs or None). The planner fields
        may hold one row per episode run (G rows for B = G * r windows, group-major: the
        loader's episodes_per_batch); the latents are then repeated r times."""
        out = None
        if self.planner is not None:
            out = self.planner(batch["plan_tokens"], batch["plan_valid"], rng=rng)
        if self.bridge_config.bridge == "lcb":
            z, mask = out["latents"], out["latent_mask"]
            B, G = batch["mask"].shape[0], z.shape[0]
            if B != G:
                if B % G:
                    raise ValueError(f"{G} planner rows do not divide the batch of {B} windows")
                z, mask = jnp.repeat(z, B // G, axis=0), jnp.repeat(mask, B // G, axis=0)
            return z, mask, out
        z, mask = self.policy.words(batch["words"])
        return z, mask, out


def lcb_loss(model: LCBModel, batch: dict, rng=None) -> tuple[jax.Array, dict]:
    """Policy loss on the bridged prefix + lm_weight * planner LM loss -> (loss, metrics):
    the policy's metrics, policy_loss, and with a planner lm_loss and plan_token_accuracy."""
    k_plan = k_policy = None
    if rng is not None:
        k_plan, k_policy = jax.random.split(rng)
    prefix, prefix_mask, out = model.prefix(batch, k_plan)
    loss, metrics = skill_transformer_loss(model.policy.transformer,
                                           dict(batch, prefix=prefix, prefix_mask=prefix_mask),
                                           k_policy)
    metrics = dict(metrics, policy_loss=loss)
    policy = model.policy.transformer
    if policy.pointer is not None and policy.config.loss.pointer_weight > 0:
        p_loss, p_metrics = pointer_loss(policy, prefix, prefix_mask, batch["goal_kinds"],
                                         batch["mask"])
        loss = loss + policy.config.loss.pointer_weight * p_loss
        metrics.update(p_metrics)
    if out is not None:
        lm, lm_metrics = lm_loss_from_logits(out["logits"], batch["plan_targets"],
                                             batch["plan_loss_mask"])
        loss = loss + model.bridge_config.lm_weight * lm
        metrics.update(lm_loss=lm, plan_token_accuracy=lm_metrics["token_accuracy"])
    metrics["loss"] = loss
    return loss, metrics
