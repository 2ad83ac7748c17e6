"""The gymnasium environment: API conformance, spaces, seeding, cameras, input validation."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import sim
from sim import robot as R
from sim.env import ENV_IDS, RearrangeEnv
from sim.navigation import wrap_angle
from sim.observation import (ARM_REL_SCALE, LIDAR_RANGE, MAX_MOVES, POSE_SCALE, REL_SCALE,
                             STATE_DIM, STATE_LAYOUT, state_slices)
from sim.scene import MULTI_MOVE_TASKS, split_seed
from sim.skills import SKILL_NAMES, Skill
from sim.tasks import FAILURES, MAX_STEPS, TASKS

REPO = pathlib.Path(__file__).resolve().parents[1]
SL = state_slices()


# ------------------------------------------------------------------ API conformance
# Warnings of the checker that are expected: the state vector is declared unbounded, and an
# env built without the registry has no spec to re-make it with other render modes.
BENIGN_CHECKER_WARNINGS = ("observation space minimum value is -infinity",
                           "observation space maximum value is infinity",
                           "Not able to test alternative render modes")


def _check_env_strict(env):
    """check_env, failing on any warning except the known benign ones (the checker only warns
    about e.g. observations outside the space or non-float32 rewards)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=False)
    unexpected = [str(w.message) for w in caught
                  if not any(b in str(w.message) for b in BENIGN_CHECKER_WARNINGS)]
    assert not unexpected, unexpected


@pytest.mark.parametrize("task", ["rearrange_hard", "pick"])
def test_gymnasium_env_checker_passes(task):
    env = RearrangeEnv(task=task)
    try:
        _check_env_strict(env)
    finally:
        env.close()


def test_gymnasium_env_checker_passes_through_make():
    """With a spec (made through the registry) the checker also re-makes the env per render
    mode."""
    env = gym.make(ENV_IDS["rearrange_hard"])
    try:
        _check_env_strict(env)
    finally:
        env.close()


def test_importing_sim_registers_the_env_ids():
    code = (
        "import gymnasium as gym\n"
        "assert 'robot_skills/RearrangeHard-v0' not in gym.registry\n"
        "import sim\n"
        "env = gym.make('robot_skills/RearrangeHard-v0')\n"
        "obs, info = env.reset(seed=0)\n"
        "obs, r, term, trunc, info = env.step(env.action_space.sample())\n"
        "assert obs['state'].shape == (sim.env.STATE_DIM,)\n"
        "print('ok', env.unwrapped.config.task)\n"
    )
    pythonpath = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, PYTHONPATH=pythonpath))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok rearrange_hard"


@pytest.mark.parametrize("task", TASKS)
def test_every_task_is_registered_and_makes_the_right_env(task):
    assert set(ENV_IDS) == set(TASKS)
    assert ENV_IDS[task] in gym.registry
    env = gym.make(ENV_IDS[task])
    try:
        assert isinstance(env.unwrapped, RearrangeEnv)
        assert env.unwrapped.config.task == task
        obs, info = env.reset(seed=1)
        assert env.observation_space.contains(obs)
        assert info["episode_seed"] == 1 and info["step"] == 0
        assert info["failure"] == "" and info["success"] is False
        assert 0 <= info["expert_skill"] < len(Skill)
        assert info["expert_skill_name"] == SKILL_NAMES[info["expert_skill"]]
        stage_keys = {k for k in info if k.startswith("stage/")}
        assert stage_keys == {f"stage/{s}" for s in env.unwrapped.task.stage_names}
        assert not any(info[k] for k in stage_keys)
    finally:
        env.close()


def test_spaces():
    env = RearrangeEnv()
    assert env.action_space.shape == (8,) == (R.ACTION.dim,)
    assert env.action_space.dtype == np.float32
    np.testing.assert_array_equal(env.action_space.low, -1.0)
    np.testing.assert_array_equal(env.action_space.high, 1.0)
    assert set(env.observation_space.spaces) == {"state"}
    assert env.observation_space["state"].shape == (STATE_DIM,)
    assert env.observation_space["state"].dtype == np.float32
    assert env.metadata["render_fps"] == 10


# ------------------------------------------------------------------ state vector
def test_state_layout_is_the_documented_110_vector():
    sizes = dict(STATE_LAYOUT)
    assert list(sizes) == ["arm_qpos", "arm_stow_rel", "gripper_opening", "is_holding", "base_velocity",
                           "grasp_pos", "target_pos", "goal_pos", "target_rel", "goal_rel",
                           "source_handle", "goal_handle", "source_handle_rel", "goal_handle_rel",
                           "articulation", "target_route", "goal_route", "target_pose_rel",
                           "goal_pose_rel", "source_open_route", "goal_open_route",
                           "source_open_pose_rel", "goal_open_pose_rel", "task_flags", "lidar"]
    assert sizes == {"arm_qpos": 5, "arm_stow_rel": 5, "gripper_opening": 1, "is_holding": 1, "base_velocity": 2,
                     "grasp_pos": 3, "target_pos": 3, "goal_pos": 3, "target_rel": 3,
                     "goal_rel": 3, "source_handle": 3, "goal_handle": 3,
                     "source_handle_rel": 3, "goal_handle_rel": 3, "articulation": 2,
                     "target_route": 5, "goal_route": 5, "target_pose_rel": 3, "goal_pose_rel": 3,
                     "source_open_route": 5, "goal_open_route": 5, "source_open_pose_rel": 3,
                     "goal_open_pose_rel": 3, "task_flags": 3, "lidar": 32}
    assert STATE_DIM == sum(sizes.values()) == 110
    # The slices tile [0, STATE_DIM) in layout order.
    cover = np.zeros(STATE_DIM, dtype=int)
    end = 0
    for name, n in STATE_LAYOUT:
        s = SL[name]
        assert s.start == end and s.stop - s.start == n
        cover[s] += 1
        end = s.stop
    assert end == STATE_DIM and (cover == 1).all()


@pytest.mark.parametrize("task", TASKS)
def test_reset_state_is_finite_and_has_the_documented_length(make_env, task):
    env = make_env(task=task)
    obs, _ = env.reset(seed=2)
    s = obs["state"]
    moves = task in MULTI_MOVE_TASKS  # ends in the move field (tests/test_rearrange_two.py)
    assert s.shape == (STATE_DIM + (MAX_MOVES if moves else 0),) and s.dtype == np.float32
    assert np.isfinite(s).all()
    assert env.observation_space.contains(obs)
    lidar = s[SL["lidar"]]
    assert (lidar > 0).all() and (lidar <= LIDAR_RANGE).all()
    assert (lidar < LIDAR_RANGE).any()  # walls are within 4 m of any point of the room
    t = env.scene.task
    assert s[SL["is_holding"]][0] == float(task == "place")
    np.testing.assert_array_equal(
        s[SL["task_flags"]],
        [float(t.source in ("drawer", "cabinet")), float(t.goal in ("drawer", "cabinet")),
         float(t.goal_closed)])
    for which, name in (("source", t.source), ("goal", t.goal)):
        if name not in ("drawer", "cabinet"):
            for field in ("handle", "handle_rel", "open_route", "open_pose_rel"):
                np.testing.assert_array_equal(s[SL[f"{which}_{field}"]], 0.0)
        else:  # the grasp site to the handle, finely: tanh of the base-frame difference
            np.testing.assert_allclose(
                s[SL[f"{which}_handle_rel"]],
                np.tanh((s[SL[f"{which}_handle"]] - s[SL["grasp_pos"]]) / REL_SCALE), atol=1e-5)
    # The robot-frame target position matches the privileged world state.
    np.testing.assert_allclose(s[SL["target_pos"]],
                               env.world.to_base(env.world.object_pos(t.target)), atol=1e-5)
    # Fine relative features: tanh of the object / goal spot minus the grasp site (base frame).
    for name, pos in (("target_rel", "target_pos"), ("goal_rel", "goal_pos")):
        np.testing.assert_allclose(s[SL[name]],
                                   np.tanh((s[SL[pos]] - s[SL["grasp_pos"]]) / REL_SCALE),
                                   atol=1e-5)
    assert np.abs(s[SL["target_rel"]]).max() <= 1.0
    # Routes: the route point is at most one lookahead (+ a cell) away, the path is at least
    # as long as the straight line to its pose, and the pose heading is a unit vector.
    x, y, _ = env.world.base_pose()
    names = ("target_route", "goal_route", "source_open_route", "goal_open_route")
    for name, pose in zip(names, env.observer.routes.poses):
        if pose is None:
            continue
        r = s[SL[name]]
        assert np.hypot(r[0], r[1]) <= 0.6 + 0.08
        assert r[2] >= min(np.hypot(pose[0] - x, pose[1] - y) - 0.05, 12.0)
        assert np.hypot(r[3], r[4]) == pytest.approx(1.0, abs=1e-5)
        # Fine pose offset: tanh of the pose's (x, y) in the base frame and heading error.
        yaw = env.world.base_pose()[2]
        c, sn = np.cos(yaw), np.sin(yaw)
        off = np.array([c * (pose[0] - x) + sn * (pose[1] - y), -sn * (pose[0] - x) + c * (pose[1] - y),
                        wrap_angle(pose[2] - yaw)])
        fine = s[SL[name.replace("route", "pose_rel")]]
        np.testing.assert_allclose(fine, np.tanh(off / np.array(POSE_SCALE)), atol=1e-5)


def test_route_points_the_way_the_expert_drives(make_env):
    """While the expert drives forward (to the pick pose, then holding the object to the place
    pose), the route point to that pose is ahead of the robot."""
    from sim.expert import Expert
    env = make_env(task="rearrange_easy")
    agree = total = 0
    for seed in range(2):
        obs, info = env.reset(seed=seed)
        expert = Expert()
        expert.reset(env)
        for _ in range(300):
            _, a = expert.act(env)
            if info["expert_skill_name"] == "navigate" and a[0] > 0.3:
                held = obs["state"][SL["is_holding"]][0] > 0.5
                r = obs["state"][SL["goal_route" if held else "target_route"]]
                total += 1
                agree += abs(np.arctan2(r[1], r[0])) < 0.5
            obs, _, term, trunc, info = env.step(a)
            if term or trunc:
                break
    assert total > 20 and agree / total > 0.7


def test_state_reflects_the_hard_task_start(make_env):
    env = make_env(task="rearrange_hard")
    obs, _ = env.reset(seed=0)
    s = obs["state"]
    assert s[SL["task_flags"]][0] == 1.0  # the target starts in a container...
    assert s[SL["articulation"]][0] == pytest.approx(0.0, abs=0.02)  # ...which is closed
    np.testing.assert_allclose(s[SL["arm_qpos"]], [R.STOW_QPOS[j] for j in R.ARM_JOINTS],
                               atol=0.05)
    np.testing.assert_allclose(s[SL["arm_stow_rel"]],
                               np.tanh((s[SL["arm_qpos"]] - R.STOW_Q) / ARM_REL_SCALE), atol=1e-5)
    assert s[SL["gripper_opening"]][0] == pytest.approx(2 * R.FINGER_RANGE[1], abs=0.01)
    np.testing.assert_allclose(s[SL["base_velocity"]], 0.0, atol=0.05)
    assert np.linalg.norm(s[SL["source_handle"]]) > 0


def test_open_pose_features_are_where_the_expert_opens(make_env):
    """When the expert's label turns from navigate to `open` the robot stands at the open pose
    of the container it opens, source or goal (that pose's fine offset within the planner's
    arrival tolerance) and, while opening, the handle comes to the grasp site (its
    *_handle_rel near 0)."""
    from sim.expert import Expert
    from sim.expert.task_planner import ARRIVE_POS, ARRIVE_YAW
    env = make_env(task="rearrange_hard")
    seen = 0
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        expert = Expert()
        expert.reset(env)
        prev, closest = info["expert_skill_name"], np.inf
        for _ in range(600):
            _, a = expert.act(env)
            obs, _, term, trunc, info = env.step(a)
            s = obs["state"]
            if info["expert_skill_name"] == "open":
                which = "source" if env.plan.call.target == env.scene.task.source else "goal"
                if prev == "navigate":
                    fine = np.arctanh(np.clip(s[SL[f"{which}_open_pose_rel"]], -0.999, 0.999))
                    off = fine * np.array(POSE_SCALE)
                    assert np.hypot(off[0], off[1]) <= ARRIVE_POS + 0.02
                    assert abs(off[2]) <= ARRIVE_YAW + 0.02
                    seen += 1
                closest = min(closest, np.abs(s[SL[f"{which}_handle_rel"]]).max())
            elif prev == "open":
                break
            prev = info["expert_skill_name"]
            if term or trunc:
                break
        assert closest < 0.5  # within ~3 cm on every axis at some point of the opening
    assert seen == 3


def test_arm_stow_rel_resolves_small_drifts_from_the_stow_pose(make_env):
    """A few steps of lowering the lift and turning the shoulder move the arm a few hundredths
    off the stow pose: arm_qpos barely changes, arm_stow_rel shows it with the right signs."""
    env = make_env(task="navigate")
    obs, _ = env.reset(seed=0)
    before = obs["state"][SL["arm_stow_rel"]]
    a = np.zeros(8, dtype=np.float32)
    a[2], a[3], a[7] = -0.5, 0.2, -1.0  # lift down, shoulder yaw +, gripper open
    for _ in range(3):
        obs, *_ = env.step(a)
    s = obs["state"]
    moved = s[SL["arm_qpos"]] - R.STOW_Q
    assert -0.1 < moved[0] < -0.005 and 0.005 < moved[1] < 0.1
    rel = s[SL["arm_stow_rel"]]
    np.testing.assert_allclose(rel, np.tanh(moved / ARM_REL_SCALE), atol=1e-5)
    assert rel[0] < before[0] - 0.1 and rel[1] > before[1] + 0.1


def test_base_velocity_follows_the_turn_command(make_env):
    env = make_env(task="navigate")
    env.reset(seed=0)
    for _ in range(3):
        obs, *_ = env.step(np.array([0.0, 1.0, 0, 0, 0, 0, 0, -1.0]))  # turn in place
    v = obs["state"][SL["base_velocity"]]
    assert v[1] == pytest.approx(R.ACTION.max_yaw_rate, rel=0.1)
    assert abs(v[0]) < 0.05


# ------------------------------------------------------------------ seeding
@pytest.mark.parametrize("task", ["rearrange_hard", "place"])
def test_reset_with_the_same_seed_is_bit_identical(make_env, task):
    env = make_env(task=task)
    obs1, info1 = env.reset(seed=7)
    scene1 = env.scene
    # Disturb the env (other episode, some steps) before resetting with the same seed again.
    env.reset(seed=8)
    for _ in range(5):
        *_, terminated, truncated, _ = env.step(np.ones(8, dtype=np.float32))
        if terminated or truncated:
            break
    obs2, info2 = env.reset(seed=7)
    assert np.array_equal(obs1["state"], obs2["state"])
    assert env.scene == scene1
    assert info1 == info2
    # A fresh env agrees too.
    obs3, info3 = make_env(task=task).reset(seed=7)
    assert np.array_equal(obs1["state"], obs3["state"])
    assert info1 == info3


def test_different_seeds_give_different_episodes(make_env):
    env = make_env()
    a, _ = env.reset(seed=0)
    scene_a = env.scene
    b, _ = env.reset(seed=1)
    assert not np.array_equal(a["state"], b["state"])
    assert env.scene != scene_a


@pytest.mark.parametrize("split", ["train", "eval", "unseen"])
def test_reset_seed_indexes_into_the_split(make_env, split):
    env = make_env(task="rearrange_easy", split=split)
    _, info = env.reset(seed=3)
    assert info["episode_seed"] == split_seed(split, 3) == env.episode_seed
    assert env.scene.seed == info["episode_seed"] and env.scene.split == split
    assert (env.scene.family == "divided") == (split == "unseen")
    _, info = env.reset(options={"episode_seed": split_seed("eval", 11)})
    assert info["episode_seed"] == 1_000_011


def test_unseeded_reset_draws_from_the_split(make_env):
    env = make_env(split="eval")
    env.reset(seed=0)
    seeds = set()
    for _ in range(3):
        _, info = env.reset()
        assert 1_000_000 <= info["episode_seed"] < 2_000_000
        seeds.add(info["episode_seed"])
    assert len(seeds) == 3


# ------------------------------------------------------------------ cameras & render
def test_cameras_return_arrays_of_the_declared_shapes(make_env):
    env = make_env(task="rearrange_hard", cameras=("depth", "rgb"), camera_size=48)
    space = env.observation_space
    assert space["depth"].shape == (48, 48, 1) and space["depth"].dtype == np.float32
    assert space["rgb"].shape == (48, 48, 3) and space["rgb"].dtype == np.uint8
    obs, _ = env.reset(seed=0)
    for o in (obs, env.step(np.zeros(8))[0]):
        assert set(o) == {"state", "depth", "rgb"}
        assert o["depth"].shape == (48, 48, 1) and o["depth"].dtype == np.float32
        assert o["rgb"].shape == (48, 48, 3) and o["rgb"].dtype == np.uint8
        assert space.contains(o)
        d = o["depth"]
        assert np.isfinite(d).all() and d.min() >= 0.0 and d.max() <= 10.0
        assert d.max() - d.min() > 0.1  # a real scene, not a blank buffer
        assert o["rgb"].std() > 5.0
    # The head camera looks down at the floor in front of the robot: nearer than the horizon.
    assert 0.3 < float(np.median(obs["depth"])) < 6.0


def test_camera_images_are_deterministic(make_env):
    a, _ = make_env(cameras=("rgb", "depth"), camera_size=32).reset(seed=4)
    b, _ = make_env(cameras=("rgb", "depth"), camera_size=32).reset(seed=4)
    assert np.array_equal(a["rgb"], b["rgb"]) and np.array_equal(a["depth"], b["depth"])


def test_unknown_camera_stream_is_rejected(make_env):
    with pytest.raises(ValueError, match="unknown camera stream"):
        make_env(cameras=("thermal",)).reset(seed=0)


def test_render_returns_a_nonconstant_rgb_image(make_env):
    env = make_env()
    with pytest.raises(RuntimeError, match="before reset"):
        env.render()
    env.reset(seed=0)
    img = env.render()
    h, w = env.config.physics.render_height, env.config.physics.render_width
    assert img.shape == (h, w, 3) and img.dtype == np.uint8
    assert img.std() > 10.0
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50
    env.step(np.array([1.0, 1.0, 0, 0, 0, 0, 0, 0], dtype=np.float32))
    assert env.render().shape == (h, w, 3)


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_action_raises_and_does_not_advance(make_env, bad):
    env = make_env()
    obs0, _ = env.reset(seed=0)
    a = np.zeros(8, dtype=np.float32)
    a[3] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(a)
    # Nothing happened: the next valid step is step 1.
    _, _, _, _, info = env.step(np.zeros(8, dtype=np.float32))
    assert info["step"] == 1


@pytest.mark.parametrize("shape", [(7,), (9,), (2, 8), (0,), ()])
def test_wrong_action_shape_raises(make_env, shape):
    env = make_env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must have shape \(8,\)"):
        env.step(np.zeros(shape, dtype=np.float32))


def test_step_before_reset_raises(make_env):
    env = make_env()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(8, dtype=np.float32))


def test_episode_truncates_at_the_step_limit_and_then_refuses_to_step(make_env):
    env = make_env(task="pick")
    env.reset(seed=0)
    a = np.zeros(8, dtype=np.float32)
    a[7] = -1.0  # keep the gripper open, stand still
    n = 0
    terminated = truncated = False
    while not (terminated or truncated):
        _, reward, terminated, truncated, info = env.step(a)
        n += 1
        assert n <= MAX_STEPS["pick"]
    assert truncated and not terminated
    assert n == MAX_STEPS["pick"] and info["step"] == n
    assert info["failure"] == "timeout" and not info["success"]
    with pytest.raises(RuntimeError, match="finished episode"):
        env.step(a)
    obs, info = env.reset(seed=0)  # a reset revives it
    assert info["step"] == 0
    env.step(a)


@pytest.mark.usefixtures("mujoco_log_in_tmp")
def test_terminated_episode_refuses_to_step(make_env):
    env = make_env(task="rearrange_hard")
    env.reset(seed=0)
    env.world.data.qvel[:] = 1e9
    _, _, terminated, _, info = env.step(np.zeros(8))
    assert terminated and info["failure"] in FAILURES
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(np.zeros(8))


@pytest.mark.parametrize("kwargs, match", [
    (dict(task="fly"), "unknown task"),
    (dict(split="test"), "unknown split"),
    (dict(render_mode="human"), "render_mode"),
])
def test_invalid_constructor_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RearrangeEnv(**kwargs)


def test_sim_package_exports():
    assert sim.RearrangeEnv is RearrangeEnv
    assert sim.make_env("pick").config.task == "pick"


def test_close_task_starts_with_the_objects_inside_the_opened_drawer(make_env):
    """Regression: opening the drawer at reset must carry what rests in it (train seed 186 used
    to be unsampleable because the target was left floating and failed the settle check)."""
    from sim import skills as S

    env = make_env(task="close", split="train")
    env.reset(options={"episode_seed": 186})
    w = env.unwrapped.world
    assert env.unwrapped.scene.task.source == "drawer"
    assert S.is_open(w, "drawer")
    assert S.inside(w, env.unwrapped.scene.task.target, "drawer")
