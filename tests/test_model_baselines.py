"""The baselines of `robot-skills compare` as models: flat BC (no skill head, no conditioning)
and a skill head without conditioning. The action of the unconditioned models never sees a
skill; flat BC has no skill loss; both train, and checkpoints rebuild the variant."""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytest
from flax import nnx

from robot_skills.model import (NO_SKILL, ModelConfig, SkillTransformer, cached_step, init_cache,
                                reset_cache, skill_transformer_loss)
from robot_skills.model.config import LossConfig
from robot_skills.policy import Policy, save_policy_checkpoint

TINY = dict(d_model=32, num_layers=2, num_heads=2, mlp_dim=64, state_hidden=32, context=5)
VARIANTS = {"skill_transformer": {}, "skill_nocond": {"skill_conditioning": False},
            "flat_bc": {"skill_head": False, "skill_conditioning": False}}
B, T = 2, 5


def _model(variant, seed=0):
    return SkillTransformer(ModelConfig(**TINY, **VARIANTS[variant]), rngs=nnx.Rngs(seed))


def _batch(config, seed=0):
    """Targets that are functions of the state (learnable); left padding in one window."""
    rng = np.random.default_rng(seed)
    state = rng.normal(size=(B, T, config.state_dim)).astype(np.float32)
    S = config.num_skills
    action = np.concatenate([np.tanh(state[..., S:S + 7]), np.sign(state[..., S + 7:S + 8])], -1)
    mask = np.ones((B, T), bool)
    mask[0, :2] = False
    return {"observation": {"state": state}, "action": action.astype(np.float32),
            "skill": state[..., :S].argmax(-1).astype(np.int32), "mask": mask}


def _param_names(model) -> set[str]:
    return set(nnx.to_pure_dict(nnx.state(model, nnx.Param)))


def test_a_config_without_the_flags_is_the_skill_transformer():
    """Checkpoints written before the baselines existed rebuild the conditioned model."""
    config = ModelConfig.from_config({k: v for k, v in ModelConfig(**TINY).to_dict().items()
                                      if k not in ("skill_head", "skill_conditioning")})
    assert config.skill_head and config.skill_conditioning


def test_variants_hold_only_the_parameters_they_use():
    names = {v: _param_names(_model(v)) for v in VARIANTS}
    assert {"skill_embed", "skill_head"} <= names["skill_transformer"]
    assert "skill_embed" not in names["skill_nocond"] and "skill_head" in names["skill_nocond"]
    assert not {"skill_embed", "skill_head"} & names["flat_bc"]
    # Same blocks, tokenizer and group embeddings: the budget differs only in the heads.
    assert names["skill_transformer"] - {"skill_embed", "skill_head"} == names["flat_bc"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("variant", ["skill_nocond", "flat_bc"])
def test_unconditioned_action_never_sees_the_skill(variant):
    """Two different skill inputs give bit-identical actions (full pass, cache, recompute);
    the same test on the conditioned model shows that it does read them."""
    rng = np.random.default_rng(1)
    s1, s2 = (rng.integers(0, 7, (B, T)).astype(np.int32) for _ in range(2))
    assert (s1 != s2).any()
    batch = _batch(ModelConfig(**TINY))
    obs = batch["observation"]

    def outputs(model):
        full = jax.jit(lambda s: model(obs, s))
        last = jax.jit(lambda s: model.predict_last(obs, s))
        step = jax.jit(lambda c, o, s: cached_step(model, c, o, s))
        cache = reset_cache(model, init_cache(model.config, B), np.ones(B, bool))
        cached = [step(cache, {"state": obs["state"][:, 0]}, s[:, 0])[0] for s in (s1, s2)]
        return [full(s) for s in (s1, s2)], [last(s) for s in (s1, s2)], cached

    for pair in outputs(_model(variant)):
        for k in ("action", "gripper_logits", "skill_logits"):
            np.testing.assert_array_equal(pair[0][k], pair[1][k], err_msg=k)
    full, _, cached = outputs(_model("skill_transformer"))
    assert not np.allclose(full[0]["action"], full[1]["action"])
    assert not np.allclose(cached[0]["action"], cached[1]["action"])


@pytest.mark.timeout(60)
def test_action_loss_gradient_reaches_the_skill_embedding_only_when_conditioned():
    """With the skill term off, the action loss's gradient w.r.t. the skill embedding is
    nonzero in the Skill Transformer; the unconditioned model has no such parameter, and its
    action loss does not change with the skill labels."""
    def action_grads(variant):  # skill term off: the loss is the action loss alone
        config = ModelConfig(**TINY, **VARIANTS[variant], loss=LossConfig(skill_weight=0.0))
        model = SkillTransformer(config, rngs=nnx.Rngs(0))
        graphdef, params = nnx.split(model)
        grads = jax.jit(jax.grad(
            lambda p: skill_transformer_loss(nnx.merge(graphdef, p), batch)[0]))(params)
        return model, nnx.to_pure_dict(grads)

    batch = _batch(ModelConfig(**TINY))
    _, g = action_grads("skill_transformer")
    assert float(np.abs(g["skill_embed"]["embedding"]).max()) > 0
    nocond, g = action_grads("skill_nocond")
    assert "skill_embed" not in g
    other = dict(batch, skill=(batch["skill"] + 1) % 7)
    metrics = jax.jit(lambda x: skill_transformer_loss(nocond, x)[1])
    a, b = metrics(batch), metrics(other)
    for k in ("base_mse", "arm_mse", "gripper_loss"):
        assert float(a[k]) == float(b[k]), k


def test_flat_bc_has_no_skill_term_and_predicts_no_skill():
    model = _model("flat_bc")
    batch = _batch(model.config)
    loss, m = jax.jit(lambda b: skill_transformer_loss(model, b))(batch)
    assert set(m) == {"loss", "base_mse", "arm_mse", "gripper_loss", "gripper_accuracy"}
    w = model.config.loss
    expected = w.base_weight * m["base_mse"] + w.arm_weight * m["arm_mse"] \
        + w.gripper_weight * m["gripper_loss"]
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    cache = jax.jit(lambda c: reset_cache(model, c, np.ones(B, bool)))(
        init_cache(model.config, B))
    out, _ = jax.jit(lambda c, o: cached_step(model, c, o))(
        cache, {"state": batch["observation"]["state"][:, 0]})
    np.testing.assert_array_equal(out["skill"], np.full(B, NO_SKILL))
    np.testing.assert_array_equal(out["skill_logits"], 0.0)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_jits_and_trains(variant):
    model = _model(variant)
    optimizer = nnx.Optimizer(model, optax.adamw(3e-3), wrt=nnx.Param)
    batch = _batch(model.config)

    @nnx.jit
    def train_step(model, optimizer, batch):
        (loss, _), grads = nnx.value_and_grad(skill_transformer_loss, has_aux=True)(model, batch)
        optimizer.update(model, grads)
        return loss

    losses = [float(train_step(model, optimizer, batch)) for _ in range(10)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses


@pytest.mark.timeout(120)
@pytest.mark.parametrize("variant", ["skill_nocond", "flat_bc"])
def test_checkpoint_round_trip_rebuilds_the_variant(variant, tmp_path):
    model = _model(variant, seed=3)
    D = model.config.state_dim
    stats = {"state": {"mean": [0.0] * D, "std": [1.0] * D},
             "action": {"mean": [0.0] * 8, "std": [1.0] * 8}}
    policy = Policy(model, stats, batch_size=B)
    obs = [{"state": s} for s in np.random.default_rng(4).normal(size=(3, B, D)).astype(
        np.float32)]
    before = [policy.act(o) for o in obs]
    save_policy_checkpoint(str(tmp_path / "ckpt"), model, None, stats)
    loaded = Policy.load(str(tmp_path / "ckpt"), batch_size=B)
    assert loaded.config == model.config
    assert _param_names(loaded.model) == _param_names(model)
    assert loaded.predicts_skill == (variant != "flat_bc")
    for x, o in zip(before, obs):
        y = loaded.act(o)
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)
    if variant == "flat_bc":
        np.testing.assert_array_equal(before[0]["skill"], np.full(B, NO_SKILL))


# ------------------------------------------------------------------ dropped state fields
def test_dropped_state_fields_do_not_reach_any_output():
    """model.drop_state: the outputs are blind to the named fields (cached step and full pass),
    and still read the others; checkpoints rebuild the mask."""
    from sim.observation import state_slices
    vel, arm = state_slices()["base_velocity"], state_slices()["arm_qpos"]
    config = ModelConfig(**TINY, drop_state=("base_velocity",))
    model = SkillTransformer(config, rngs=nnx.Rngs(0))
    batch = _batch(config)
    obs = batch["observation"]
    other = {"state": obs["state"].copy()}
    other["state"][..., vel] += 3.0
    moved_arm = {"state": obs["state"].copy()}
    moved_arm["state"][..., arm] += 3.0
    out = model(obs, batch["skill"], mask=batch["mask"])
    np.testing.assert_array_equal(out["action"], model(other, batch["skill"],
                                                       mask=batch["mask"])["action"])
    assert not np.allclose(out["action"], model(moved_arm, batch["skill"],
                                                mask=batch["mask"])["action"])
    cache = reset_cache(model, init_cache(config, B), np.ones(B, bool))
    a, _ = cached_step(model, cache, {"state": obs["state"][:, 0]})
    cache = reset_cache(model, init_cache(config, B), np.ones(B, bool))
    b, _ = cached_step(model, cache, {"state": other["state"][:, 0]})
    np.testing.assert_array_equal(a["action"], b["action"])
    assert ModelConfig.from_config(config.to_dict()) == config


def test_unknown_dropped_state_field_is_a_clear_error():
    with pytest.raises(ValueError, match="drop_state names unknown state fields.*velocity"):
        ModelConfig(**TINY, drop_state=("velocity",))
