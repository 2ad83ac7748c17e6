"""The Policy in closed loop on the real sim env: batched over envs, actions the env accepts,
envs that restart independently."""

from __future__ import annotations

import numpy as np
import pytest
from flax import nnx

from robot_skills.model import ModelConfig, SkillTransformer
from robot_skills.policy import Policy
from sim.observation import STATE_DIM
from sim.skills import NUM_SKILLS

TINY = dict(d_model=32, num_layers=2, num_heads=2, mlp_dim=64, state_hidden=32, context=5)


def _policy(batch_size, seed=0):
    model = SkillTransformer(ModelConfig(**TINY), rngs=nnx.Rngs(seed))
    rng = np.random.default_rng(seed)
    stats = {"state": {"mean": rng.normal(size=STATE_DIM).tolist(),
                       "std": (1 + rng.random(STATE_DIM)).tolist()},
             "action": {"mean": [0.0] * 8, "std": [1.0] * 8}}
    return Policy(model, stats, batch_size=batch_size)


@pytest.mark.timeout(180)
def test_policy_drives_two_pick_envs_with_valid_actions(make_env):
    envs = [make_env(task="pick"), make_env(task="pick")]
    obs = [env.reset(seed=i)[0] for i, env in enumerate(envs)]
    policy = _policy(len(envs))
    for _ in range(6):
        out = policy.act(obs)
        assert out["action"].shape == (2, 8) and out["action"].dtype == np.float32
        assert np.isfinite(out["action"]).all()
        assert (np.abs(out["action"]) <= 1.0).all()
        assert set(np.abs(out["action"][:, 7]).tolist()) == {1.0}  # open or close
        assert out["skill"].shape == (2,)
        assert ((0 <= out["skill"]) & (out["skill"] < NUM_SKILLS)).all()
        assert out["skill_probs"].shape == (2, NUM_SKILLS)
        np.testing.assert_allclose(out["skill_probs"].sum(-1), 1.0, atol=1e-5)
        assert (out["skill_probs"].argmax(-1) == out["skill"]).all()
        obs = []
        for env, a in zip(envs, out["action"]):
            o, _, terminated, truncated, _ = env.step(a)
            assert not (terminated or truncated)
            obs.append(o)


@pytest.mark.timeout(180)
def test_two_envs_reset_independently(make_env):
    """A batch of 2 where env 1 restarts mid-way acts exactly like two single-env policies."""
    envs = [make_env(task="pick"), make_env(task="pick")]
    batch, alone = _policy(2), [_policy(1), _policy(1)]
    obs = [env.reset(seed=10 + i)[0] for i, env in enumerate(envs)]
    for t in range(8):
        if t == 4:  # env 1 starts a new episode
            obs[1] = envs[1].reset(seed=20)[0]
            batch.reset(env_ids=[1])
            alone[1].reset()
        out = batch.act(obs)
        for i in range(2):
            ref = alone[i].act([obs[i]])
            np.testing.assert_allclose(out["action"][i], ref["action"][0], atol=1e-5)
            np.testing.assert_allclose(out["skill_probs"][i], ref["skill_probs"][0], atol=1e-5)
        obs = [env.step(a)[0] for env, a in zip(envs, out["action"])]


def test_act_rejects_a_batch_of_the_wrong_size():
    policy = _policy(2)
    with pytest.raises(ValueError, match="2 envs"):
        policy.act({"state": np.zeros((3, STATE_DIM), np.float32)})
    with pytest.raises(IndexError):
        policy.reset(env_ids=[2])
