"""DAgger: the expert labels states another agent drove into. Its navigation is a function of
the state (steering by the route point the policy observes); `generate --policy` writes the
visited states with expert labels; several dataset directories train as one; train.init_from
starts a run from another run's parameters."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from robot_skills.data.dataset import EpisodeDatasets, open_dataset
from robot_skills.data.features import DataSpec
from sim.env import RearrangeEnv
from sim.expert import Expert
from sim.expert.controllers import MIN_CREEP, MIN_TURN, OPEN_F, PARK_RADIUS, Command, Skills
from sim.expert.expert import encode
from sim.expert.ik import horizontal
from sim.expert.task_planner import ARRIVE_POS, ARRIVE_YAW
from sim.observation import state_slices
from sim.skills import ENGAGED_DIST, OPEN_FRACTION, Skill
from train.config import load_config

TINY = ["task.name=pick", "data.val_fraction=0.25", "data.window=4", "data.batch_size=8",
        "data.prefetch=2", "data.noise_std=0", "model.d_model=32", "model.num_layers=1",
        "model.num_heads=2", "model.mlp_dim=64", "model.state_hidden=32", "model.context=4",
        "train.steps=2", "train.warmup_steps=1", "train.log_every=1", "train.eval_every=2",
        "train.eval_batches=1", "train.checkpoint_every=2"]


def tiny_config(*overrides):
    return load_config("configs/rearrange_easy.py:small", TINY + list(overrides))


@pytest.mark.parametrize("seed", [0, 3])
def test_navigation_label_steers_by_the_observed_route_point(seed):
    """Put the robot anywhere on the route, facing anywhere: the expert's navigation command is
    the same for two fresh experts (no path memory) and turns towards the target_route point
    of the observation."""
    env = RearrangeEnv(task="rearrange_easy", split="eval")
    try:
        obs, _ = env.reset(options={"episode_seed": 1000 + seed})
        w, pose = env.world, env.plan.pose
        x, y, _ = w.base_pose()
        rng = np.random.default_rng(seed)
        checked = 0
        for _ in range(6):
            w.set_base_pose(x, y, float(rng.uniform(-math.pi, math.pi)))
            mujoco.mj_forward(w.model, w.data)
            state = env.observer.state(env.task, [], env.goal_world())
            a, b = Skills(env).drive(pose), Skills(env).drive(pose)
            assert (a.forward, a.yaw_rate) == (b.forward, b.yaw_rate)
            route = state[state_slices()["target_route"]]
            if math.hypot(pose[0] - x, pose[1] - y) > PARK_RADIUS:
                bearing = math.atan2(route[1], route[0])
                assert a.yaw_rate == pytest.approx(np.clip(3.0 * bearing, -1.4, 1.4), abs=1e-6)
                assert a.forward >= 0.0 and (a.forward == 0.0) == (abs(bearing) > 0.3)
                checked += 1
        assert checked == 6
    finally:
        env.close()


@pytest.mark.parametrize("dyaw, back", [(0.075, 0.0), (-0.09, 0.0), (0.0, 0.029), (-0.07, 0.025)])
def test_navigation_label_near_the_pose_is_decisive_and_arrives(dyaw, back):
    """Just outside the planner's arrival tolerance the expert's command is at least MIN_TURN /
    MIN_CREEP (not a proportional trickle a policy regresses to zero), and following it arrives
    without overshooting the tolerance."""
    env = RearrangeEnv(task="rearrange_easy", split="eval")
    try:
        env.reset(options={"episode_seed": 1000})
        w, pose = env.world, env.plan.pose
        yaw = pose[2] + dyaw
        w.set_base_pose(pose[0] - back * math.cos(yaw), pose[1] - back * math.sin(yaw), yaw)
        mujoco.mj_forward(w.model, w.data)
        cmd = Skills(env).drive(pose)
        if abs(dyaw) > MIN_TURN[0]:
            assert abs(cmd.yaw_rate) >= MIN_TURN[1] - 1e-9
            assert np.sign(cmd.yaw_rate) == -np.sign(dyaw)
        if back > MIN_CREEP[0]:
            assert cmd.forward >= MIN_CREEP[1] - 1e-9
        expert = Expert()
        expert.reset(env)
        for _ in range(40):
            if env.plan.call.skill != Skill.NAVIGATE:
                break
            _, a = expert.act(env)
            env.step(a)
        assert env.plan.call.skill == Skill.PICK
        x, y, th = w.base_pose()
        assert math.hypot(x - pose[0], y - pose[1]) <= ARRIVE_POS
        assert abs((th - pose[2] + math.pi) % (2 * math.pi) - math.pi) <= ARRIVE_YAW
    finally:
        env.close()


def test_arm_skill_labels_hold_the_base_at_its_work_pose():
    """During pick the expert's base label pulls a base that drifted off the work pose back
    (forward towards it, yaw towards its heading); executing it, the base is back within the
    planner's arrival tolerance by the pick's last step."""
    env = RearrangeEnv(task="rearrange_easy", split="eval")
    try:
        env.reset(options={"episode_seed": 1000})
        w, pose = env.world, env.plan.pose
        expert = Expert()
        expert.reset(env)
        for _ in range(200):  # drive there
            if env.plan.call.skill == Skill.PICK:
                break
            _, a = expert.act(env)
            env.step(a)
        assert env.plan.call.skill == Skill.PICK
        yaw = w.base_pose()[2] + 0.12  # 12 cm back, 0.12 rad off: inside the stay tolerance
        w.set_base_pose(pose[0] - 0.12 * math.cos(yaw), pose[1] - 0.12 * math.sin(yaw), yaw)
        mujoco.mj_forward(w.model, w.data)
        env.plan = env.planner.step(w, w.held_objects())
        assert env.plan.call.skill == Skill.PICK  # still picking: the base is off the pose
        label, _ = expert.act(env)
        assert label[0] > 0.05 and label[1] < -0.05  # forward, and turn back (yaw too high)
        steps = 0
        while env.plan.call.skill == Skill.PICK and steps < 60:  # until the pick is done
            x, y, th = w.base_pose()
            _, a = expert.act(env)
            env.step(a)
            steps += 1
        assert steps >= 8
        assert math.hypot(x - pose[0], y - pose[1]) <= ARRIVE_POS
        assert abs((th - pose[2] + math.pi) % (2 * math.pi) - math.pi) <= ARRIVE_YAW
    finally:
        env.close()


@pytest.mark.parametrize("seed", [1000000, 1000002])  # drawer, cabinet
def test_a_policy_that_reached_the_handle_off_pose_is_labelled_open(seed):
    """A policy that stops 9 cm short of the open pose (outside the arrival tolerance, inside
    the stay tolerance) and reaches the handle there gets `open` as its label, not `navigate`;
    the expert resumes from the handle (the grasp site stays on it: no stowing the arm first)
    and opens the container."""
    env = RearrangeEnv(task="rearrange_hard", split="eval")
    try:
        env.reset(options={"episode_seed": seed})
        w, pose, goal = env.world, env.plan.pose, env.plan.goal
        assert goal.skill == Skill.OPEN
        yaw = pose[2] + 0.05
        w.set_base_pose(pose[0] - 0.09 * math.cos(yaw), pose[1] - 0.09 * math.sin(yaw), yaw)
        mujoco.mj_forward(w.model, w.data)
        env.plan = env.planner.step(w, w.held_objects())
        assert env.plan.call.skill == Skill.NAVIGATE  # the arm is stowed: not there yet
        sk = Skills(env)  # the "policy": IK to 13 cm in front of the handle, then onto it
        h, n = sk._handle_frame(goal.target, w.articulation(goal.target))
        a, f = horizontal(-n)
        for target, tol in ((h + 0.13 * np.append(n, 0), 0.02), (h, 0.01)):
            for _ in range(60):
                if np.linalg.norm(w.grasp_pos() - target) < tol:
                    break
                q, _ = sk.solve(target, a, f)
                env.step(encode(Command(q, OPEN_F), w))
        assert env.plan.call == goal  # engaged: counted as arrived
        expert = Expert()
        expert.reset(env)
        for k in range(60):
            _, act = expert.act(env)
            env.step(act)
            if k < 6:
                assert np.linalg.norm(w.grasp_pos() - w.handle_pos(goal.target)) < ENGAGED_DIST
            if w.open_fraction(goal.target) >= OPEN_FRACTION:
                break
        assert w.open_fraction(goal.target) >= OPEN_FRACTION
    finally:
        env.close()


@pytest.fixture(scope="module")
def expert_data(write_dataset):
    return write_dataset("dagger_expert", tiny_config(), 2)


@pytest.fixture(scope="module")
def random_policy(tmp_path_factory, expert_data):
    """An untrained (random) policy checkpoint of the tiny config."""
    from flax import nnx

    from robot_skills.data.dataset import EpisodeDataset
    from robot_skills.model import ModelConfig, SkillTransformer
    from robot_skills.policy import Policy
    config = tiny_config()
    model = SkillTransformer(ModelConfig.from_config(config.model), rngs=nnx.Rngs(3))
    out = tmp_path_factory.mktemp("random_policy") / "ckpt"
    Policy(model, EpisodeDataset(expert_data).stats).save(str(out), config=config)
    return str(out)


def _dagger(tmp_path, name, policy, beta):
    from train.generate_job import generate_dataset
    out = tmp_path / name
    s = generate_dataset(tiny_config(f"data.driver={policy}", f"data.beta={beta}"), out=str(out),
                         episodes=2, workers=1, keep_failed=True, progress=False)
    return str(out), s


@pytest.mark.timeout(300)
def test_dagger_with_beta_one_reproduces_the_expert_dataset(tmp_path, expert_data, random_policy):
    """beta=1 executes the expert's action every step: the same states and labels as the
    expert-only dataset. The driver is still queried every step (same code path)."""
    path, s = _dagger(tmp_path, "beta1", random_policy, 1.0)
    ref, got = open_dataset(expert_data), open_dataset(path)
    assert s["driver"] == random_policy and list(got.seeds) == list(ref.seeds)
    for i in range(len(ref)):
        a, b = ref.episode(i), got.episode(i)
        np.testing.assert_array_equal(a["state"], b["state"])
        np.testing.assert_array_equal(a["action"], b["action"])
        np.testing.assert_array_equal(a["skill"], b["skill"])


@pytest.mark.timeout(300)
def test_dagger_records_the_policys_states_with_expert_labels(tmp_path, expert_data,
                                                              random_policy):
    """beta=0: a random policy drives (it fails); its states are kept with the expert's labels,
    and the dataset trains together with the expert's (normalisation of the first)."""
    path, s = _dagger(tmp_path, "beta0", random_policy, 0.0)
    ref, got = open_dataset(expert_data), open_dataset(path)
    assert s["episodes_written"] == 2 and s["successes"] == 0  # failures are kept
    for i in range(len(ref)):
        a, b = ref.episode(i), got.episode(i)
        np.testing.assert_array_equal(a["state"][0], b["state"][0])  # same start
        n = min(len(a["state"]), len(b["state"]))
        assert not np.allclose(a["state"][:n], b["state"][:n])  # the policy drove elsewhere
        assert np.all(np.abs(b["action"]) <= 1.0) and np.all(b["skill"] >= 0)
    both = open_dataset(f"{expert_data},{path}", DataSpec.from_config(tiny_config()))
    assert isinstance(both, EpisodeDatasets) and len(both) == len(ref) + len(got)
    assert both.stats == ref.stats
    np.testing.assert_array_equal(both.episode(len(ref))["state"], got.episode(0)["state"])
    from robot_skills.data.loader import WindowLoader
    batch = WindowLoader.from_config(tiny_config(), "train", f"{expert_data},{path}").batch(0)
    assert batch["observation"]["state"].shape[:2] == (8, 4)


def test_missing_driver_is_a_clear_error(tmp_path):
    from train.generate_job import generate_dataset
    with pytest.raises(FileNotFoundError, match="data.driver"):
        generate_dataset(tiny_config(f"data.driver={tmp_path / 'nope'}"), out=str(tmp_path / "o"),
                         episodes=1, workers=1, progress=False)


@pytest.mark.timeout(300)
def test_init_from_starts_a_run_from_another_runs_parameters(random_policy):
    import jax
    from flax import nnx

    from robot_skills.policy.checkpoint import load_policy_checkpoint
    from train.train_job import Trainer
    trainer = Trainer(tiny_config(f"train.init_from={random_policy}"), "/tmp/unused_workdir")
    model, _ = load_policy_checkpoint(random_policy)
    want = nnx.state(model, nnx.Param)
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(trainer.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="train.init_from"):
        Trainer(tiny_config(f"train.init_from={random_policy}", "model.d_model=64"), "/tmp/x")


def _labels_while_stalled(env, expert, steps):
    """The expert's labels while a policy stalls: fingers open, nothing moves."""
    stall = np.zeros(8, np.float32)
    stall[7] = -1.0
    labels = []
    for _ in range(steps):
        labels.append(expert.act(env)[0])
        env.step(stall)
    return labels


def _assert_expert_picks(env, expert, steps):
    """The expert, taking over from here, gets the object picked within `steps` steps."""
    for _ in range(steps):
        _, executed = expert.act(env)
        _, _, terminated, truncated, info = env.step(executed)
        if info["stage/picked"] or terminated or truncated:
            break
    assert info["stage/picked"], info["failure"]


@pytest.mark.parametrize("seed", [2, 5])
def test_pick_is_a_function_of_the_state_and_recovers_from_a_nudged_object(seed):
    """Mid-pick, two fresh experts give the same command (no phase memory). When the object is
    pushed 4 cm away under the descending gripper, the label stops the descent (the funnel
    allows going low only when centred), and the expert then picks the object anyway."""
    from sim.expert.controllers import FUNNEL
    from sim.rollout import default_expert
    env = RearrangeEnv(task="rearrange_easy", split="eval")
    try:
        env.reset(options={"episode_seed": 1000 + seed})
        expert = default_expert()
        expert.reset(env)
        w, target = env.world, env.scene.task.target
        for _ in range(400):  # drive the expert until the gripper hovers low over the object
            action, _ = expert.act(env)
            env.step(action)
            g, p = w.grasp_pos(), w.object_pos(target)
            if env.plan.call.text().startswith("pick") and g[2] - p[2] < 0.08 \
                    and math.hypot(g[0] - p[0], g[1] - p[1]) < FUNNEL[0]:
                break
        else:
            pytest.fail("the expert never brought the gripper down over the object")
        a = Skills(env).pick_step(target, env.planner.location(w, target))
        b = Skills(env).pick_step(target, env.planner.location(w, target))
        np.testing.assert_array_equal(a.arm_q, b.arm_q)
        assert a.finger == b.finger
        out = np.array([p[0] - w.base_pose()[0], p[1] - w.base_pose()[1], 0.0])
        w.set_object_pose(target, p + 0.04 * out / np.linalg.norm(out), w.object_yaw(target))
        mujoco.mj_forward(w.model, w.data)
        nudged = Skills(env).pick_step(target, env.planner.location(w, target))
        assert nudged.arm_q[0] > w.arm_target[0]  # lift goes up, not down onto the object
        _assert_expert_picks(env, expert, 250)
    finally:
        env.close()


def test_expert_labels_are_a_function_of_the_state():
    """At every step of a two-container episode (open drawer and cabinet, pick, place, close),
    a freshly made expert that never saw the episode gives the running expert's label: no
    controller keeps a phase or a step budget, so DAgger labels depend on the state alone."""
    env = RearrangeEnv(task="rearrange_hard", split="eval")
    try:
        env.reset(options={"episode_seed": 1000001})
        expert = Expert()
        expert.reset(env)
        calls = set()
        for _ in range(700):
            label, executed = expert.act(env)
            fresh = Expert()
            fresh.reset(env)
            np.testing.assert_array_equal(fresh.act(env)[0], label)
            calls.add(env.plan.call.skill)
            _, _, terminated, truncated, info = env.step(executed)
            if terminated or truncated:
                break
        assert info["success"], info["failure"]
        assert {Skill.NAVIGATE, Skill.OPEN, Skill.PICK, Skill.PLACE, Skill.CLOSE} <= calls
    finally:
        env.close()


@pytest.mark.parametrize("seed", [1000000, 1000002])  # drawer, cabinet door
def test_open_label_is_steady_while_a_policy_stalls_and_the_expert_recovers(seed):
    """A policy that stops moving on its way to the handle (the learned policy's failure mode)
    gets the same label for as long as it stalls (the old step-budgeted expert switched its
    gripper label while the arm stood still), a label that moves the arm on; and a gripper
    closed on nothing in front of the handle is told to open. The expert then opens from there."""
    env = RearrangeEnv(task="rearrange_hard", split="eval")
    try:
        env.reset(options={"episode_seed": seed})
        expert = Expert()
        expert.reset(env)
        w = env.world
        for _ in range(300):  # the expert drives until the grasp site is ~10 cm from the handle
            label, executed = expert.act(env)
            env.step(executed)
            call = env.plan.call
            if call.skill == Skill.OPEN \
                    and np.linalg.norm(w.grasp_pos() - w.handle_pos(call.target)) < 0.10:
                break
        else:
            pytest.fail("the expert never brought the gripper near the handle")
        labels = _labels_while_stalled(env, expert, 30)
        for a in labels[5:]:  # after the arm has settled
            np.testing.assert_allclose(a, labels[5], atol=0.02)
        assert np.max(np.abs(labels[-1][2:7])) > 0.1  # the label moves the arm on
        assert labels[-1][7] < 0  # fingers stay open away from the handle
        closed = np.zeros(8, np.float32)
        closed[7] = 1.0
        for _ in range(5):
            env.step(closed)
        assert expert.act(env)[0][7] == -1.0  # closed on nothing: open
        for _ in range(200):
            _, executed = expert.act(env)
            env.step(executed)
            if w.open_fraction(call.target) >= OPEN_FRACTION:
                break
        assert w.open_fraction(call.target) >= OPEN_FRACTION
    finally:
        env.close()


@pytest.mark.parametrize("offset", [(0.05, -0.05, 0.0), (0.0, 0.0, 0.08)])
def test_tuck_label_from_a_handle_is_decisive_when_the_arm_cannot_back_off(offset):
    """A pick that starts with the gripper at the handle it just pulled (fingers open) first
    backs the gripper off along the handle's normal, then raises and stows. A learned policy
    that ended the pull with the arm retracted as far as it goes and the wrist a little off
    (shoulder / wrist yaw, pitch 0.08 rad: seen in closed loop) must get a label that moves the
    arm on while it stalls: the old expert kept proposing IK null-space wiggles of a few
    thousandths of the action range, which the policy regressed to zero and froze in. From
    there the expert stows and picks the object."""
    env = RearrangeEnv(task="rearrange_hard", split="eval")
    try:
        env.reset(options={"episode_seed": 1000000})  # source: the drawer
        expert = Expert()
        expert.reset(env)
        w = env.world
        for _ in range(300):  # the expert pulls the drawer open and starts the pick
            label, executed = expert.act(env)
            env.step(executed)
            if env.plan.call.skill == Skill.PICK and w.gripper_opening() > 0.05:
                break
        else:
            pytest.fail("the expert never started a pick after opening the drawer")
        skills = Skills(env)
        assert skills.needs_tuck() and skills._handle_nearby() is not None
        q = w.arm_target.copy()
        q[1] += offset[0]
        q[3] += offset[1]
        q[4] += offset[2]
        q[2] = w.arm_lo[2]  # telescope fully retracted: no backing off left
        w.set_arm(q, OPEN_F)
        mujoco.mj_forward(w.model, w.data)
        labels = _labels_while_stalled(env, expert, 20)
        arm = np.abs(np.array(labels)[:, 2:7]).max(axis=1)
        assert arm.min() > 0.5, np.round(arm, 3)  # every label moves the arm on
        assert labels[-1][2] > 0.5  # and it is the raise (lift up), not a wiggle
        _assert_expert_picks(env, expert, 300)
    finally:
        env.close()
