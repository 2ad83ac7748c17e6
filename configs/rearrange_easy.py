"""rearrange_easy: move an object from one open surface to another.

  robot-skills generate --config configs/rearrange_easy.py:small
      24 episodes (8,382 steps) -> runs/data/rearrange_easy_small, 1.3 MiB, in 20 s on the
      2-core CPU machine (2 workers); expert success 24/25 at data.noise_std=0.05 (1 timeout).
      Measured before the expert's navigation became a function of the state (shorter now).

  robot-skills generate --config configs/rearrange_easy.py:small --episodes 400 \
          --out runs/data/easy400d data.noise_std=0.1
      400 episodes (93,176 steps), 19.0 MiB, 265 s with 2 workers; expert success under that
      noise 400/418 (failed runs are dropped). The DAgger rounds in README start from it.

  robot-skills generate --config configs/rearrange_easy.py
      1,000 episodes -> runs/data/rearrange_easy. Not run: ~15 min on 2 cores, extrapolated
      from the 400-episode run.
"""

from configs.rearrange_common import rearrange_config


def get_config(variant: str = ""):
    """variant: comma-separated "small", "depth", "rgb", and one of the baselines "flat_bc",
    "skill_nocond" (see configs/rearrange_common.py)."""
    return rearrange_config("rearrange_easy", variant, episodes=1000, small_episodes=24)
