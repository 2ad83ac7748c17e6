"""rearrange_two: two rearrange_hard moves in one episode (sim.scene: the first object from a
closed drawer or cabinet to an open surface or a closed container, then a second object from
another receptacle to another one, a container goal ending closed); "put the pink cube in the
cabinet and the blue bottle on the shelf". The state's target and goal fields describe the move
under way (sim.env switches them when the first move is done).

  robot-skills expert --task rearrange_two --episodes 50 --split eval
  robot-skills generate --config configs/rearrange_two.py --out runs/data/two600 \\
          data.noise_std=0.1 data.episodes=600
  robot-skills train --config configs/rearrange_two.py:bins_base,nolidar --workdir runs/two \\
          --data runs/data/two600
  robot-skills eval --workdir runs/two --task rearrange_two --episodes 100 --split eval

Figures: README ("Two objects in one episode").
"""

from configs.rearrange_common import rearrange_config


def get_config(variant: str = ""):
    """variant: comma-separated "small", "depth", "rgb", "roles" or "routes", "nolidar",
    "routecap", a head ("bins", "bins_base") and one of the baselines "flat_bc", "skill_nocond"
    (see configs/rearrange_common.py)."""
    return rearrange_config("rearrange_two", variant, episodes=600, small_episodes=8)
