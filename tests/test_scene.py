"""Procedural scenes: determinism, split semantics, counts and feasibility of sampled scenes.

Sampling without `validate` takes ~20-30 ms per scene (it builds occupancy grids), so scenes
are cached per (seed, task) and shared between tests.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import pytest

from sim import furniture as F
from sim.navigation import GeodesicField
from sim.scene import (
    EXTRA_TRAIN_FAMILIES,
    SEEN_FAMILIES,
    SPLIT_SIZE,
    SPLITS,
    UNSEEN_FAMILY,
    Scene,
    SceneConfig,
    build_grid,
    sample_scene,
    split_of,
    split_seed,
)
from sim.tasks import TASKS

CFG = SceneConfig()


@functools.lru_cache(maxsize=None)
def scene(seed: int, task: str) -> Scene:
    return sample_scene(seed, task)


def seeds_of(split: str, n: int, start: int = 0) -> list[int]:
    return [split_seed(split, i) for i in range(start, start + n)]


# ------------------------------------------------------------------ determinism
@pytest.mark.parametrize("task", ["rearrange_hard", "rearrange_easy", "pick"])
@pytest.mark.parametrize("seed", [0, 17, 1_000_003, 2_000_005])
def test_sample_scene_is_a_pure_function_of_seed_and_task(seed, task):
    a = sample_scene(seed, task)
    b = sample_scene(seed, task, SceneConfig())
    assert isinstance(a, Scene)
    assert a == b  # dataclass equality: every field, recursively
    assert dataclasses.asdict(a) == dataclasses.asdict(b)
    assert a.seed == seed and a.task.task == task


def test_different_seeds_give_different_scenes():
    scenes = [scene(s, "rearrange_hard") for s in range(12)]
    for i in range(len(scenes)):
        for j in range(i + 1, len(scenes)):
            a, b = dataclasses.replace(scenes[i], seed=0), dataclasses.replace(scenes[j], seed=0)
            assert a != b, f"seeds {i} and {j} sampled the same scene"
    # Not just the task: the layouts themselves differ.
    assert len({(s.width, s.depth) for s in scenes}) == len(scenes)
    assert len({s.robot_start for s in scenes}) == len(scenes)


def test_the_task_salts_the_scene():
    """The same seed under two tasks is two different scenes (tasks are not aliased)."""
    assert scene(5, "rearrange_hard").width != scene(5, "rearrange_easy").width


# ------------------------------------------------------------------ splits
@pytest.mark.parametrize("split", list(SPLITS))
def test_layout_family_depends_on_split(split):
    families = [scene(s, "rearrange_easy").family for s in seeds_of(split, 50)]
    if split == "unseen":
        assert set(families) == {UNSEEN_FAMILY}
    else:
        assert UNSEEN_FAMILY not in families
        assert set(families) <= set(SEEN_FAMILIES)
        assert len(set(families)) >= 2  # more than one layout family is actually used


def test_unseen_layout_has_a_partition_wall():
    for s in seeds_of("unseen", 5):
        sc = scene(s, "rearrange_hard")
        assert len(sc.walls) == 5  # four room walls + the partition
        cx, cy, hx, hy = sc.walls[4]
        assert cx == pytest.approx(sc.width / 2)
        assert cy - hy == pytest.approx(0.0) and cy + hy < sc.depth - 1.0  # gap at the north
    for s in seeds_of("train", 5) + seeds_of("eval", 5):
        assert len(scene(s, "rearrange_hard").walls) == 4


ISLAND = SceneConfig(extra_train_families=("island",))


def test_extra_train_families_change_training_scenes_only():
    """The island family joins the training split's draw; eval and unseen scenes are the same
    scenes with or without it, and the training split without it is what it always was."""
    for split in ("eval", "unseen"):
        for s in seeds_of(split, 6):
            assert sample_scene(s, "rearrange_hard", ISLAND) == scene(s, "rearrange_hard")
    train = [sample_scene(s, "rearrange_hard", ISLAND) for s in seeds_of("train", 40)]
    families = [sc.family for sc in train]
    assert "island" in families and UNSEEN_FAMILY not in families
    assert set(families) <= set(SEEN_FAMILIES) | {"island"}
    for sc in train:
        if sc.family != "island":
            assert len(sc.walls) == 4
            continue
        assert len(sc.walls) == 5  # the room's four walls + the divider
        cx, cy, hx, hy = sc.walls[4]
        # Free-standing: clear of every room wall by more than the base's width.
        assert cx - hx > 0.6 and cx + hx < sc.width - 0.6
        assert hy < 0.1 and 1.0 < cy < sc.depth - 1.0
        assert 0.45 * sc.width - 1e-9 <= 2 * hx <= 0.6 * sc.width + 1e-9
        grid = build_grid(sc.width, sc.depth, sc.walls, sc.receptacles, sc.obstacles)
        assert not grid.free((cx, cy))  # the planner's map holds the divider


@pytest.mark.parametrize("families, match", [(("divided",), "unseen split's family"),
                                             (("attic",), "unknown families"),
                                             (("island", "island"), "repeats")])
def test_extra_train_families_refuse_bad_names(families, match):
    with pytest.raises(ValueError, match=match) as e:
        SceneConfig(extra_train_families=families)
    assert str(list(EXTRA_TRAIN_FAMILIES)) in str(e.value) or match == "repeats"


@pytest.mark.parametrize("split", list(SPLITS))
def test_split_seed_and_split_of_round_trip(split):
    for index in (0, 1, 12345, SPLIT_SIZE - 1):
        seed = split_seed(split, index)
        assert split_of(seed) == split
        assert seed == SPLITS[split] + index
    assert scene(split_seed(split, 3), "rearrange_easy").split == split


@pytest.mark.parametrize("seed", [-1, 3_000_000, 10**9])
def test_out_of_range_seed_raises_helpful_error(seed):
    with pytest.raises(ValueError, match=r"outside every split.*0 <= seed < 3,000,000"):
        split_of(seed)
    with pytest.raises(ValueError, match="outside every split"):
        sample_scene(seed, "rearrange_hard")


@pytest.mark.parametrize("name", ["test", "validation", "", "Train"])
def test_unknown_split_name_raises_helpful_error(name):
    with pytest.raises(ValueError, match=r"unknown split .*choose one of .*'eval'.*'train'.*'unseen'"):
        split_seed(name, 0)


@pytest.mark.parametrize("index", [-1, SPLIT_SIZE, 5 * SPLIT_SIZE])
def test_out_of_range_split_index_raises(index):
    with pytest.raises(ValueError, match=r"episode index .* must be in \[0, 1000000\)"):
        split_seed("train", index)


# ------------------------------------------------------------------ contents
@pytest.mark.parametrize("task", TASKS)
def test_counts_names_and_placement(task):
    for seed in list(range(8)) + seeds_of("unseen", 4):
        sc = scene(seed, task)
        assert CFG.room_width[0] <= sc.width <= CFG.room_width[1]
        assert CFG.room_depth[0] <= sc.depth <= CFG.room_depth[1]
        assert 2 <= len(sc.receptacles) <= 5
        assert 3 <= len(sc.objects) <= 8
        names = [o.name for o in sc.objects]
        assert len(set(names)) == len(names), f"duplicate object names in scene {seed}"
        rec_names = [r.name for r in sc.receptacles]
        assert len(set(rec_names)) == len(rec_names)
        assert set(rec_names) <= set(F.RECEPTACLES)
        # The obstacle count is a soft target (placement gives up after 10 tries per
        # obstacle, and small divided rooms sometimes get none), so only the cap is checked.
        assert len(sc.obstacles) <= CFG.num_obstacles[1]
        for o in sc.objects:
            assert o.name == f"{o.color} {o.shape}"
            assert o.receptacle in rec_names
            k = sc.receptacle(o.receptacle).kind
            assert k.region_x[0] <= o.local[0] <= k.region_x[1], (seed, o)
            assert abs(o.local[1]) <= k.region_half_y, (seed, o)
            xy = sc.receptacle(o.receptacle).to_world(o.local)
            assert 0.0 < xy[0] < sc.width and 0.0 < xy[1] < sc.depth
        # Objects sharing a receptacle keep apart, and the goal spot is free.
        for r in rec_names:
            spots = [o.local for o in sc.objects if o.receptacle == r]
            for i in range(len(spots)):
                for j in range(i + 1, len(spots)):
                    assert math.dist(spots[i], spots[j]) > 0.16
            if r == sc.task.goal:
                assert all(math.dist(s, sc.task.goal_local) > 0.16 for s in spots)
        t = sc.task
        assert t.target in names
        assert sc.object(t.target).receptacle == t.source
        assert t.source != t.goal and t.goal in rec_names


def test_rearrange_hard_target_starts_in_a_container():
    for seed in range(40):
        t = scene(seed, "rearrange_hard").task
        assert t.source in ("drawer", "cabinet")
        if t.goal_closed:
            assert t.goal in ("drawer", "cabinet") and t.goal != t.source
        else:
            assert t.goal in F.OPEN_SURFACES


def test_rearrange_hard_goal_closed_is_balanced():
    """About half the hard episodes must end with the goal container closed."""
    n_closed = sum(scene(seed, "rearrange_hard").task.goal_closed for seed in range(100))
    assert 30 <= n_closed <= 70, (
        f"goal_closed in {n_closed}/100 rearrange_hard scenes; expected ~50")


def test_rearrange_easy_moves_between_two_open_surfaces():
    for seed in range(40):
        t = scene(seed, "rearrange_easy").task
        assert t.source in F.OPEN_SURFACES and t.goal in F.OPEN_SURFACES
        assert t.source != t.goal
        assert not t.goal_closed


# ------------------------------------------------------------------ feasibility
def _task_work_poses(sc: Scene) -> dict[str, tuple]:
    t = sc.task
    src, goal = sc.receptacle(t.source), sc.receptacle(t.goal)
    poses = {
        "source": src.work_pose(sc.object(t.target).local[1]),
        "source_handle": src.work_pose(0.0, handle=True),
        "goal": goal.work_pose(t.goal_local[1]),
        "goal_handle": goal.work_pose(0.0, handle=True),
    }
    for o in sc.objects:  # every object can be approached where it rests
        poses[o.name] = sc.receptacle(o.receptacle).work_pose(o.local[1])
    return poses


@pytest.mark.parametrize("task", ["rearrange_hard", "rearrange_easy"])
@pytest.mark.parametrize("split", list(SPLITS))
def test_work_poses_are_free_and_reachable_from_the_start(task, split):
    for seed in seeds_of(split, 10):
        sc = scene(seed, task)
        grid = build_grid(sc.width, sc.depth, sc.walls, sc.receptacles, sc.obstacles)
        assert grid.free(sc.robot_start[:2]), f"scene {seed}: start is blocked"
        reach = grid.reachable(sc.robot_start[:2])
        assert reach[grid.cell(sc.robot_start[:2])]
        for what, (x, y, yaw) in _task_work_poses(sc).items():
            assert 0.0 < x < sc.width and 0.0 < y < sc.depth, (seed, what)
            assert grid.free((x, y)), f"scene {seed}: {what} work pose {(x, y)} blocked"
            assert reach[grid.cell((x, y))], f"scene {seed}: {what} work pose unreachable"
            assert -math.pi <= yaw < math.pi


def test_work_pose_faces_its_receptacle():
    for seed in range(10):
        sc = scene(seed, "rearrange_hard")
        for r in sc.receptacles:
            x, y, yaw = r.work_pose(0.0)
            to_r = math.atan2(r.y - y, r.x - x)
            assert abs((to_r - yaw + math.pi) % (2 * math.pi) - math.pi) < 0.6, (seed, r.name)
            # Standing in front of the front face, at the documented standoff.
            local = r.to_local((x, y))
            assert local[0] > r.kind.depth / 2


def test_the_map_connects_start_to_the_task_work_poses():
    for seed in seeds_of("train", 3) + seeds_of("unseen", 3):
        sc = scene(seed, "rearrange_hard")
        grid = build_grid(sc.width, sc.depth, sc.walls, sc.receptacles, sc.obstacles)
        for what, (x, y, _) in _task_work_poses(sc).items():
            field = GeodesicField(grid, (x, y))
            pos = np.asarray(sc.robot_start[:2], float)
            assert math.isfinite(field.lookahead(pos, 0.6)[1]), (seed, what)
            for _ in range(1000):  # down the field cell by cell, through free cells only
                pos = field.lookahead(pos, grid.res)[0]
                assert grid.free(pos), (seed, what)
                if np.allclose(pos, (x, y)):
                    break
            assert np.allclose(pos, (x, y)), (seed, what)
