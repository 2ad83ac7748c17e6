"""Policy: a SkillTransformer acting in closed loop, one step per call, for a batch of envs.

It normalises observations and un-normalises actions itself (stats and modes travel in the
checkpoint), keeps a KV cache per env (robot_skills.model.kv_cache: the last `context` steps),
and resets envs independently. The step is one jax.jit over (params, cache, observation) built
with nnx.split/merge, the cache buffers donated, so a call costs one dispatch.

    policy = Policy.load("runs/x/checkpoints")        # latest step
    policy.reset(len(envs))                           # or reset(env_ids=[i]) when env i restarts
    out = policy.act([env_obs_0, env_obs_1, ...])     # or a dict of batched arrays
    out["action"]  (B, 8) in [-1, 1]; out["skill"] (B,); out["skill_probs"] (B, S);
    out["role"] (B,) (the skill role of a model with roles, else -1)

A model without a skill head (flat behaviour cloning) predicts no skill: `predicts_skill` is
False (evaluation reports skill accuracy as n/a), out["skill"] is NO_SKILL (-1) and
out["skill_probs"] uniform.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from robot_skills.data.normalization import affine
from robot_skills.model.actions import env_action
from robot_skills.model.kv_cache import cached_step, init_cache, reset_cache
from robot_skills.model.skill_transformer import SkillTransformer
from robot_skills.policy.checkpoint import (DEFAULT_NORMALIZATION, load_policy_checkpoint,
                                            save_policy_checkpoint)
from sim.observation import route_length_bounds


def _affine(stats: dict, mode: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    shift, scale = affine(stats, mode)
    return (np.broadcast_to(np.asarray(shift, np.float32), (dim,)).copy(),
            np.broadcast_to(np.asarray(scale, np.float32), (dim,)).copy())


@functools.lru_cache(maxsize=16)
def _compiled(graphdef, treedef, clip_state: bool):
    """The jitted step and reset of one model structure, shared by every Policy of that
    structure (a reloaded checkpoint does not compile again)."""

    def merge(leaves):
        return nnx.merge(graphdef, jax.tree.unflatten(treedef, leaves))

    def step(params, cache, observation, norm):
        state = jnp.clip(observation["state"], norm["state_lo"], norm["state_hi"])  # (B, D)
        state = (state - norm["state_shift"]) / norm["state_scale"]
        if clip_state:
            state = jnp.clip(state, -1.0, 1.0)
        out, cache = cached_step(merge(params), cache, dict(observation, state=state))
        action = env_action(out["action"], jnp.argmax(out["gripper_logits"], -1),
                            norm["action_shift"], norm["action_scale"])  # (B, 8)
        role = out.get("role", jnp.full_like(out["skill"], -1))  # (B,) -1 without skill roles
        return (action, out["skill"], jax.nn.softmax(out["skill_logits"], -1), role), cache

    def reset(params, cache, mask, task_id, prefix, prefix_mask):
        return reset_cache(merge(params), cache, mask, task_id, prefix, prefix_mask)

    return jax.jit(step, donate_argnums=(1,)), jax.jit(reset, donate_argnums=(1,))


class Policy:
    def __init__(self, model: SkillTransformer, stats: dict, normalization: dict | None = None,
                 *, batch_size: int = 1, task_id=None, prefix=None,
                 clamp_state: bool = False, route_length_cap: float | None = None):
        """model: a SkillTransformer; stats: {"state": {mean, std, ...}, "action": {...}}
        (normalization.json); normalization: mode per field (the loader's modes).
        clamp_state: clip each state dimension to the training data's [min, max] (stats)
        before normalising, so a value no demonstration had (a longer route on an unseen
        layout) reaches the network as the nearest one it was trained on.
        route_length_cap: read each route's path length as min(length, cap) metres; None: the
        model's own (ModelConfig.route_length_cap, what it was trained with; 0 = off)."""
        self.model = model
        self.config = model.config
        self.stats = stats
        self.normalization = dict(DEFAULT_NORMALIZATION, **(normalization or {}))
        c = self.config
        state_mode, action_mode = self.normalization["state"], self.normalization["action"]
        s_shift, s_scale = _affine(stats["state"], state_mode, c.state_dim)
        a_shift, a_scale = _affine(stats["action"], action_mode, c.action_dim)
        lo = np.full(c.state_dim, -np.inf, np.float32)
        hi = np.full(c.state_dim, np.inf, np.float32)
        if clamp_state:
            if "min" not in stats["state"] or "max" not in stats["state"]:
                raise ValueError("clamp_state needs the state's min and max in the stats "
                                 "(normalization.json of a dataset written by this version)")
            lo = np.asarray(stats["state"]["min"], np.float32).reshape(c.state_dim)
            hi = np.asarray(stats["state"]["max"], np.float32).reshape(c.state_dim)
        cap = c.route_length_cap if route_length_cap is None else float(route_length_cap)
        hi = np.minimum(hi, route_length_bounds(cap, c.state_dim))  # raises for a negative cap
        self.route_length_cap = cap
        self._norm = {k: jnp.asarray(v) for k, v in (("state_shift", s_shift),
                      ("state_scale", s_scale), ("action_shift", a_shift),
                      ("action_scale", a_scale), ("state_lo", lo), ("state_hi", hi))}
        self._keys = ("state",) + tuple(c.image_keys)
        graphdef, params = nnx.split(model)
        # Flat list of arrays: flattening an nnx.State of Variables costs ~2 us per leaf per
        # call in Python; a list of arrays goes through jit's C++ fast path.
        leaves, treedef = jax.tree.flatten(params)
        # Committed to one device, as restored checkpoints are: jit keys its cache on it.
        self._params = jax.device_put(leaves, jax.devices()[0])
        self._step, self._reset = _compiled(graphdef, treedef, state_mode == "bounds")
        self.cache = None
        self.reset(batch_size, task_id=task_id, prefix=prefix)

    @property
    def predicts_skill(self) -> bool:
        """False for a model without a skill head: its `skill` output means nothing."""
        return self.config.skill_head

    # ------------------------------------------------------------------ checkpoints
    @classmethod
    def load(cls, checkpoint_dir: str, *, step: int | None = None, batch_size: int = 1,
             task_id=None, prefix=None, clamp_state: bool = False,
             route_length_cap: float | None = None) -> Policy:
        """From a checkpoint step directory or a manager root (latest step, or `step`)."""
        model, meta = load_policy_checkpoint(checkpoint_dir, step)
        return cls(model, meta["stats"], meta["normalization"], batch_size=batch_size,
                   task_id=task_id, prefix=prefix, clamp_state=clamp_state,
                   route_length_cap=route_length_cap)

    def save(self, directory: str, *, step: int = 0, config=None) -> str:
        """Writes a checkpoint `Policy.load` reads back (see policy.checkpoint)."""
        return save_policy_checkpoint(directory, self.model, config, self.stats, step=step,
                                      normalization=self.normalization)

    # ------------------------------------------------------------------ episodes
    @property
    def batch_size(self) -> int:
        return self.cache.batch_size

    def reset(self, batch_size: int | None = None, *, env_ids: Sequence[int] | None = None,
              task_id=None, prefix=None, prefix_mask=None) -> None:
        """Episode start. reset(B): a fresh cache for B envs, all reset. reset(env_ids=[i, ...]):
        only those envs restart; the others keep their history. task_id (int, or one per reset
        env) / prefix ((n, K, d), one per reset env; prefix_mask (n, K) bool, default all
        valid) when the model is conditioned on them."""
        if env_ids is None:
            if batch_size is None:
                batch_size = self.batch_size
            self.cache = init_cache(self.config, int(batch_size))
            ids = np.arange(batch_size)
        else:
            if batch_size is not None:
                raise ValueError("pass either batch_size (reset all) or env_ids, not both")
            ids = np.atleast_1d(np.asarray(env_ids, np.int64))
            if ids.size and (ids.min() < 0 or ids.max() >= self.batch_size):
                raise IndexError(f"env_ids {ids.tolist()} out of range for a batch of "
                                 f"{self.batch_size} envs")
        B = self.batch_size
        mask = np.zeros(B, bool)
        mask[ids] = True
        tid = None
        if task_id is not None:
            tid = np.zeros(B, np.int32)
            tid[ids] = np.broadcast_to(np.asarray(task_id, np.int32), ids.shape)
        pre = pmask = None
        if prefix is not None:
            prefix = np.asarray(prefix, np.float32)  # (n, K, d)
            pre = np.zeros((B,) + prefix.shape[1:], np.float32)
            pre[ids] = prefix
            pmask = np.ones(pre.shape[:2], bool)  # (B, K)
            if prefix_mask is not None:
                pmask[ids] = np.asarray(prefix_mask, bool)
        self.cache = self._reset(self._params, self.cache, mask, tid, pre, pmask)

    # ------------------------------------------------------------------ acting
    def batch_observation(self, obs) -> dict:
        """A list of per-env observation dicts or a dict of batched arrays -> dict of (B, ...)
        arrays holding only the fields the model reads."""
        if isinstance(obs, Mapping):
            out = {k: np.asarray(obs[k]) for k in self._keys}
        else:
            out = {k: np.stack([np.asarray(o[k]) for o in obs]) for k in self._keys}
        out["state"] = out["state"].astype(np.float32, copy=False)
        if out["state"].shape != (self.batch_size, self.config.state_dim):
            raise ValueError(f"observation['state'] has shape {out['state'].shape}; this policy "
                             f"steps {self.batch_size} envs of state dim {self.config.state_dim}")
        return out

    def act(self, obs) -> dict:
        """One closed-loop step of every env: {"action": (B, 8) float32 in [-1, 1] (env units),
        "skill": (B,) int32, "skill_probs": (B, S) float32, "role": (B,) int32 the skill role
        (robot_skills.data.roles; -1 for a model without roles)}."""
        (action, skill, probs, role), self.cache = self._step(self._params, self.cache,
                                                        self.batch_observation(obs), self._norm)
        # Writable numpy copies, one per array (jax.device_get on the tuple costs ~0.1 ms more).
        return {"action": np.array(action), "skill": np.array(skill),
                "skill_probs": np.array(probs), "role": np.array(role)}
