"""`bench policy`: closed-loop step latency of the Policy (KV cache, one jitted dispatch per
step, normalisation and numpy conversion included) against recomputing the full window twice
per step (SkillTransformer.predict_last), at several batch sizes.

Latency does not depend on the weights, so the model is randomly initialised. For the
"one core" figure run the process pinned: `taskset -c 0 robot-skills bench policy ...`.
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from robot_skills.model.config import SIZES, ModelConfig
from robot_skills.model.skill_transformer import SkillTransformer
from robot_skills.policy.policy import Policy


def _model_config(config_variant) -> ModelConfig:
    """A size name of robot_skills.model.config.SIZES, a ModelConfig, an experiment config with
    a `model` section, or the section itself."""
    if isinstance(config_variant, ModelConfig):
        return config_variant
    if isinstance(config_variant, str):
        if config_variant not in SIZES:
            raise ValueError(f"unknown model size {config_variant!r}; use one of {tuple(SIZES)}")
        return ModelConfig(**SIZES[config_variant])
    section = getattr(config_variant, "model", config_variant)
    return ModelConfig.from_config(section)


def _times_ms(fn, steps: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def _summary(times: list[float]) -> dict:
    return {"median_ms": statistics.median(times), "mean_ms": statistics.fmean(times),
            "p90_ms": float(np.percentile(times, 90))}


def bench_policy(config_variant="default", batch_sizes=(1, 16), steps: int = 200,
                 warmup: int = 20, seed: int = 0) -> dict:
    """Per-step latency (ms) of Policy.act (KV cache) and of full-window recomputation, per
    batch size, plus the speed-up. Returns a JSON-able dict."""
    config = _model_config(config_variant)
    rng = np.random.default_rng(seed)
    model = SkillTransformer(config, rngs=nnx.Rngs(seed))
    D, T = config.state_dim, config.context
    stats = {"state": {"mean": [0.0] * D, "std": [1.0] * D},
             "action": {"mean": [0.0] * config.action_dim, "std": [1.0] * config.action_dim}}
    graphdef, params = nnx.split(model)

    @jax.jit
    def recompute(params, observation, past_skill):
        m = nnx.merge(graphdef, params)
        return m.predict_last(observation, past_skill)

    def images(shape):
        out = {}
        n = config.image_size
        if "depth" in config.image_keys:
            out["depth"] = rng.uniform(0, 4, shape + (n, n, 1)).astype(np.float32)
        if "rgb" in config.image_keys:
            out["rgb"] = rng.integers(0, 256, shape + (n, n, 3), dtype=np.uint8)
        return out

    rows = []
    for B in batch_sizes:
        policy = Policy(model, stats, batch_size=B)
        obs = dict(state=rng.normal(size=(B, D)).astype(np.float32), **images((B,)))
        t0 = time.perf_counter()
        policy.act(obs)
        compile_cached = time.perf_counter() - t0
        cached = _times_ms(lambda: policy.act(obs), steps, warmup)

        window = dict(state=jnp.asarray(rng.normal(size=(B, T, D)), jnp.float32),
                      **{k: jnp.asarray(v) for k, v in images((B, T)).items()})
        past = jnp.asarray(rng.integers(0, config.num_skills, (B, T)), jnp.int32)
        t0 = time.perf_counter()
        jax.block_until_ready(recompute(params, window, past))
        compile_full = time.perf_counter() - t0
        full = _times_ms(lambda: jax.block_until_ready(recompute(params, window, past)),
                         max(steps // 4, 10), max(warmup // 4, 3))
        c, f = _summary(cached), _summary(full)
        rows.append({"batch_size": B, "kv_cache": c, "recompute": f,
                     "speedup": f["median_ms"] / c["median_ms"],
                     "compile_s": {"kv_cache": compile_cached, "recompute": compile_full}})
    n_params = sum(x.size for x in jax.tree.leaves(params))
    return {
        "benchmark": "policy_step",
        "model": {"d_model": config.d_model, "num_layers": config.num_layers,
                  "num_heads": config.num_heads, "context": config.context,
                  "image_keys": list(config.image_keys), "dtype": config.dtype,
                  "parameters": int(n_params)},
        "results": rows,
        "device": str(jax.devices()[0].device_kind),
        "jax": jax.__version__,
        "cpu_count": os.cpu_count(),
        "cpus_allowed": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "machine": platform.machine(),
        "goal": "<= 1 ms at batch 1 on one core; >= 10x faster than recompute",
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(bench_policy(sys.argv[1] if len(sys.argv) > 1 else "default"), indent=2))
