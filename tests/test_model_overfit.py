"""The loss: each term masked, gripper classes from the sign of the raw command, and a model that
can drive it down (overfits a tiny synthetic batch with optax AdamW)."""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np
import optax
import pytest
from flax import nnx

from robot_skills.model import (ModelConfig, SkillTransformer, loss_from_outputs, model_section,
                                skill_transformer_loss)
from robot_skills.model.actions import (bin_centers, check_bin_normalization, decode_bins,
                                        gripper_threshold, two_hot)
from robot_skills.model.config import LossConfig
from sim.observation import STATE_DIM

METRICS = {"loss", "skill_loss", "base_mse", "arm_mse", "gripper_loss", "skill_accuracy",
           "gripper_accuracy"}


def synthetic_batch(B=8, T=8, D=STATE_DIM, S=7, seed=0):
    """Targets that are functions of the current state: learnable, not just memorisable."""
    rng = np.random.default_rng(seed)
    state = rng.normal(size=(B, T, D)).astype(np.float32)
    skill = state[..., :S].argmax(-1).astype(np.int32)
    action = np.concatenate([np.tanh(state[..., S:S + 7]), np.sign(state[..., S + 7:S + 8])], -1)
    mask = np.ones((B, T), bool)
    mask[: B // 2, :3] = False  # left padding in half of the windows
    for a in (state, action):
        a[~mask] = 0
    skill[~mask] = 0
    return {"observation": {"state": state}, "action": action.astype(np.float32),
            "skill": skill, "mask": mask}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("bins,bin_dims", [(0, "all"), (32, "all"), (32, "base")],
                         ids=["regression", "binned", "binned_base"])
def test_model_overfits_a_tiny_batch(bins, bin_dims):
    config = ModelConfig.from_config(model_section("small"))
    config = dataclasses.replace(config, action_bins=bins, bin_dims=bin_dims)
    model = SkillTransformer(config, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adamw(3e-3), wrt=nnx.Param)
    batch = jax.tree.map(np.asarray, synthetic_batch())

    @nnx.jit
    def train_step(model, optimizer, batch):
        grad_fn = nnx.value_and_grad(skill_transformer_loss, has_aux=True)
        (loss, metrics), grads = grad_fn(model, batch)
        optimizer.update(model, grads)
        return metrics

    first = {k: float(v) for k, v in train_step(model, optimizer, batch).items()}
    binned_metrics = {"all": {"base_ce", "arm_ce"}, "base": {"base_ce"}}[bin_dims]
    assert set(first) == METRICS | (binned_metrics if bins else set())
    t0 = time.perf_counter()
    for _ in range(300):
        last = train_step(model, optimizer, batch)
    last = {k: float(v) for k, v in last.items()}
    assert time.perf_counter() - t0 < 60
    # A two-hot target has entropy (up to ln 2 per dim): the binned loss cannot reach 0.
    assert last["loss"] < first["loss"] / (5 if bins else 20), (first, last)
    assert last["skill_accuracy"] == 1.0 and last["gripper_accuracy"] == 1.0
    # The read-out action (argmax bins for the binned head) fits the targets as well.
    assert last["arm_mse"] < first["arm_mse"] / 20 and last["arm_mse"] < 0.01, (first, last)
    assert last["base_mse"] < first["base_mse"] / 20 and last["base_mse"] < 0.01, (first, last)


def _outputs(batch, seed=0):
    B, T = batch["skill"].shape
    rng = np.random.default_rng(seed)
    return {"skill_logits": rng.normal(size=(B, T, 7)).astype(np.float32),
            "action": rng.normal(size=(B, T, 7)).astype(np.float32),
            "gripper_logits": rng.normal(size=(B, T, 2)).astype(np.float32)}


@pytest.mark.parametrize("skill_loss", ["cross_entropy", "focal"])
def test_padded_steps_do_not_change_the_loss(skill_loss):
    batch = synthetic_batch()
    out = _outputs(batch)
    cfg = LossConfig(skill_loss=skill_loss)
    loss, metrics = loss_from_outputs(out, batch, cfg)
    pad = ~batch["mask"]
    batch2 = jax.tree.map(np.copy, batch)
    batch2["action"][pad] = 5.0
    batch2["skill"][pad] = 3
    out2 = {k: v.copy() for k, v in out.items()}
    out2["action"][pad] = -9.0
    loss2, metrics2 = loss_from_outputs(out2, batch2, cfg)
    assert float(loss2) == pytest.approx(float(loss), rel=1e-6)
    for k in metrics:
        assert float(metrics2[k]) == pytest.approx(float(metrics[k]), rel=1e-6), k


def test_loss_is_the_weighted_sum_of_its_terms():
    batch = synthetic_batch()
    cfg = LossConfig(skill_weight=2.0, base_weight=0.5, arm_weight=3.0, gripper_weight=0.25)
    loss, m = loss_from_outputs(_outputs(batch), batch, cfg)
    expected = (2.0 * m["skill_loss"] + 0.5 * m["base_mse"] + 3.0 * m["arm_mse"]
                + 0.25 * m["gripper_loss"])
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)


def test_focal_loss_down_weights_easy_examples():
    batch = synthetic_batch()
    out = _outputs(batch)
    out["skill_logits"] = 10.0 * np.eye(7, dtype=np.float32)[batch["skill"]]  # confident, right
    ce = loss_from_outputs(out, batch, LossConfig())[1]["skill_loss"]
    focal = loss_from_outputs(out, batch, LossConfig(skill_loss="focal"))[1]["skill_loss"]
    assert 0 <= float(focal) < float(ce) * 1e-3


def test_gripper_class_boundary_is_the_raw_zero_command_in_normalised_units():
    stats = {"mean": [0.0] * 7 + [0.4], "std": [1.0] * 7 + [0.5]}
    assert gripper_threshold(stats, "none") == 0.0
    assert gripper_threshold(stats, "mean_std") == pytest.approx(-0.8)  # (0 - 0.4) / 0.5


@pytest.mark.timeout(60)
def test_dropout_needs_a_key_and_is_a_pure_function_of_it():
    config = ModelConfig(d_model=32, num_layers=2, num_heads=2, mlp_dim=64, state_hidden=32,
                         context=5, dropout=0.3)
    model = SkillTransformer(config, rngs=nnx.Rngs(0))
    batch = synthetic_batch(B=2, T=4)
    f = jax.jit(lambda b, k: skill_transformer_loss(model, b, k)[0])
    g = jax.jit(lambda b: skill_transformer_loss(model, b)[0])
    k1, k2 = jax.random.key(1), jax.random.key(2)
    assert float(f(batch, k1)) == float(f(batch, k1))
    assert float(f(batch, k1)) != float(f(batch, k2))
    assert float(g(batch)) == float(g(batch))


def test_condition_skill_drives_the_action_and_skill_stays_the_target():
    """A loader batch with `condition_skill` (data.skill_shift): the action is conditioned on
    it; the skill loss still scores the head against `skill`."""
    config = ModelConfig.from_config(model_section("small"))
    model = SkillTransformer(config, rngs=nnx.Rngs(0))
    batch = synthetic_batch(T=1)
    batch["mask"][:] = True
    _, plain = skill_transformer_loss(model, batch)
    same = dict(batch, condition_skill=batch["skill"].copy())
    _, with_same = skill_transformer_loss(model, same)
    for k in METRICS:
        np.testing.assert_allclose(float(with_same[k]), float(plain[k]), rtol=1e-6)
    other = dict(batch, condition_skill=(batch["skill"] + 1) % config.num_skills)
    _, shifted = skill_transformer_loss(model, other)
    # one step per window: the state token the skill head reads precedes the skill token
    np.testing.assert_allclose(float(shifted["skill_loss"]), float(plain["skill_loss"]),
                               rtol=1e-6)
    assert abs(float(shifted["arm_mse"]) - float(plain["arm_mse"])) > 1e-6


def test_two_hot_targets_read_out_to_their_value():
    x = np.array([-1.0, -0.9999, -0.37, 0.0, 0.013, 0.5, 1.0, 1.7], np.float32)
    t = np.asarray(two_hot(x, 64))
    assert t.shape == (8, 64) and np.allclose(t.sum(-1), 1.0) and (t >= 0).all()
    assert ((t > 0).sum(-1) <= 2).all()
    centers = np.asarray(bin_centers(64))
    np.testing.assert_allclose(t @ centers, np.clip(x, -1, 1), atol=1e-6)
    # The read-out of log-targets recovers the value (two neighbouring bins, readout >= 1).
    np.testing.assert_allclose(decode_bins(np.log(t + 1e-12), readout=2), np.clip(x, -1, 1),
                               atol=1e-5)


def test_bin_readout_picks_one_mode_where_a_regression_would_average():
    centers = np.asarray(bin_centers(64))
    # Two equally likely labels, -0.5 and +0.5 (turn left / right): the mean is 0, a stall.
    probs = 0.5 * np.asarray(two_hot(np.float32(-0.5), 64)) + \
        0.52 * np.asarray(two_hot(np.float32(0.5), 64))
    value = float(decode_bins(np.log(probs + 1e-12), readout=2))
    assert float(probs @ centers / probs.sum()) == pytest.approx(0.0, abs=0.02)
    assert value == pytest.approx(0.5, abs=1e-4)


def test_binned_head_needs_actions_in_the_unit_range():
    check_bin_normalization(64, "none")
    check_bin_normalization(0, "mean_std")
    with pytest.raises(ValueError, match="data.normalization.action is 'mean_std'"):
        check_bin_normalization(64, "mean_std")
    with pytest.raises(ValueError, match="action_bins must be 0"):
        ModelConfig(action_bins=1)
    with pytest.raises(ValueError, match="unknown bin_dims 'arm'"):
        ModelConfig(action_bins=8, bin_dims="arm")


def test_base_only_bins_leave_the_arm_regressed():
    """bin_dims="base": logits for the 2 base dims only; the arm's read-out is the head's raw
    regression output, and the loss has a base cross-entropy but the arm's MSE."""
    config = dataclasses.replace(ModelConfig.from_config(model_section("small")), action_bins=8,
                                 bin_dims="base")
    model = SkillTransformer(config, rngs=nnx.Rngs(0))
    batch = jax.tree.map(np.asarray, synthetic_batch())
    out = model(batch["observation"], batch["skill"], mask=batch["mask"])
    B, T = batch["skill"].shape
    assert out["action_logits"].shape == (B, T, 2, 8) and out["action"].shape == (B, T, 7)
    np.testing.assert_allclose(out["action"][..., :2], decode_bins(out["action_logits"], 2),
                               atol=1e-6)
    _, metrics = loss_from_outputs(out, batch, config.loss)
    assert "base_ce" in metrics and "arm_ce" not in metrics
    err = (np.asarray(out["action"]) - batch["action"][..., :7]) ** 2
    m = batch["mask"]
    np.testing.assert_allclose(float(metrics["arm_mse"]), err[..., 2:7].mean(-1)[m].mean(),
                               rtol=1e-5)
