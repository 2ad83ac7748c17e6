"""`robot-skills train`: offline training of the SkillTransformer.

One jitted train step (AdamW, warmup + cosine, gradient clipping) with donated state and explicit
shardings over a Mesh of all devices ("data" axis: data parallel); orbax checkpoints (latest N
and best by validation loss) that a rerun in the same workdir resumes from, the data position
included (batches are a pure function of the step); metrics.jsonl + TensorBoard; a NaN/inf loss
stops the run before anything is saved.

A config with `planner` and `bridge` sections (configs/lcb.py) trains the LCB stage-2 model
instead (robot_skills.planner.stage2.Stage2: planner + policy, lcb_loss, the stage-2
optimizer with train.freeze, episode language attached to the batches); the loop, sharding,
checkpoints and metrics are the same.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm import tqdm

from robot_skills.data.loader import WindowLoader
from robot_skills.model import ModelConfig, SkillTransformer, skill_transformer_loss
from robot_skills.model.actions import check_bin_normalization
from robot_skills.policy.checkpoint import (checkpoint_items, item_handlers, resolve_step_dir,
                                           restore_model)

CKPT_DIR, BEST_DIR = "checkpoints", "best"
OPT, TRAIN_STATE = "opt_state", "train_state"


class NonFiniteLoss(RuntimeError):
    """The loss became NaN/inf; the run stops without writing a checkpoint of that state."""


@dataclasses.dataclass
class TrainResult:
    step: int
    train_loss: float
    val_loss: float
    steps_per_s: float
    workdir: str


def past_deadline(t_start: float, max_minutes: float) -> bool:
    """A run's wall-time budget (train.max_minutes, > 0) since `t_start` (perf_counter) is spent."""
    return max_minutes > 0 and time.perf_counter() - t_start > 60 * max_minutes


def latest_checkpoint_step(workdir: str) -> int | None:
    """The last step saved in DIR/checkpoints (orbax publishes a step folder when complete),
    or None. A run is finished when this is config.train.steps - 1."""
    d = os.path.join(workdir, CKPT_DIR)
    steps = [int(n) for n in os.listdir(d) if n.isdigit()] if os.path.isdir(d) else []
    return max(steps) if steps else None


def make_optimizer(t) -> tuple[optax.GradientTransformation, optax.Schedule]:
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=t.lr, warmup_steps=t.warmup_steps,
        decay_steps=max(t.steps, t.warmup_steps + 1), end_value=t.lr * t.min_lr_ratio)
    tx = optax.chain(optax.clip_by_global_norm(t.grad_clip),
                     optax.adamw(schedule, weight_decay=t.weight_decay))
    return tx, schedule


def device_batch(batch: dict, sharding, extra_keys: tuple[str, ...] = ()) -> dict:
    """The numeric fields the model reads (plus `extra_keys`, e.g. the LCB language fields),
    placed on the mesh (batch axis split over 'data')."""
    out = {"observation": {k: v for k, v in batch["observation"].items()},
           "action": batch["action"], "skill": batch["skill"], "mask": batch["mask"]}
    for k in ("task_id", "condition_skill", "role", "condition_role") + tuple(extra_keys):
        if k in batch:
            out[k] = batch[k]
    return jax.device_put(out, sharding)


class Trainer:
    """Builds the model, optimizer, mesh and jitted steps for one config."""

    def __init__(self, config: ml_collections.ConfigDict, workdir: str):
        self.config = config
        self.workdir = os.path.abspath(workdir)
        t = config.train
        if t.multihost:
            jax.distributed.initialize()
        self.devices = jax.devices()
        self.mesh = Mesh(np.array(self.devices), ("data",))
        self.replicated = NamedSharding(self.mesh, P())
        self.data_sharding = NamedSharding(self.mesh, P("data"))
        if config.data.batch_size % len(self.devices):
            raise ValueError(f"data.batch_size={config.data.batch_size} must be a multiple of the "
                             f"{len(self.devices)} devices of the mesh; change data.batch_size")
        from robot_skills.planner.stage2 import Stage2, is_stage2
        self.stage2 = Stage2(config, self.workdir) if is_stage2(config) else None
        self.model_config = ModelConfig.from_config(config.model)
        if config.data.window > self.model_config.context:
            raise ValueError(f"data.window={config.data.window} exceeds model.context="
                             f"{self.model_config.context}: attention would silently see fewer "
                             f"steps than the window; set model.context >= data.window")
        check_bin_normalization(self.model_config.action_bins, config.data.normalization.action)
        if self.stage2 is None:
            if t.get("init_from"):  # fine-tuning (e.g. after a DAgger round): params only
                model = init_from(t.init_from, self.model_config)
            else:
                model = SkillTransformer(self.model_config, rngs=nnx.Rngs(t.seed))
            self.loss, self.batch_keys = skill_transformer_loss, ()
            self.dropout = self.model_config.dropout > 0
        else:
            model = self.stage2.build(t.seed)
            if t.get("init_from"):  # the policy from a plain run (no prefix, no pointer)
                base = init_from(t.init_from, dataclasses.replace(self.model_config,
                                                                  prefix_tokens=0,
                                                                  slot_pointer=0,
                                                                  prefix_attention=True))
                nnx.update(model.policy.transformer, nnx.state(base, nnx.Param))
            self.loss, self.batch_keys = self.stage2.loss, self.stage2.batch_keys
            self.dropout = model.uses_dropout
        self.graphdef, params, self.rest = nnx.split(model, nnx.Param, ...)
        self.tx, self.schedule = make_optimizer(t)
        if self.stage2 is not None:
            self.tx = self.stage2.optimizer(self.tx)
        self.params = jax.device_put(params, self.replicated)
        self.opt_state = jax.device_put(self.tx.init(self.params), self.replicated)
        self.base_key = jax.random.key(t.seed)
        self._build_steps()

    def model(self, params=None) -> nnx.Module:
        return nnx.merge(self.graphdef, self.params if params is None else params, self.rest)

    def _build_steps(self) -> None:
        graphdef, rest, tx, schedule = self.graphdef, self.rest, self.tx, self.schedule
        dropout, loss = self.dropout, self.loss

        def loss_fn(params, batch, key):
            model = nnx.merge(graphdef, params, rest)
            return loss(model, batch, key if dropout else None)

        def train_step(params, opt_state, batch, step):
            key = jax.random.fold_in(self.base_key, step)
            (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch, key)
            updates, opt_state = tx.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            metrics = dict(metrics, grad_norm=optax.tree.norm(grads), lr=schedule(step))
            return params, opt_state, metrics

        def eval_step(params, batch):
            return loss_fn(params, batch, None)[1]

        rep, dat = self.replicated, self.data_sharding
        self.train_step = jax.jit(train_step, in_shardings=(rep, rep, dat, None),
                                  out_shardings=(rep, rep, rep), donate_argnums=(0, 1))
        self.eval_step = jax.jit(eval_step, in_shardings=(rep, dat), out_shardings=rep)

    # ------------------------------------------------------------ checkpoints
    def managers(self) -> tuple[ocp.CheckpointManager, ocp.CheckpointManager]:
        return checkpoint_managers(self.workdir, self.config.train.keep_checkpoints)

    def save(self, mngr, step: int, stats: dict, extra: dict, *, with_opt: bool,
             metrics=None) -> None:
        make = checkpoint_items if self.stage2 is None else self.stage2.checkpoint_items
        items = make(self.model(), stats, config=self.config)
        if with_opt:
            items[OPT] = ocp.args.StandardSave(self.opt_state)
            items[TRAIN_STATE] = ocp.args.JsonSave(extra)
        mngr.save(step, args=ocp.args.Composite(**items), metrics=metrics, force=True)

    def device_batch(self, batch: dict) -> dict:
        return device_batch(batch, self.data_sharding, self.batch_keys)

    def windows(self, loader):
        """The loader, with the episode language attached for an LCB config."""
        return loader if self.stage2 is None else self.stage2.windows(loader)

    def restore(self, mngr) -> int | None:
        """Restores params and optimizer state from the latest checkpoint; returns its step."""
        got = restore_latest(mngr, self.params, self.opt_state)
        if got is None:
            return None
        step, self.params, opt_state = got
        self.params = jax.device_put(self.params, self.replicated)
        self.opt_state = jax.device_put(opt_state, self.replicated)
        return step


def init_from(path: str, model_config: ModelConfig) -> SkillTransformer:
    """The model with parameters from another run (train.init_from: a workdir or checkpoint
    directory); its architecture must be this config's."""
    from train.eval_job import run_checkpoint
    step_dir = resolve_step_dir(run_checkpoint(path, "train.init_from"))
    try:
        return restore_model(step_dir, lambda: SkillTransformer(model_config, rngs=nnx.Rngs(0)))
    except Exception as e:  # noqa: BLE001 - re-raised with the option named
        raise ValueError(f"train.init_from={path!r}: its parameters do not fit this config's "
                         f"model ({type(e).__name__}: {e}); use the same model section as the "
                         f"run it comes from") from e


def checkpoint_managers(workdir: str, keep: int
                        ) -> tuple[ocp.CheckpointManager, ocp.CheckpointManager]:
    """WORKDIR/checkpoints (latest `keep`, with optimizer state and train state) and WORKDIR/best
    (params + meta of the lowest metrics["val_loss"]); items named as policy.checkpoint's."""
    handlers = dict(item_handlers(), **{OPT: ocp.StandardCheckpointHandler(),
                                        TRAIN_STATE: ocp.JsonCheckpointHandler()})
    latest = ocp.CheckpointManager(
        os.path.join(workdir, CKPT_DIR), item_handlers=handlers,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))
    best = ocp.CheckpointManager(
        os.path.join(workdir, BEST_DIR), item_handlers=item_handlers(),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=1, best_fn=lambda m: m["val_loss"], best_mode="min", create=True))
    return latest, best


def restore_latest(mngr, params, opt_state):
    """(step, params, opt_state) of the manager's latest checkpoint, restored into the shapes
    of `params` (an nnx.State, updated in place) and `opt_state`; None when there is none."""
    step = mngr.latest_step()
    if step is None:
        return None
    params_t = jax.tree.map(ocp.utils.to_shape_dtype_struct, nnx.to_pure_dict(params))
    opt_t = jax.tree.map(ocp.utils.to_shape_dtype_struct, opt_state)
    got = mngr.restore(step, args=ocp.args.Composite(
        params=ocp.args.StandardRestore(params_t), opt_state=ocp.args.StandardRestore(opt_t),
        train_state=ocp.args.JsonRestore()))
    nnx.replace_by_pure_dict(params, got["params"])
    return int(got["train_state"]["step"]), params, got["opt_state"]


def _scalars(metrics: dict) -> dict:
    return {k: float(v) for k, v in jax.device_get(metrics).items()}


def evaluate(trainer: Trainer, loader: WindowLoader, batches: int) -> dict:
    """Mean metrics over the first `batches` validation batches (deterministic)."""
    acc: dict[str, float] = {}
    for i in range(batches):
        m = _scalars(trainer.eval_step(trainer.params, trainer.device_batch(loader.batch(i))))
        for k, v in m.items():
            acc[k] = acc.get(k, 0.0) + v / batches
    return acc


class MetricsWriter:
    """metrics.jsonl (grep-able) + TensorBoard events (tensorboardX, no TensorFlow)."""

    def __init__(self, workdir: str):
        from tensorboardX import SummaryWriter
        self.jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")
        self.tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def write(self, step: int, split: str, scalars: dict) -> None:
        self.jsonl.write(json.dumps({"step": step, "split": split, **scalars}) + "\n")
        self.jsonl.flush()
        for k, v in scalars.items():
            self.tb.add_scalar(f"{split}/{k}", v, step)

    def close(self) -> None:
        self.jsonl.close()
        self.tb.close()


def train(config: ml_collections.ConfigDict, workdir: str, *, data_dir: str | None = None,
          progress: bool = True, stop_after: int | None = None) -> TrainResult:
    """Trains (or resumes) in `workdir`. `stop_after` ends the process-local run early at that
    step (used to test kill-and-resume); the schedule still follows config.train.steps, also
    when train.max_minutes (wall time of this process) ends it first."""
    os.makedirs(workdir, exist_ok=True)
    t = config.train
    train_loader = WindowLoader.from_config(config, "train", data_dir)
    val_loader = WindowLoader.from_config(config, "val", data_dir)
    stats = train_loader.dataset.stats
    with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write(config.to_json_best_effort(indent=2))
    with open(os.path.join(workdir, "normalization.json"), "w") as f:
        json.dump(stats, f)
    trainer = Trainer(config, workdir)
    train_loader, val_loader = trainer.windows(train_loader), trainer.windows(val_loader)
    latest, best = trainer.managers()
    start = trainer.restore(latest)
    start = 0 if start is None else start + 1
    end = t.steps if stop_after is None else min(t.steps, stop_after + 1)
    writer = MetricsWriter(workdir)
    bar = tqdm(total=t.steps, initial=start, desc="train", unit="step", disable=not progress)
    batches = train_loader.iterate(start)
    last_loss = val_loss = math.nan
    window_t0, window_steps, data_wait = time.perf_counter(), 0, 0.0
    steps_per_s = 0.0
    t_start = time.perf_counter()
    try:
        for step in range(start, end):
            t0 = time.perf_counter()
            batch = next(batches)
            data_wait += time.perf_counter() - t0
            trainer.params, trainer.opt_state, metrics = trainer.train_step(
                trainer.params, trainer.opt_state, trainer.device_batch(batch),
                jnp.asarray(step, jnp.int32))
            loss = float(metrics["loss"])
            if not math.isfinite(loss):
                raise NonFiniteLoss(
                    f"step {step}: training loss is {loss}; stopping without saving this state. "
                    f"The last good checkpoint (if any) is in {os.path.join(workdir, CKPT_DIR)}. "
                    f"Lower train.lr (now {t.lr}) or train.grad_clip, or check the dataset's "
                    f"normalisation stats for zero std.")
            last_loss = loss
            window_steps += 1
            bar.update(1)
            out_of_time = past_deadline(t_start, t.max_minutes)
            if out_of_time:
                end = step + 1  # this step is the run's last: logged, evaluated, saved
            if step % t.log_every == 0 or step == end - 1:
                dt = time.perf_counter() - window_t0
                steps_per_s = window_steps / dt
                scal = _scalars(metrics)
                scal.update(steps_per_s=steps_per_s, data_wait_s=data_wait / window_steps,
                            samples_per_s=steps_per_s * config.data.batch_size)
                writer.write(step, "train", scal)
                post = {"loss": f"{loss:.4f}"}
                if "skill_accuracy" in scal:  # absent without a skill head (flat BC)
                    post["acc"] = f"{scal['skill_accuracy']:.3f}"
                bar.set_postfix(post)
                window_t0, window_steps, data_wait = time.perf_counter(), 0, 0.0
            last = step == t.steps - 1 or out_of_time
            if (step + 1) % t.eval_every == 0 or last:
                val = evaluate(trainer, val_loader, t.eval_batches)
                val_loss = val["loss"]
                writer.write(step, "val", val)
                trainer.save(best, step, stats, {}, with_opt=False, metrics={"val_loss": val_loss})
            if (step + 1) % t.checkpoint_every == 0 or last or step == end - 1:
                trainer.save(latest, step, stats, {"step": step}, with_opt=True)
            if out_of_time:
                break
    finally:
        bar.close()
        writer.close()
        latest.wait_until_finished()
        best.wait_until_finished()
        latest.close()
        best.close()
    return TrainResult(step=end - 1, train_loss=last_loss, val_loss=val_loss,
                       steps_per_s=steps_per_s, workdir=os.path.abspath(workdir))
