"""KV-cached stepping computes what the full-window forward pass computes: same outputs for the
first `context` steps, a sliding window (attention span = context) afterwards, per-env resets."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from robot_skills.model import (ModelConfig, SkillTransformer, cached_step, init_cache,
                                reset_cache)

TINY = dict(d_model=32, num_layers=2, num_heads=2, mlp_dim=64, state_hidden=32, context=5)
B = 2
# The baselines keep the token layout, so the cache must agree with the full pass for them too.
BASELINES = {"skill_transformer": {}, "skill_nocond": {"skill_conditioning": False},
             "flat_bc": {"skill_head": False, "skill_conditioning": False},
             "roles": {"num_roles": 3}}  # not a baseline: skill roles refine the condition


def _setup(config, T, seed=0):
    model = SkillTransformer(config, rngs=nnx.Rngs(seed))
    rng = np.random.default_rng(seed)
    obs = {"state": rng.normal(size=(B, T, config.state_dim)).astype(np.float32)}
    if "depth" in config.image_keys:
        n = config.image_size
        obs["depth"] = rng.uniform(0, 4, (B, T, n, n, 1)).astype(np.float32)
    skill = rng.integers(0, config.num_skills, (B, T)).astype(np.int32)
    kw = {"task_id": np.array([1, 0], np.int32)} if config.num_tasks else {}
    return model, obs, skill, kw


def _step_fns(model):
    step = jax.jit(lambda c, o, s: cached_step(model, c, o, s))
    free = jax.jit(lambda c, o: cached_step(model, c, o))
    reset = jax.jit(lambda c, r, kw: reset_cache(model, c, r, **kw))
    return step, free, reset


def _at(obs, t):
    return {k: v[:, t] for k, v in obs.items()}


def _assert_step_equal(out, full, t, atol):
    np.testing.assert_allclose(out["skill_logits"], full["skill_logits"][:, t], atol=atol)
    np.testing.assert_allclose(out["action"], full["action"][:, t], atol=atol)
    np.testing.assert_allclose(out["gripper_logits"], full["gripper_logits"][:, t], atol=atol)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("extra", [{}, {"num_tasks": 2, "image_keys": ("depth",),
                                        "image_size": 16, "cnn_channels": (4,)},
                                   BASELINES["skill_nocond"], BASELINES["flat_bc"],
                                   {"action_bins": 16}, {"action_bins": 16, "bin_dims": "base"}],
                         ids=["state", "task+depth", "skill_nocond", "flat_bc", "binned",
                              "binned_base"])
def test_cached_steps_equal_the_full_window(extra):
    config = ModelConfig(**TINY, **extra)
    _assert_teacher_forced_steps_equal_full_window(config, T=config.context, seed=0)


@pytest.mark.timeout(120)
def test_a_full_cache_slides_like_span_limited_attention_over_the_episode():
    config = ModelConfig(**TINY)
    # The ring buffer wraps twice; the full pass attends over a span of `context` steps.
    _assert_teacher_forced_steps_equal_full_window(config, T=2 * config.context + 3, seed=1)


def _assert_teacher_forced_steps_equal_full_window(config, T, seed):
    model, obs, skill, kw = _setup(config, T, seed=seed)
    full = jax.jit(lambda o, s: model(o, s, **kw))(obs, skill)
    step, _, reset = _step_fns(model)
    cache = reset(init_cache(config, B), np.ones(B, bool), kw)
    for t in range(T):
        out, cache = step(cache, _at(obs, t), skill[:, t])
        _assert_step_equal(out, full, t, atol=1e-5)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("variant", list(BASELINES))
def test_free_running_cache_equals_recomputing_the_window_every_step(variant):
    config = ModelConfig(**TINY, **BASELINES[variant])
    T = config.context
    model, obs, _, kw = _setup(config, T, seed=2)
    _, free, reset = _step_fns(model)
    cache = reset(init_cache(config, B), np.ones(B, bool), kw)
    chosen = np.zeros((B, T), np.int32)
    roles = np.zeros((B, T), np.int32)
    recompute = jax.jit(lambda o, s, m, r: model.predict_last(
        o, s, mask=m, past_role=r if config.num_roles else None))
    for t in range(T):
        out, cache = free(cache, _at(obs, t))
        chosen[:, t] = np.asarray(out["skill"])
        if config.num_roles:
            roles[:, t] = np.asarray(out["role"])
        # The reference: the window so far, left-padded to T, recomputed from scratch.
        window = {k: np.zeros_like(v) for k, v in obs.items()}
        mask = np.zeros((B, T), bool)
        for k in obs:
            window[k][:, T - t - 1:] = obs[k][:, :t + 1]
        past = np.zeros((B, T), np.int32)
        past[:, T - t - 1:] = chosen[:, :t + 1]
        past_role = np.zeros((B, T), np.int32)
        past_role[:, T - t - 1:] = roles[:, :t + 1]
        mask[:, T - t - 1:] = True
        ref = recompute(window, past, mask, past_role)
        np.testing.assert_array_equal(out["skill"], ref["skill"])
        if config.num_roles:
            np.testing.assert_array_equal(out["role"], ref["role"])
            np.testing.assert_allclose(out["role_logits"], ref["role_logits"], atol=1e-5)
        np.testing.assert_allclose(out["skill_logits"], ref["skill_logits"], atol=1e-5)
        np.testing.assert_allclose(out["action"], ref["action"], atol=1e-5)


@pytest.mark.timeout(120)
def test_resetting_one_env_leaves_the_other_untouched():
    config = ModelConfig(**TINY)
    T = 8
    model, obs, skill, kw = _setup(config, T, seed=3)
    step, _, reset = _step_fns(model)
    both = reset(init_cache(config, B), np.ones(B, bool), kw)
    k = 4  # env 1 restarts at step k with the observations of step 0 again
    obs1 = {n: v.copy() for n, v in obs.items()}
    skill1 = skill.copy()
    for n in obs1:
        obs1[n][1, k:] = obs[n][1, :T - k]
    skill1[1, k:] = skill[1, :T - k]
    outs = []
    for t in range(T):
        if t == k:
            both = reset(both, np.array([False, True]), kw)
        out, both = step(both, _at(obs1, t), skill1[:, t])
        outs.append(out)
    alone = reset(init_cache(config, B), np.ones(B, bool), kw)  # no reset at k
    for t in range(T):
        out, alone = step(alone, _at(obs, t), skill[:, t])
        np.testing.assert_allclose(outs[t]["action"][0], out["action"][0], atol=1e-6)
        if t < T - k:  # env 1 after its reset == env 1 from the start
            np.testing.assert_allclose(outs[k + t]["action"][1], out["action"][1], atol=1e-5)
            np.testing.assert_allclose(outs[k + t]["skill_logits"][1], out["skill_logits"][1],
                                       atol=1e-5)


@pytest.mark.timeout(120)
def test_bfloat16_compute_keeps_float32_params_and_tracks_float32():
    cfg32 = ModelConfig(**TINY)
    cfg16 = ModelConfig(**TINY, dtype="bfloat16")
    m32, obs, skill, _ = _setup(cfg32, 4)
    m16 = SkillTransformer(cfg16, rngs=nnx.Rngs(0))
    params = jax.tree.leaves(nnx.state(m16, nnx.Param))
    assert all(p.dtype == jnp.float32 for p in params)
    nnx.update(m16, nnx.state(m32, nnx.Param))  # identical weights, only the dtype differs
    a = jax.jit(lambda o, s: m32(o, s))(obs, skill)
    b = jax.jit(lambda o, s: m16(o, s))(obs, skill)
    assert b["skill_logits"].dtype == jnp.float32
    np.testing.assert_allclose(b["skill_logits"], a["skill_logits"], atol=0.1)
    step, _, reset = _step_fns(m16)
    cache = reset(init_cache(cfg16, B), np.ones(B, bool), {})
    assert cache.keys[0].dtype == jnp.bfloat16
    out, _ = step(cache, _at(obs, 0), skill[:, 0])
    np.testing.assert_allclose(out["action"], b["action"][:, 0], atol=0.05)
