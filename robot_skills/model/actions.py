"""How the 8-D action (sim.robot.ActionSpec) splits between the two parts of the action head:
base + arm (7 dims) are regressed in normalised units (or, with ModelConfig.action_bins = K,
each of the first `num_binned` of them is a K-way category over [-1, 1]), the gripper is a 2-way
category (0 = open, 1 = close; the env closes the gripper for a command > 0)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from robot_skills.data.normalization import affine

BASE = slice(0, 2)  # forward velocity, yaw rate
ARM = slice(2, 7)  # lift, shoulder yaw, extend, wrist yaw, wrist pitch deltas
CONTINUOUS = slice(0, 7)  # what the regression head predicts
NUM_CONTINUOUS = 7
GRIPPER = 7
GRIPPER_OPEN, GRIPPER_CLOSE = -1.0, 1.0  # env units of the two gripper classes
BIN_NORMALIZATIONS = ("none", "bounds")  # action normalisations whose values lie in [-1, 1]


def num_binned(action_bins: int, bin_dims: str) -> int:
    """How many of the 7 continuous dims (from the first: base, then arm) a head with
    ModelConfig.action_bins / bin_dims treats as categories; the rest are regressed."""
    if not action_bins:
        return 0
    return NUM_CONTINUOUS if bin_dims == "all" else BASE.stop


def bin_centers(num_bins: int):
    """(K,) float32: K evenly spaced values from -1 to 1 (both ends included)."""
    return jnp.linspace(-1.0, 1.0, num_bins, dtype=jnp.float32)


def two_hot(x, num_bins: int):
    """(...,) values (clipped to [-1, 1]) -> (..., K) targets: the two bins around each value,
    weighted so that their mean over bin_centers is the value."""
    pos = (jnp.clip(jnp.asarray(x, jnp.float32), -1.0, 1.0) + 1.0) * 0.5 * (num_bins - 1)
    lo = jnp.clip(jnp.floor(pos), 0, num_bins - 2)
    w_hi = pos - lo  # in [0, 1]
    lo = lo.astype(jnp.int32)
    return (jax.nn.one_hot(lo, num_bins) * (1.0 - w_hi)[..., None]
            + jax.nn.one_hot(lo + 1, num_bins) * w_hi[..., None])


def decode_bins(logits, readout: int):
    """(..., K) logits -> (...,) value: the probability-weighted mean of the bin centres within
    `readout` bins of the argmax (one mode, never the mean of two far-apart ones)."""
    K = logits.shape[-1]
    idx = jnp.arange(K)
    top = jnp.argmax(logits, axis=-1)[..., None]
    near = jnp.abs(idx - top) <= readout
    p = jax.nn.softmax(jnp.where(near, logits, -jnp.inf), axis=-1)
    return (p * bin_centers(K)).sum(-1)


def check_bin_normalization(action_bins: int, mode: str) -> None:
    """A binned action head covers [-1, 1]: the actions must be normalised into that range."""
    if action_bins and mode not in BIN_NORMALIZATIONS:
        raise ValueError(f"model.action_bins={action_bins} needs actions in [-1, 1], but "
                         f"data.normalization.action is {mode!r}; set it to one of "
                         f"{BIN_NORMALIZATIONS} or model.action_bins=0 (regression)")


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
