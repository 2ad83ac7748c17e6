"""The symbolic side of a scene, which is all language and plans need: which receptacles exist,
which object rests where, what the task asks, where the robot starts, what is open or held.

`SceneFacts.from_scene(scene)` reads a sampled `Scene`; `symbolic_scene(seed, task)` draws the
same kind of facts without geometry (~100x faster than `sample_scene`, which checks layouts,
reachability and physics), so the planner corpus can hold tens of thousands of scenes. Its
task choices (source, goal, closed goal) come from the same random stream as `sample_scene`'s,
so both agree on them for a seed; receptacle extras and objects are drawn with the same rules
(unique colour-shape pairs, the target in the source, distractors mostly on open surfaces and
at most one per container) but from another stream.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from sim import furniture as F
from sim.scene import (KNOWN_TASKS, Scene, SceneConfig, SceneObject, TaskSpec,
                       _required_receptacles, _task_salt, split_of)

# Single-skill tasks start at the work pose of this receptacle (sim.tasks.RearrangeTask.initialize).
_START_AT = {"pick": "source", "open": "source", "close": "source", "place": "goal"}


@dataclasses.dataclass(frozen=True)
class SceneFacts:
    seed: int
    task: TaskSpec
    receptacles: tuple[str, ...]
    objects: tuple[SceneObject, ...]
    moves: tuple[TaskSpec, ...] = ()  # a multi-move task's moves (Scene.moves)

    @classmethod
    def from_scene(cls, scene: Scene | SceneFacts) -> SceneFacts:
        if isinstance(scene, SceneFacts):
            return scene
        return cls(scene.seed, scene.task, tuple(r.name for r in scene.receptacles),
                   scene.objects, scene.moves)

    object = Scene.object  # the same lookup over .objects

    # ------------------------------------------------------------ start state
    @property
    def robot_at(self) -> str:
        """The receptacle whose (access) work pose the robot starts at, or "" (open floor)."""
        role = _START_AT.get(self.task.task)
        return getattr(self.task, role) if role else ""

    @property
    def held(self) -> str:
        """The object in the gripper at the start ("" unless the task is `place`)."""
        return self.task.target if self.task.task == "place" else ""

    @property
    def open_containers(self) -> tuple[str, ...]:
        """Containers open at the start (only the `close` task starts with one open)."""
        return (self.task.source,) if self.task.task == "close" else ()

    def location(self, name: str) -> str:
        """Where the object rests at the start ("" when it is held)."""
        return "" if name == self.held else self.object(name).receptacle


def preposition(receptacle: str) -> str:
    """"in" a container, "on" an open surface."""
    return "in" if F.RECEPTACLES[receptacle].container else "on"


def scene_text(scene: Scene | SceneFacts) -> str:
    """The planner's view of the start state as words: robot place, open containers, then every
    object and where it is, sorted by name (never in sampling order: the target is drawn first).
    e.g. "robot at cabinet; cabinet open; blue cube on table; red can in cabinet"."""
    f = SceneFacts.from_scene(scene)
    parts = [f"robot at {f.robot_at}" if f.robot_at else "robot in room"]
    parts += [f"{c} open" for c in f.open_containers]
    for o in sorted(f.objects, key=lambda o: o.name):
        where = f.location(o.name)
        parts.append(f"{o.name} held" if not where else f"{o.name} {preposition(where)} {where}")
    return "; ".join(parts)


def symbolic_scene(seed: int, task: str, cfg: SceneConfig | None = None) -> SceneFacts:
    """Facts of a scene for `task` drawn without geometry (see the module docstring)."""
    cfg = cfg or SceneConfig()
    split_of(seed)
    if task not in KNOWN_TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(KNOWN_TASKS)}")
    need, choice = _required_receptacles(
        task, np.random.default_rng(np.random.SeedSequence([seed, _task_salt(task), 1])))
    rng = np.random.default_rng(np.random.SeedSequence([seed, _task_salt(task), 2]))
    n_rec = int(rng.integers(cfg.num_receptacles[0], cfg.num_receptacles[1] + 1))
    others = [k for k in F.RECEPTACLES if k not in need]
    receptacles = need + [others[i] for i in rng.permutation(len(others))[: max(0, n_rec - len(need))]]
    surfaces = [r for r in receptacles if F.RECEPTACLES[r].open_surface]
    containers = [r for r in receptacles if F.RECEPTACLES[r].container]
    n_obj = int(rng.integers(cfg.num_objects[0], cfg.num_objects[1] + 1))
    pairs = [(c, s) for c in F.COLORS for s in F.OBJECTS]
    objects: list[SceneObject] = []
    used: set[str] = set()
    for i, pi in enumerate(rng.permutation(len(pairs))[:n_obj]):
        color, shape = pairs[pi]
        if i == 0:
            home = choice["source"]
        elif i == 1 and "source2" in choice:
            home = choice["source2"]
        else:
            pool = surfaces + [c for c in containers if c not in used]
            if not pool:
                break
            home = pool[int(rng.integers(len(pool)))]
        used.add(home)
        objects.append(SceneObject(f"{color} {shape}", color, shape, home, (0.0, 0.0), 0.0))
    nav_target = receptacles[int(rng.integers(len(receptacles)))] if task == "navigate" else ""
    spec = TaskSpec(task=task, target=objects[0].name, source=choice["source"],
                    goal=choice["goal"], goal_local=(0.0, 0.0), goal_closed=choice["goal_closed"],
                    nav_target=nav_target)
    moves = ()
    if "source2" in choice:
        moves = (spec, TaskSpec(task=task, target=objects[1].name, source=choice["source2"],
                                goal=choice["goal2"], goal_local=(0.0, 0.0),
                                goal_closed=choice["goal_closed2"]))
    return SceneFacts(seed, spec, tuple(receptacles), tuple(objects), moves)
