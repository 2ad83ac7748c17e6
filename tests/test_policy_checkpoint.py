"""Policy checkpoints: one-call load, identical outputs after a round trip, normalisation applied
inside the policy, loadable from a training-style checkpoint that holds more items."""

from __future__ import annotations

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import nnx

from robot_skills.model import ModelConfig, SkillTransformer, cached_step, init_cache, reset_cache
from robot_skills.policy import Policy, checkpoint_items, item_handlers, save_policy_checkpoint
from sim.observation import ROUTE_FIELDS, ROUTE_LENGTH, STATE_DIM, state_slices
from sim.robot import ACTION

TINY = dict(d_model=32, num_layers=2, num_heads=2, mlp_dim=64, state_hidden=32, context=5)
D, A = STATE_DIM, ACTION.dim


def _stats(seed=0):
    rng = np.random.default_rng(seed)
    return {"state": {"mean": rng.normal(size=D).tolist(), "std": (rng.random(D) + 0.5).tolist()},
            "action": {"mean": (0.1 * rng.normal(size=A)).tolist(),
                       "std": (0.2 + 0.3 * rng.random(A)).tolist()}}


def _observations(n, B, seed=1):
    rng = np.random.default_rng(seed)
    return [{"state": rng.normal(size=(B, D)).astype(np.float32)} for _ in range(n)]


def _rollout(policy, observations):
    return [policy.act(o) for o in observations]


def _assert_same(a, b):
    for x, y in zip(a, b):
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)


@pytest.mark.timeout(120)
def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    model = SkillTransformer(ModelConfig(**TINY, num_tasks=3), rngs=nnx.Rngs(0))
    policy = Policy(model, _stats(), {"state": "mean_std", "action": "mean_std"}, batch_size=2,
                    task_id=[2, 1])
    obs = _observations(6, 2)
    before = _rollout(policy, obs)
    step_dir = policy.save(str(tmp_path / "ckpt"), step=7)
    assert step_dir.endswith("7")
    for path in (tmp_path / "ckpt", step_dir):  # manager root (latest step) or step directory
        loaded = Policy.load(str(path), batch_size=2, task_id=[2, 1])
        assert loaded.config == model.config
        assert loaded.normalization == policy.normalization
        _assert_same(before, _rollout(loaded, obs))
    # reset() restarts the episode: the same observations give the same outputs again.
    policy.reset(task_id=[2, 1])
    _assert_same(before, _rollout(policy, obs))


@pytest.mark.timeout(120)
def test_policy_loads_from_a_training_checkpoint_with_more_items(tmp_path):
    """The training job saves params + meta next to its own items in one Composite."""
    model = SkillTransformer(ModelConfig(**TINY), rngs=nnx.Rngs(1))
    config = ml_collections.ConfigDict({"data": {"normalization": {"state": "mean_std",
                                                                   "action": "none"}},
                                        "model": model.config.to_dict()})
    handlers = dict(item_handlers(), train_state=ocp.StandardCheckpointHandler())
    with ocp.CheckpointManager(tmp_path / "ckpts", item_handlers=handlers) as mngr:
        for step in (10, 20):
            items = checkpoint_items(model, _stats(), config=config)
            mngr.save(step, args=ocp.args.Composite(
                **items, train_state=ocp.args.StandardSave({"step": np.int64(step)})))
        mngr.wait_until_finished()
    policy = Policy.load(str(tmp_path / "ckpts"))
    assert policy.normalization == {"state": "mean_std", "action": "none"}
    reference = Policy(model, _stats(), config.data.normalization.to_dict())
    obs = _observations(3, 1)
    _assert_same(_rollout(reference, obs), _rollout(policy, obs))
    assert Policy.load(str(tmp_path / "ckpts"), step=10).config == model.config
    with pytest.raises(FileNotFoundError):
        Policy.load(str(tmp_path / "ckpts"), step=15)
    with pytest.raises(FileNotFoundError):
        Policy.load(str(tmp_path / "nothing"))


@pytest.mark.timeout(120)
def test_policy_normalises_observations_and_unnormalises_actions(tmp_path):
    model = SkillTransformer(ModelConfig(**TINY), rngs=nnx.Rngs(2))
    stats = _stats()
    policy = Policy(model, stats, {"state": "mean_std", "action": "mean_std"}, batch_size=2)
    obs = _observations(3, 2)
    outs = _rollout(policy, obs)
    cache = reset_cache(model, init_cache(model.config, 2), np.ones(2, bool))
    step = jax.jit(lambda c, o: cached_step(model, c, o))
    mean, std = (np.asarray(stats["action"][k], np.float32) for k in ("mean", "std"))
    s_mean, s_std = (np.asarray(stats["state"][k], np.float32) for k in ("mean", "std"))
    for o, out in zip(obs, outs):
        ref, cache = step(cache, {"state": (o["state"] - s_mean) / s_std})
        expected = np.clip(np.asarray(ref["action"]) * std[:7] + mean[:7], -1, 1)
        np.testing.assert_allclose(out["action"][:, :7], expected, atol=1e-5)
        grip = np.where(np.asarray(ref["gripper_logits"]).argmax(-1) == 1, 1.0, -1.0)
        np.testing.assert_array_equal(out["action"][:, 7], grip)
        np.testing.assert_array_equal(out["skill"], np.asarray(ref["skill"]))
        np.testing.assert_allclose(out["skill_probs"].sum(-1), 1.0, atol=1e-5)


def test_save_policy_checkpoint_needs_state_and_action_stats(tmp_path):
    model = SkillTransformer(ModelConfig(**TINY), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="action"):
        save_policy_checkpoint(str(tmp_path), model, None, {"state": _stats()["state"]})


@pytest.mark.timeout(120)
def test_policy_reports_the_skill_role_of_a_roles_model(tmp_path):
    """out["role"]: the role the step conditioned on (argmax of the role head, in range,
    restored with the checkpoint); -1 for a model without roles."""
    obs = _observations(4, 2)
    plain = Policy(SkillTransformer(ModelConfig(**TINY), rngs=nnx.Rngs(0)), _stats(), batch_size=2)
    for out in _rollout(plain, obs):
        np.testing.assert_array_equal(out["role"], [-1, -1])
    model = SkillTransformer(ModelConfig(**TINY, num_roles=5), rngs=nnx.Rngs(0))
    policy = Policy(model, _stats(), batch_size=2)
    before = _rollout(policy, obs)
    for out in before:
        assert out["role"].shape == (2,) and out["role"].dtype == np.int32
        assert ((out["role"] >= 0) & (out["role"] < 5)).all()
    assert len({int(r) for out in before for r in out["role"]}) > 1  # not a constant
    policy.save(str(tmp_path / "ckpt"), step=1)
    _assert_same(before, _rollout(Policy.load(str(tmp_path / "ckpt"), batch_size=2), obs))


@pytest.mark.timeout(120)
def test_clamped_policy_reads_out_of_range_states_as_the_range_edge():
    """clamp_state: a state beyond the training data's [min, max] (an unseen layout's longer
    route) acts exactly as the nearest in-range state; inside the range nothing changes."""
    stats = _stats()
    stats["state"]["min"] = (-2.0 * np.ones(D)).tolist()
    stats["state"]["max"] = (2.0 * np.ones(D)).tolist()
    inside = _observations(3, 2)
    for o in inside:
        o["state"] = np.clip(o["state"], -1.9, 1.9)
    far = [{"state": o["state"] * 10.0} for o in inside]
    edge = [{"state": np.clip(o["state"], -2.0, 2.0)} for o in far]

    def fresh(clamp):
        model = SkillTransformer(ModelConfig(**TINY), rngs=nnx.Rngs(3))
        return Policy(model, stats, batch_size=2, clamp_state=clamp)

    _assert_same(_rollout(fresh(True), far), _rollout(fresh(False), edge))
    _assert_same(_rollout(fresh(True), inside), _rollout(fresh(False), inside))
    far_actions = [o["action"] for o in _rollout(fresh(False), far)]
    edge_actions = [o["action"] for o in _rollout(fresh(False), edge)]
    assert any(not np.array_equal(a, b) for a, b in zip(far_actions, edge_actions))
    with pytest.raises(ValueError, match="min and max"):
        Policy(SkillTransformer(ModelConfig(**TINY), rngs=nnx.Rngs(3)), _stats(), batch_size=2,
               clamp_state=True)


@pytest.mark.timeout(120)
def test_route_length_cap_reads_long_routes_as_the_cap(tmp_path):
    """A model trained with route_length_cap=C acts on a 9 m route exactly as on a C m one, and
    keeps that through a checkpoint; route_length_cap=0 at load time reads the true length."""
    stats = _stats()
    stats["state"]["mean"] = np.zeros(D).tolist()
    idx = [state_slices()[name].start + ROUTE_LENGTH for name in ROUTE_FIELDS]
    near = _observations(3, 2)
    far = [{"state": o["state"].copy()} for o in near]
    for o_near, o_far in zip(near, far):
        o_near["state"][:, idx] = 3.0
        o_far["state"][:, idx] = 9.0
    model = SkillTransformer(ModelConfig(**TINY, route_length_cap=3.0), rngs=nnx.Rngs(3))
    policy = Policy(model, stats, batch_size=2)
    assert policy.route_length_cap == 3.0
    _assert_same(_rollout(policy, far), _rollout(Policy(model, stats, batch_size=2), near))
    policy.save(str(tmp_path / "ckpt"), step=1)
    loaded = Policy.load(str(tmp_path / "ckpt"), batch_size=2)
    _assert_same(_rollout(loaded, far), _rollout(Policy(model, stats, batch_size=2), near))
    uncapped = Policy.load(str(tmp_path / "ckpt"), batch_size=2, route_length_cap=0.0)
    far_actions = [o["action"] for o in _rollout(uncapped, far)]
    near_actions = [o["action"] for o in _rollout(Policy(model, stats, batch_size=2), near)]
    assert any(not np.array_equal(a, b) for a, b in zip(far_actions, near_actions))
    with pytest.raises(ValueError, match="route_length_cap"):
        Policy(model, stats, batch_size=2, route_length_cap=-1.0)
