"""rearrange_easy: move an object from one open surface to another.

  robot-skills generate --config configs/rearrange_easy.py:small
      24 episodes (8,382 steps) -> runs/data/rearrange_easy_small, 1.3 MiB, in 20 s on the
      2-core CPU machine (2 workers); expert success 24/25 at data.noise_std=0.05 (1 timeout).
      Measured before the expert's navigation became a function of the state (shorter now).

  robot-skills generate --config configs/rearrange_easy.py:small --episodes 400 \
          --out runs/data/easy400g data.noise_std=0.1
      400 episodes (90,178 steps), 20.2 MiB (state of 110), 214 s with 2 workers; expert success
      under that noise 400/416 (failed runs are dropped). The small-model table of
      docs/results/rearrange_easy.md trains on it and its predecessors (easy400d: state of 83,
      93,176 steps, 400/418).

  robot-skills generate --config configs/rearrange_easy.py --out runs/data/easy1000g \
          data.noise_std=0.1
      1,000 episodes (224,036 steps), 50.0 MiB, 497 s with 2 workers; expert success under
      that noise 1,000/1,043 (the state-based expert; eD3's data, from the expert before it,
      had 225,135 steps, 1,000/1,039).

  robot-skills train --config configs/rearrange_easy.py --workdir runs/eD3 --data runs/data/easy1000g
      default-size model (0.98M), 6,000 steps in ~26 min on 2 cores (val loss 0.060); closed
      loop (last step, 100 episodes each): 98/100 eval, 95/100 unseen layouts (expert 99/100,
      100/100; README "rearrange_easy", run eD3r); with train.seed=1 data.seed=1 100/100,
      98/100; on eD3's older data 98/100, 94/100.
"""

from configs.rearrange_common import rearrange_config


def get_config(variant: str = ""):
    """variant: comma-separated "small", "depth", "rgb", "nolidar", "routecap", a head ("bins",
    "bins_base") and one of the baselines "flat_bc", "skill_nocond" (see
    configs/rearrange_common.py)."""
    return rearrange_config("rearrange_easy", variant, episodes=1000, small_episodes=24)
