"""Tasks: the start state of an episode, its stages (checked every step, latched once reached),
its success condition and its named failures."""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np

from sim import furniture as F
from sim import robot as R
from sim import skills as S
from sim.scene import KNOWN_TASKS as TASKS
from sim.scene import Scene
# "undone": an object a finished move put in place left its goal again (multi-move tasks).
FAILURES = ("timeout", "dropped", "collision", "unstable_sim", "wrong_object", "undone")
MAX_STEPS = {"navigate": 250, "pick": 120, "place": 120, "open": 150, "close": 150,
             "rearrange_easy": 600, "rearrange_hard": 1200, "rearrange_two": 2400}


def move_suffix(k: int) -> str:
    """The stage-name suffix of a multi-move task's k-th move: "" for the first, "_2", ..."""
    return "" if k == 0 else f"_{k + 1}"


def stage_kind(stage: str) -> str:
    """The stage without its move suffix ("picked_2" -> "picked")."""
    base, _, k = stage.rpartition("_")
    return base if base and k.isdigit() else stage


def move_stages(spec, suffix: str = "") -> tuple[str, ...]:
    """Stage names of one rearrange_hard-style move: opening a container source, opening a goal
    that must end closed, picked, placed, the goal closed again (`suffix` tells moves apart)."""
    from_container = F.RECEPTACLES[spec.source].container
    names = (("source_opened",) if from_container else ()) \
        + (("goal_opened",) if spec.goal_closed else ()) \
        + ("picked", "placed") + (("goal_closed",) if spec.goal_closed else ())
    return tuple(n + suffix for n in names)


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    return task


@dataclasses.dataclass
class StepReport:
    stages: dict[str, bool]
    success: bool
    failure: str  # "" while the episode is fine
    held: list[str]


class RearrangeTask:
    """Stages and predicates of one episode of `task` on `scene`. A multi-move task
    (rearrange_two) runs its moves in turn: `move` is the index of the one under way, `spec`
    its TaskSpec; a move's stages carry the suffix "_<k+1>" from the second move on, and the
    episode succeeds when the last move does with every earlier object still in its goal."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self.spec = scene.task
        self.name = check_task(self.spec.task)
        self.moves = scene.task_moves
        self.move = 0
        t = self.spec
        if self.name == "navigate":
            self.stage_names = ("arrived",)
        elif self.name in ("pick", "place"):
            self.stage_names = ("picked",) if self.name == "pick" else ("placed",)
        elif self.name in ("open", "close"):
            self.stage_names = ("opened",) if self.name == "open" else ("closed",)
        elif self.name == "rearrange_easy":
            self.stage_names = ("picked", "placed")
        else:
            self.stage_names = tuple(n for k, m in enumerate(self.moves)
                                     for n in move_stages(m, move_suffix(k)))
        self.max_steps = MAX_STEPS[self.name]
        self.latched = {s: False for s in self.stage_names}
        self.rest_zs: dict[str, float] = {}  # each move's target's height at rest, before picked
        self.was_held = False

    @property
    def rest_z(self) -> float:
        """The current target's height at rest (the `picked` predicate's reference)."""
        return self.rest_zs.get(self.spec.target, 0.0)

    # ------------------------------------------------------------ start state
    def initialize(self, world) -> None:
        """Puts the world in the task's start state (after World.reset_state)."""
        t = self.spec
        sc = self.scene
        if self.name in ("pick", "open", "close"):
            r = sc.receptacle(t.source)
            obj = sc.object(t.target)
            world.set_base_pose(*r.work_pose(obj.local[1]))
            if self.name == "close":  # what rests in the drawer moves out with it
                world.move_articulation(t.source, r.kind.travel,
                                        [o.name for o in sc.objects if o.receptacle == "drawer"])
        elif self.name == "place":
            g = sc.receptacle(t.goal)
            world.set_base_pose(*g.work_pose(t.goal_local[1]))
            self._put_in_gripper(world, t.target)
        mujoco.mj_forward(world.model, world.data)
        self.set_rest_heights(world)
        self.latched = {s: False for s in self.stage_names}
        self.was_held = self.name == "place"

    def set_rest_heights(self, world) -> None:
        """Records where every move's target rests now (the `picked` predicate's reference)."""
        self.rest_zs = {m.target: float(world.object_pos(m.target)[2]) for m in self.moves}

    def _put_in_gripper(self, world, name: str) -> None:
        world.set_arm(R.STOW_Q, R.FINGER_RANGE[1])
        mujoco.mj_forward(world.model, world.data)
        p = world.grasp_pos()
        yaw = world.base_pose()[2] + np.pi / 2  # the fingers close along the robot's y axis
        world.set_object_pose(name, p, yaw)
        world.finger_target = 0.0
        world.apply_targets()
        mujoco.mj_forward(world.model, world.data)

    # ------------------------------------------------------------ per step
    def nav_pose(self):
        """Work pose the navigate task must reach (the same one the task planner targets)."""
        return self.scene.receptacle(self.spec.nav_target).work_pose(0.0)

    def evaluate(self, world, step: int) -> StepReport:
        t = self.spec
        pairs = world.contact_pairs()
        held = world.held_objects(pairs)
        now: dict[str, bool] = {}
        if self.name == "navigate":
            now["arrived"] = S.arrived(world, self.nav_pose())
            success = now["arrived"]
        elif self.name == "pick":
            now["picked"] = S.picked(world, t.target, self.rest_z, held)
            success = now["picked"]
        elif self.name == "place":
            now["placed"] = S.placed(world, t.target, t.goal, held)
            success = now["placed"]
        elif self.name == "open":
            now["opened"] = S.is_open(world, t.source)
            success = now["opened"]
        elif self.name == "close":
            now["closed"] = S.is_closed(world, t.source)
            success = now["closed"]
        elif self.name == "rearrange_easy":
            placed = S.placed(world, t.target, t.goal, held)
            now["picked"] = S.picked(world, t.target, self.rest_z, held)
            now["placed"] = placed
            success = placed
        else:
            success = self._move_stages(world, t, held, move_suffix(self.move), now)
            if success and self.move + 1 < len(self.moves):
                self.move += 1  # the next move starts; its target is now the one that counts
                self.spec = t = self.moves[self.move]
                self.was_held = False
                success = False
            elif success and self.move:
                success = not self.undone(world)
        for k, v in now.items():
            self.latched[k] = self.latched[k] or v
        failure = self._failure(world, pairs, held, step, success)
        self.was_held = self.was_held or t.target in held
        return StepReport(stages=dict(self.latched), success=success, failure=failure, held=held)

    def _move_stages(self, world, t, held, suffix: str, now: dict) -> bool:
        """Fills `now` with one rearrange_hard move's stages; whether the move is done."""
        placed = S.placed(world, t.target, t.goal, held)
        now["picked" + suffix] = S.picked(world, t.target, self.rest_z, held)
        now["placed" + suffix] = placed
        if F.RECEPTACLES[t.source].container:
            now["source_opened" + suffix] = S.is_open(world, t.source)
        if not t.goal_closed:
            return placed
        now["goal_opened" + suffix] = S.is_open(world, t.goal)
        closed = S.is_closed(world, t.goal)
        now["goal_closed" + suffix] = placed and closed
        return placed and closed

    def undone(self, world) -> str:
        """The first object an earlier move put in place that is no longer inside its goal."""
        for m in self.moves[:self.move]:
            if not S.inside(world, m.target, m.goal):
                return m.target
        return ""

    def _failure(self, world, pairs, held, step, success) -> str:
        if world.unstable():
            return "unstable_sim"
        if success:
            return ""
        if world.base_collision(pairs):
            return "collision"
        if any(h != self.spec.target for h in held):
            return "wrong_object"
        if self.move and self.undone(world):
            return "undone"
        if self.name not in ("navigate", "open", "close") and world.object_pos(self.spec.target)[2] < 0.15:
            return "dropped"
        if step >= self.max_steps:
            return "timeout"
        return ""
