"""`robot-skills eval --workers W`: the seeds are split over W spawned processes, and every
episode's row is the same as with one process; the recorded episode's video is still written."""

from __future__ import annotations

import os

import pytest

from sim.scene import split_seed
from train.eval_job import run_eval


def _rows(report):
    return [{k: v for k, v in r.items() if k != "wall_time_s"} for r in report["episodes"]]


@pytest.mark.timeout(120)
def test_expert_rows_do_not_depend_on_the_number_of_workers(tmp_path):
    kw = dict(task="pick", episodes=3, split="eval", policy="expert", envs=2, progress=False)
    one = run_eval(str(tmp_path / "w1"), workers=1, videos=0, **kw)
    two = run_eval(str(tmp_path / "w2"), workers=2, videos=1, **kw)
    assert (one["workers"], two["workers"]) == (1, 2)
    assert two["summary"]["workers"] == 2 and two["summary"]["wall_time_s"] > 0
    assert [r["seed"] for r in two["episodes"]] == [split_seed("eval", i) for i in range(3)]
    assert _rows(one) == _rows(two)
    video = two["files"][f"video_{split_seed('eval', 0)}"]
    assert os.path.getsize(video) > 10_000
    assert os.path.isfile(two["files"][f"timeline_{split_seed('eval', 0)}"])


@pytest.mark.timeout(60)
def test_a_failing_worker_ends_the_run_with_its_error(tmp_path):
    with pytest.raises(ValueError, match="source_opened"):  # pick has no container to close
        run_eval(str(tmp_path), task="pick", episodes=2, split="eval", policy="expert",
                 envs=1, videos=0, workers=2, disturb="close_container", progress=False)


def test_workers_start_with_one_thread_each_and_the_parent_environment_is_restored(
        monkeypatch):
    from train.eval_workers import WORKER_XLA_FLAGS, worker_environ
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    with worker_environ():
        assert os.environ["XLA_FLAGS"] == (f"--xla_force_host_platform_device_count=2 "
                                           f"{WORKER_XLA_FLAGS}")
        assert os.environ["OMP_NUM_THREADS"] == "3"  # the user's setting wins
        assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=2"
    assert "OPENBLAS_NUM_THREADS" not in os.environ
