"""Stage 1 of LCB: the planner learns to write the plan (LM cross-entropy on the plan tokens
only, the prompt is context), and plan exact-match evaluation by greedy decoding.

`lm_loss` is a pure function of (planner, batch, key), `PlannerTrainer` holds the jitted AdamW
step over nnx.split parameters (the same optimizer factory as the policy's train job).
"""

from __future__ import annotations

import collections
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from robot_skills.planner.config import PlannerConfig
from robot_skills.planner.corpus import prompt_start
from robot_skills.planner.decode import jit_plan_fn
from robot_skills.planner.model import LatentPlanner
from robot_skills.planner.sequence import encode_prompt, layout, plan_ids
from robot_skills.planner.tokenizer import PlanTokenizer
from sim.plans import PlanParseError, parse_plan

BATCH_KEYS = ("tokens", "valid", "targets", "loss_mask")


def lm_loss(planner: LatentPlanner, batch: dict, rng=None) -> tuple[jax.Array, dict]:
    """Mean next-token cross-entropy over batch["loss_mask"] (the plan and its <eos>).
    Metrics: loss, token_accuracy, sequence_accuracy (every plan token right, teacher forced)."""
    logits = planner.logits(batch["tokens"], batch["valid"], rng=rng)  # (B, L, V)
    return lm_loss_from_logits(logits, batch["targets"], batch["loss_mask"])


def lm_loss_from_logits(logits, targets, loss_mask) -> tuple[jax.Array, dict]:
    """lm_loss's math on given logits (B, L, V), targets (B, L), loss_mask (B, L) (stage 2
    computes the logits and the latents in one pass)."""
    targets = jnp.asarray(targets, jnp.int32)
    mask = jnp.asarray(loss_mask, bool)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, targets)  # (B, L)
    m = mask.astype(jnp.float32)
    loss = (ce * m).sum() / jnp.maximum(m.sum(), 1.0)
    right = (jnp.argmax(logits, -1) == targets) | ~mask
    token_acc = ((right & mask).sum() / jnp.maximum(mask.sum(), 1)).astype(jnp.float32)
    return loss, {"loss": loss, "token_accuracy": token_acc,
                  "sequence_accuracy": right.all(axis=1).mean()}


class PlannerTrainer:
    """Parameters, optimizer state and the jitted train / eval steps of one planner."""

    def __init__(self, planner: LatentPlanner, tx: optax.GradientTransformation, seed: int = 0):
        self.graphdef, params, self.rest = nnx.split(planner, nnx.Param, ...)
        self.params = params
        self.tx = tx
        self.opt_state = tx.init(params)
        self.base_key = jax.random.key(seed)
        dropout = planner.config.dropout > 0
        graphdef, rest = self.graphdef, self.rest

        def loss_fn(params, batch, key):
            return lm_loss(nnx.merge(graphdef, params, rest), batch, key if dropout else None)

        def train_step(params, opt_state, batch, step):
            key = jax.random.fold_in(self.base_key, step)
            (_, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch, key)
            updates, opt_state = tx.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            return params, opt_state, dict(metrics, grad_norm=optax.tree.norm(grads))

        self._train_step = jax.jit(train_step, donate_argnums=(0, 1))
        self._eval_step = jax.jit(lambda params, batch: loss_fn(params, batch, None)[1])

    def planner(self) -> LatentPlanner:
        return nnx.merge(self.graphdef, self.params, self.rest)

    def step(self, batch: dict, step: int) -> dict:
        b = {k: jnp.asarray(batch[k]) for k in BATCH_KEYS}
        self.params, self.opt_state, metrics = self._train_step(
            self.params, self.opt_state, b, jnp.asarray(step, jnp.int32))
        return metrics

    def eval_metrics(self, batch: dict) -> dict:
        return self._eval_step(self.params, {k: jnp.asarray(batch[k]) for k in BATCH_KEYS})


@dataclasses.dataclass
class DecodedPlan:
    text: str  # plan text as decoded (normalised)
    latents: np.ndarray  # (max_act, latent_dim)
    mask: np.ndarray  # (max_act,) bool

    def steps(self):
        """Parsed steps (sim.skills.SkillCall); raises sim.plans.PlanParseError."""
        return parse_plan(self.text)


def decode_plans(planner: LatentPlanner, tok: PlanTokenizer, instructions: list[str],
                 scenes: list[str], batch_size: int = 64, plan_fn=None) -> list[DecodedPlan]:
    """Greedy plans for (instruction, scene) pairs, batched; the last batch is padded to
    `batch_size` so that one compiled shape serves every call."""
    c = planner.config
    plan_fn = plan_fn or jit_plan_fn(planner)
    prompts = [encode_prompt(tok, i, s, c) for i, s in zip(instructions, scenes)]
    out: list[DecodedPlan] = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start:start + batch_size]
        arr = layout(chunk + [chunk[-1]] * (batch_size - len(chunk)), None, c)
        P = c.prompt_len
        lo = prompt_start(arr["valid"], P)  # drop all-padding columns (fewer FLOPs)
        plan, z, mask = jax.device_get(plan_fn(arr["tokens"][:, lo:P], arr["valid"][:, lo:P]))
        for b in range(len(chunk)):
            text = tok.decode(plan_ids(plan[b]))
            out.append(DecodedPlan(text, np.asarray(z[b]), np.asarray(mask[b])))
    return out


def exact_match(planner: LatentPlanner, tok: PlanTokenizer, samples, batch_size: int = 64,
                plan_fn=None) -> dict:
    """Plan exact match (decoded text == ground-truth plan text) over samples, with the rate of
    parseable plans and the exact match per task; `rows` keep each sample's prediction."""
    decoded = decode_plans(planner, tok, [s.instruction for s in samples],
                           [s.scene for s in samples], batch_size, plan_fn)
    rows, per_task = [], collections.defaultdict(list)
    for s, d in zip(samples, decoded):
        ok = d.text == s.plan_text
        try:
            d.steps()
            parses = True
        except PlanParseError:
            parses = False
        per_task[s.task].append(ok)
        rows.append({"index": s.index, "task": s.task, "instruction": s.instruction,
                     "scene": s.scene, "target": s.plan_text, "predicted": d.text,
                     "exact": ok, "parses": parses})
    n = max(len(rows), 1)
    return {"exact_match": sum(r["exact"] for r in rows) / n,
            "parse_rate": sum(r["parses"] for r in rows) / n, "samples": len(rows),
            "per_task": {k: float(np.mean(v)) for k, v in sorted(per_task.items())},
            "rows": rows}


def build_planner(config: PlannerConfig, seed: int = 0) -> LatentPlanner:
    return LatentPlanner(config, rngs=nnx.Rngs(seed))
