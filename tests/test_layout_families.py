"""Extra training layout families (env.extra_train_families): the expert's demonstrations in
an island room, recorded with the family in the dataset's generation info, refused where they
would change nothing (another split) or where scenes are rebuilt from seeds with the default
families (language training)."""

from __future__ import annotations

import pytest

from robot_skills.data.dataset import EpisodeDataset
from robot_skills.planner.stage2 import check_default_layouts
from sim.env import EnvConfig, RearrangeEnv
from sim.scene import SceneConfig, sample_scene, split_seed
from train.config import load_config
from train.generate_job import generate_dataset

ISLAND = SceneConfig(extra_train_families=("island",))


def first_island(task: str, start: int = 0) -> int:
    """The first training index from `start` whose scene is an island room."""
    i = start
    while sample_scene(split_seed("train", i), task, ISLAND).family != "island":
        i += 1
    return i


def test_island_rooms_make_routes_bend_round_the_divider():
    """Over a few island rooms some route from the start to a work pose is at least 2.5x its
    straight line (the unseen split's partition does this in a third of its scenes)."""
    from robot_skills.evaluation.rollout import route_detour
    env = RearrangeEnv(config=EnvConfig(task="rearrange_hard", scene=ISLAND), render_mode=None)
    detours, i = [], 0
    try:
        while len(detours) < 8:
            i = first_island("rearrange_hard", i)
            env.reset(options={"episode_seed": split_seed("train", i)})
            assert env.scene.family == "island"
            detours.append(route_detour(env))
            i += 1
    finally:
        env.close()
    assert max(detours) >= 2.5, detours


def test_generate_records_island_demonstrations(tmp_path):
    start = first_island("navigate")
    config = load_config("configs/rearrange_easy.py:small",
                         ["task.name=navigate", f"data.start={start}",
                          "env.extra_train_families=island"])
    out = tmp_path / "island"
    summary = generate_dataset(config, out=str(out), episodes=2, workers=1, progress=False)
    assert summary["episodes_written"] == 2
    ds = EpisodeDataset(str(out))
    assert ds.index["generation"]["extra_train_families"] == ["island"]
    assert int(ds.seeds[0]) == split_seed("train", start)
    # The episode is the island room's (the default families give another scene for the seed).
    scene = sample_scene(int(ds.seeds[0]), "navigate", ISLAND)
    assert scene.family == "island" and sample_scene(int(ds.seeds[0]), "navigate") != scene
    # Language training rebuilds scenes with the default families: refused, with the fix.
    with pytest.raises(ValueError, match="extra_train_families"):
        check_default_layouts(ds)


@pytest.mark.parametrize("override, match", [
    ("data.split=eval", "only changes training-split"),
    ("env.extra_train_families=divided", "unseen split's family")])
def test_generate_refuses_extra_families_that_change_nothing_or_leak(tmp_path, override, match):
    config = load_config("configs/rearrange_easy.py:small",
                         ["task.name=navigate", "env.extra_train_families=island", override])
    with pytest.raises(ValueError, match=match):
        generate_dataset(config, out=str(tmp_path / "x"), episodes=1, workers=1, progress=False)
    assert not (tmp_path / "x").exists()
