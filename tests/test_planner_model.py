"""The planner LM and its latent bridge: deterministic greedy decoding (KV cache == full
recompute, jit == no jit), latents at <ACT> positions, padding invariance, and the stage-2
optimizer: gradients from a policy loss on the latents reach the planner, frozen groups stay."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from robot_skills.model import ModelConfig, SkillTransformer
from robot_skills.planner.config import PlannerConfig
from robot_skills.planner.corpus import trim
from robot_skills.planner.decode import greedy_cached, greedy_full, jit_plan_fn, plan_and_latents
from robot_skills.planner.freeze import param_labels, stage2_optimizer
from robot_skills.planner.model import DecoderLM, LatentPlanner, PlannerLM, act_positions
from robot_skills.planner.sequence import layout
from robot_skills.planner.tokenizer import ACT_ID, EOS_ID, PAD_ID
from robot_skills.planner.train import lm_loss

TINY = PlannerConfig(vocab_size=40, d_model=32, num_layers=2, num_heads=4, mlp_dim=64,
                     prompt_len=16, instruction_tokens=6, plan_len=12, latent_dim=24, max_act=4)


def _prompts(B=3, seed=0):
    rng = np.random.default_rng(seed)
    return [list(rng.integers(7, TINY.vocab_size, size=n)) for n in (4, 9, 16)[:B]]


def _prompt_arrays(B=3, seed=0):
    arr = layout(_prompts(B, seed), None, TINY)
    return jnp.asarray(arr["tokens"][:, :TINY.prompt_len]), jnp.asarray(arr["valid"][:, :TINY.prompt_len])


def _sharpen(model: LatentPlanner):
    """Random init rarely emits <ACT>/<eos>; bias the head so decoding produces both."""
    b = model.lm.lm_head.bias
    b[...] = b[...].at[ACT_ID].add(2.0).at[EOS_ID].add(1.0)


@pytest.mark.timeout(120)
def test_greedy_decoding_is_deterministic_and_cache_agrees_with_recompute():
    model = LatentPlanner(TINY, rngs=nnx.Rngs(0))
    _sharpen(model)
    assert isinstance(model.lm, PlannerLM)
    prompt, valid = _prompt_arrays()
    cached = np.asarray(jax.jit(greedy_cached, static_argnums=3)(model.lm, prompt, valid,
                                                                 TINY.plan_len))
    full = np.asarray(jax.jit(greedy_full, static_argnums=3)(model.lm, prompt, valid,
                                                             TINY.plan_len))
    np.testing.assert_array_equal(cached, full)
    run = jit_plan_fn(model)
    a, b = run(prompt, valid), run(prompt, valid)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    np.testing.assert_array_equal(np.asarray(a[0]), cached)
    assert (cached == ACT_ID).any()
    # Rows end with <eos> then only <pad>.
    for row in cached:
        if EOS_ID in row:
            assert (row[list(row).index(EOS_ID) + 1:] == PAD_ID).all()


@pytest.mark.timeout(120)
def test_jit_and_eager_decoding_agree():
    # Op by op is slow: one layer, short sequences.
    config = dataclasses.replace(TINY, num_layers=1, prompt_len=8, instruction_tokens=4,
                                 plan_len=6)
    model = LatentPlanner(config, rngs=nnx.Rngs(0))
    _sharpen(model)
    arr = layout([[9, 10, 11], [12, 13, 14, 15, 16, 17, 18, 19]], None, config)
    prompt, valid = arr["tokens"][:, :8], arr["valid"][:, :8]
    jitted = jit_plan_fn(model)(prompt, valid)
    with jax.disable_jit():
        eager = plan_and_latents(model, jnp.asarray(prompt), jnp.asarray(valid))
    np.testing.assert_array_equal(np.asarray(eager[0]), np.asarray(jitted[0]))
    np.testing.assert_allclose(np.asarray(eager[1]), np.asarray(jitted[1]), atol=1e-5)


def test_latents_are_the_projected_hidden_states_at_act_tokens():
    model = LatentPlanner(TINY, rngs=nnx.Rngs(1))
    tokens = np.full((2, TINY.max_len), 9, np.int32)
    tokens[0, [17, 20, 25]] = ACT_ID
    tokens[1, [16, 18, 19, 22, 24, 26]] = ACT_ID  # more than max_act: the first 4 are kept
    valid = np.ones_like(tokens, bool)
    idx, mask = act_positions(jnp.asarray(tokens), TINY.max_act)
    assert mask.tolist() == [[True, True, True, False], [True] * 4]
    assert idx[0, :3].tolist() == [17, 20, 25] and idx[1].tolist() == [16, 18, 19, 22]
    z, zmask = nnx.jit(lambda m, t, v: m.latents(t, v))(model, tokens, valid)
    assert z.shape == (2, TINY.max_act, TINY.latent_dim) and (zmask == mask).all()
    h = nnx.jit(lambda m, t, v: m.lm.hidden(t, v))(model, tokens, valid)
    np.testing.assert_allclose(np.asarray(z[0, 1]), np.asarray(model.bridge(h[0, 20])), atol=1e-5)
    assert float(jnp.abs(z[0, 3]).max()) == 0.0


def test_padding_columns_do_not_change_the_loss():
    model = LatentPlanner(TINY, rngs=nnx.Rngs(2))
    rng = np.random.default_rng(3)
    plans = [list(rng.integers(7, TINY.vocab_size, size=n)) + [EOS_ID] for n in (3, 5, 2)]
    arr = layout(_prompts(), plans, TINY)
    # Shift every row left by one column of padding: relative positions make it the same.
    short = trim({k: v for k, v in arr.items()}, TINY.prompt_len, multiple=1)
    loss = nnx.jit(lambda m, b: lm_loss(m, b)[0])
    full_loss, trimmed_loss = loss(model, arr), loss(model, short)
    assert short["tokens"].shape[1] < arr["tokens"].shape[1]
    np.testing.assert_allclose(float(full_loss), float(trimmed_loss), rtol=1e-5)


class Stage2(nnx.Module):
    """The stage-2 shape: planner latents as the SkillTransformer's prefix tokens."""

    def __init__(self, rngs):
        self.planner = LatentPlanner(TINY, rngs=rngs)
        self.policy = SkillTransformer(ModelConfig(
            state_dim=6, d_model=TINY.latent_dim, num_layers=1, num_heads=4, mlp_dim=32,
            state_hidden=16, context=4, prefix_tokens=TINY.max_act), rngs=rngs)

    def loss(self, batch):
        z, zmask = self.planner.latents(batch["tokens"], batch["valid"])
        out = self.policy({"state": batch["state"]}, batch["skill"], prefix=z, prefix_mask=zmask)
        return optax.softmax_cross_entropy_with_integer_labels(out["skill_logits"],
                                                               batch["skill"]).mean()


def _stage2_batch():
    tokens = np.full((2, TINY.max_len), 9, np.int32)
    tokens[:, [17, 20, 25]] = ACT_ID
    rng = np.random.default_rng(0)
    return {"tokens": tokens, "valid": np.ones_like(tokens, bool),
            "state": rng.normal(size=(2, 4, 6)).astype(np.float32),
            "skill": rng.integers(0, 7, size=(2, 4)).astype(np.int32)}


@pytest.fixture(scope="module")
def stage2_grads():
    """(params, grads) of the policy's skill loss through the planner latents (jitted once)."""
    graphdef, params, rest = nnx.split(Stage2(nnx.Rngs(0)), nnx.Param, ...)
    batch = _stage2_batch()
    grads = jax.jit(jax.grad(lambda p: nnx.merge(graphdef, p, rest).loss(batch)))(params)
    return params, grads


def test_policy_loss_on_latents_reaches_the_planner(stage2_grads):
    grads = nnx.to_pure_dict(stage2_grads[1])
    for path in (("planner", "bridge", "kernel"), ("planner", "lm", "embed", "embedding"),
                 ("planner", "lm", "blocks", 0, "attn", "qkv", "kernel"),
                 ("policy", "skill_head", "kernel")):
        g = grads
        for k in path:
            g = g[k]
        assert float(jnp.abs(g).max()) > 0, path


@pytest.mark.parametrize("mode,trained", [("joint", {"planner", "policy"}),
                                          ("planner_frozen", {"policy"}),
                                          ("policy_frozen", {"planner"})])
def test_stage2_optimizer_updates_exactly_the_unfrozen_groups(stage2_grads, mode, trained):
    params, grads = stage2_grads
    tx = stage2_optimizer(mode, optax.adamw(1e-2, weight_decay=0.1))
    step = jax.jit(lambda p, g: optax.apply_updates(p, tx.update(g, tx.init(p), p)[0]))
    before, after = nnx.to_pure_dict(params), nnx.to_pure_dict(step(params, grads))
    for group in ("planner", "policy"):
        changed = max(jax.tree.leaves(jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()),
                                                   before[group], after[group])))
        assert (changed > 0) == (group in trained), (group, changed)


def test_param_labels_reject_parameters_outside_the_groups():
    with pytest.raises(ValueError, match="outside the groups"):
        param_labels({"planner": {"w": 1.0}, "critic": {"w": 2.0}})
    with pytest.raises(ValueError, match="unknown freeze mode"):
        stage2_optimizer("half", optax.sgd(0.1))


def test_decoder_needs_a_vocabulary_size():
    with pytest.raises(ValueError, match="vocab_size is unset"):
        DecoderLM(PlannerConfig(), rngs=nnx.Rngs(0))
