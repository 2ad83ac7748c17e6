"""Receptacle slots (sim.observation.SLOT_LAYOUT) and the "langgoal" variant: the state describes
every receptacle the way the goal fields describe the goal, the model reads the slots but not the
goal's fields, and data, training and evaluation carry the wider state end to end."""

from __future__ import annotations

import json

import math

import numpy as np
import pytest

from configs.rearrange_common import GOAL_FIELDS
from sim import furniture as F
from sim.observation import (ROUTE_LENGTH, SLOT_KINDS, SLOT_LAYOUT, SLOTS_STATE_DIM, STATE_DIM,
                             route_length_bounds, state_slices)
from sim.scene import place_spots, sample_scene
from train.config import load_config

SL = state_slices(True)
# goal field -> the goal receptacle's slot field that must read the same
GOAL_TWINS = {"goal_pos": "spot_pos", "goal_rel": "spot_rel", "goal_route": "spot_route",
              "goal_pose_rel": "spot_pose_rel", "goal_handle": "handle",
              "goal_handle_rel": "handle_rel", "goal_open_route": "open_route",
              "goal_open_pose_rel": "open_pose_rel"}
SOURCE_TWINS = {"source_handle": "handle", "source_handle_rel": "handle_rel",
                "source_open_route": "open_route", "source_open_pose_rel": "open_pose_rel"}


def _check_slots(state, scene, plain_state):
    t = scene.task
    np.testing.assert_array_equal(state[:STATE_DIM], plain_state)  # the usual state unchanged
    present = {r.name for r in scene.receptacles}
    for kind in SLOT_KINDS:
        sub = {name: state[SL[f"{kind}_{name}"]] for name, _ in SLOT_LAYOUT}
        if kind not in present:
            assert all(not v.any() for v in sub.values()), kind
            continue
        assert sub["present"][0] == 1.0
        assert sub["container"][0] == float(F.RECEPTACLES[kind].container)
        assert sub["spot_route"][ROUTE_LENGTH] > 0  # a real route
        if not F.RECEPTACLES[kind].container:
            assert not sub["handle"].any() and not sub["open_route"].any()
    for field, twin in GOAL_TWINS.items():
        np.testing.assert_allclose(state[SL[f"{t.goal}_{twin}"]], state[SL[field]], atol=1e-6,
                                   err_msg=field)
    for field, twin in SOURCE_TWINS.items():
        np.testing.assert_allclose(state[SL[f"{t.source}_{twin}"]], state[SL[field]], atol=1e-6,
                                   err_msg=field)
    art = state[SL["articulation"]]
    assert state[SL[f"{t.source}_open_fraction"]][0] == pytest.approx(art[0], abs=1e-6)
    if F.RECEPTACLES[t.goal].container:
        assert state[SL[f"{t.goal}_open_fraction"]][0] == pytest.approx(art[1], abs=1e-6)


@pytest.mark.timeout(120)
def test_the_goal_receptacles_slot_reads_as_the_goal_fields_through_an_episode(make_env,
                                                                               expert_rollout):
    """rearrange_hard under the expert: at every step the goal's slot equals the goal fields and
    the source's slot the source fields (the drawer slides, routes shorten); the first
    STATE_DIM entries are exactly the state without slots."""
    slots = make_env(task="rearrange_hard", split="train", receptacle_slots=True,
                     render_mode=None)
    plain = make_env(task="rearrange_hard", split="train", render_mode=None)
    assert slots.observation_space["state"].shape == (SLOTS_STATE_DIM,)
    for seed in (0, 3):
        a = expert_rollout(slots, seed, max_steps=150)
        b = expert_rollout(plain, seed, max_steps=150)
        np.testing.assert_array_equal(a.labels, b.labels)  # the expert does not read them
        for t in range(0, len(a.states), 10):
            _check_slots(a.states[t], slots.scene, b.states[t])
        stride = a.states[:, SL[f"{slots.scene.task.goal}_spot_route"]][:, ROUTE_LENGTH]
        assert stride[-1] < stride[0]  # the route to the goal shortened as the robot moved
    for seed in range(6):  # the evaluation's route detour is the task's, whatever slots add
        slots.reset(seed=seed)
        plain.reset(seed=seed)
        start = slots.scene.robot_start[:2]
        assert slots.observer.routes.detour(start) == plain.observer.routes.detour(start)


def test_place_spots_are_free_deterministic_and_leave_the_scene_alone():
    for seed in range(6):
        scene = sample_scene(seed, "rearrange_hard")
        spots = place_spots(scene)
        assert spots == place_spots(sample_scene(seed, "rearrange_hard"))
        assert sorted(spots) == sorted(r.name for r in scene.receptacles)
        assert spots[scene.task.goal] == tuple(scene.task.goal_local)
        kind = scene.object(scene.task.target).kind
        for name, (x, y) in spots.items():
            r = F.RECEPTACLES[name]
            assert r.region_x[0] <= x <= r.region_x[1] and abs(y) <= r.region_half_y
            if (x, y) == (sum(r.region_x) / 2, 0.0):
                continue  # no free spot (a small container holding the target): its middle
            for o in scene.objects:
                if o.receptacle == name:
                    assert math.hypot(x - o.local[0], y - o.local[1]) > 0.16, (seed, name)
            margin = max(kind.half_size[:2])
            assert abs(y) <= r.region_half_y - margin


def test_langgoal_config_hides_the_goal_and_reads_the_slots():
    from robot_skills.model import ModelConfig
    from robot_skills.model.tokenizers import StateTokenizer
    from flax import nnx
    c = load_config("configs/rearrange_hard.py:bins_base,nolidar,langgoal")
    assert c.env.receptacle_slots and c.data.dir == "runs/data/rearrange_hard_langgoal"
    plain = load_config("configs/rearrange_hard.py:bins_base,nolidar")
    assert not plain.env.receptacle_slots and plain.data.dir == "runs/data/rearrange_hard"
    assert c.model.state_dim == SLOTS_STATE_DIM
    assert set(c.model.drop_state) == {"lidar", *GOAL_FIELDS}
    keep = np.asarray(StateTokenizer(ModelConfig.from_config(c.model),
                                     rngs=nnx.Rngs(0)).state_keep[...])
    for field in GOAL_FIELDS + ("lidar",):
        assert not keep[SL[field]].any(), field
    assert keep[STATE_DIM:].all()  # every slot is read
    assert keep[SL["target_route"]].all() and keep[SL["source_handle"]].all()
    # A plain model cannot name slot fields; a slot model's cap bounds the slots' routes too.
    with pytest.raises(ValueError, match="drawer_spot_route"):
        ModelConfig(drop_state=("drawer_spot_route",))
    hi = route_length_bounds(3.0, SLOTS_STATE_DIM)
    assert (hi[STATE_DIM:] == 3.0).sum() == 2 * len(SLOT_KINDS)
    assert hi[SL["cabinet_open_route"].start + ROUTE_LENGTH] == 3.0
    lcb = load_config("configs/lcb.py:lcb,langgoal")
    assert lcb.model.state_dim == SLOTS_STATE_DIM and lcb.env.receptacle_slots
    assert lcb.data.dir == c.data.dir
    # The bridges' policy can be the Skill Transformer run it starts from (train.init_from):
    # the same model section but the prefix.
    lcb = load_config("configs/lcb.py:lcb,langgoal,bins_base,nolidar").model.to_dict()
    st = c.model.to_dict()
    assert {k for k in st if st[k] != lcb[k]} == {"prefix_tokens"}
    tiny = load_config("configs/lcb.py:lcb,tiny,easy,langgoal,nolidar")
    assert tiny.env.receptacle_slots and tiny.model.state_dim == SLOTS_STATE_DIM
    assert tiny.data.dir == "runs/data/rearrange_easy_langgoal_small"
    assert set(tiny.model.drop_state) == {"lidar", *GOAL_FIELDS}


@pytest.fixture(scope="module")
def slot_data(write_dataset):
    return write_dataset("slots", load_config("configs/lcb.py:lcb,tiny,easy,langgoal"), 4)


@pytest.mark.timeout(300)
def test_slot_data_trains_and_evaluates_with_slot_envs(slot_data, tmp_path):
    """generate -> RLDS with the wide state -> train -> eval: the evaluation's envs give the
    policy the state it was trained on (Policy refuses any other width); the plain config
    refuses the slot dataset by name."""
    from robot_skills.data.dataset import open_dataset
    from robot_skills.data.errors import DatasetError
    from robot_skills.data.features import DataSpec
    from train.eval_job import run_eval
    from train.train_job import train
    over = ["data.val_fraction=0.5", "data.batch_size=16", "train.steps=2",
            "train.eval_every=2", "train.checkpoint_every=2", "train.log_every=1"]
    config = load_config("configs/rearrange_easy.py:small,langgoal", over)
    ds = open_dataset(slot_data, DataSpec.from_config(config))
    assert ds.episode(0)["state"].shape[1] == SLOTS_STATE_DIM
    assert ds.index["generation"]["receptacle_slots"] is True
    with pytest.raises(DatasetError, match="receptacle_slots"):
        open_dataset(slot_data,
                     DataSpec.from_config(load_config("configs/rearrange_easy.py:small")))
    work = str(tmp_path / "work")
    r = train(config, work, data_dir=slot_data, progress=False)
    assert r.step == 1 and np.isfinite(r.train_loss)  # steps 0 and 1
    out = run_eval(work, task="rearrange_easy", episodes=1, split="eval", envs=1, videos=0,
                   workers=1, progress=False)
    assert out["summary"]["episodes"] == 1


@pytest.mark.timeout(300)
def test_an_lcb_run_on_slot_data_evaluates_with_slot_envs(slot_data, tmp_path):
    """The language bridge's checkpoint (joint planner + policy, the prefix through a slot
    pointer) on the same data: its evaluation builds slot envs from the policy's state width;
    the training has the pointer's goal loss and the report says where the pointer pointed.
    (The attended-prefix LCB path trains and evaluates in test_lcb_train.py.)"""
    from train.eval_job import run_eval
    from train.train_job import train
    work = str(tmp_path / "lcb")
    r = train(load_config("configs/lcb.py:lcb,tiny,easy,langgoal,pointer"),
              work, data_dir=slot_data, progress=False)
    assert np.isfinite(r.train_loss)
    out = run_eval(work, task="rearrange_easy", episodes=1, split="eval", envs=1, videos=0,
                   workers=1, progress=False, instructions="heldout_template")
    assert out["summary"]["episodes"] == 1
    language = out["episodes"][0]["language"]
    assert language["pointer"][0] in SLOT_KINDS
    assert out["summary"]["pointer_at_goal"]["n"] == 1
    with open(f"{work}/metrics.jsonl") as f:
        assert any("pointer_loss" in json.loads(line) for line in f)
