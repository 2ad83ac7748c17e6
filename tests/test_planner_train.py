"""Planner training: a tiny planner learns a handful of (instruction, plan) pairs to exact
match by greedy decoding, checkpoints rebuild the same planner, and the plan-train job resumes
and evaluates."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import optax
import pytest

from robot_skills.planner.checkpoint import Planner, save_planner_checkpoint
from robot_skills.planner.config import PlannerConfig
from robot_skills.planner.corpus import batch, encode_samples, fit_tokenizer
from robot_skills.planner.train import PlannerTrainer, build_planner, exact_match
from sim.instruction_samples import draw_samples
from train.config import load_config

HANDFUL = 8


@pytest.fixture(scope="module")
def overfit():
    """A tiny planner trained on 8 samples (one full batch) for 150 AdamW steps."""
    samples = [s for s in draw_samples("train", 40) if not s.two_object][:HANDFUL]
    tok = fit_tokenizer(samples)
    config = PlannerConfig(vocab_size=tok.vocab_size, d_model=64, num_layers=2, num_heads=4,
                           mlp_dim=128, latent_dim=16, max_act=12)
    arrays = encode_samples(tok, samples, config)
    trainer = PlannerTrainer(build_planner(config, 0), optax.adamw(3e-3), seed=0)
    t0 = time.perf_counter()
    for step in range(150):
        metrics = trainer.step(batch(arrays, step, HANDFUL, 0, config.prompt_len), step)
    return samples, tok, trainer, float(metrics["loss"]), time.perf_counter() - t0


@pytest.mark.timeout(180)
def test_tiny_planner_overfits_a_handful_of_pairs_to_exact_match(overfit):
    samples, tok, trainer, loss, seconds = overfit
    assert loss < 0.05, loss
    result = exact_match(trainer.planner(), tok, samples, batch_size=HANDFUL)
    wrong = [(r["target"], r["predicted"]) for r in result["rows"] if not r["exact"]]
    assert result["exact_match"] == 1.0, wrong
    assert result["parse_rate"] == 1.0


@pytest.mark.timeout(180)
def test_checkpoint_rebuilds_the_same_planner(overfit, tmp_path):
    samples, tok, trainer, _, _ = overfit
    planner = trainer.planner()
    save_planner_checkpoint(str(tmp_path / "ckpt"), planner, tok, step=7)
    loaded = Planner.load(str(tmp_path / "ckpt"))
    assert loaded.config == planner.config and loaded.tokenizer.vocab == tok.vocab
    s = samples[0]
    got = loaded.plan(s.instruction, s.scene)
    want = Planner(planner, tok).plan(s.instruction, s.scene)
    assert got.text == want.text == s.plan_text
    np.testing.assert_allclose(got.latents, want.latents, atol=1e-6)
    assert got.latents.shape == (planner.config.max_act, planner.config.latent_dim)
    assert int(got.mask.sum()) == len(s.plan)
    # An instruction without a scene still plans (with a warning), never crashes.
    with pytest.warns(UserWarning, match="without a scene"):
        assert loaded.plan("put the red mug in the top drawer").text


@pytest.mark.slow  # ~80 s on the shared 2-core machine (compiles train, eval and decode shapes)
@pytest.mark.timeout(300)
def test_plan_train_job_resumes_and_reports_exact_match(tmp_path):
    from train.plan_job import format_table, plan_command, train_planner
    config = load_config("configs/planner.py:small", [
        "data.train_samples=64", "train.steps=3", "eval.samples=4", "eval.loss_samples=32",
        "train.eval_every=100", "train.checkpoint_every=100", "train.log_every=1"])
    workdir = str(tmp_path / "planner")
    first = train_planner(config, workdir, progress=False, stop_after=0)
    assert first.step == 0
    second = train_planner(config, workdir, progress=False)
    assert second.step == 2
    steps = [json.loads(line)["step"] for line in open(os.path.join(workdir, "metrics.jsonl"))
             if json.loads(line)["split"] == "train"]
    assert steps == [0, 1, 2]  # the rerun started after the saved step
    report = json.load(open(os.path.join(workdir, "eval.json")))
    assert set(report["splits"]) == {"seen", "heldout_template", "heldout_pair"}
    for r in report["splits"].values():
        assert 0.0 <= r["exact_match"] <= 1.0 and r["samples"] == 4
    assert "heldout_pair" in format_table(second.evaluation)
    out = plan_command(workdir, "put the red can on the table", seed=3)
    assert out["latents_shape"] == [config.model.max_act, config.model.latent_dim]
    assert out["scene"].startswith("robot in room")
