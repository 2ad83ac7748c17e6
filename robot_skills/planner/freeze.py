"""Stage-2 optimizer: one parameter tree with two groups, `planner` and `policy` (the top-level
keys, e.g. of nnx.state(model, nnx.Param) for a module with `.planner` and `.policy`), each
trained or frozen by mode. A frozen group gets `optax.set_to_zero()`: no update, no weight
decay, no optimizer state.

  joint           both groups train (LCB's end-to-end stage)
  planner_frozen  only the policy trains (the planner's latents are fixed features)
  policy_frozen   only the planner trains (align the latents to a fixed policy)
"""

from __future__ import annotations

import jax
import optax

GROUPS = ("planner", "policy")
MODES = {"joint": ("planner", "policy"), "planner_frozen": ("policy",),
         "policy_frozen": ("planner",)}


def _key_name(entry) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def param_labels(params):
    """Each leaf labelled by its top-level key ("planner" / "policy"); any other top-level key
    is an error (a parameter that belongs to neither group must not be silently frozen)."""
    def label(path, _leaf):
        group = _key_name(path[0]) if path else ""
        if group not in GROUPS:
            raise ValueError(f"parameter {jax.tree_util.keystr(path)} is outside the groups "
                             f"{GROUPS}: put it under .planner or .policy")
        return group
    return jax.tree_util.tree_map_with_path(label, params)


def stage2_optimizer(mode: str, planner_tx: optax.GradientTransformation,
                     policy_tx: optax.GradientTransformation | None = None
                     ) -> optax.GradientTransformation:
    """optax.multi_transform over {planner, policy}: each trained group gets its transform
    (the policy's defaults to the planner's), a frozen group set_to_zero."""
    if mode not in MODES:
        raise ValueError(f"unknown freeze mode {mode!r}; choose one of {tuple(MODES)}")
    txs = {"planner": planner_tx, "policy": policy_tx or planner_tx}
    trained = MODES[mode]
    return optax.multi_transform(
        {g: txs[g] if g in trained else optax.set_to_zero() for g in GROUPS}, param_labels)
