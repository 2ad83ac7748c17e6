"""Skill roles derived from recorded episodes (robot_skills.data.roles) agree with the task
planner's own targets on expert rollouts, and the loader serves them."""

from __future__ import annotations

import numpy as np
import pytest

from robot_skills.data.roles import (GOAL, GOAL_HANDLE, NONE, PICK_ROUTE, PLACE_ROUTE,
                                     SOURCE, SOURCE_HANDLE, skill_roles)
from sim.env import RearrangeEnv
from sim.expert import ExpertConfig
from sim.scene import sample_scene, split_seed
from sim.skills import Skill


def _true_role(call: str, task) -> int:
    """The receptacle the planner's current call names (`navigate drawer`, `open cabinet`,
    `pick red can`, `place red can table`)."""
    skill = call.split(" ")[0]
    if skill == "pick":
        return SOURCE
    if skill == "place":
        return GOAL
    if skill in ("open", "close", "navigate"):
        if call.endswith(" " + task.goal):
            return GOAL
        if call.endswith(" " + task.source):
            return SOURCE
    return NONE


def _two_container_seeds(n: int) -> list[int]:
    """Eval episodes whose source and goal are both containers (the goal opened first)."""
    out = []
    for i in range(200):
        t = sample_scene(split_seed("eval", i), "rearrange_hard").task
        if t.goal_closed:
            out.append(i)
        if len(out) == n:
            return out
    raise AssertionError("no two-container episodes among the first 200 eval seeds")


@pytest.fixture(scope="module")
def rollouts(expert_rollout):
    out = []
    for seed in _two_container_seeds(2) + [0]:
        env = RearrangeEnv(task="rearrange_hard", split="eval")
        try:
            r = expert_rollout(env, seed, expert_config=ExpertConfig(noise_std=0.1, noise_seed=3))
            out.append((r, env.scene.task))
        finally:
            env.close()
    return out


def test_derived_roles_match_the_planner(rollouts):
    for r, task in rollouts:
        n = len(r.labels)
        skill = np.array([i["expert_skill"] for i in r.infos[:n]])
        truth = np.array([_true_role(i["expert_call"], task) for i in r.infos[:n]])
        derived = skill_roles(skill, r.states[:n])
        agree = float(np.mean(derived == truth))
        assert agree >= 0.99, (task, agree, np.flatnonzero(derived != truth)[:20])
        # both containers are worked on: both roles occur under `open` and under `navigate`
        if task.goal_closed:
            for s in (Skill.OPEN, Skill.NAVIGATE):
                assert set(derived[skill == s]) >= {SOURCE, GOAL}, (task, Skill(s).name)


_ROUTES = ("target_route", "goal_route", "source_open_route", "goal_open_route")  # route roles 1-4


def test_route_roles_name_the_pose_each_navigate_ends_at(rollouts):
    """The "route" scheme: every navigate run of the expert ends at the work pose of the route
    its role names (that route's path length in the recorded state is the shortest of the
    episode's routes, within 5 cm: equal poses share one path); manipulations map onto their
    receptacle roles (pick -> pick, place -> place, open / close -> that receptacle's handle)."""
    from robot_skills.data.roles import _runs
    from sim.observation import state_slices

    sl = state_slices()
    to_route = {SOURCE: SOURCE_HANDLE, GOAL: GOAL_HANDLE}
    navigated = set()
    for r, task in rollouts:
        n = len(r.labels)
        skill = np.array([i["expert_skill"] for i in r.infos[:n]])
        state = np.asarray(r.states[:n])
        route = skill_roles(skill, state, "route")
        receptacle = skill_roles(skill, state, "receptacle")
        flags = state[0, sl["task_flags"]]
        exists = np.array([True, True, flags[0] > 0.5, flags[1] > 0.5])
        for a, b in _runs(skill):
            s = int(skill[a])
            assert len(set(route[a:b])) == 1, (task, a, b)
            if s == Skill.NAVIGATE:
                length = np.array([state[b - 1, sl[k]][2] for k in _ROUTES])
                length[~exists] = np.inf
                k = int(route[a])
                assert k != NONE and length[k - 1] <= length.min() + 0.05, (task, a, k, length)
                navigated.add(k)
            elif s == Skill.PICK:
                assert route[a] == PICK_ROUTE
            elif s == Skill.PLACE:
                assert route[a] == PLACE_ROUTE
            elif s in (Skill.OPEN, Skill.CLOSE):
                assert route[a] == to_route[int(receptacle[a])], (task, a)
            else:
                assert route[a] == NONE
    # the drives to the handles and to the place pose all occur in these three episodes
    assert navigated >= {PLACE_ROUTE, SOURCE_HANDLE, GOAL_HANDLE}, navigated
    with pytest.raises(ValueError, match="unknown role scheme"):
        skill_roles(skill, state, "routes")


def test_roles_of_a_synthetic_episode():
    """navigate -> open goal -> navigate -> open source -> pick -> navigate -> place -> stop,
    with the articulation moving where the open runs say."""
    from sim.observation import STATE_DIM, state_slices

    sl = state_slices()
    runs = [(Skill.NAVIGATE, 3), (Skill.OPEN, 4), (Skill.NAVIGATE, 2), (Skill.OPEN, 4),
            (Skill.PICK, 3), (Skill.NAVIGATE, 2), (Skill.PLACE, 3), (Skill.STOP, 2)]
    skill = np.concatenate([[int(s)] * k for s, k in runs])
    state = np.zeros((len(skill), STATE_DIM), np.float32)
    state[:, sl["task_flags"]] = (1.0, 1.0, 1.0)
    art = sl["articulation"].start
    state[3:7, art + 1] = np.linspace(0.0, 1.0, 4)  # goal opened by the first open run
    state[7:, art + 1] = 1.0
    state[9:13, art] = np.linspace(0.0, 1.0, 4)  # source by the second
    state[13:, art] = 1.0
    expect = [GOAL] * 7 + [SOURCE] * 9 + [GOAL] * 5 + [NONE] * 2
    np.testing.assert_array_equal(skill_roles(skill, state), expect)
    # the route scheme tells the drive to the source's handle from the drive to the pick pose
    # (both "navigate, source" above)
    runs.insert(4, (Skill.NAVIGATE, 2))
    skill2 = np.concatenate([[int(s)] * k for s, k in runs])
    state2 = np.concatenate([state[:13], np.repeat(state[13:14], 2, 0), state[13:]])
    expect = ([GOAL_HANDLE] * 7 + [SOURCE_HANDLE] * 6 + [PICK_ROUTE] * 5 + [PLACE_ROUTE] * 5
              + [NONE] * 2)
    np.testing.assert_array_equal(skill_roles(skill2, state2, "route"), expect)
    # an open run that moves nothing falls back on the expert's order: goal first when it must
    # end closed and is not open
    state[:, art:art + 2] = 0.0
    assert skill_roles(skill, state)[3] == GOAL
    state[:, sl["task_flags"]] = (1.0, 0.0, 0.0)
    assert skill_roles(skill, state)[3] == SOURCE


def test_loader_serves_roles_and_the_model_trains_on_them(write_dataset):
    """A real RLDS dataset: the loader's `role` equals skill_roles of the decoded episode, the
    role term enters the loss with a gradient into the role head, and the action depends on
    the role it is conditioned on."""
    import jax
    from flax import nnx

    from configs.rearrange_hard import get_config
    from robot_skills.data.loader import WindowLoader
    from robot_skills.model import ModelConfig, SkillTransformer, skill_transformer_loss

    config = get_config("small,roles")
    config.data.batch_size, config.data.val_fraction = 32, 0.0
    assert config.model.num_roles == 3
    data = write_dataset("roles", config, episodes=1)
    loader = WindowLoader.from_config(config, "train", data)
    batch = loader.batch(0)
    ep = loader.dataset.episode(int(batch["episode"][0]))
    expect = skill_roles(ep["skill"], ep["state"])
    t = int(batch["t"][0])
    assert batch["role"][0, -1] == expect[t]
    assert set(np.unique(batch["role"][batch["mask"]])) <= {NONE, SOURCE, GOAL}

    model = SkillTransformer(ModelConfig.from_config(config.model), rngs=nnx.Rngs(0))
    fields = {k: batch[k] for k in ("action", "skill", "role", "mask")}
    fields["observation"] = batch["observation"]
    (loss, metrics), grads = nnx.value_and_grad(skill_transformer_loss, has_aux=True)(
        model, fields)
    assert np.isfinite(float(loss)) and 0.0 <= float(metrics["role_accuracy"]) <= 1.0
    assert float(metrics["role_loss"]) > 0.0
    assert float(np.abs(grads.role_head.kernel[...]).sum()) > 0.0
    assert float(np.abs(grads.role_embed.embedding[...]).sum()) > 0.0
    with pytest.raises(ValueError, match="pass role"):
        skill_transformer_loss(model, {k: v for k, v in fields.items() if k != "role"})
    out = [model(batch["observation"], batch["skill"], mask=batch["mask"],
                 role=np.full_like(batch["role"], r))["action"] for r in (SOURCE, GOAL)]
    assert float(jax.numpy.abs(out[0] - out[1]).max()) > 1e-4

    # the "routes" variant: the route scheme's five roles from the same files
    routes = get_config("small,routes")
    routes.data.batch_size, routes.data.val_fraction = 32, 0.0
    assert (routes.model.num_roles, routes.data.role_scheme) == (5, "route")
    batch = WindowLoader.from_config(routes, "train", data).batch(0)
    ep = loader.dataset.episode(int(batch["episode"][0]))
    t = int(batch["t"][0])
    assert batch["role"][0, -1] == skill_roles(ep["skill"], ep["state"], "route")[t]
    assert SOURCE_HANDLE in set(batch["role"][batch["mask"]])
    routes.model.num_roles = 3
    with pytest.raises(ValueError, match="data.role_scheme='route' has 5 roles"):
        WindowLoader.from_config(routes, "train", data)
    with pytest.raises(ValueError, match="exclude each other"):
        get_config("roles,routes")
