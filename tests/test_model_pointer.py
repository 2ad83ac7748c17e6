"""The slot pointer (robot_skills.model.pointer): the prefix picks receptacle slots for the state
token. KV-cached stepping agrees with the full pass, a pointer model starts where the plain
model it is initialised from ends, the move one-hot selects the move's weights, the policy loss
reaches the prefix through the pointer alone, and configs that cannot work are refused."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from robot_skills.model import (ModelConfig, SkillTransformer, cached_step, init_cache,
                                reset_cache)
from robot_skills.model.pointer import slot_span
from sim.observation import SLOT_DIM, SLOT_KINDS, state_slices, state_width

TINY = dict(d_model=32, num_layers=2, num_heads=2, mlp_dim=64, state_hidden=32, context=4)
K, B = 3, 2


def _model(moves: bool, attention: bool, seed: int = 0, pointer: int = 2):
    config = ModelConfig(**TINY, state_dim=state_width(True, moves), prefix_tokens=K,
                         slot_pointer=pointer, prefix_attention=attention if pointer else True)
    model = SkillTransformer(config, rngs=nnx.Rngs(seed))
    if pointer:  # a trained read-out (it starts at zero)
        fc2 = model.pointer.read_mlp.fc2
        fc2.kernel[...] = jax.random.normal(jax.random.key(seed + 1), fc2.kernel[...].shape)
    return model


def _inputs(config, T, seed=0):
    rng = np.random.default_rng(seed)
    state = rng.normal(size=(B, T, config.state_dim)).astype(np.float32)
    skill = rng.integers(0, config.num_skills, (B, T)).astype(np.int32)
    prefix = rng.normal(size=(B, K, config.d_model)).astype(np.float32)
    mask = np.array([[True, True, False], [True, True, True]])
    return {"state": state}, skill, prefix, mask


@pytest.mark.timeout(120)
@pytest.mark.parametrize("moves,attention", [(False, True), (True, False)],
                         ids=["one_move_attended", "two_moves_pointer_only"])
def test_cached_steps_equal_the_full_window_and_the_prefix_matters(moves, attention):
    model = _model(moves, attention)
    c = model.config
    T = c.context + 2  # the ring wraps
    obs, skill, prefix, mask = _inputs(c, T)
    if moves:  # the second move from step 3 on
        move = state_slices(True, True)["move"]
        obs["state"][:, :, move] = [1.0, -1.0]
        obs["state"][:, 3:, move] = [-1.0, 1.0]
    forward = jax.jit(lambda o, s, p, m: model(o, s, prefix=p, prefix_mask=m))
    step = jax.jit(lambda c, o, s: cached_step(model, c, o, s))
    full = forward(obs, skill, prefix, mask)
    cache = jax.jit(lambda c, p, m: reset_cache(model, c, np.ones(B, bool), prefix=p,
                                                prefix_mask=m))(init_cache(c, B), prefix, mask)
    for t in range(T):
        out, cache = step(cache, {"state": obs["state"][:, t]}, skill[:, t])
        np.testing.assert_allclose(out["action"], full["action"][:, t], atol=1e-5)
        np.testing.assert_allclose(out["skill_logits"], full["skill_logits"][:, t], atol=1e-5)
    hash(nnx.graphdef(model))  # the policy jits with the graph definition as a static argument
    other = forward(obs, skill, prefix[::-1], mask)
    assert np.abs(np.asarray(other["action"]) - np.asarray(full["action"])).max() > 1e-3


@pytest.mark.timeout(120)
def test_a_pointer_model_starts_where_its_plain_model_ends():
    """init_from: the plain run's parameters into a pointer-only model give the plain run's
    outputs (the read-out starts at zero, the prefix is not attended)."""
    plain_config = ModelConfig(**TINY, state_dim=state_width(True, False))
    plain = SkillTransformer(plain_config, rngs=nnx.Rngs(3))
    config = ModelConfig(**TINY, state_dim=plain_config.state_dim, prefix_tokens=K,
                         slot_pointer=2, prefix_attention=False)
    model = SkillTransformer(config, rngs=nnx.Rngs(4))
    nnx.update(model, nnx.state(plain, nnx.Param))
    obs, skill, prefix, mask = _inputs(config, 3)
    want = jax.jit(lambda o, s: plain(o, s))(obs, skill)
    got = jax.jit(lambda o, s, p, m: model(o, s, prefix=p, prefix_mask=m))(obs, skill, prefix,
                                                                            mask)
    np.testing.assert_allclose(got["action"], want["action"], atol=1e-6)
    np.testing.assert_allclose(got["skill_logits"], want["skill_logits"], atol=1e-6)


@pytest.mark.timeout(60)
def test_the_move_one_hot_selects_that_moves_receptacle():
    model = _model(True, False)
    c = model.config
    slots, move = (slice(*cols) for cols in slot_span(c.state_dim))
    obs, _, _, _ = _inputs(c, 2)
    state = obs["state"]
    state[:, 0, move] = [1.0, -1.0]  # step 0: first move; step 1: second move
    state[:, 1, move] = [-1.0, 1.0]
    weights = np.zeros((B, 2, c.slot_pointer, len(SLOT_KINDS)), np.float32)
    weights[:, 0, :, 1] = 1.0  # move 0 -> kind 1, move 1 -> kind 3
    weights[:, 1, :, 3] = 1.0
    got = model.pointer.read(state, jnp.asarray(weights))
    fields = state[..., slots].reshape(B, 2, len(SLOT_KINDS), SLOT_DIM)
    for t, kind in ((0, 1), (1, 3)):
        picked = np.repeat(fields[:, t, kind][:, None], c.slot_pointer, 1).reshape(B, -1)
        np.testing.assert_allclose(got[:, t], model.pointer.read_mlp(picked), atol=1e-5)


@pytest.mark.timeout(60)
def test_the_policy_loss_reaches_the_prefix_through_the_pointer_alone():
    model = _model(False, False)
    obs, skill, prefix, mask = _inputs(model.config, 3)

    def loss(p):
        return jnp.sum(model(obs, skill, prefix=p, prefix_mask=mask)["action"] ** 2)

    grad = np.asarray(jax.jit(jax.grad(loss))(jnp.asarray(prefix)))
    assert np.abs(grad[:, :2]).max() > 1e-6  # the attended prefix tokens get gradient
    np.testing.assert_array_equal(grad[0, 2], 0.0)  # a masked token gets none


def test_configs_a_pointer_cannot_serve_are_refused():
    plain_width = state_width(False, False)
    with pytest.raises(ValueError, match="receptacle slots"):
        ModelConfig(**TINY, state_dim=plain_width, prefix_tokens=K, slot_pointer=2)
    with pytest.raises(ValueError, match="prefix_tokens > 0"):
        ModelConfig(**TINY, state_dim=state_width(True, False), slot_pointer=2)
    with pytest.raises(ValueError, match="needs slot_pointer"):
        ModelConfig(**TINY, state_dim=state_width(True, False), prefix_tokens=K,
                    prefix_attention=False)
    from configs.lcb import get_config
    with pytest.raises(ValueError, match="add 'langgoal'"):
        get_config("oracle,pointer")
    c = get_config("lcb,langgoal,pointer")
    assert c.model.slot_pointer > 0 and not c.model.prefix_attention
