"""`robot-skills bench train`: train-step throughput (samples/s) and achieved FLOP/s as a
fraction of a plain jnp matmul peak measured in the same run on the same devices."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np


def matmul_peak(n: int = 1024, seconds: float = 3.0, dtype=jnp.float32) -> float:
    """FLOP/s of a jitted (n x n) @ (n x n) matmul chain (4 per call)."""
    key = jax.random.key(0)
    a = jax.random.normal(key, (n, n), dtype)
    b = jax.random.normal(jax.random.fold_in(key, 1), (n, n), dtype)

    @jax.jit
    def f(a, b):
        for _ in range(4):
            a = (a @ b) * (1.0 / n)
        return a

    f(a, b).block_until_ready()
    calls, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a = f(a, b)
        calls += 1
    a.block_until_ready()
    return calls * 4 * 2 * n ** 3 / (time.perf_counter() - t0)


def bench_train(config, data_dir: str | None = None, steps: int = 30, workdir: str | None = None
                ) -> dict:
    import tempfile

    from robot_skills.data.loader import WindowLoader
    from train.train_job import Trainer, device_batch

    workdir = workdir or tempfile.mkdtemp(prefix="bench_train_")
    loader = WindowLoader.from_config(config, "train", data_dir)
    trainer = Trainer(config, workdir)
    batches = [device_batch(loader.batch(i), trainer.data_sharding) for i in range(4)]
    step0 = jnp.asarray(0, jnp.int32)
    lowered = trainer.train_step.lower(trainer.params, trainer.opt_state, batches[0], step0)
    compiled = lowered.compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = float(cost.get("flops", float("nan"))) if cost else float("nan")
    # Warm up, then time `steps` steps (data already on device: the model's own speed).
    for i in range(3):
        trainer.params, trainer.opt_state, m = trainer.train_step(
            trainer.params, trainer.opt_state, batches[i % 4], jnp.asarray(i, jnp.int32))
    jax.block_until_ready(m)
    t0 = time.perf_counter()
    for i in range(steps):
        trainer.params, trainer.opt_state, m = trainer.train_step(
            trainer.params, trainer.opt_state, batches[i % 4], jnp.asarray(i, jnp.int32))
    jax.block_until_ready(m)
    dt = (time.perf_counter() - t0) / steps
    dtype = jnp.bfloat16 if config.model.dtype == "bfloat16" else jnp.float32
    peak = matmul_peak(dtype=dtype)
    B, T = config.data.batch_size, config.data.window
    n_params = int(sum(np.prod(x.shape) for x in jax.tree.leaves(trainer.params)))
    return {
        "devices": [str(d) for d in jax.devices()],
        "device_kind": jax.devices()[0].device_kind,
        "model": {"d_model": config.model.d_model, "layers": config.model.num_layers,
                  "params": n_params, "dtype": config.model.dtype},
        "batch": B, "window": T,
        "step_seconds": dt,
        "steps_per_s": 1.0 / dt,
        "samples_per_s": B / dt,
        "tokens_per_s": B * T * 3 / dt,
        "step_flops_xla": flops,
        "achieved_flops_per_s": flops / dt,
        "matmul_peak_flops_per_s": peak,
        "fraction_of_matmul_peak": flops / dt / peak,
    }
