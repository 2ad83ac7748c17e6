"""The skill vocabulary (one place for the whole project) and each skill's success predicate
on the simulator state."""

from __future__ import annotations

import dataclasses
import enum
import math

import numpy as np

from sim.navigation import wrap_angle
from sim.robot import STOW_Q


class Skill(enum.IntEnum):
    NAVIGATE = 0
    PICK = 1
    PLACE = 2
    OPEN = 3
    CLOSE = 4
    RESET_ARM = 5
    STOP = 6


SKILL_NAMES: tuple[str, ...] = tuple(s.name.lower() for s in Skill)
NUM_SKILLS = len(Skill)

# Tolerances of the predicates.
NAV_POS_TOL = 0.15  # m
NAV_YAW_TOL = 0.25  # rad
PICK_LIFT = 0.04  # m above the resting height
OPEN_FRACTION = 0.8
CLOSED_FRACTION = 0.06
PLACE_MAX_SPEED = 0.15  # m/s
# m: the grasp site this close to the handle (open, close) or the object (pick) means the arm is
# already at work on it (the task planner then counts a base near the work pose as arrived).
ENGAGED_DIST = 0.05


@dataclasses.dataclass(frozen=True)
class SkillCall:
    """One step of a plan: `pick red can`, `place red can table`, `navigate drawer`."""

    skill: Skill
    target: str = ""
    receptacle: str = ""

    def text(self) -> str:
        return " ".join(p for p in (self.skill.name.lower(), self.target, self.receptacle) if p)


def arrived(world, pose) -> bool:
    """navigate: base within tolerance of a work pose (x, y, yaw)."""
    x, y, yaw = world.base_pose()
    dyaw = wrap_angle(yaw - pose[2])
    return math.hypot(x - pose[0], y - pose[1]) <= NAV_POS_TOL and abs(dyaw) <= NAV_YAW_TOL


def picked(world, obj: str, rest_z: float, held: list[str]) -> bool:
    """pick: the object is held by both pads and lifted off its support."""
    return obj in held and world.object_pos(obj)[2] >= rest_z + PICK_LIFT


def inside(world, obj: str, receptacle: str) -> bool:
    """The object rests within the receptacle's region (for a drawer: in the drawer box,
    wherever the drawer is)."""
    r = world.scene.receptacle(receptacle)
    k = r.kind
    p = world.object_pos(obj)
    local = r.to_local(p)
    lx = local[0] - (world.articulation("drawer") if receptacle == "drawer" else 0.0)
    half = world.scene.object(obj).kind.half_size
    if receptacle == "drawer":
        x_lo, x_hi, hy = -k.depth / 2 + 0.04, k.depth / 2 - 0.02, k.width / 2 - 0.05
    elif receptacle == "cabinet":
        x_lo, x_hi, hy = -k.depth / 2 + 0.04, k.depth / 2 - 0.02, k.width / 2 - 0.03
    else:
        x_lo, x_hi, hy = -k.depth / 2, k.depth / 2, k.width / 2
    bottom = p[2] - half[2]
    return (x_lo <= lx <= x_hi and abs(local[1]) <= hy
            and k.surface_z - 0.02 <= bottom <= k.surface_z + 0.03)


def placed(world, obj: str, receptacle: str, held: list[str]) -> bool:
    """place: released, at rest, inside the receptacle."""
    return (obj not in held and world.object_speed(obj) < PLACE_MAX_SPEED
            and inside(world, obj, receptacle))


def is_open(world, name: str) -> bool:
    return world.open_fraction(name) >= OPEN_FRACTION


def is_closed(world, name: str) -> bool:
    return world.open_fraction(name) <= CLOSED_FRACTION


def engaged(world, call: SkillCall) -> bool:
    """The arm is at work on `call`: the grasp site within ENGAGED_DIST of the handle being
    opened or closed, or of the object being picked."""
    if call.skill in (Skill.OPEN, Skill.CLOSE):
        p = world.handle_pos(call.target)
    elif call.skill == Skill.PICK:
        p = world.object_pos(call.target)
    else:
        return False
    return float(np.linalg.norm(world.grasp_pos() - p)) < ENGAGED_DIST


def skill_success(world, call: SkillCall, held: list[str], rest_z: float = 0.0,
                  pose: tuple | None = None) -> bool:
    """Success predicate of one skill call on the current state."""
    if call.skill == Skill.NAVIGATE:
        return arrived(world, pose)
    if call.skill == Skill.PICK:
        return picked(world, call.target, rest_z, held)
    if call.skill == Skill.PLACE:
        return placed(world, call.target, call.receptacle, held)
    if call.skill == Skill.OPEN:
        return is_open(world, call.target)
    if call.skill == Skill.CLOSE:
        return is_closed(world, call.target)
    if call.skill == Skill.RESET_ARM:
        return bool(np.allclose(world.arm_qpos(), STOW_Q, atol=0.05))
    return True


__all__ = ["Skill", "SKILL_NAMES", "NUM_SKILLS", "SkillCall", "skill_success"]
