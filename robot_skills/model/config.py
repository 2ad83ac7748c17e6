"""Sizes and loss weights of the SkillTransformer: frozen dataclasses built from the `model`
section of an experiment config (an ml_collections ConfigDict) and stored as JSON inside every
checkpoint, so a checkpoint rebuilds its own model.

`model_section(variant, cameras)` is the section the configs in `configs/` embed; "small" runs
fast on 2 CPU cores, "default" is the ~1M-parameter model DESIGN.md budgets for.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import ml_collections

from sim.observation import STATE_DIM, layout_of, route_length_bounds, state_layout
from sim.robot import ACTION
from sim.skills import NUM_SKILLS

SKILL_LOSSES = ("cross_entropy", "focal")
DTYPES = ("float32", "bfloat16")  # compute dtypes (names: configs import this without jax)
IMAGE_KEYS = ("depth", "rgb")
BIN_DIMS = ("all", "base")  # ModelConfig.bin_dims


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Weights of the loss terms (all masked by the batch's `mask`)."""

    skill_weight: float = 1.0  # skill classification (read from the state token)
    # Base and arm terms: MSE in normalised units, or with action_bins the mean cross-entropy
    # per dimension.
    base_weight: float = 1.0  # base forward / yaw rate
    # Arm x5, gripper x2: the arm's fine joint deltas decide a grasp (every closed-loop run in
    # README trained with these; the earlier 1.0 / 0.5 were not re-measured on today's data).
    arm_weight: float = 5.0  # the 5 arm joint deltas
    gripper_weight: float = 2.0  # 2-way cross-entropy: open / close
    skill_loss: str = "cross_entropy"  # or "focal" (as in the Skill Transformer paper)
    focal_gamma: float = 2.0
    label_smoothing: float = 0.0  # of the skill targets (cross_entropy only)
    role_weight: float = 1.0  # skill-role cross-entropy (models with num_roles > 0)
    # Stage 2 with a slot pointer: cross-entropy of the pointer's first head (per move) against
    # the receptacle the ground-truth plan places on (robot_skills.planner.joint.lcb_loss).
    pointer_weight: float = 1.0

    def __post_init__(self):
        if self.skill_loss not in SKILL_LOSSES:
            raise ValueError(f"unknown skill_loss {self.skill_loss!r}; use one of {SKILL_LOSSES}")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes the parameter shapes and the computation of a SkillTransformer."""

    # Interface (defaults come from the sim: one vocabulary, one place).
    state_dim: int = STATE_DIM  # D of observation["state"]
    num_skills: int = NUM_SKILLS  # S
    action_dim: int = ACTION.dim  # 8: 7 regressed + gripper (categorical)
    image_keys: tuple[str, ...] = ()  # head-camera streams the CNN reads ("depth", "rgb")
    image_size: int = 64  # pixels (square)
    # Sizes.
    d_model: int = 128
    num_layers: int = 4
    num_heads: int = 4
    mlp_dim: int = 512
    state_hidden: int = 256  # hidden width of the state MLP
    cnn_channels: tuple[int, ...] = (16, 32, 32)  # stride-2 3x3 convs, then mean pooling
    context: int = 16  # attention span in time steps (training window <= context; KV cache size)
    # State fields (sim.observation.state_layout) the model does not read (zeroed before the
    # state MLP). State dim SLOTS_STATE_DIM: the layout with receptacle slots. E.g.
    # ("base_velocity",): the measured base velocity is the previous base command, and a policy
    # that reads it (with or without history) can imitate by repeating itself ("copycat").
    drop_state: tuple[str, ...] = ()
    # > 0: every route's path length (sim.observation.ROUTE_FIELDS) is read as min(length, cap)
    # metres, in training (the loader) and at run time (Policy): far reads as "far", and an
    # unseen layout's detour longer than any demonstration's as one the policy has seen.
    route_length_cap: float = 0.0
    # Conditioning prefix.
    num_tasks: int = 0  # > 0: a learned task embedding (task_id in [0, num_tasks))
    task_tokens: int = 1  # prefix tokens per task embedding
    prefix_tokens: int = 0  # external prefix tokens (planner latents), each (d_model,)
    # > 0: heads of a slot pointer (robot_skills.model.pointer): the prefix picks receptacle
    # slots, whose fields enter the state token (needs prefix_tokens and the slots in the state).
    slot_pointer: int = 0
    # False: the prefix reaches the policy through the slot pointer only, not as tokens its
    # layers attend to (a policy started from a plain run then starts exactly where that run
    # ended: attended prefix tokens are new keys and values its layers never learned to weigh).
    prefix_attention: bool = True
    # Baselines (same token layout and attention, so the same compute per step).
    skill_head: bool = True  # False: no skill classifier, no skill loss (flat behaviour cloning)
    skill_conditioning: bool = True  # False: the skill token is a constant learned token and
    #                                   the action head reads the action token alone
    # Skill roles (robot_skills.data.roles): 0 = off; the size of the data's role scheme (3:
    # none / source / goal; 5: the "route" scheme, the work pose served) = a role head next to
    # the skill head, and the role's embedding added to the skill token and
    # to the action head's condition (ground truth while training, the argmax at run time), so
    # "navigate" to the source and to the goal are different conditions.
    num_roles: int = 0
    # Action head. 0: base and arm regressed (MSE). K >= 2: each of the 7 base/arm dims is a
    # K-way category over [-1, 1] (normalised units; the data's action normalisation must be
    # "none" or "bounds"), trained with cross-entropy on two-hot targets and read out as the
    # mean of the bins around the argmax: where the labels of similar states disagree (turn
    # left / right, move / wait), a regression head predicts their mean, often ~0, and the
    # policy stalls; the category head picks one of them (RT-1 style discretisation).
    action_bins: int = 0
    action_readout: int = 2  # bins either side of the argmax averaged (by probability)
    # Which dims the bins cover: "all" (base and arm) or "base" (forward / yaw rate binned, the
    # 5 arm joint deltas regressed: the base is where labels of similar states disagree, the
    # arm's fine deltas at a grasp are where one wrong mode loses the object).
    bin_dims: str = "all"
    # Regularisation and numerics.
    dropout: float = 0.0  # residual / embedding dropout while training
    dtype: str = "float32"  # compute dtype ("bfloat16" option); parameters stay float32
    loss: LossConfig = LossConfig()

    def __post_init__(self):
        check_width(self.d_model, self.num_heads, self.dtype)
        unknown = set(self.image_keys) - set(IMAGE_KEYS)
        if unknown:
            raise ValueError(f"unknown image keys {sorted(unknown)}; use {IMAGE_KEYS}")
        fields = [name for name, _ in state_layout(*layout_of(self.state_dim))]
        unknown_state = set(self.drop_state) - set(fields)
        if unknown_state:
            raise ValueError(f"drop_state names unknown state fields {sorted(unknown_state)} "
                             f"(state dim {self.state_dim}); use names from "
                             f"sim.observation.state_layout: {fields}")
        if self.slot_pointer < 0 or (self.slot_pointer and not (
                self.prefix_tokens and layout_of(self.state_dim)[0])):
            raise ValueError(f"slot_pointer={self.slot_pointer}: a slot pointer reads prefix "
                             f"tokens and the receptacle slots; use 0, or prefix_tokens > 0 "
                             f"with a state that has slots (a 'langgoal' config; prefix_tokens="
                             f"{self.prefix_tokens}, state dim {self.state_dim})")
        if not self.prefix_attention and not self.slot_pointer:
            raise ValueError("prefix_attention=False needs slot_pointer > 0: otherwise the "
                             "prefix reaches nothing")
        if self.context < 1:
            raise ValueError(f"context must be >= 1, got {self.context}")
        route_length_bounds(self.route_length_cap, self.state_dim)  # validates the cap
        if self.action_bins == 1 or self.action_bins < 0:
            raise ValueError(f"action_bins must be 0 (regression) or >= 2, got {self.action_bins}")
        if self.bin_dims not in BIN_DIMS:
            raise ValueError(f"unknown bin_dims {self.bin_dims!r}; use one of {BIN_DIMS}")
        if self.action_readout < 0:
            raise ValueError(f"action_readout must be >= 0, got {self.action_readout}")
        if self.num_roles < 0 or (self.num_roles and not self.skill_conditioning):
            raise ValueError(f"num_roles={self.num_roles}: use 0 (no roles) or the number of "
                             f"roles (robot_skills.data.roles.NUM_ROLES) with skill_head=True "
                             f"and skill_conditioning=True (the role refines the skill token)")
        if self.skill_conditioning and not self.skill_head:
            raise ValueError("skill_conditioning=True needs skill_head=True: at run time the "
                             "action is conditioned on the skill the head predicts. For flat "
                             "behaviour cloning set skill_conditioning=False as well")

    @property
    def compute_dtype(self):
        import jax.numpy as jnp

        return jnp.dtype(self.dtype)

    @property
    def num_prefix(self) -> int:
        """P: conditioning tokens before the first time step."""
        return ((self.task_tokens if self.num_tasks > 0 else 0)
                + (self.prefix_tokens if self.prefix_attention else 0))

    @classmethod
    def from_config(cls, section: Mapping | ml_collections.ConfigDict) -> ModelConfig:
        """From the `model` section of an experiment config (or a dict from `to_dict`).
        Unknown keys are an error: a typo must not silently train the default model."""
        d = dict(section.to_dict() if isinstance(section, ml_collections.ConfigDict)
                 else section)
        loss = dict(d.pop("loss", {}) or {})
        _check_keys(cls, d, "model")
        _check_keys(LossConfig, loss, "model.loss")
        for k in ("image_keys", "cnn_channels", "drop_state"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d, loss=LossConfig(**loss))

    def to_dict(self) -> dict:
        """JSON-able; `ModelConfig.from_config(c.to_dict()) == c`."""
        return dataclasses.asdict(self)


def check_width(d_model: int, num_heads: int, dtype: str) -> None:
    """Shared by every transformer config: heads divide the width, a known compute dtype."""
    if d_model % num_heads:
        raise ValueError(f"d_model ({d_model}) must be a multiple of num_heads ({num_heads})")
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {DTYPES}")


def _check_keys(cls, d: dict, where: str) -> None:
    names = {f.name for f in dataclasses.fields(cls)} - {"loss"}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in config section {where!r}; "
                         f"known: {sorted(names)}")


SIZES = {
    # 0.15M parameters.
    "small": dict(d_model=64, num_layers=2, num_heads=4, mlp_dim=256, state_hidden=128),
    # 0.98M parameters (the size DESIGN.md measured at ~8 train steps/s on 2 cores).
    "default": dict(d_model=128, num_layers=4, num_heads=4, mlp_dim=512, state_hidden=256),
}


def model_section(variant: str = "default", cameras: tuple[str, ...] = ()
                  ) -> ml_collections.ConfigDict:
    """The `model` section of an experiment config: SIZES[variant] plus the loss weights;
    `cameras` (config.env.cameras) become the CNN's image keys."""
    if variant not in SIZES:
        raise ValueError(f"unknown model size {variant!r}; use one of {tuple(SIZES)}")
    c = ModelConfig(**SIZES[variant], image_keys=tuple(cameras)).to_dict()
    return ml_collections.ConfigDict(c)
