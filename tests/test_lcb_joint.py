"""LCB stage 2: the joint planner + policy model. The policy loss reaches the planner through
the latent codes in joint training and never through the text bridge; a frozen planner stays
exactly as it was; the loss is finite and deterministic; every bridge gives the policy the
prefix shape it takes; episode language (instruction, scene, plan) is rebuilt from the seed.

(Greedy decoding determinism and the tokenizer round trip are pinned in test_planner_model.py
and test_planner_tokenizer.py.)"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from robot_skills.model import ModelConfig
from robot_skills.planner.bridge import BridgeConfig, plan_step_slots
from robot_skills.planner.config import PlannerConfig
from robot_skills.planner.corpus import fit_tokenizer
from robot_skills.planner.episodes import (EpisodeLanguage, Widths, encode_language,
                                           episode_language, exact_scene, goal_kinds)
from robot_skills.planner.freeze import stage2_optimizer
from robot_skills.planner.joint import LCBModel, lcb_loss
from sim.instruction_samples import draw_samples
from sim.observation import STATE_DIM, state_width

B, T = 3, 4
WIDTHS = Widths(96, 48)


@pytest.fixture(scope="module")
def language():
    samples = [s for s in draw_samples("train", 30) if not s.two_object][:B]
    tok = fit_tokenizer(draw_samples("train", 30))
    langs = [EpisodeLanguage(s.instruction, s.scene, s.plan_text, False) for s in samples]
    return tok, langs


def _configs(tok, bridge: str, lm_weight: float = 0.0):
    planner = PlannerConfig(vocab_size=tok.vocab_size, d_model=32, num_layers=1, num_heads=4,
                            mlp_dim=64, latent_dim=32, max_act=12)
    b = BridgeConfig(bridge=bridge, lm_weight=lm_weight)
    policy = ModelConfig(d_model=32, num_layers=1, num_heads=4, mlp_dim=64, state_hidden=32,
                         context=T, prefix_tokens=b.slots(planner))
    return policy, planner, b


def _batch(tok, langs, planner, bridge, seed=0):
    B = len(langs)
    rng = np.random.default_rng(seed)
    rows = [encode_language(lang, tok, planner, bridge, WIDTHS) for lang in langs]
    batch = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    action = rng.uniform(-1, 1, size=(B, T, 8)).astype(np.float32)
    return dict(batch, observation={"state": rng.normal(size=(B, T, STATE_DIM)).astype(np.float32)},
                action=action, skill=rng.integers(0, 7, size=(B, T)).astype(np.int32),
                mask=np.ones((B, T), bool))


def _model_and_batch(language, bridge, lm_weight=0.0, seed=0):
    tok, langs = language
    policy, planner, b = _configs(tok, bridge, lm_weight)
    return LCBModel(policy, planner, b, rngs=nnx.Rngs(seed)), _batch(tok, langs, planner, b)


def _grads(model, batch):
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    loss = lambda p: lcb_loss(nnx.merge(graphdef, p, rest), batch)[0]  # noqa: E731
    return params, nnx.to_pure_dict(jax.jit(jax.grad(loss))(params))


def _max_abs(tree) -> float:
    return max(float(jnp.abs(x).max()) for x in jax.tree.leaves(tree))


@pytest.mark.timeout(60)
def test_one_planner_row_per_episode_run_gives_the_per_window_loss(language):
    """Grouped batches (data.episodes_per_batch): the planner reads one row per run of windows
    of one episode and its latents are repeated over the run; the loss is the per-window one."""
    tok, langs = language
    policy, planner, b = _configs(tok, "lcb", lm_weight=1.0)
    model = LCBModel(policy, planner, b, rngs=nnx.Rngs(0))
    batch = _batch(tok, [langs[0]] * 2 + [langs[1]] * 2, planner, b)  # 2 runs of 2 windows
    grouped = {k: (v[::2] if k.startswith("plan_") else v) for k, v in batch.items()}
    loss = jax.jit(lambda b: lcb_loss(model, b))
    full, m_full = loss(batch)
    part, m_part = loss(grouped)
    np.testing.assert_allclose(float(m_part["policy_loss"]), float(m_full["policy_loss"]),
                               rtol=1e-6)
    np.testing.assert_allclose(float(m_part["lm_loss"]), float(m_full["lm_loss"]), rtol=1e-6)
    with pytest.raises(ValueError, match="do not divide"):
        lcb_loss(model, {k: (v[:3] if k.startswith("plan_") else v) for k, v in batch.items()})


def test_policy_loss_reaches_the_planner_in_joint_training(language):
    model, batch = _model_and_batch(language, "lcb", lm_weight=0.0)
    _, g = _grads(model, batch)
    for path in (("bridge", "kernel"), ("lm", "embed", "embedding"),
                 ("lm", "blocks", 0, "attn", "qkv", "kernel")):
        leaf = g["planner"]
        for k in path:
            leaf = leaf[k]
        assert _max_abs(leaf) > 0, path
    # The LM head only feeds the LM loss, weighted 0 here: the gradient came through latents.
    assert _max_abs(g["planner"]["lm"]["lm_head"]) == 0
    assert _max_abs(g["policy"]["transformer"]) > 0


@pytest.mark.timeout(60)
def test_text_bridge_gives_the_planner_no_gradient_from_the_policy_loss(language):
    model, batch = _model_and_batch(language, "text", lm_weight=0.0)
    _, g = _grads(model, batch)
    assert _max_abs(g["planner"]) == 0
    assert _max_abs(g["policy"]["words"]["embed"]) > 0
    # With its LM loss on, the planner trains (only) on that.
    model, batch = _model_and_batch(language, "text", lm_weight=1.0)
    _, g = _grads(model, batch)
    assert _max_abs(g["planner"]["lm"]["lm_head"]) > 0
    assert _max_abs(g["planner"]["bridge"]) == 0  # latents unused by the text bridge


@pytest.mark.timeout(60)
def test_a_frozen_planner_stays_exactly_unchanged_while_the_policy_trains(language):
    model, batch = _model_and_batch(language, "lcb", lm_weight=1.0)
    params, g = _grads(model, batch)
    grads = jax.tree.map(jnp.asarray, g)
    tx = stage2_optimizer("planner_frozen", optax.adamw(1e-2, weight_decay=0.1))
    before = nnx.to_pure_dict(params)
    updates, _ = tx.update(grads, tx.init(before), before)
    after = optax.apply_updates(before, updates)
    same = jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), before["planner"],
                        after["planner"])
    assert all(jax.tree.leaves(same))
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), before["policy"],
                         after["policy"])
    assert max(jax.tree.leaves(moved)) > 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("bridge", ["lcb", "instruction"])
def test_loss_is_finite_and_deterministic_for_a_seed(language, bridge):
    losses = []
    for _ in range(2):
        model, batch = _model_and_batch(language, bridge, lm_weight=1.0, seed=3)
        loss, metrics = lcb_loss(model, batch)
        losses.append(float(loss))
        assert np.isfinite(float(loss))
    assert losses[0] == losses[1]
    assert ("lm_loss" in metrics) == (bridge == "lcb")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("bridge,slots,planner", [("lcb", 12, True), ("text", 12, True),
                                                  ("oracle", 12, False),
                                                  ("instruction", 1, False)])
def test_every_bridge_gives_the_prefix_the_policy_takes(language, bridge, slots, planner):
    model, batch = _model_and_batch(language, bridge)
    prefix, mask, _ = model.prefix(batch)
    assert prefix.shape == (B, slots, 32) and mask.shape == (B, slots)
    assert (model.planner is not None) == planner
    groups = set(nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    assert groups == ({"planner", "policy"} if planner else {"policy"})
    if bridge != "instruction":  # one prefix token per plan step
        steps = np.array([lang.plan.count("<ACT>") for lang in language[1]])
        np.testing.assert_array_equal(np.asarray(mask).sum(1), np.minimum(steps, slots))
    else:
        assert bool(np.asarray(mask).all())


def test_plan_step_slots_hold_each_steps_words(language):
    tok, langs = language
    plan = tok.encode(langs[0].plan, allow_special=True)
    slots = plan_step_slots(plan + [2, 0, 0], 12, 6)  # <eos> and padding end it
    steps = [s.strip() for s in langs[0].plan.split("<ACT>") if s.strip()]
    for k, text in enumerate(steps):
        assert tok.decode([i for i in slots[k] if i]) == text
    assert not slots[len(steps):].any()


@pytest.mark.timeout(60)
def test_episode_language_rebuilds_the_scene_from_the_seed():
    from sim.instructions import instruction
    from sim.plans import parse_plan, plan_for
    from sim.scene import sample_scene, split_seed
    seed = split_seed("train", 7)
    scene = sample_scene(seed, "rearrange_hard")
    got = exact_scene(seed, "rearrange_hard", instruction(scene, seed))
    assert got.objects == scene.objects and got.task == scene.task
    lang = episode_language(got)
    assert parse_plan(lang.plan) == plan_for(scene)
    assert lang.scene.startswith("robot in room")
    assert lang == episode_language(dataclasses.replace(got))  # deterministic per episode


@pytest.mark.timeout(60)
@pytest.mark.parametrize("task", ["rearrange_hard", "rearrange_two"])
def test_goal_kinds_are_the_receptacles_the_plan_places_on(task):
    from sim.observation import SLOT_KINDS
    from sim.plans import plan_for
    from sim.scene import sample_scene, split_seed
    from sim.skills import Skill
    scene = sample_scene(split_seed("train", 3), task)
    kinds = goal_kinds(episode_language(scene).goals)
    places = [s.receptacle for s in plan_for(scene) if s.skill == Skill.PLACE]
    assert [SLOT_KINDS[k] for k in kinds if k >= 0] == places
    assert len(places) == (2 if task == "rearrange_two" else 1) and kinds[len(places):].max(
        initial=-1) == -1


@pytest.mark.timeout(60)
def test_the_pointer_loss_trains_the_pointer_and_reaches_the_planner(language):
    """A policy with a slot pointer (prefix reaching it only): the pointer's goal cross-entropy
    is in the loss, and with the LCB bridge its gradient reaches the planner's latents."""
    tok, langs = language
    policy, planner, b = _configs(tok, "lcb")
    policy = dataclasses.replace(policy, state_dim=state_width(True, False), slot_pointer=1,
                                 prefix_attention=False)
    model = LCBModel(policy, planner, b, rngs=nnx.Rngs(0))
    batch = _batch(tok, langs, planner, b)
    batch["observation"]["state"] = np.random.default_rng(1).normal(
        size=(B, T, policy.state_dim)).astype(np.float32)
    batch["goal_kinds"] = np.array([[0, -1], [3, -1], [4, -1]], np.int32)
    step = jax.jit(lambda b: lcb_loss(model, b))
    loss, metrics = step(batch)
    weights = jax.jit(lambda b: model.policy.transformer.pointer_weights(
        *model.prefix(b)[:2]))(batch)
    expect = -np.log(np.asarray(weights)[np.arange(B), 0, 0, [0, 3, 4]]).mean()
    np.testing.assert_allclose(float(metrics["pointer_loss"]), expect, rtol=1e-5)
    np.testing.assert_allclose(float(loss), float(metrics["policy_loss"] + expect), rtol=1e-5)
    _, g = _grads(model, batch)
    assert _max_abs(g["policy"]["transformer"]["pointer"]["kind"]) > 0
    assert _max_abs(g["planner"]["bridge"]) > 0  # the latents carry it into the planner
    batch["goal_kinds"][:] = -1  # no goal: no pointer loss
    assert float(step(batch)[1]["pointer_loss"]) == 0.0
