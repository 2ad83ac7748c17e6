"""The training job on a real (tiny) RLDS dataset: resume determinism, NaN handling, sharding."""

from __future__ import annotations

import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from train.config import load_config

REPO = pathlib.Path(__file__).resolve().parents[1]
TINY = ["task.name=pick", "data.val_fraction=0.25", "data.window=4", "data.batch_size=8",
        "data.prefetch=2", "model.d_model=32", "model.num_layers=1", "model.num_heads=2",
        "model.mlp_dim=64", "model.state_hidden=32", "model.context=4", "train.steps=8",
        "train.warmup_steps=2", "train.log_every=1", "train.eval_every=4",
        "train.eval_batches=1", "train.checkpoint_every=4"]


def tiny_config(*overrides):
    return load_config("configs/rearrange_easy.py:small", TINY + list(overrides))


@pytest.fixture(scope="module")
def dataset(write_dataset):
    return write_dataset("train_data", tiny_config(), 4)


def _train_losses(workdir) -> dict[int, float]:
    rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    return {r["step"]: r["loss"] for r in rows if r["split"] == "train"}


@pytest.mark.timeout(300)
def test_killed_and_resumed_run_matches_an_uninterrupted_one(dataset, tmp_path):
    from train.train_job import train
    full = tmp_path / "full"
    train(tiny_config(), str(full), data_dir=dataset, progress=False)
    split = tmp_path / "split"
    train(tiny_config(), str(split), data_dir=dataset, progress=False, stop_after=3)
    assert sorted(os.listdir(split / "checkpoints")) == ["3"]
    train(tiny_config(), str(split), data_dir=dataset, progress=False)  # resumes at step 4
    a, b = _train_losses(full), _train_losses(split)
    assert sorted(a) == list(range(8)) and sorted(b) == list(range(8))
    for step in range(8):
        assert abs(a[step] - b[step]) <= 1e-6, (step, a[step], b[step])
    assert a[7] < a[0]  # it learns


@pytest.mark.timeout(300)
def test_time_budget_ends_the_run_with_an_evaluated_checkpoint(dataset, tmp_path):
    """train.max_minutes: out of time after the first step, the run stops there, evaluates and
    saves that step; the full schedule is left for a resume."""
    from train.train_job import train
    work = tmp_path / "budget"
    r = train(tiny_config("train.max_minutes=1e-9"), str(work), data_dir=dataset, progress=False)
    assert r.step == 0 and sorted(os.listdir(work / "checkpoints")) == ["0"]
    assert math.isfinite(r.val_loss)
    rows = [json.loads(x) for x in open(work / "metrics.jsonl")]
    assert [r["step"] for r in rows if r["split"] == "val"] == [0]


@pytest.mark.timeout(300)
def test_nan_loss_stops_the_run_without_writing_a_checkpoint(dataset, tmp_path):
    from train.train_job import NonFiniteLoss, train
    work = tmp_path / "nan"
    with pytest.raises(NonFiniteLoss, match="(?i)lower train.lr"):
        train(tiny_config("train.lr=1e30", "train.warmup_steps=0"), str(work), data_dir=dataset,
              progress=False)
    ckpts = work / "checkpoints"
    assert not ckpts.exists() or os.listdir(ckpts) == []


_SHARDED = """
import json, sys
import jax, jax.numpy as jnp
from train.config import load_config
from train.train_job import Trainer, device_batch
from robot_skills.data.loader import WindowLoader
config = load_config("configs/rearrange_easy.py:small", json.loads(sys.argv[1]))
loader = WindowLoader.from_config(config, "train", sys.argv[2])
tr = Trainer(config, sys.argv[3])
losses = []
for step in range(3):
    tr.params, tr.opt_state, m = tr.train_step(tr.params, tr.opt_state,
        device_batch(loader.batch(step), tr.data_sharding), jnp.asarray(step, jnp.int32))
    losses.append(float(m["loss"]))
print(json.dumps({"devices": len(jax.devices()), "losses": losses}))
"""


def _sharded_run(dataset, workdir, devices: int) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", _SHARDED, json.dumps(TINY), dataset, workdir],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(600)
def test_data_parallel_step_on_two_devices_matches_one_device(dataset, tmp_path):
    one = _sharded_run(dataset, str(tmp_path / "one"), 1)
    two = _sharded_run(dataset, str(tmp_path / "two"), 2)
    assert one["devices"] == 1 and two["devices"] == 2
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-5, atol=1e-6)
