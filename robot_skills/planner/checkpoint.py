"""Self-contained planner checkpoints and the inference object.

Layout (an orbax CheckpointManager root, like the policy's):
  DIR/<step>/params/  StandardSave of the LatentPlanner's nnx.Param state (pure dict)
  DIR/<step>/meta/    JsonSave: {"format", "model" (PlannerConfig.to_dict()), "tokenizer"
                      (PlanTokenizer.to_dict()), "config" (the experiment config, optional)}

`Planner.load(dir)` rebuilds tokenizer + model from one folder; `Planner.plan(instruction,
scene)` -> PlanResult(text, latents, mask).
"""

from __future__ import annotations

import json
import os
import warnings
from typing import NamedTuple

import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from robot_skills.planner.config import PlannerConfig
from robot_skills.planner.decode import jit_plan_fn
from robot_skills.planner.model import LatentPlanner
from robot_skills.planner.tokenizer import PlanTokenizer
from robot_skills.planner.train import decode_plans
from robot_skills.policy.checkpoint import (META, PARAMS, item_handlers, model_params, read_meta,
                                            resolve_step_dir, restore_model)

FORMAT = "robot_skills.planner/1"


def planner_meta(planner: LatentPlanner, tok: PlanTokenizer, config=None) -> dict:
    cfg = None
    if config is not None:
        cfg = json.loads(config.to_json_best_effort()) if hasattr(config, "to_json_best_effort") \
            else dict(config)
    return {"format": FORMAT, "model": planner.config.to_dict(), "tokenizer": tok.to_dict(),
            "config": cfg}


def checkpoint_items(planner: LatentPlanner, tok: PlanTokenizer, config=None) -> dict:
    """Save args of the two planner items, for `ocp.args.Composite(**items, ...)`."""
    return {PARAMS: ocp.args.StandardSave(model_params(planner)),
            META: ocp.args.JsonSave(planner_meta(planner, tok, config))}


def save_planner_checkpoint(directory: str, planner: LatentPlanner, tok: PlanTokenizer,
                            config=None, *, step: int = 0) -> str:
    """Writes DIR/<step>/{params, meta} and waits for it; returns the step directory."""
    directory = os.path.abspath(directory)
    with ocp.CheckpointManager(directory, item_handlers=item_handlers()) as mngr:
        mngr.save(step, args=ocp.args.Composite(**checkpoint_items(planner, tok, config)),
                  force=True)
        mngr.wait_until_finished()
    return os.path.join(directory, str(step))


def load_planner_checkpoint(path: str, step: int | None = None
                            ) -> tuple[LatentPlanner, PlanTokenizer, dict]:
    step_dir = resolve_step_dir(path, step)
    meta = read_meta(step_dir, FORMAT)
    config = PlannerConfig.from_config(meta["model"])
    tok = PlanTokenizer.from_dict(meta["tokenizer"])
    if tok.vocab_size != config.vocab_size:
        raise ValueError(f"{step_dir}: tokenizer has {tok.vocab_size} tokens, model "
                         f"{config.vocab_size}")
    planner = restore_model(step_dir, lambda: LatentPlanner(config, rngs=nnx.Rngs(0)))
    return planner, tok, meta


class PlanResult(NamedTuple):
    text: str  # "navigate drawer <ACT> open drawer <ACT> ... stop <ACT>"
    latents: np.ndarray  # (max_act, latent_dim) float32, zero past the plan's <ACT> count
    mask: np.ndarray  # (max_act,) bool


class Planner:
    """Tokenizer + LatentPlanner behind one call; decoding is jitted once per batch size."""

    def __init__(self, planner: LatentPlanner, tok: PlanTokenizer):
        self.model, self.tokenizer = planner, tok
        self._plan_fn = jit_plan_fn(planner)

    @classmethod
    def load(cls, path: str, step: int | None = None) -> Planner:
        """From a step directory, a checkpoint root, or a planner workdir (its best/ if any,
        else checkpoints/)."""
        for sub in ("best", "checkpoints"):
            if os.path.isdir(os.path.join(path, sub)):
                path = os.path.join(path, sub)
                break
        planner, tok, _ = load_planner_checkpoint(path, step)
        return cls(planner, tok)

    @property
    def config(self) -> PlannerConfig:
        return self.model.config

    def plan_batch(self, instructions: list[str], scenes: list | None = None,
                   batch_size: int = 16) -> list[PlanResult]:
        """scenes: scene texts (sim.scene_facts.scene_text), Scene / SceneFacts objects, or
        None (plan from the instruction alone: where objects are is then a guess)."""
        if scenes is None:
            scenes = [""] * len(instructions)
            warnings.warn("planning without a scene description: the planner guesses where "
                          "objects are", stacklevel=2)
        texts = [s if isinstance(s, str) else _scene_text(s) for s in scenes]
        out = decode_plans(self.model, self.tokenizer, list(instructions), texts, batch_size,
                           self._plan_fn)
        return [PlanResult(d.text, d.latents, d.mask) for d in out]

    def plan(self, instruction: str, scene=None) -> PlanResult:
        return self.plan_batch([instruction], None if scene is None else [scene], batch_size=1)[0]


def _scene_text(scene) -> str:
    from sim.scene_facts import scene_text
    return scene_text(scene)
