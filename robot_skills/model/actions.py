"""How the 8-D action (sim.robot.ActionSpec) splits between the two parts of the action head:
base + arm (7 dims) are regressed in normalised units, the gripper is a 2-way category
(0 = open, 1 = close; the env closes the gripper for a command > 0)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from robot_skills.data.normalization import affine

BASE = slice(0, 2)  # forward velocity, yaw rate
ARM = slice(2, 7)  # lift, shoulder yaw, extend, wrist yaw, wrist pitch deltas
CONTINUOUS = slice(0, 7)  # what the regression head predicts
NUM_CONTINUOUS = 7
GRIPPER = 7
GRIPPER_OPEN, GRIPPER_CLOSE = -1.0, 1.0  # env units of the two gripper classes


def gripper_threshold(action_stats: dict | None, mode: str) -> float:
    """The normalised value of a raw gripper command 0 (the open/close boundary), for a dataset
    whose actions were normalised with `mode` (robot_skills.data.normalization)."""
    if action_stats is None or mode == "none":
        return 0.0
    shift, scale = affine(action_stats, mode)
    shift, scale = np.broadcast_to(shift, (8,)), np.broadcast_to(scale, (8,))
    return float((0.0 - shift[GRIPPER]) / scale[GRIPPER])


def gripper_target(action, threshold: float = 0.0):
    """(..., 8) normalised actions -> (...,) int32 class: 1 = close, 0 = open."""
    return (jnp.asarray(action)[..., GRIPPER] > threshold).astype(jnp.int32)


def env_action(continuous, gripper_class, shift, scale):
    """Head outputs -> action in env units, clipped to [-1, 1]: (..., 7) normalised continuous
    (un-normalised with shift/scale (8,) of the action field) and (...,) gripper class."""
    cont = continuous * scale[CONTINUOUS] + shift[CONTINUOUS]  # (..., 7)
    grip = jnp.where(gripper_class == 1, GRIPPER_CLOSE, GRIPPER_OPEN)[..., None]  # (..., 1)
    return jnp.clip(jnp.concatenate([cont, grip.astype(cont.dtype)], axis=-1), -1.0, 1.0)
