"""Closed-loop inference: a checkpoint becomes a Policy that acts step by step.

  policy.py      Policy: load, reset (all / per env), act (normalisation + KV cache inside)
  checkpoint.py  orbax checkpoint layout (params + meta JSON), save / load helpers
"""

from robot_skills.policy.checkpoint import (checkpoint_items, item_handlers,
                                            load_policy_checkpoint, model_params,
                                            save_policy_checkpoint)
from robot_skills.policy.policy import Policy

__all__ = ["Policy", "save_policy_checkpoint", "load_policy_checkpoint", "checkpoint_items",
           "item_handlers", "model_params"]
