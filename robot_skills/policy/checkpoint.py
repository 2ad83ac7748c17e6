"""Self-contained policy checkpoints (orbax): everything `Policy.load` needs in one folder.

Layout (an orbax CheckpointManager root, so a training workdir's checkpoint folder is one):

  DIR/<step>/params/   StandardSave of the model's nnx.Param state as a pure dict
  DIR/<step>/meta/     JsonSave: {"format", "model" (ModelConfig.to_dict()), "stats"
                       (normalisation statistics per field), "normalization" (mode per field),
                       "config" (the experiment config, optional)}

The training job saves these two items next to its own (optimizer state, data position) with
`checkpoint_items(...)` inside `ocp.args.Composite(...)`; `save_policy_checkpoint` writes a
checkpoint with only these two.
"""

from __future__ import annotations

import json
import os

import jax
import orbax.checkpoint as ocp
from flax import nnx

from robot_skills.model.config import ModelConfig
from robot_skills.model.skill_transformer import SkillTransformer

PARAMS, META = "params", "meta"
FORMAT = "robot_skills.policy/1"
DEFAULT_NORMALIZATION = {"state": "mean_std", "action": "none"}  # the loader's default


def model_params(model: nnx.Module) -> dict:
    """The model's parameters as a pure nested dict of arrays (what is checkpointed)."""
    return nnx.to_pure_dict(nnx.state(model, nnx.Param))


def policy_meta(model: SkillTransformer, stats: dict, normalization: dict | None = None,
                config=None) -> dict:
    """The JSON item: model config, normalisation stats and modes, experiment config.
    normalization defaults to config.data.normalization, else the loader's default."""
    if normalization is None:
        try:
            normalization = dict(config.data.normalization)
        except AttributeError:
            normalization = DEFAULT_NORMALIZATION
    for field in ("state", "action"):
        if field not in stats:
            raise ValueError(f"normalisation stats lack the {field!r} field (have "
                             f"{sorted(stats)}); pass the dataset's normalization.json")
    cfg = None
    if config is not None:
        cfg = json.loads(config.to_json_best_effort()) if hasattr(config, "to_json_best_effort") \
            else dict(config)
    return {"format": FORMAT, "model": model.config.to_dict(),
            "stats": {k: stats[k] for k in ("state", "action")},
            "normalization": {k: str(normalization.get(k, "none")) for k in ("state", "action")},
            "config": cfg}


def checkpoint_items(model: SkillTransformer, stats: dict, normalization: dict | None = None,
                     config=None) -> dict:
    """Save args of the two policy items, for `ocp.args.Composite(**items, ...)`."""
    return {PARAMS: ocp.args.StandardSave(model_params(model)),
            META: ocp.args.JsonSave(policy_meta(model, stats, normalization, config))}


def item_handlers() -> dict:
    """Handlers of the policy items, for a fresh `ocp.CheckpointManager(item_handlers=...)`."""
    return {PARAMS: ocp.StandardCheckpointHandler(), META: ocp.JsonCheckpointHandler()}


def save_policy_checkpoint(directory: str, model: SkillTransformer, config, stats: dict, *,
                           step: int = 0, normalization: dict | None = None) -> str:
    """Writes DIR/<step>/{params, meta} and waits for it; returns the step directory.
    config: the experiment ConfigDict (or None); stats: {"state": {mean, std, ...},
    "action": {...}} as in the dataset's normalization.json."""
    directory = os.path.abspath(directory)
    items = checkpoint_items(model, stats, normalization, config)
    with ocp.CheckpointManager(directory, item_handlers=item_handlers()) as mngr:
        mngr.save(step, args=ocp.args.Composite(**items), force=True)
        mngr.wait_until_finished()
    return os.path.join(directory, str(step))


def resolve_step_dir(path: str, step: int | None = None) -> str:
    """A step directory (holding meta/) from itself or from a manager root (latest or `step`)."""
    path = os.path.abspath(path)
    if os.path.isdir(os.path.join(path, META)):
        return path
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no checkpoint directory at {path}")
    steps = sorted(int(n) for n in os.listdir(path)
                   if n.isdigit() and os.path.isdir(os.path.join(path, n, META)))
    if not steps:
        raise FileNotFoundError(f"{path} holds no checkpoint (no <step>/{META}/ folder)")
    if step is None:
        step = steps[-1]
    if step not in steps:
        raise FileNotFoundError(f"{path} has no step {step}; steps: {steps}")
    return os.path.join(path, str(step))


def read_meta(step_dir: str, fmt: str | tuple[str, ...]) -> dict:
    """The JSON meta item of a step directory, checked to be of format `fmt` (or one of them)."""
    meta = ocp.Checkpointer(ocp.JsonCheckpointHandler()).restore(os.path.join(step_dir, META))
    if meta.get("format") not in ((fmt,) if isinstance(fmt, str) else fmt):
        raise ValueError(f"{step_dir}: unknown checkpoint format {meta.get('format')!r}; "
                         f"expected {fmt!r}")
    return meta


def restore_model(step_dir: str, build):
    """The nnx module `build()` makes, with its nnx.Param leaves restored from step_dir/params.
    Built for real: constants that are not parameters (e.g. the SkillTransformer's drop_state
    mask) come from the config, not from disk."""
    graphdef, state, rest = nnx.split(build(), nnx.Param, ...)
    target = jax.tree.map(ocp.utils.to_shape_dtype_struct, nnx.to_pure_dict(state))
    params = ocp.StandardCheckpointer().restore(os.path.join(step_dir, PARAMS), target)
    nnx.replace_by_pure_dict(state, params)
    return nnx.merge(graphdef, state, rest)


def load_policy_checkpoint(path: str, step: int | None = None
                           ) -> tuple[SkillTransformer, dict]:
    """(model with restored parameters, meta dict) from a step directory or a manager root."""
    step_dir = resolve_step_dir(path, step)
    meta = read_meta(step_dir, FORMAT)
    config = ModelConfig.from_config(meta["model"])
    return restore_model(step_dir, lambda: SkillTransformer(config, rngs=nnx.Rngs(0))), meta
