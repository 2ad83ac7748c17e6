"""Disturbance evaluation (sim/disturbances.py): the disturbance really happens a fixed number of
steps after its trigger stage (the container is shut with its contents inside / the object is
out of the gripper, back where it was picked from), it un-latches the stage it undid, the
scripted expert recovers from it, and `eval --disturb` reports recovery success."""

from __future__ import annotations

import json

import pytest

from sim import skills as S
from sim.disturbances import APPLIED_AT, DisturbanceConfig, Disturbed
from sim.expert import Expert
from sim.scene import split_seed
from train.eval_job import run_eval

# rearrange_hard eval episode 0 takes its object from the drawer, episode 1 from the cabinet.
SOURCE = {0: "drawer", 1: "cabinet"}


def _run_until_disturbed(make_env, kind: str, seed: int):
    """The expert on rearrange_hard eval episode `seed` under `kind` (delay 5) until the
    disturbance happened, which must be in the 6th step after its trigger stage latched;
    returns (world, task spec, info of that step, finish() -> info at the episode's end)."""
    env = Disturbed(make_env(task="rearrange_hard", split="eval"),
                    DisturbanceConfig(kind, delay=5))
    expert = Expert()
    _, info = env.reset(options={"episode_seed": split_seed("eval", seed)})
    expert.reset(env)
    trigger = None
    while info[APPLIED_AT] < 0:
        _, action = expert.act(env)
        _, _, terminated, truncated, info = env.step(action)
        if trigger is None and info[f"stage/{env.config.trigger}"]:
            trigger = info["step"]
        assert not (terminated or truncated), "episode ended before the disturbance"
    assert info[APPLIED_AT] == info["step"] == trigger + 6
    assert env.unwrapped.scene.task.source == SOURCE[seed]

    def finish():
        end, done = info, False
        while not done:
            _, action = expert.act(env)
            _, _, terminated, truncated, end = env.step(action)
            done = terminated or truncated
        return end

    return env.unwrapped.world, env.unwrapped.scene.task, info, finish


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", [0, 1])
def test_close_container_shuts_it_with_contents_inside_and_the_expert_reopens_it(make_env,
                                                                                seed):
    w, task, info, finish = _run_until_disturbed(make_env, "close_container", seed)
    assert w.open_fraction(task.source) <= S.CLOSED_FRACTION
    assert S.inside(w, task.target, task.source)  # a drawer's contents moved in with it
    assert not info["stage/source_opened"]  # un-latched: it has to be opened again
    end = finish()
    assert end["success"] and end["failure"] == ""
    assert end["stage/source_opened"] and end[APPLIED_AT] == info[APPLIED_AT]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", [0, 1])
def test_drop_object_puts_it_back_where_it_was_picked_and_the_expert_picks_it_again(make_env,
                                                                                   seed):
    w, task, info, finish = _run_until_disturbed(make_env, "drop_object", seed)
    assert task.target not in w.held_objects()
    assert S.inside(w, task.target, task.source)  # on its start spot, not on the floor
    assert not info["stage/picked"] and info["failure"] == ""
    end = finish()
    assert end["success"] and end["stage/picked"]


def test_a_disturbance_needs_its_trigger_stage_in_the_task(make_env):
    env = Disturbed(make_env(task="rearrange_easy", split="eval"),
                    DisturbanceConfig("close_container"))
    with pytest.raises(ValueError, match="source_opened"):
        env.reset(options={"episode_seed": split_seed("eval", 0)})
    with pytest.raises(ValueError, match="unknown disturbance"):
        DisturbanceConfig("shake_table")


@pytest.mark.timeout(120)
def test_eval_with_a_disturbance_reports_recovery_success(tmp_path):
    r = run_eval(str(tmp_path), task="rearrange_hard", episodes=2, split="eval",
                 policy="expert", envs=1, videos=0, workers=2, disturb="drop_object",
                 progress=False)
    assert r["out"].endswith("eval_rearrange_hard_eval_drop_object")
    with open(f"{r['out']}/report.json") as f:
        saved = json.load(f)
    assert saved["disturbance"] == {"kind": "drop_object", "delay": 5}
    d = saved["summary"]["disturbance"]
    assert d["kind"] == "drop_object" and d["trigger"] == "picked"
    assert d["episodes_disturbed"] == 2 and d["recovered"] == 2 and d["recovery_rate"] == 1.0
    lo, hi = d["ci95"]
    assert 0.0 < lo < hi == 1.0
    assert all(isinstance(row["disturbed_at"], int) for row in saved["episodes"])
    with open(f"{r['out']}/report.md") as f:
        assert "recovery success" in f.read()
