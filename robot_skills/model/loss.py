"""The SkillTransformer's training loss: skill cross-entropy (or focal), base and arm MSE (or,
for the dims of a binned action head, cross-entropy on two-hot targets; the MSE of the read-out
is then reported but not trained), gripper 2-way cross-entropy, each a mean over the steps where
batch["mask"] is True. A model without a skill head (flat behaviour cloning) has no skill term
and no skill metrics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from robot_skills.model.actions import (ARM, BASE, CONTINUOUS, NUM_CONTINUOUS, gripper_target,
                                        two_hot)
from robot_skills.model.config import LossConfig


def _masked_mean(x, mask):
    """x, mask (B, T) -> scalar mean over the True entries (0 when there are none)."""
    m = mask.astype(jnp.float32)
    return (x * m).sum() / jnp.maximum(m.sum(), 1.0)


def _accuracy(logits, labels, mask):
    """(B, T, K) logits, (B, T) int labels -> masked mean of argmax == label."""
    return _masked_mean((jnp.argmax(logits, -1) == labels).astype(jnp.float32), mask)


def _classification(logits, labels, mask):
    """(masked mean cross-entropy, masked accuracy) of (B, T, K) logits and (B, T) labels."""
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return _masked_mean(ce, mask), _accuracy(logits, labels, mask)


def skill_loss_terms(logits, skill, cfg: LossConfig):
    """(B, T, S) float32, (B, T) int -> per-step loss (B, T)."""
    S = logits.shape[-1]
    if cfg.skill_loss == "focal":
        logp = jnp.take_along_axis(jax.nn.log_softmax(logits), skill[..., None], -1)[..., 0]
        return -((1.0 - jnp.exp(logp)) ** cfg.focal_gamma) * logp
    labels = optax.smooth_labels(jax.nn.one_hot(skill, S), cfg.label_smoothing)
    return optax.softmax_cross_entropy(logits, labels)


def loss_from_outputs(outputs: dict, batch: dict, cfg: LossConfig,
                      gripper_threshold: float = 0.0, skill_head: bool = True
                      ) -> tuple[jax.Array, dict]:
    """outputs of SkillTransformer.__call__ and the batch it saw -> (loss, metrics).
    skill_head=False: the skill term and the skill metrics are left out."""
    mask = jnp.asarray(batch["mask"], bool)  # (B, T)
    action = jnp.asarray(batch["action"], jnp.float32)  # (B, T, 8) normalised
    target = action[..., CONTINUOUS]  # (B, T, 7) base + arm
    err = (outputs["action"] - target) ** 2
    base_mse = _masked_mean(err[..., BASE].mean(-1), mask)
    arm_mse = _masked_mean(err[..., ARM].mean(-1), mask)
    metrics = {"base_mse": base_mse, "arm_mse": arm_mse}
    base_term, arm_term = base_mse, arm_mse
    if "action_logits" in outputs:  # binned head: (B, T, n, K) for the first n dims
        logits = outputs["action_logits"]
        n = logits.shape[-2]
        ce = optax.softmax_cross_entropy(logits, two_hot(target[..., :n], logits.shape[-1]))
        base_term = metrics["base_ce"] = _masked_mean(ce[..., BASE].mean(-1), mask)
        if n == NUM_CONTINUOUS:  # else the arm stays regressed (bin_dims="base")
            arm_term = metrics["arm_ce"] = _masked_mean(ce[..., ARM].mean(-1), mask)
    grip = gripper_target(action, gripper_threshold)  # (B, T)
    grip_l, grip_acc = _classification(outputs["gripper_logits"], grip, mask)
    loss = cfg.base_weight * base_term + cfg.arm_weight * arm_term + cfg.gripper_weight * grip_l
    metrics |= {"gripper_loss": grip_l, "gripper_accuracy": grip_acc}
    if skill_head:
        skill = jnp.asarray(batch["skill"], jnp.int32)  # (B, T)
        logits = outputs["skill_logits"]
        skill_l = _masked_mean(skill_loss_terms(logits, skill, cfg), mask)
        loss = loss + cfg.skill_weight * skill_l
        metrics["skill_loss"] = skill_l
        metrics["skill_accuracy"] = _accuracy(logits, skill, mask)
    if "role_logits" in outputs:  # skill roles (robot_skills.data.roles)
        if "role" not in batch:
            raise ValueError("this model has skill roles (model.num_roles > 0) but the batch "
                             "has no 'role' labels: build the loader with a role scheme, "
                             "roles='receptacle' or 'route' (WindowLoader.from_config does so "
                             "for such a config)")
        role_l, role_acc = _classification(outputs["role_logits"],
                                           jnp.asarray(batch["role"], jnp.int32), mask)
        loss = loss + cfg.role_weight * role_l
        metrics |= {"role_loss": role_l, "role_accuracy": role_acc}
    metrics["loss"] = loss
    return loss, metrics


def skill_transformer_loss(model, batch: dict, rng=None, gripper_threshold: float = 0.0
                           ) -> tuple[jax.Array, dict]:
    """Teacher-forced loss of `model` on a loader batch (robot_skills.data.loader layout:
    observation/state (B, T, D), action (B, T, 8), skill (B, T), mask (B, T); optional task_id
    (B,), prefix (B, K, d), prefix_mask (B, P) bool, condition_skill (B, T): the skill tokens
    and the action's condition when they differ from the skill head's target `skill`; role /
    condition_role (B, T) likewise for a model with skill roles).
    rng: dropout key (None: no dropout). Weights: model.config.loss.
    Use as nnx.value_and_grad(skill_transformer_loss, has_aux=True)(model, batch, rng, thr):
    the extra arguments positional (nnx transforms do not resolve keyword arguments)."""
    outputs = model(batch["observation"], batch.get("condition_skill", batch["skill"]),
                    mask=batch["mask"], task_id=batch.get("task_id"), prefix=batch.get("prefix"),
                    prefix_mask=batch.get("prefix_mask"), rng=rng,
                    role=batch.get("condition_role", batch.get("role")))
    return loss_from_outputs(outputs, batch, model.config.loss, gripper_threshold,
                             skill_head=model.config.skill_head)
