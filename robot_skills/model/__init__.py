"""The SkillTransformer (flax.nnx): observation history -> skill logits -> skill-conditioned
action (and its baselines: flat BC without a skill head, a skill head without conditioning).

  config.py             ModelConfig / LossConfig (from_config, to_dict), SIZES, model_section
  attention.py          THE attention structure: token groups, rules, mask + relative positions
  transformer.py        pre-LN block with relative-position bias; full-window or KV-cached
  tokenizers.py         state token: MLP over the state vector (+ CNN over depth / RGB)
  skill_transformer.py  SkillTransformer: tokens -> blocks -> skill head, action head
  kv_cache.py           KVCache, init_cache, reset_cache, cached_step (one step per call)
  actions.py            action layout: 7 regressed dims + gripper class; env-unit actions
  loss.py               skill_transformer_loss (skill CE/focal, base/arm MSE, gripper CE)
"""

import importlib

# Lazy exports (PEP 562): configs import robot_skills.model.config without pulling in jax.
_EXPORTS = {
    "LossConfig": "config", "ModelConfig": "config", "SIZES": "config",
    "model_section": "config", "KVCache": "kv_cache", "cached_step": "kv_cache",
    "init_cache": "kv_cache", "reset_cache": "kv_cache", "loss_from_outputs": "loss",
    "skill_transformer_loss": "loss", "SkillTransformer": "skill_transformer",
    "NO_SKILL": "skill_transformer", "count_parameters": "skill_transformer",
}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"robot_skills.model.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'robot_skills.model' has no attribute {name!r}")
