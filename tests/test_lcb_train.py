"""`robot-skills train --config configs/lcb.py:<variant>` on a tiny real RLDS dataset: the joint
model trains with the same Trainer (metrics, checkpoints), its checkpoint rebuilds the model,
and a planner initialised from a stage-1 checkpoint and frozen stays exactly as loaded."""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from train.config import load_config


def lcb_config(variant: str, *overrides):
    return load_config(f"configs/lcb.py:{variant},tiny,easy", list(overrides))


@pytest.fixture(scope="module")
def dataset(write_dataset):
    return write_dataset("lcb_data", lcb_config("lcb"), 4)


def _rows(workdir, split):
    rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    return [r for r in rows if r["split"] == split]


def test_every_variant_config_loads():
    for v in ("lcb", "lcb_frozen", "text_bridge", "oracle", "no_planner"):
        c = load_config(f"configs/lcb.py:{v}")
        assert c.model.prefix_tokens == (1 if v == "no_planner" else c.planner.model.max_act)
        assert c.planner.model.latent_dim == c.model.d_model
    assert load_config("configs/lcb.py:lcb_frozen").train.freeze == "planner_frozen"
    with pytest.raises(ValueError, match="exactly one"):
        load_config("configs/lcb.py:lcb,oracle")


@pytest.mark.timeout(300)
def test_lcb_trains_with_the_trainer_and_its_checkpoint_restores(dataset, tmp_path):
    from robot_skills.data.loader import WindowLoader
    from robot_skills.planner.joint import lcb_loss
    from robot_skills.planner.stage2 import Stage2, load_lcb_checkpoint
    from train.train_job import device_batch, train
    config = lcb_config("lcb")
    work = str(tmp_path / "lcb")
    r = train(config, work, data_dir=dataset, progress=False)
    assert r.step == 2 and np.isfinite(r.train_loss) and np.isfinite(r.val_loss)
    train_rows = _rows(work, "train")
    assert [row["step"] for row in train_rows] == [0, 1, 2]
    assert all(np.isfinite(row["lm_loss"]) and np.isfinite(row["policy_loss"])
               for row in train_rows)
    assert os.path.exists(os.path.join(work, "tokenizer.json"))
    model, tok, meta = load_lcb_checkpoint(os.path.join(work, "checkpoints"))
    assert meta["bridge"]["bridge"] == "lcb" and model.planner is not None
    # The restored model reproduces the validation loss logged at the last step.
    stage2 = Stage2(config, work)
    val = stage2.windows(WindowLoader.from_config(config, "val", dataset))
    b = device_batch(val.batch(0), None, stage2.batch_keys)
    loss, _ = jax.jit(lambda m, b: lcb_loss(m, b))(model, b)
    np.testing.assert_allclose(float(loss), _rows(work, "val")[-1]["loss"], rtol=1e-5)


@pytest.mark.timeout(300)
def test_a_frozen_stage1_planner_is_loaded_and_never_changes(dataset, tmp_path):
    from robot_skills.planner.checkpoint import save_planner_checkpoint
    from robot_skills.planner.config import PlannerConfig
    from robot_skills.planner.corpus import fit_tokenizer
    from robot_skills.planner.model import LatentPlanner
    from robot_skills.planner.stage2 import load_lcb_checkpoint
    from robot_skills.policy.checkpoint import model_params
    from sim.instruction_samples import draw_samples
    from train.train_job import train
    tok = fit_tokenizer(draw_samples("train", 50))
    stage1 = LatentPlanner(PlannerConfig(vocab_size=tok.vocab_size, d_model=32, num_layers=1,
                                         num_heads=2, mlp_dim=64, max_act=12, latent_dim=16),
                           rngs=nnx.Rngs(5))
    save_planner_checkpoint(str(tmp_path / "stage1"), stage1, tok)
    work = str(tmp_path / "frozen")
    train(lcb_config("lcb_frozen", f"planner.init={tmp_path / 'stage1'}", "train.steps=2"),
          work, data_dir=dataset, progress=False)
    model, got_tok, meta = load_lcb_checkpoint(os.path.join(work, "checkpoints"))
    assert got_tok.to_dict() == tok.to_dict()
    assert meta["planner"]["latent_dim"] == 32  # the bridge takes the policy's width
    same = jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), model_params(stage1.lm),
                        model_params(model.planner.lm))
    assert all(jax.tree.leaves(same))
