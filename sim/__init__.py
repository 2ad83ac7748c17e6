"""The MuJoCo world: robot, procedural scenes, tasks, scripted expert and gymnasium envs."""

from sim.env import ENV_IDS, EnvConfig, RearrangeEnv, make_env, register_envs

register_envs()

__all__ = ["ENV_IDS", "EnvConfig", "RearrangeEnv", "make_env", "register_envs"]
