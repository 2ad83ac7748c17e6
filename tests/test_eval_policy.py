"""A learned Policy (a random tiny one, saved and loaded as a checkpoint) in the batched eval
loop: more episodes than envs (slots restart independently), skill accuracy in [0, 1], and the
same seeds give the same numbers, with any number of envs or worker processes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from flax import nnx

from robot_skills.evaluation import run_episodes
from robot_skills.model import ModelConfig, SkillTransformer
from robot_skills.policy import Policy
from sim.observation import STATE_DIM
from sim.scene import split_seed
from train.eval_job import checkpoint_dir, run_eval

TINY = dict(d_model=32, num_layers=2, num_heads=2, mlp_dim=64, state_hidden=32, context=5)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A workdir with DIR/checkpoints/<step> of a random tiny policy (as the training job)."""
    d = tmp_path_factory.mktemp("policy")
    rng = np.random.default_rng(0)
    mean, std = rng.normal(size=STATE_DIM), 1 + rng.random(STATE_DIM)
    stats = {"state": {"mean": mean.tolist(), "std": std.tolist(),
                       "min": (mean - std).tolist(), "max": (mean + std).tolist()},
             "action": {"mean": [0.0] * 8, "std": [0.5] * 8}}
    model = SkillTransformer(ModelConfig(**TINY), rngs=nnx.Rngs(0))
    Policy(model, stats, batch_size=1).save(str(d / "checkpoints"), step=3)
    return d


def _numbers(report):
    """The report without timings."""
    rows = [{k: v for k, v in r.items() if k != "wall_time_s"} for r in report["episodes"]]
    s = {k: v for k, v in report["summary"].items() if k not in ("wall_time_s",
                                                                 "env_steps_per_s", "workers")}
    return rows, s


@pytest.mark.timeout(300)
def test_random_policy_runs_in_the_batched_loop_and_is_deterministic(workdir):
    """The second run splits the seeds over 2 worker processes, each loading the policy."""
    assert checkpoint_dir(str(workdir)).endswith("checkpoints")
    kw = dict(task="pick", episodes=3, split="eval", policy="checkpoint", envs=2, videos=1,
              progress=False)
    a = run_eval(str(workdir), workers=1, **kw)
    s = a["summary"]
    assert s["episodes"] == 3
    assert [r["seed"] for r in a["episodes"]] == [split_seed("eval", i) for i in range(3)]
    for r in a["episodes"]:
        assert 0.0 <= r["skill_accuracy"] <= 1.0 and r["length"] > 0
    assert 0.0 <= s["skill_accuracy"] <= 1.0
    with open(f"{a['out']}/report.json") as f:
        assert json.load(f)["checkpoint"].endswith("checkpoints")
    # Same configuration, same numbers. (Across worker counts the rows can differ in the last
    # float32 bit -- XLA CPU kernels differ with batch shape and threads -- which a random
    # policy's chaotic rollouts amplify; the seeds and their split are the same.)
    b = run_eval(str(workdir), workers=2, **dict(kw, videos=0))
    c = run_eval(str(workdir), workers=2, **dict(kw, videos=0))
    assert (a["workers"], b["workers"]) == (1, 2)
    assert [r["seed"] for r in b["episodes"]] == [r["seed"] for r in a["episodes"]]
    assert _numbers(b) == _numbers(c)


@pytest.mark.timeout(300)
def test_episode_numbers_do_not_depend_on_the_other_envs(workdir, make_env):
    """Each env's row of the batched policy step is independent of the other rows: the same
    seeds give the same episodes whatever episodes the other env runs beside them (the seed
    order differs). Batch 1 against batch 2 is not bit-identical on XLA CPU (matrix-vector vs
    matrix-matrix kernels: ~6e-7 apart), so both runs step 2 envs."""
    seeds = [split_seed("eval", i) for i in range(3)]
    out = []
    for order in (seeds, seeds[::-1]):
        K = 2
        policy = Policy.load(str(workdir / "checkpoints"), batch_size=K)
        envs = [make_env(task="pick", split="eval") for _ in range(K)]
        traces = run_episodes(envs, policy, order, progress=False)
        out.append(sorted((t.seed, t.length, t.success, t.failure, t.predicted_skills)
                          for t in traces))
    assert [r[0] for r in out[0]] == seeds
    assert out[0] == out[1]


@pytest.mark.timeout(300)
def test_clamped_evaluation_writes_its_own_report(workdir):
    """--clamp-state: the policy reads the state clipped to the checkpoint's data range; its
    report goes to its own folder and says so, the unclamped report stays."""
    kw = dict(task="pick", episodes=1, split="eval", policy="checkpoint", envs=1, videos=0,
              progress=False, workers=1)
    plain = run_eval(str(workdir), **kw)
    clamped = run_eval(str(workdir), clamp_state=True, **kw)
    assert clamped["out"].endswith("eval_pick_eval_clamped") and clamped["clamp_state"]
    assert not plain["clamp_state"] and os.path.isfile(f"{plain['out']}/report.json")
    with open(f"{clamped['out']}/report.json") as f:
        assert json.load(f)["clamp_state"] is True
    capped = run_eval(str(workdir), route_length_cap=0.5, **kw)
    assert capped["out"].endswith("eval_pick_eval_cap0.5m") and capped["route_length_cap"] == 0.5
    assert plain["route_length_cap"] is None
