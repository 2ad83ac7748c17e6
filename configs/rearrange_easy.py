"""rearrange_easy: move an object from one open surface to another.

  robot-skills generate --config configs/rearrange_easy.py:small
      24 episodes (8,382 steps) -> runs/data/rearrange_easy_small, 1.3 MiB, in 20 s on the
      2-core CPU machine (2 workers); expert success 24/25 at data.noise_std=0.05 (1 timeout).

  robot-skills generate --config configs/rearrange_easy.py
      1,000 episodes -> runs/data/rearrange_easy, ~55 MiB. Not run yet: ~14 min on 2 cores,
      extrapolated from the small run (76 expert episodes/min, ~360 steps per episode).
"""

from configs.rearrange_common import rearrange_config


def get_config(variant: str = ""):
    """variant: comma-separated "small", "depth", "rgb", and one of the baselines "flat_bc",
    "skill_nocond" (see configs/rearrange_common.py)."""
    return rearrange_config("rearrange_easy", variant, episodes=1000, small_episodes=24)
