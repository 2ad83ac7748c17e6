"""rearrange_two: two rearrange_hard moves in one episode. The scene holds both moves by the
task's rules, the task latches each move's stages and hands over to the next move (the state's
target and goal fields, the routes and the expert's plan follow), an object a finished move put
in place must stay there, and the language side (instruction, plan) names both moves."""

from __future__ import annotations

import gymnasium as gym
import mujoco
import numpy as np
import pytest

from sim import furniture as F
from sim.env import register_envs
from sim.instructions import instruction, template_kind
from sim.observation import (MAX_MOVES, SLOTS_STATE_DIM, STATE_DIM, layout_of, route_length_bounds,
                             spot_world, state_slices, state_width)
from sim.plans import plan_for, plan_text
from sim.scene import sample_scene
from sim.scene_facts import symbolic_scene
from sim.tasks import move_stages

SL = state_slices(False, True)  # the state of a multi-move task ends in the move field
SEED = 1  # a short training-split episode (about 500 expert steps)


def _moves(scene):
    return [(m.target, m.source, m.goal, m.goal_closed) for m in scene.moves]


def test_scenes_hold_two_moves_by_the_tasks_rules():
    kinds = set()
    for seed in range(16):
        sc = sample_scene(seed, "rearrange_two")
        m1, m2 = sc.moves
        assert sc.task == m1 and m1.target != m2.target
        assert F.RECEPTACLES[m1.source].container  # the first move is a rearrange_hard move
        assert m1.goal_closed == F.RECEPTACLES[m1.goal].container
        assert m2.source not in (m1.source, m1.goal) and m2.goal not in (m2.source, m1.goal)
        assert m2.goal_closed == F.RECEPTACLES[m2.goal].container
        assert sc.object(m2.target).receptacle == m2.source
        assert {m1.source, m1.goal, m2.source, m2.goal} <= {r.name for r in sc.receptacles}
        later = sc.at_move(1)  # the second move's view: the first object rests in its goal
        assert later.task == m2 and later.moves == sc.moves
        assert later.object(m1.target).receptacle == m1.goal
        assert later.object(m1.target).local == m1.goal_local
        assert later.object(m2.target) == sc.object(m2.target)
        assert sample_scene(seed, "rearrange_two") == sc
        facts = symbolic_scene(seed, "rearrange_two")  # the planner corpus agrees on the moves
        assert [(m.source, m.goal, m.goal_closed) for m in facts.moves] == \
            [(m.source, m.goal, m.goal_closed) for m in sc.moves]
        kinds.add((m2.goal_closed, m2.goal == m1.source))
        assert move_stages(m1) + move_stages(m2, "_2") == tuple(
            n for k, m in enumerate(sc.moves) for n in move_stages(m, "_2" if k else ""))
    assert len(kinds) >= 3  # surface and container second goals, and the still-open source
    hard = sample_scene(0, "rearrange_hard")
    assert hard.moves == ()
    with pytest.raises(IndexError, match="no move 0"):
        hard.at_move(0)


def _settle(world, steps=200):
    mujoco.mj_step(world.model, world.data, nstep=steps)


def test_a_finished_move_hands_over_and_an_undone_one_fails(make_env):
    """The first object put in its goal by hand (goal closed where it must be): the next step
    starts the second move (stages of the first latched, the state's target is the second
    object); taking the first object out again ends the episode with `undone`."""
    env = make_env(task="rearrange_two", split="train", render_mode=None)
    obs, info = env.reset(seed=SEED)
    w = env.world
    m1, m2 = env.scene.moves
    assert env.task.move == 0 and env.scene.task == m1
    assert obs["state"].shape == (STATE_DIM + MAX_MOVES,)
    np.testing.assert_array_equal(obs["state"][SL["move"]], [1.0, 0.0])
    np.testing.assert_allclose(obs["state"][SL["target_pos"]], w.to_base(w.object_pos(m1.target)),
                               atol=1e-5)
    spot = spot_world(w, m1.goal, m1.goal_local)
    z = spot[2] + F.OBJECTS[env.scene.object(m1.target).shape].half_size[2] + 0.002
    w.set_object_pose(m1.target, np.array([spot[0], spot[1], z]), 0.0)
    _settle(w)
    obs, reward, terminated, truncated, info = env.step(np.zeros(8, np.float32))
    assert not terminated, info["failure"]
    assert env.task.move == 1 and env.scene.task == m2 and env.move == 1
    assert info["stage/placed"] and not info["stage/placed_2"] and not info["success"]
    assert reward >= 1.0  # the stages latched by this step
    np.testing.assert_array_equal(obs["state"][SL["move"]], [0.0, 1.0])
    np.testing.assert_allclose(obs["state"][SL["target_pos"]], w.to_base(w.object_pos(m2.target)),
                               atol=1e-5)
    np.testing.assert_allclose(obs["state"][SL["goal_pos"]],
                               w.to_base(spot_world(w, m2.goal, m2.goal_local)), atol=1e-5)
    assert env.plan.goal.target == m2.target or env.plan.goal.target == m2.source or \
        env.plan.goal.target == m2.goal  # the expert now works on the second move
    w.set_object_pose(m1.target, np.array([0.6, 0.6, 0.05]), 0.0)  # on the floor again
    _settle(w, 50)
    obs, reward, terminated, truncated, info = env.step(np.zeros(8, np.float32))
    assert terminated and info["failure"] == "undone" and not info["success"]


@pytest.mark.timeout(150)
def test_the_expert_does_both_moves_as_the_plan_says(make_env, expert_rollout):
    env = make_env(task="rearrange_two", split="train", render_mode=None)
    ro = expert_rollout(env, SEED)
    sc = env.world.scene
    final = ro.infos[-1]
    assert final["success"] and final["failure"] == "" and ro.terminated
    stages = move_stages(sc.moves[0]) + move_stages(sc.moves[1], "_2")
    assert {k[len("stage/"):] for k in final if k.startswith("stage/")} == set(stages)
    assert all(final[f"stage/{s}"] for s in stages)
    assert float(ro.rewards.sum()) == len(stages) + 1  # every stage once, then success
    # the expert's calls (the last one after success: stop) are the planner's ground truth
    assert ro.calls[-1] == "stop"
    assert " <ACT> ".join(ro.calls) + " <ACT>" == plan_text(plan_for(sc))
    w = env.world
    np.testing.assert_allclose(ro.states[-1][SL["target_pos"]],
                               w.to_base(w.object_pos(sc.moves[1].target)), atol=1e-5)
    # The episode's instruction and metadata describe the scene as sampled (env.episode_scene,
    # what the RLDS recorder reads), not the scene at the move under way (env.scene).
    assert env.scene.task == sc.moves[1] and env.episode_scene.task == sc.moves[0]
    assert instruction(env.episode_scene, SEED) == instruction(sample_scene(SEED,
                                                                            "rearrange_two"), SEED)


def test_episode_language_finds_the_scene_from_either_moves_instruction():
    """Stage 2 rebuilds an episode's scene from its seed and checks it against the stored
    instruction; datasets written before the recorder read env.episode_scene hold the second
    move's for episodes that reached it."""
    from robot_skills.planner.episodes import exact_scene
    scene = sample_scene(SEED, "rearrange_two")
    for stored in (instruction(scene, SEED), instruction(scene.at_move(1), SEED)):
        assert exact_scene(SEED, "rearrange_two", stored).moves == scene.moves


def test_instructions_and_plans_name_both_moves():
    sc = sample_scene(SEED, "rearrange_two")
    m1, m2 = sc.moves
    assert template_kind(sc) == "two_object"
    text = instruction(sc, SEED)
    for m in (m1, m2):
        assert sc.object(m.target).color in text
    steps = plan_text(plan_for(sc))
    assert steps.index(f"place {m1.target} {m1.goal}") < steps.index(f"pick {m2.target}")
    from robot_skills.planner.episodes import episode_language
    from sim.instruction_samples import scene_instruction
    assert scene_instruction(sc, SEED, "heldout_template") != scene_instruction(sc, SEED)
    assert episode_language(sc).plan == steps
    register_envs()
    env = gym.make("robot_skills/RearrangeTwo-v0", render_mode=None)
    try:
        env.reset(seed=SEED)
        assert env.unwrapped.scene.moves == sc.moves
    finally:
        env.close()


@pytest.mark.timeout(200)
def test_the_expert_through_the_eval_loop_reports_both_moves(tmp_path):
    from train.eval_job import run_eval
    r = run_eval(str(tmp_path), task="rearrange_two", episodes=1, split="train", start=SEED,
                 policy="expert", envs=1, videos=0, workers=1, progress=False)
    s = r["summary"]
    assert s["episodes"] == 1 and s["success_rate"] == 1.0
    sc = sample_scene(SEED, "rearrange_two")
    stages = move_stages(sc.moves[0]) + move_stages(sc.moves[1], "_2")
    assert set(s["stages"]) == set(stages) and all(v["rate"] == 1.0 for v in s["stages"].values())
    # every scored skill counts both moves' stages (close: the second goal, a drawer)
    assert set(s["skills"]) == {"open", "pick", "place", "close"}
    assert r["episodes"][0]["skills"] == {"open": True, "pick": True, "place": True, "close": True}


def test_a_skill_succeeds_only_when_every_move_reached_its_stage():
    from robot_skills.evaluation.report import skill_success
    from sim.skills import Skill
    stages = {"source_opened": True, "picked": True, "placed": True, "picked_2": False,
              "placed_2": False}
    assert skill_success([int(Skill.PICK), int(Skill.OPEN)], stages) == {"pick": False,
                                                                         "open": True}
    assert skill_success([int(Skill.PICK)], {"picked": True, "picked_2": True}) == {"pick": True}


def test_the_move_field_sets_the_width_that_config_data_and_evaluation_agree_on():
    from robot_skills.data.features import DataSpec
    from train.config import load_config
    from train.eval_workers import EvalSetup
    assert {w: layout_of(w) for w in (STATE_DIM, STATE_DIM + 2, SLOTS_STATE_DIM,
                                      SLOTS_STATE_DIM + 2)} == {
        STATE_DIM: (False, False), STATE_DIM + 2: (False, True),
        SLOTS_STATE_DIM: (True, False), SLOTS_STATE_DIM + 2: (True, True)}
    sl = state_slices(True, True)
    assert sl["move"] == slice(SLOTS_STATE_DIM, SLOTS_STATE_DIM + MAX_MOVES)
    for spec, width in (("configs/rearrange_two.py", state_width(False, True)),
                        ("configs/rearrange_two.py:langgoal", state_width(True, True)),
                        ("configs/lcb.py:lcb,two,langgoal", state_width(True, True)),
                        ("configs/rearrange_hard.py", STATE_DIM)):
        c = load_config(spec)
        assert c.model.state_dim == width == DataSpec.from_config(c).state_dim, spec
    # the route cap finds the route fields in the wider layouts too
    capped = np.isfinite(route_length_bounds(3.0, state_width(True, True)))
    assert capped.sum() == np.isfinite(route_length_bounds(3.0, SLOTS_STATE_DIM)).sum()
    with pytest.raises(ValueError, match="multi-move task"):
        EvalSetup("rearrange_two", "eval", "checkpoint")._env((), STATE_DIM)
