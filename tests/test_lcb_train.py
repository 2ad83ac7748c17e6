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


@pytest.fixture(scope="module")
def lcb_run(dataset, tmp_path_factory):
    from train.train_job import train
    work = str(tmp_path_factory.mktemp("lcb") / "work")
    return work, train(lcb_config("lcb"), work, data_dir=dataset, progress=False)


@pytest.mark.timeout(300)
def test_lcb_trains_with_the_trainer_and_its_checkpoint_restores(dataset, lcb_run):
    from robot_skills.data.loader import WindowLoader
    from robot_skills.planner.joint import lcb_loss
    from robot_skills.planner.stage2 import Stage2, load_lcb_checkpoint
    from train.train_job import device_batch
    config = lcb_config("lcb")
    work, r = lcb_run
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


@pytest.mark.timeout(300)
def test_the_policy_starts_from_a_plain_run_with_train_init_from(dataset, tmp_path):
    """Stage 2 may start its policy from a trained Skill Transformer run (the prefix tokens add
    no parameters): every policy parameter is the run's, the planner is untouched."""
    from configs.lcb import TINY_MODEL
    from robot_skills.policy.checkpoint import load_policy_checkpoint, model_params
    from train.train_job import Trainer, train
    plain = load_config("configs/rearrange_easy.py:small",
                        [f"model.{k}={v}" for k, v in TINY_MODEL.items()] +
                        ["data.window=4", "data.batch_size=8", "data.val_fraction=0.25",
                         "train.steps=1", "train.warmup_steps=1", "train.eval_every=1",
                         "train.checkpoint_every=1", "train.eval_batches=1"])
    train(plain, str(tmp_path / "plain"), data_dir=dataset, progress=False)
    base, _ = load_policy_checkpoint(str(tmp_path / "plain" / "checkpoints"))
    fresh = Trainer(lcb_config("lcb"), str(tmp_path / "fresh")).model()
    started = Trainer(lcb_config("lcb", f"train.init_from={tmp_path / 'plain'}"),
                      str(tmp_path / "started")).model()
    same = jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), model_params(base),
                        model_params(started.policy.transformer))
    assert all(jax.tree.leaves(same))
    differs = jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), model_params(base),
                           model_params(fresh.policy.transformer))
    assert not all(jax.tree.leaves(differs))  # the check can fail: a fresh policy differs
    same_planner = jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)),
                                model_params(fresh.planner), model_params(started.planner))
    assert all(jax.tree.leaves(same_planner))


@pytest.mark.timeout(300)
def test_eval_runs_an_lcb_workdir_with_heldout_phrasings(lcb_run):
    from train.eval_job import run_eval
    work, _ = lcb_run
    r = run_eval(work, task="pick", episodes=1, split="eval", envs=1, videos=0, workers=1,
                 progress=False, instructions="heldout_template")
    assert r["out"].endswith("eval_pick_eval_heldout_template")
    assert r["instructions"] == "heldout_template" and r["summary"]["episodes"] == 1
    # The report keeps each episode's instruction and decoded plan, and the closed-loop plan
    # exact match against the scene's ground-truth plan.
    from sim.instruction_samples import scene_instruction
    from sim.scene import sample_scene
    report = json.load(open(os.path.join(r["out"], "report.json")))
    row = report["episodes"][0]
    seed = row["seed"]
    lang = row["language"]
    assert lang["instruction"] == scene_instruction(sample_scene(seed, "pick"), seed,
                                                    "heldout_template")
    assert isinstance(lang["plan"], str) and isinstance(lang["plan_exact"], bool)
    pem = report["summary"]["plan_exact_match"]
    assert pem["n"] == 1 and pem["exact"] == int(lang["plan_exact"])
    with pytest.raises(ValueError, match="unknown instructions"):
        run_eval(work, task="pick", episodes=1, instructions="paraphrase")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("bridge", ["text", "oracle", "instruction"])
def test_the_agent_gives_each_episode_its_bridge_prefix(make_env, bridge):
    """Word bridges at reset: the plan (decoded, or ground truth for the oracle) or the
    instruction becomes the episode's prefix; then the policy steps, reading route lengths
    capped as the transformer was trained (ModelConfig.route_length_cap)."""
    from robot_skills.model import ModelConfig
    from robot_skills.planner.agent import LCBAgent
    from robot_skills.planner.bridge import BridgeConfig
    from robot_skills.planner.config import PlannerConfig
    from robot_skills.planner.corpus import fit_tokenizer
    from robot_skills.planner.joint import LCBModel
    from sim.instruction_samples import draw_samples
    from sim.observation import STATE_DIM, route_length_bounds
    from sim.plans import plan_for, plan_text
    tok = fit_tokenizer(draw_samples("train", 30))
    b = BridgeConfig(bridge=bridge)
    planner = PlannerConfig(vocab_size=tok.vocab_size, d_model=32, num_layers=1, num_heads=2,
                            mlp_dim=64, latent_dim=32, max_act=12)
    policy = ModelConfig(d_model=32, num_layers=1, num_heads=2, mlp_dim=64, state_hidden=32,
                         context=4, prefix_tokens=b.slots(planner), route_length_cap=3.0)
    model = LCBModel(policy, planner, b, rngs=nnx.Rngs(0))
    stats = {k: {"mean": [0.0] * n, "std": [1.0] * n} for k, n in (("state", STATE_DIM),
                                                                    ("action", 8))}
    env = make_env(task="pick", split="eval")
    obs, _ = env.reset(seed=0)
    agent = LCBAgent(model, tok, stats, None, [env])
    assert agent.policy.route_length_cap == 3.0
    np.testing.assert_array_equal(np.asarray(agent.policy._norm["state_hi"]),
                                  route_length_bounds(3.0))
    agent.reset(env_ids=[0])
    prefix, mask, plan = agent.prefix_for(env.scene)
    assert prefix.shape == (b.slots(planner), 32)
    if bridge == "instruction":
        assert mask.tolist() == [True] and plan == ""
    else:  # one slot per plan step (a random planner's decoded plan may have none)
        assert mask.sum() == min(plan.count("<ACT>"), b.slots(planner))
    if bridge == "oracle":
        assert plan == plan_text(plan_for(env.scene))
    out = agent.act([obs])
    assert out["action"].shape == (1, 8) and np.isfinite(out["action"]).all()
