"""`robot-skills plan-train` and `robot-skills plan`: stage 1 of the LCB planner.

plan-train: corpus (sim.instruction_samples "train") -> tokenizer fitted on it -> LatentPlanner
-> AdamW on the plan tokens' cross-entropy (tqdm, metrics.jsonl + TensorBoard, orbax
checkpoints that a rerun resumes from, best by teacher-forced loss on the `seen` split) ->
plan exact match on seen phrasings, held-out templates, held-out pairs (and `seen` requests on
real sim scenes): a table on stdout and WORKDIR/eval.json.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
from tqdm import tqdm

from robot_skills.planner.checkpoint import Planner, checkpoint_items
from robot_skills.planner.config import PlannerConfig
from robot_skills.planner.corpus import batch, encode_samples, training_corpus, trim
from robot_skills.planner.tokenizer import PlanTokenizer
from robot_skills.planner.train import PlannerTrainer, build_planner, exact_match
from sim.instruction_samples import draw_samples
from train.train_job import (OPT, TRAIN_STATE, MetricsWriter, NonFiniteLoss, checkpoint_managers,
                             make_optimizer, past_deadline, restore_latest)

TOKENIZER_FILE = "tokenizer.json"
EVAL_SPLITS = ("seen", "heldout_template", "heldout_pair")


@dataclasses.dataclass
class PlanTrainResult:
    step: int
    train_loss: float
    val_loss: float
    steps_per_s: float
    minutes: float
    evaluation: dict
    workdir: str


def val_loss(trainer: PlannerTrainer, arrays: dict, batch_size: int, prompt_len: int) -> dict:
    """Teacher-forced metrics averaged over fixed `seen` batches."""
    n = len(arrays["tokens"]) // batch_size
    acc: dict[str, float] = {}
    for i in range(n):
        chunk = trim({k: v[i * batch_size:(i + 1) * batch_size] for k, v in arrays.items()},
                     prompt_len)
        for k, v in jax.device_get(trainer.eval_metrics(chunk)).items():
            acc[k] = acc.get(k, 0.0) + float(v) / n
    return acc


def evaluate_planner(planner, tok, eval_cfg, progress: bool = False) -> dict:
    """Exact match per split ({split: exact_match(...) without rows} + rows kept apart)."""
    out = {}
    names = list(EVAL_SPLITS) + (["seen_sim_scenes"] if eval_cfg.sim_samples > 0 else [])
    for name in tqdm(names, desc="eval", disable=not progress):
        if name == "seen_sim_scenes":
            samples = draw_samples("seen", eval_cfg.sim_samples, real=True)
        else:
            samples = draw_samples(name, eval_cfg.samples)
        t0 = time.perf_counter()
        out[name] = exact_match(planner, tok, samples, eval_cfg.batch_size)
        out[name]["seconds"] = time.perf_counter() - t0
    return out


def format_table(evaluation: dict) -> str:
    lines = [f"  {'split':<18} {'exact match':>11} {'parses':>7} {'n':>5}   per task"]
    for name, r in evaluation.items():
        per = ", ".join(f"{k} {v:.2f}" for k, v in r["per_task"].items())
        lines.append(f"  {name:<18} {r['exact_match']:>11.3f} {r['parse_rate']:>7.3f} "
                     f"{r['samples']:>5}   {per}")
    return "\n".join(lines)


def write_evaluation(workdir: str, evaluation: dict, step: int) -> str:
    path = os.path.join(workdir, "eval.json")
    with open(path, "w") as f:
        json.dump({"step": step, "splits": evaluation}, f, indent=1)
    return path


def train_planner(config, workdir: str, *, progress: bool = True, stop_after: int | None = None
                  ) -> PlanTrainResult:
    """Trains (or resumes) in `workdir`, then evaluates the final parameters."""
    t_start = time.perf_counter()
    workdir = os.path.abspath(workdir)
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write(config.to_json_best_effort(indent=2))
    t, d = config.train, config.data
    # Resuming reuses the workdir's tokenizer (ids must not move); else it is fitted here.
    tok_path = os.path.join(workdir, TOKENIZER_FILE)
    tok = PlanTokenizer.load(tok_path) if os.path.exists(tok_path) else None
    layout_cfg = PlannerConfig.from_config(config.model)  # vocab_size is not needed to lay out
    tok, _, arrays = training_corpus(d, layout_cfg, tok)
    tok.save(tok_path)
    model_cfg = dataclasses.replace(layout_cfg, vocab_size=tok.vocab_size)
    val_arrays = encode_samples(tok, draw_samples("seen", config.eval.loss_samples), model_cfg)
    tx, schedule = make_optimizer(t)
    trainer = PlannerTrainer(build_planner(model_cfg, t.seed), tx, t.seed)
    latest, best = checkpoint_managers(workdir, t.keep_checkpoints)
    restored = restore_latest(latest, trainer.params, trainer.opt_state)
    start = 0
    if restored is not None:
        step, trainer.params, trainer.opt_state = restored
        start = step + 1
    end = t.steps if stop_after is None else min(t.steps, stop_after + 1)
    writer = MetricsWriter(workdir)
    bar = tqdm(total=t.steps, initial=start, desc="plan-train", unit="step", disable=not progress)
    last_loss = val = math.nan
    steps_per_s, window_t0, window_steps, step = 0.0, time.perf_counter(), 0, start - 1

    def save(mngr, step, with_opt, metrics=None):
        items = checkpoint_items(trainer.planner(), tok, config)
        if with_opt:
            items[OPT] = ocp.args.StandardSave(trainer.opt_state)
            items[TRAIN_STATE] = ocp.args.JsonSave({"step": step})
        mngr.save(step, args=ocp.args.Composite(**items), metrics=metrics, force=True)

    try:
        for step in range(start, end):
            metrics = trainer.step(batch(arrays, step, d.batch_size, d.seed,
                                         model_cfg.prompt_len), step)
            loss = float(metrics["loss"])
            if not math.isfinite(loss):
                raise NonFiniteLoss(f"step {step}: planner loss is {loss}; lower train.lr "
                                    f"(now {t.lr}) or train.grad_clip")
            last_loss, window_steps = loss, window_steps + 1
            bar.update(1)
            out_of_time = past_deadline(t_start, t.max_minutes)
            final = step == t.steps - 1 or out_of_time or step == end - 1
            if step % t.log_every == 0 or final:
                steps_per_s = window_steps / (time.perf_counter() - window_t0)
                scal = {k: float(v) for k, v in jax.device_get(metrics).items()}
                scal.update(steps_per_s=steps_per_s, lr=float(schedule(step)))
                writer.write(step, "train", scal)
                bar.set_postfix(loss=f"{loss:.4f}", seq=f"{scal['sequence_accuracy']:.2f}")
                window_t0, window_steps = time.perf_counter(), 0
            if (step + 1) % t.eval_every == 0 or final:
                v = val_loss(trainer, val_arrays, config.eval.batch_size, model_cfg.prompt_len)
                val = v["loss"]
                writer.write(step, "val", v)
                save(best, step, False, {"val_loss": val})
            if (step + 1) % t.checkpoint_every == 0 or final:
                save(latest, step, True)
            if out_of_time:
                break
    finally:
        bar.close()
        writer.close()
        for m in (latest, best):
            m.wait_until_finished()
            m.close()
    evaluation = evaluate_planner(trainer.planner(), tok, config.eval, progress)
    write_evaluation(workdir, evaluation, step)
    return PlanTrainResult(step=step, train_loss=last_loss, val_loss=val,
                           steps_per_s=steps_per_s, minutes=(time.perf_counter() - t_start) / 60,
                           evaluation=evaluation, workdir=workdir)


def plan_command(workdir: str, instruction: str, *, scene: str | None = None,
                 seed: int | None = None, task: str = "rearrange_hard") -> dict:
    """What `robot-skills plan` prints: the plan for an instruction, with the scene given as
    text, drawn from the sim (`seed`, `task`), or absent."""
    planner = Planner.load(workdir)
    if scene is None and seed is not None:
        from sim.scene import sample_scene
        from sim.scene_facts import scene_text
        scene = scene_text(sample_scene(seed, task))
    result = planner.plan(instruction, scene)
    n = int(np.sum(result.mask))
    return {"instruction": instruction, "scene": scene, "plan": result.text,
            "latents_shape": list(result.latents.shape), "latent_codes": n}
