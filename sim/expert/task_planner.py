"""Task planner: the next skill call from the symbolic state (what is held, where the target
is, which containers are open, where the robot stands). Stateless except for the hysteresis
that says which work pose the robot is at; the env runs it every step to label the expert
skill, and the expert executes what it says."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from sim import skills as S
from sim.navigation import wrap_angle
from sim.skills import Skill, SkillCall

ARRIVE_POS, ARRIVE_YAW = 0.04, 0.06  # tight: to be counted as arrived
STAY_POS, STAY_YAW = 0.20, 0.30  # loose: to stay arrived while manipulating
# An arm skill whose arm is already at work on its handle / object (`skills.engaged`) counts as
# arrived within the loose tolerance: a learned policy that starts opening or picking a few
# centimetres outside ARRIVE_POS gets that skill as its label (and the expert's station keeping
# pulls the base in), not `navigate`, which would teach it to back off work that was succeeding.


@dataclasses.dataclass(frozen=True)
class PlanStep:
    call: SkillCall  # the skill to run now
    goal: SkillCall  # the manipulation it serves (equals call unless call is navigate)
    pose: tuple[float, float, float] | None  # work pose of the goal skill


def _near(base, pose, pos_tol, yaw_tol) -> bool:
    dyaw = wrap_angle(base[2] - pose[2])
    return math.hypot(base[0] - pose[0], base[1] - pose[1]) <= pos_tol and abs(dyaw) <= yaw_tol


class TaskPlanner:
    def __init__(self, scene):
        self.scene = scene
        self._at: tuple | None = None
        self._last: SkillCall | None = None

    def reset(self) -> None:
        self._at = None
        self._last = None

    def _is_open(self, world, name: str) -> bool:
        # Hysteresis: once opening, keep at it until nearly fully open.
        if self._last is not None and self._last.skill == Skill.OPEN and self._last.target == name:
            return world.open_fraction(name) >= 0.92
        return S.is_open(world, name)

    def _is_closed(self, world, name: str) -> bool:
        if self._last is not None and self._last.skill == Skill.CLOSE and self._last.target == name:
            return world.open_fraction(name) <= 0.02
        return S.is_closed(world, name)

    def carrying(self, world, held) -> bool:
        """The target is in the closed gripper (touched by both pads, or between the fingers
        close to the grasp site: pad contacts flicker on curved objects) and lifted off every
        surface."""
        target = self.scene.task.target
        return (target in held or self.gripping(world)) and not any(
            S.inside(world, target, r.name) for r in self.scene.receptacles)

    def gripping(self, world) -> bool:
        """The gripper is commanded closed with the target between the fingers."""
        target = self.scene.task.target
        near = np.linalg.norm(world.object_pos(target) - world.grasp_pos()) < 0.06
        return bool(near and world.finger_target < 0.01)

    def location(self, world, obj: str) -> str:
        for r in self.scene.receptacles:
            if S.inside(world, obj, r.name):
                return r.name
        return self.scene.object(obj).receptacle

    def _goal(self, world, held) -> tuple[SkillCall, tuple | None]:
        sc, t = self.scene, self.scene.task
        target = t.target
        holding = self.carrying(world, held)
        if t.task == "navigate":
            r = sc.receptacle(t.nav_target)
            pose = r.work_pose(0.0)
            return SkillCall(Skill.STOP), pose
        if t.task in ("open", "close"):
            skill = Skill.OPEN if t.task == "open" else Skill.CLOSE
            return SkillCall(skill, t.source), sc.receptacle(t.source).work_pose(0.0, handle=True)
        placed_now = not self.gripping(world) and S.inside(world, target, t.goal)
        if t.task == "pick":
            loc = sc.receptacle(t.source)
            return SkillCall(Skill.PICK, target), loc.work_pose(loc.to_local(world.object_pos(target))[1])
        goal_r = sc.receptacle(t.goal)
        place_pose = goal_r.work_pose(t.goal_local[1])
        if t.task == "place":
            return SkillCall(Skill.PLACE, target, t.goal), place_pose
        if placed_now:
            if t.goal_closed and not self._is_closed(world, t.goal):
                return SkillCall(Skill.CLOSE, t.goal), goal_r.work_pose(0.0, handle=True)
            return SkillCall(Skill.STOP), None
        if holding or (self.gripping(world) and S.inside(world, target, t.goal)):
            return SkillCall(Skill.PLACE, target, t.goal), place_pose
        if t.goal_closed and not self._is_open(world, t.goal):
            return SkillCall(Skill.OPEN, t.goal), goal_r.work_pose(0.0, handle=True)
        loc = sc.receptacle(self.location(world, target))
        if loc.kind.container and not self._is_open(world, loc.name):
            return SkillCall(Skill.OPEN, loc.name), loc.work_pose(0.0, handle=True)
        return SkillCall(Skill.PICK, target), loc.work_pose(loc.to_local(world.object_pos(target))[1])

    def step(self, world, held: list[str]) -> PlanStep:
        goal, pose = self._goal(world, held)
        self._last = goal
        if pose is None:
            return PlanStep(goal, goal, None)
        base = world.base_pose()
        # Inside the loose tolerance: arrived if already arrived at this pose (hysteresis) or
        # if the arm is at work on the goal; otherwise only inside the tight one.
        at_pose = _near(base, pose, STAY_POS, STAY_YAW) and (
            (self._at is not None and _near(self._at, pose, 0.10, 0.1))
            or S.engaged(world, goal))
        if at_pose or _near(base, pose, ARRIVE_POS, ARRIVE_YAW):
            self._at = pose
            return PlanStep(goal, goal, pose)
        self._at = None
        target = goal.receptacle or goal.target
        if goal.skill == Skill.PICK:
            target = self.location(world, goal.target)
        if goal.skill == Skill.STOP:  # navigate task
            target = self.scene.task.nav_target
        return PlanStep(SkillCall(Skill.NAVIGATE, target), goal, pose)
