"""`robot-skills eval --policy expert` runs the scripted expert through the batched eval loop:
it reaches the expert's success, writes report.json with per-episode seeds, report.md, an mp4
and PNG plots that are not blank."""

from __future__ import annotations

import json
import os

import imageio.v2 as imageio
import numpy as np
import pytest

from sim.scene import split_seed
from train.cli import main
from train.eval_job import run_eval

EPISODES = 2  # rearrange_easy eval episodes 0 and 1: solved by the expert (tests/test_expert.py)


@pytest.fixture(scope="module")
def expert_report(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("eval")
    return run_eval(str(workdir), task="rearrange_easy", episodes=EPISODES, split="eval",
                    policy="expert", envs=2, videos=1, workers=1, progress=False)


@pytest.mark.timeout(300)
def test_expert_through_the_eval_loop_solves_its_known_episodes(expert_report):
    s = expert_report["summary"]
    assert s["episodes"] == EPISODES and s["success_rate"] == 1.0
    assert all(v["rate"] == 1.0 for v in s["stages"].values())
    assert set(s["skills"]) == {"pick", "place"}  # navigate has no stage in rearrange tasks
    assert s["skill_accuracy"] is None  # the expert's skill is the label itself


@pytest.mark.timeout(300)
def test_report_json_has_aggregate_and_per_episode_rows_with_seeds(expert_report):
    out = expert_report["out"]
    with open(f"{out}/report.json") as f:
        r = json.load(f)
    assert {"task", "split", "policy", "checkpoint", "envs", "workers", "disturbance", "seeds",
            "summary", "files", "episodes"} <= set(r)
    assert r["seeds"] == [split_seed("eval", i) for i in range(EPISODES)]
    assert {"episodes", "success_rate", "successes", "ci95", "stages", "failures", "mean_length",
            "skills", "skill_accuracy", "wall_time_s"} <= set(r["summary"])
    assert sum(d["episodes"] for d in r["summary"]["by_route_detour"]) == EPISODES
    lo, hi = r["summary"]["ci95"]
    assert 0.0 <= lo <= r["summary"]["success_rate"] <= hi <= 1.0
    assert [row["seed"] for row in r["episodes"]] == r["seeds"]
    for row in r["episodes"]:
        assert {"seed", "success", "length", "failure", "stages", "skills", "skill_accuracy",
                "wall_time_s"} <= set(row)
        assert row["success"] is True and row["length"] > 0
        assert row["route_detour"] >= 1.0  # the scene's winding-route measure
        assert set(row["stages"]) == {"picked", "placed"}
    with open(f"{out}/report.md") as f:
        assert "success" in f.read()


@pytest.mark.timeout(300)
def test_video_and_plots_are_written_and_not_blank(expert_report):
    files = expert_report["files"]
    seed = split_seed("eval", 0)
    video, timeline, stages = (files[f"video_{seed}"], files[f"timeline_{seed}"],
                               files["stages"])
    assert f"video_{split_seed('eval', 1)}" not in files  # --videos 1
    reader = imageio.get_reader(video)
    frames = [f for _, f in zip(range(5), reader)]
    reader.close()
    assert len(frames) == 5 and np.asarray(frames[0]).std() > 5.0
    assert os.path.getsize(video) > 10_000
    for png in (timeline, stages):
        assert os.path.getsize(png) > 5_000
        img = np.asarray(imageio.imread(png))
        assert img.ndim == 3 and img.std() > 5.0


@pytest.mark.timeout(120)
def test_eval_cli_writes_the_report_and_prints_the_block(tmp_path, capsys):
    assert main(["eval", "--workdir", str(tmp_path), "--task", "pick", "--episodes", "2",
                 "--policy", "expert", "--envs", "1", "--videos", "0", "--workers", "2"]) == 0
    text = capsys.readouterr().out
    assert "success        1.000 (2/2" in text and "2 workers" in text
    assert (tmp_path / "eval_pick_eval" / "report.json").is_file()
    assert (tmp_path / "eval_pick_eval" / "stages.png").is_file()


def test_eval_cli_without_a_checkpoint_says_so(tmp_path, capsys):
    assert main(["eval", "--workdir", str(tmp_path), "--episodes", "1"]) == 2
    assert "checkpoints/ or best/" in capsys.readouterr().err


def test_eval_cli_rejects_clamping_the_experts_state(tmp_path, capsys):
    assert main(["eval", "--workdir", str(tmp_path), "--episodes", "1", "--policy", "expert",
                 "--clamp-state"]) == 2
    assert "drop --clamp-state" in capsys.readouterr().err


def test_eval_cli_rejects_capping_the_experts_routes(tmp_path, capsys):
    assert main(["eval", "--workdir", str(tmp_path), "--episodes", "1", "--policy", "expert",
                 "--route-length-cap", "3"]) == 2
    assert "drop --route-length-cap" in capsys.readouterr().err
