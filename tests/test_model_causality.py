"""Causality of the full-window SkillTransformer: outputs at step t never depend on inputs after
t, the skill logits never see the step's own skill, left padding is invisible."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx

from robot_skills.model import ModelConfig, SkillTransformer

TINY = dict(d_model=32, num_layers=2, num_heads=2, mlp_dim=64, state_hidden=32, context=5)
VARIANTS = {
    "state": ModelConfig(**TINY),
    "depth+task": ModelConfig(**TINY, image_keys=("depth",), image_size=16,
                              cnn_channels=(4, 8), num_tasks=3),
    "planner_prefix": ModelConfig(**TINY, prefix_tokens=2),
}
B, T = 2, 6


def _inputs(config, seed=0):
    rng = np.random.default_rng(seed)
    obs = {"state": rng.normal(size=(B, T, config.state_dim)).astype(np.float32)}
    if "depth" in config.image_keys:
        n = config.image_size
        obs["depth"] = rng.uniform(0, 4, (B, T, n, n, 1)).astype(np.float32)
    kw = {}
    if config.num_tasks:
        kw["task_id"] = np.array([0, 2], np.int32)
    if config.prefix_tokens:
        kw["prefix"] = rng.normal(size=(B, config.prefix_tokens, config.d_model)
                                  ).astype(np.float32)
    skill = rng.integers(0, config.num_skills, (B, T)).astype(np.int32)
    return obs, skill, kw


@pytest.fixture(scope="module", params=list(VARIANTS))
def model(request):
    return SkillTransformer(VARIANTS[request.param], rngs=nnx.Rngs(0))


_JITTED = {}


def _run(model, obs, skill, mask=None, **kw):
    """model(obs, skill, mask, **kw) under one jit per model (kw: that model's fixed prefix)."""
    if id(model) not in _JITTED:  # the entry keeps the model alive, so its id is never reused
        _JITTED[id(model)] = model, jax.jit(lambda o, s, m, kw: model(o, s, mask=m, **kw))
    if mask is None:
        mask = np.ones(skill.shape, bool)
    out = _JITTED[id(model)][1](obs, skill, mask, kw)
    return {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("t", [0, 2, T - 2])
def test_future_steps_do_not_change_past_skill_logits_or_actions(model, t):
    obs, skill, kw = _inputs(model.config)
    base = _run(model, obs, skill, **kw)
    rng = np.random.default_rng(1)
    obs2 = {k: v.copy() for k, v in obs.items()}
    for k in obs2:  # every observation field after t
        obs2[k][:, t + 1:] = rng.normal(size=obs2[k][:, t + 1:].shape) * 3
    skill2 = skill.copy()
    skill2[:, t + 1:] = (skill2[:, t + 1:] + 1) % model.config.num_skills
    changed = _run(model, obs2, skill2, **kw)
    for k in base:
        np.testing.assert_array_equal(changed[k][:, :t + 1], base[k][:, :t + 1], err_msg=k)
        assert not np.allclose(changed[k][:, t + 1:], base[k][:, t + 1:]), k  # the test bites


@pytest.mark.timeout(120)
def test_skill_logits_never_see_skill_tokens_but_the_action_does(model):
    obs, skill, kw = _inputs(model.config)
    base = _run(model, obs, skill, **kw)
    t = 3
    skill2 = skill.copy()
    skill2[:, t] = (skill2[:, t] + 3) % model.config.num_skills
    changed = _run(model, obs, skill2, **kw)
    # Skill logits read the observation history only (no teacher-forced skill, at any step).
    np.testing.assert_array_equal(changed["skill_logits"], base["skill_logits"])
    assert not np.allclose(changed["action"][:, t], base["action"][:, t])
    assert not np.allclose(changed["action"][:, t + 1], base["action"][:, t + 1])


@pytest.mark.timeout(120)
def test_left_padding_does_not_change_the_valid_steps(model):
    obs, skill, kw = _inputs(model.config)
    n = 2  # padded steps at the start of the window
    mask = np.ones((B, T), bool)
    mask[:, :n] = False
    base = _run(model, obs, skill, mask=mask, **kw)
    obs2 = {k: v.copy() for k, v in obs.items()}
    for k in obs2:
        obs2[k][:, :n] = 7.0
    changed = _run(model, obs2, skill, mask=mask, **kw)
    for k in base:
        np.testing.assert_allclose(changed[k][:, n:], base[k][:, n:], atol=1e-6, err_msg=k)
        assert np.isfinite(changed[k]).all()
    # And a padded window equals the unpadded shorter window (positions are relative).
    short = _run(model, {k: v[:, n:] for k, v in obs.items()}, skill[:, n:], **kw)
    for k in base:
        np.testing.assert_allclose(short[k], base[k][:, n:], atol=1e-5, err_msg=k)


@pytest.mark.timeout(60)
def test_outputs_have_the_documented_shapes(model):
    obs, skill, kw = _inputs(model.config)
    out = _run(model, obs, skill, **kw)
    S = model.config.num_skills
    assert out["skill_logits"].shape == (B, T, S)
    assert out["action"].shape == (B, T, 7)
    assert out["gripper_logits"].shape == (B, T, 2)
    assert all(np.isfinite(v).all() for v in out.values())
