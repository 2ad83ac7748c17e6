"""What `robot-skills train` needs to train an LCB config (one with `planner` and `bridge`
sections, configs/lcb.py): the tokenizer, the model configs, the LCBModel (its planner
initialised from a stage-1 `plan-train` workdir when `planner.init` is set), the stage-2
optimizer, the language attached to loader batches, and self-contained checkpoints.

Checkpoint layout (the policy's, robot_skills.policy.checkpoint): DIR/<step>/params (the
LCBModel's nnx.Param pure dict: {"planner": ..., "policy": {"transformer": ..., "words": ...}})
and DIR/<step>/meta: the policy meta (model config, stats, normalization, experiment config)
with format FORMAT plus "planner" (PlannerConfig), "bridge" (BridgeConfig), "tokenizer".

Tokenizer: WORKDIR/tokenizer.json when resuming; else the stage-1 checkpoint's; else fitted on
the planner corpus (`planner.data`). With `planner.init` the stage-1 checkpoint's
PlannerConfig is used (its shapes are the parameters') with latent_dim set to the policy's
d_model, and only its LM is loaded: stage 1 never trains the bridge projection (no loss reaches
it), so the bridge starts fresh at the policy's width; `planner.model` then only documents.
"""

from __future__ import annotations

import dataclasses
import os

import optax
from flax import nnx

from robot_skills.model.config import ModelConfig
from robot_skills.planner.bridge import BridgeConfig
from robot_skills.planner.config import PlannerConfig
from robot_skills.planner.episodes import EpisodeLanguageTable, PlanWindows, Widths
from robot_skills.planner.freeze import stage2_optimizer
from robot_skills.planner.joint import LCBModel, batch_keys, check_shapes, lcb_loss
from robot_skills.planner.tokenizer import PlanTokenizer
from robot_skills.policy.checkpoint import (META, PARAMS, model_params, policy_meta, read_meta,
                                            resolve_step_dir, restore_model)

FORMAT = "robot_skills.lcb/1"
TOKENIZER_FILE = "tokenizer.json"


def is_stage2(config) -> bool:
    return "planner" in config and "bridge" in config


def check_default_layouts(dataset) -> None:
    """Stage 2 rebuilds each episode's scene from its seed with the default layout families
    (robot_skills.planner.episodes.exact_scene); a dataset generated with extra training
    families (env.extra_train_families) would get other scenes' language, so it is refused."""
    for part in getattr(dataset, "parts", [dataset]):
        extra = part.index.get("generation", {}).get("extra_train_families") or []
        if extra:
            raise ValueError(f"{part.path} was generated with env.extra_train_families={extra}; "
                             f"language training rebuilds scenes from seeds with the default "
                             f"families only: train the planner bridge on datasets generated "
                             f"without it")


class Stage2:
    """One LCB config's model pieces; `Trainer` uses build / loss / optimizer / windows /
    checkpoint_items / batch_keys."""

    loss = staticmethod(lcb_loss)

    def __init__(self, config, workdir: str):
        self.config = config
        p = config.planner
        self.bridge = BridgeConfig.from_config(config.bridge)
        self.freeze = str(config.train.get("freeze", "joint"))
        self.init_params = None
        init_tok = None
        self.policy_config = ModelConfig.from_config(config.model)
        if p.init:
            from robot_skills.planner.checkpoint import Planner
            stage1 = Planner.load(p.init)
            # Stage 1 trains the LM only (its bridge gets no loss): keep the LM, give the bridge
            # the policy's width and a fresh init.
            planner_cfg = dataclasses.replace(stage1.config,
                                              latent_dim=self.policy_config.d_model)
            init_tok = stage1.tokenizer
            self.init_params = model_params(stage1.model.lm)
        tok_path = os.path.join(workdir, TOKENIZER_FILE)
        if os.path.exists(tok_path):
            self.tokenizer = PlanTokenizer.load(tok_path)
            if init_tok is not None and init_tok.to_dict() != self.tokenizer.to_dict():
                raise ValueError(f"{tok_path} differs from the tokenizer of planner.init="
                                 f"{p.init}: this workdir was trained with another planner")
        else:
            self.tokenizer = init_tok or _fit_tokenizer(p.data)
            os.makedirs(workdir, exist_ok=True)
            self.tokenizer.save(tok_path)
        if not p.init:
            planner_cfg = PlannerConfig.from_config(p.model, vocab_size=self.tokenizer.vocab_size)
        self.planner_config = planner_cfg
        check_shapes(self.policy_config, planner_cfg, self.bridge)
        self.widths = Widths(int(p.prompt_width), int(p.plan_width))
        self.widths.check(planner_cfg)
        self.batch_keys = batch_keys(self.bridge)

    def build(self, seed: int) -> LCBModel:
        model = LCBModel(self.policy_config, self.planner_config, self.bridge,
                         rngs=nnx.Rngs(seed))
        if self.init_params is not None and model.planner is not None:
            state = nnx.state(model.planner.lm, nnx.Param)
            nnx.replace_by_pure_dict(state, self.init_params)
            nnx.update(model.planner.lm, state)
        return model

    def optimizer(self, tx: optax.GradientTransformation) -> optax.GradientTransformation:
        return stage2_optimizer(self.freeze, tx)

    def windows(self, loader) -> PlanWindows:
        check_default_layouts(loader.dataset)
        table = EpisodeLanguageTable(self.config.task.name, self.tokenizer, self.planner_config,
                                     self.bridge, self.widths)
        return PlanWindows(loader, table)

    def checkpoint_items(self, model: LCBModel, stats: dict, config=None) -> dict:
        import orbax.checkpoint as ocp
        meta = policy_meta(model.policy.transformer, stats, config=config)
        meta.update(format=FORMAT, planner=self.planner_config.to_dict(),
                    bridge=self.bridge.to_dict(), tokenizer=self.tokenizer.to_dict())
        return {PARAMS: ocp.args.StandardSave(model_params(model)),
                META: ocp.args.JsonSave(meta)}


def _fit_tokenizer(data) -> PlanTokenizer:
    from robot_skills.planner.corpus import fit_tokenizer
    from sim.instruction_samples import draw_samples
    return fit_tokenizer(draw_samples("train", data.train_samples), data.min_count)


def load_lcb_checkpoint(path: str, step: int | None = None
                        ) -> tuple[LCBModel, PlanTokenizer, dict]:
    """(LCBModel with restored parameters, tokenizer, meta) from a step directory or a
    checkpoint manager root."""
    step_dir = resolve_step_dir(path, step)
    meta = read_meta(step_dir, FORMAT)
    policy_cfg = ModelConfig.from_config(meta["model"])
    planner_cfg = PlannerConfig.from_config(meta["planner"])
    bridge = BridgeConfig.from_config(meta["bridge"])
    model = restore_model(step_dir, lambda: LCBModel(policy_cfg, planner_cfg, bridge,
                                                     rngs=nnx.Rngs(0)))
    return model, PlanTokenizer.from_dict(meta["tokenizer"]), meta
