"""Disturbances for recovery evaluation (as in the Skill Transformer paper): part of the work
is undone mid-episode and the agent has to notice and redo it.

- close_container: `delay` control steps after stage/source_opened first latches, the task's
  source container snaps shut (joint qpos and qvel 0); objects resting in a drawer move in with
  it (World.move_articulation, as the close task's start state moves them out).
- drop_object: `delay` steps after stage/picked first latches, the held target leaves the
  gripper. The paper knocks it to the floor, but here an object below z = 0.15 m ends the
  episode at once as `dropped` (sim/tasks.py), so it goes back where it was picked from: its
  settled start pose on its start receptacle (shifted with the drawer if the drawer has moved),
  at rest. The fingers keep doing what the agent commands (the env takes the gripper from every
  action); with the object gone from between them the grip is released.

The stage a disturbance undid is un-latched (source_opened / picked), so per-stage rates say
whether the work was redone; success is checked on the current state anyway (placed, and the
goal closed where it must be). A disturbance happens between two control steps: the agent's
next action was chosen on the undisturbed observation, its next observation shows the result.
It stays pending while it cannot be applied cleanly (container already closed, object not in
the gripper, or the move would push bodies into each other: then it is undone and retried on
the next step), and happens at most once per episode.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import mujoco
import numpy as np

from sim import skills as S

TRIGGERS = {"close_container": "source_opened", "drop_object": "picked"}
KINDS = tuple(TRIGGERS)
MAX_PENETRATION = 0.01  # m; resting and grasp contacts are < 2 mm deep
APPLIED_AT = "disturbance/step"  # info key: control step in which it happened, -1 before


@dataclasses.dataclass(frozen=True)
class DisturbanceConfig:
    kind: str  # one of KINDS
    delay: int = 5  # control steps after the trigger stage first latches

    def __post_init__(self):
        if self.kind not in TRIGGERS:
            raise ValueError(f"unknown disturbance {self.kind!r}; use one of {', '.join(KINDS)}")
        if self.delay < 0:
            raise ValueError(f"disturbance delay must be >= 0 steps, got {self.delay}")

    @property
    def trigger(self) -> str:
        return TRIGGERS[self.kind]


def close_container(env) -> bool:
    """Snaps the task's source container shut; False (nothing changed) if it is closed."""
    w, scene = env.world, env.scene
    name = scene.task.source
    if S.is_closed(w, name):
        return False
    held = w.held_objects()
    contents = [o.name for o in scene.objects
                if o.name not in held and S.inside(w, o.name, name)]
    w.move_articulation(name, 0.0, contents)
    return True


def drop_object(env, home: tuple[np.ndarray, float, float]) -> bool:
    """Takes the carried target out of the gripper and puts it back at `home` (start position,
    yaw, drawer slide then); False if the target is not being carried."""
    w, scene = env.world, env.scene
    target = scene.task.target
    if not env.planner.carrying(w, w.held_objects()):
        return False
    pos, yaw, drawer_then = home
    source = scene.object(target).receptacle
    if source == "drawer":
        r = scene.receptacle("drawer")
        pos = pos + (w.articulation("drawer") - drawer_then) * np.array(
            [np.cos(r.yaw), np.sin(r.yaw), 0.0])
    w.set_object_pose(target, pos, yaw)
    return True


def _deepest_contact(world) -> float:
    n = world.data.ncon
    return float(world.data.contact.dist[:n].min()) if n else 0.0


class Disturbed(gym.Wrapper):
    """A RearrangeEnv whose episodes get one disturbance (DisturbanceConfig). Adds
    info[APPLIED_AT]: the control step whose physics ran first after the disturbance, -1 while
    it has not happened."""

    def __init__(self, env, config: DisturbanceConfig):
        super().__init__(env)
        self.config = config
        self._step = 0
        self._due: int | None = None  # control step count from which it is applied
        self._applied_at = -1
        self._home = None

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        u = self.env.unwrapped
        if self.config.trigger not in u.task.stage_names:
            raise ValueError(f"disturbance {self.config.kind} waits for stage "
                             f"{self.config.trigger!r}, which task {u.task.name} does not have")
        target = u.scene.task.target
        drawer = u.world.articulation("drawer") if "drawer" in u.world.articulation_joint else 0.0
        self._home = (u.world.object_pos(target), u.world.object_yaw(target), drawer)
        self._step, self._due, self._applied_at = 0, None, -1
        return obs, self._watch(info)

    def step(self, action):
        if self._applied_at < 0 and self._due is not None and self._step >= self._due:
            if self._apply():
                self._applied_at = self._step + 1
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, self._watch(info)

    def _watch(self, info: dict) -> dict:
        self._step = int(info["step"])
        if self._due is None and info.get(f"stage/{self.config.trigger}"):
            self._due = self._step + self.config.delay
        return dict(info, **{APPLIED_AT: self._applied_at})

    def _apply(self) -> bool:
        """Applies the disturbance now if it can be applied cleanly; True if it was."""
        u = self.env.unwrapped
        w = u.world
        qpos, qvel = w.data.qpos.copy(), w.data.qvel.copy()
        if self.config.kind == "close_container":
            changed = close_container(u)
        else:
            changed = drop_object(u, self._home)
        if not changed:
            return False
        mujoco.mj_forward(w.model, w.data)
        if _deepest_contact(w) < -MAX_PENETRATION:  # e.g. the arm where the door would be
            w.data.qpos[:], w.data.qvel[:] = qpos, qvel
            mujoco.mj_forward(w.model, w.data)
            return False
        u.task.latched[self.config.trigger] = False  # the work is undone: it must latch again
        return True
