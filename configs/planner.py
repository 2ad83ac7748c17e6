"""The language planner (LCB stage 1): instruction + scene -> plan text with <ACT> latents.

  robot-skills plan-train --config configs/planner.py --workdir runs/planner
  robot-skills plan "put the red can in the top drawer" --workdir runs/planner --seed 3

Default (0.71M parameters, vocabulary 373, 30k training samples, 2,000 steps of batch 32): 23 min on the
shared 2-core CPU (~1.9 steps/s while other jobs ran). Measured plan exact match (greedy):
seen phrasings 0.708, held-out templates 0.450, held-out (object, goal) pairs 0.703, seen
phrasings on real sim scenes 0.720; teacher-forced val loss was still falling at the end
(0.076 / 0.045 / 0.037 at steps 1k / 1.5k / 2k), so longer runs should do better.
Variant "small": a tiny model and corpus for tests and smoke runs (under a minute; no accuracy
claim).
"""

from __future__ import annotations

import ml_collections

VARIANTS = ("small",)


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    tokens = {t.strip() for t in variant.split(",") if t.strip()}
    unknown = sorted(tokens - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown config variant(s) {unknown}; valid variants: {VARIANTS}")
    small = "small" in tokens
    c = ml_collections.ConfigDict()

    d = c.data = ml_collections.ConfigDict()
    d.train_samples = 400 if small else 30_000  # size of the training corpus (split "train")
    d.min_count = 1  # vocabulary: words seen at least this often in the corpus
    d.scene_dropout = 0.05  # fraction of samples with no scene description
    d.byte_dropout = 0.02  # fraction of instruction words spelled as bytes
    d.batch_size = 32
    d.seed = 0  # corpus augmentation and batch order

    # robot_skills.planner.config.PlannerConfig (vocab_size comes from the tokenizer).
    m = c.model = ml_collections.ConfigDict()
    m.d_model = 32 if small else 128
    m.num_layers = 2 if small else 3
    m.num_heads = 4
    m.mlp_dim = 64 if small else 512
    m.prompt_len = 104  # <bos> instruction <scene> scene <sep>
    m.instruction_tokens = 48  # longer instructions are truncated with a warning
    m.plan_len = 64  # plan tokens incl. <eos> (two-object plans reach ~57)
    m.latent_dim = 128  # = the SkillTransformer's d_model ("default" size)
    m.max_act = 20  # latent codes per plan
    m.dropout = 0.0
    m.dtype = "float32"

    t = c.train = ml_collections.ConfigDict()
    t.steps = 60 if small else 2000
    t.lr = 3e-3 if small else 2e-3  # AdamW peak (warmup + cosine, train.train_job.make_optimizer)
    t.warmup_steps = 10 if small else 100
    t.min_lr_ratio = 0.05
    t.weight_decay = 1e-4
    t.grad_clip = 1.0
    t.seed = 0
    t.log_every = 10 if small else 25
    t.eval_every = 30 if small else 500  # teacher-forced loss on the `seen` split
    t.checkpoint_every = 30 if small else 500
    t.keep_checkpoints = 2
    t.max_minutes = 0.0  # > 0: stop (and evaluate) after this wall time, schedule unchanged

    e = c.eval = ml_collections.ConfigDict()
    e.samples = 32 if small else 400  # per split: seen, heldout_template, heldout_pair
    e.sim_samples = 0 if small else 100  # `seen` requests on real sim scenes (sample_scene)
    e.loss_samples = 64 if small else 512  # `seen` samples for the periodic teacher-forced loss
    e.batch_size = 32 if small else 100
    return c
