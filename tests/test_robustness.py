"""Fuzzing the env with random and extreme actions, and its handling of diverging physics."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sim.env import RearrangeEnv
from sim.observation import state_width
from sim.scene import MULTI_MOVE_TASKS
from sim.skills import Skill
from sim.tasks import FAILURES, TASKS

MIN_TOTAL_STEPS = 10_000
STEPS_PER_EXAMPLE = 240
MAX_EXAMPLES = 46  # 46 * 240 = 11,040 steps (~40 s at ~3.5 ms per step)
MODES = ("uniform", "extreme", "ones", "bang_bang", "pattern", "huge")
EXTREMES = [-1e300, -1e6, -3.0, -1.0, -0.5, 0.0, 1e-12, 0.5, 1.0, 3.0, 1e6, 1e300]

# A few (fixed) action vectors per example, from which the episode's actions are built.
action_vectors = hnp.arrays(
    np.float64, (8,),
    elements=st.one_of(st.sampled_from(EXTREMES),
                       st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)))


def make_actions(mode: str, pattern: list[np.ndarray], rng: np.random.Generator, n: int):
    if mode == "uniform":
        return rng.uniform(-1.0, 1.0, (n, 8))
    if mode == "extreme":
        return rng.choice([-1e6, -1.0, 1.0, 1e6], size=(n, 8))
    if mode == "ones":
        return np.ones((n, 8)) * rng.choice([-1.0, 1.0])
    if mode == "bang_bang":  # each dimension flips sign every few steps
        period = rng.integers(1, 12, size=8)
        phase = rng.integers(0, 12, size=8)
        t = np.arange(n)[:, None]
        return np.where(((t + phase) // period) % 2 == 0, 1.0, -1.0)
    if mode == "huge":
        return rng.uniform(-1.0, 1.0, (n, 8)) * 10.0 ** rng.integers(0, 300, size=(n, 1))
    # pattern: the hypothesis-drawn vectors, cycled in runs, with uniform noise in between
    out = np.empty((n, 8))
    for i in range(n):
        out[i] = pattern[(i // 7) % len(pattern)] if i % 10 else rng.uniform(-1, 1, 8)
    return out


def check_step(env, obs, reward, terminated, truncated, info):
    s = obs["state"]
    width = state_width(False, env.config.task in MULTI_MOVE_TASKS)
    assert s.shape == (width,) and s.dtype == np.float32
    assert np.isfinite(s).all(), f"non-finite observation at step {info['step']}: {s}"
    assert env.observation_space.contains(obs)
    assert np.isfinite(reward)
    # gymnasium's contract (and its env checker) accepts Python or NumPy booleans.
    assert isinstance(terminated, (bool, np.bool_)) and isinstance(truncated, (bool, np.bool_))
    assert not (terminated and truncated)
    assert info["failure"] in FAILURES + ("",)
    if truncated:
        assert info["failure"] == "timeout"
    if terminated:
        assert info["success"] or info["failure"] not in ("", "timeout")
    assert info["expert_skill"] in {int(s) for s in Skill}


@pytest.mark.usefixtures("mujoco_log_in_tmp")
def test_random_and_extreme_actions_never_break_the_env():
    envs = {task: RearrangeEnv(task=task) for task in TASKS}
    stats = {"steps": 0, "episodes": 0, "failures": {}}

    # Derandomized (pinned examples) and without shrinking: one example is 240 physics steps,
    # so shrinking a failure would take minutes; the failing example is printed as generated.
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=(Phase.explicit, Phase.generate),
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(task=st.sampled_from(TASKS), seed=st.integers(0, 30), mode=st.sampled_from(MODES),
           rng_seed=st.integers(0, 2**32 - 1),
           pattern=st.lists(action_vectors, min_size=1, max_size=4))
    def run(task, seed, mode, rng_seed, pattern):
        env = envs[task]
        rng = np.random.default_rng(rng_seed)
        actions = make_actions(mode, pattern, rng, STEPS_PER_EXAMPLE)
        obs, info = env.reset(seed=seed)
        assert np.isfinite(obs["state"]).all()
        for i, a in enumerate(actions):
            if i % 2:  # float32 actions (what policies emit) are accepted too
                a = np.clip(a, -1e38, 1e38).astype(np.float32)
            obs, reward, terminated, truncated, info = env.step(a)
            stats["steps"] += 1
            check_step(env, obs, reward, terminated, truncated, info)
            if terminated or truncated:
                stats["episodes"] += 1
                key = info["failure"] or "success"
                stats["failures"][key] = stats["failures"].get(key, 0) + 1
                obs, info = env.reset(seed=int(rng.integers(1000)))
                assert np.isfinite(obs["state"]).all()

    t0 = time.perf_counter()
    try:
        run()
    finally:
        for env in envs.values():
            env.close()
    print(f"fuzz: {stats} in {time.perf_counter() - t0:.1f} s")
    assert stats["steps"] >= MIN_TOTAL_STEPS, stats
    # Clipped commands alone must never make the physics diverge.
    assert stats["failures"].get("unstable_sim", 0) == 0, stats


def test_out_of_range_actions_are_clipped():
    """An action far outside [-1, 1] behaves exactly like its clipped version."""
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (25, 8)) * rng.choice([1.0, 50.0, 1e6], size=(25, 8))
    a_env, b_env = RearrangeEnv(task="rearrange_easy"), RearrangeEnv(task="rearrange_easy")
    try:
        a_env.reset(seed=3)
        b_env.reset(seed=3)
        for a in actions:
            oa, ra, ta, tra, _ = a_env.step(a)
            ob, rb, tb, trb, _ = b_env.step(np.clip(a, -1, 1))
            assert np.array_equal(oa["state"], ob["state"])
            assert (ra, ta, tra) == (rb, tb, trb)
            if ta or tra:
                break
        assert not np.array_equal(actions, np.clip(actions, -1, 1))
    finally:
        a_env.close()
        b_env.close()


# ------------------------------------------------------------------ diverging physics
def _obj_free_joint(world):
    name = world.scene.task.target
    return world.obj_qpos[name], world.obj_dof[name]


def corrupt_all_qvel_1e9(world):
    world.data.qvel[:] = 1e9


def corrupt_object_speed(world):
    _, v = _obj_free_joint(world)
    world.data.qvel[v:v + 3] = 1e4


def corrupt_object_qpos_nan(world):
    a, _ = _obj_free_joint(world)
    world.data.qpos[a] = np.nan


def corrupt_qvel_inf(world):
    world.data.qvel[0] = np.inf


@pytest.mark.parametrize("corrupt", [corrupt_all_qvel_1e9, corrupt_object_speed,
                                     corrupt_object_qpos_nan, corrupt_qvel_inf],
                         ids=lambda f: f.__name__.removeprefix("corrupt_"))
@pytest.mark.usefixtures("mujoco_log_in_tmp")
def test_diverging_simulation_ends_the_episode_as_unstable(corrupt):
    """NaN/inf state (MuJoCo's BADQPOS/BADQVEL, which make it reset mjData by itself) and huge
    velocities (BADQACC, or the 200 m/s cap) must all end the episode as unstable_sim."""
    env = RearrangeEnv(task="rearrange_hard")
    try:
        obs0, _ = env.reset(seed=3)
        corrupt(env.unwrapped.world)
        obs, reward, terminated, truncated, info = env.step(np.zeros(8, dtype=np.float32))
        assert terminated and not truncated
        assert info["failure"] == "unstable_sim"
        assert not info["success"]
        assert np.isfinite(obs["state"]).all()
        assert env.observation_space.contains(obs)
        assert np.isfinite(reward)
        with pytest.raises(RuntimeError):
            env.step(np.zeros(8, dtype=np.float32))
        # The env recovers with a reset.
        obs, info = env.reset(seed=3)
        assert np.array_equal(obs["state"], obs0["state"]) and info["failure"] == ""
    finally:
        env.close()
