"""Procedural scenes and task instances: a pure function of (seed, task, SceneConfig).

Seeds in [0, 1e6) are training, [1e6, 2e6) evaluation, [2e6, 3e6) the "unseen" split whose
layout family (a room divided by a partition wall) never appears in the other two. The training
split may draw from extra families as well (SceneConfig.extra_train_families, e.g. "island": a
free-standing divider that routes bend around); the eval split's scenes never change with it. Every
sampled scene is checked (no overlaps, every work pose free and connected to the start) and
resampled deterministically on failure.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from sim import furniture as F
from sim.navigation import OccupancyGrid, wrap_angle
from sim.robot import BASE_RADIUS

SPLITS = {"train": 0, "eval": 1_000_000, "unseen": 2_000_000}
SPLIT_SIZE = 1_000_000
SEEN_FAMILIES = ("perimeter", "galley", "corner")
UNSEEN_FAMILY = "divided"
EXTRA_TRAIN_FAMILIES = ("island",)  # optional, training split only (SceneConfig)
NAV_INFLATION = BASE_RADIUS + 0.09
KNOWN_TASKS = ("navigate", "pick", "place", "open", "close", "rearrange_easy", "rearrange_hard",
               "rearrange_two")
# Tasks of several moves (Scene.moves): rearrange_two is two rearrange_hard moves in one episode.
MULTI_MOVE_TASKS = ("rearrange_two",)
WALL_T = 0.10
WALL_H = 0.80


def split_of(seed: int) -> str:
    for name, base in SPLITS.items():
        if base <= seed < base + SPLIT_SIZE:
            return name
    raise ValueError(f"seed {seed} is outside every split; use 0 <= seed < 3,000,000 "
                     f"(train < 1e6 <= eval < 2e6 <= unseen)")


def split_seed(split: str, index: int) -> int:
    """The `index`-th episode seed of a split."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {sorted(SPLITS)}")
    if not 0 <= index < SPLIT_SIZE:
        raise ValueError(f"episode index {index} must be in [0, {SPLIT_SIZE})")
    return SPLITS[split] + index


@dataclasses.dataclass(frozen=True)
class SceneConfig:
    room_width: tuple[float, float] = (4.8, 6.2)
    room_depth: tuple[float, float] = (4.4, 5.6)
    num_receptacles: tuple[int, int] = (2, 5)
    num_objects: tuple[int, int] = (3, 8)
    num_obstacles: tuple[int, int] = (1, 3)
    max_attempts: int = 200
    # Families the training split draws from besides SEEN_FAMILIES (each equally likely); the
    # eval and unseen splits ignore it, so their scenes stay the same. Empty: every training
    # scene is the one it always was.
    extra_train_families: tuple[str, ...] = ()

    def __post_init__(self):
        bad = [f for f in self.extra_train_families if f not in EXTRA_TRAIN_FAMILIES]
        if bad:
            why = (f"{UNSEEN_FAMILY!r} is the unseen split's family and never trained on"
                   if UNSEEN_FAMILY in bad else f"unknown families {bad}")
            raise ValueError(f"extra_train_families={list(self.extra_train_families)}: {why}; "
                             f"choose from {list(EXTRA_TRAIN_FAMILIES)} (or none)")
        if len(set(self.extra_train_families)) != len(self.extra_train_families):
            raise ValueError(f"extra_train_families={list(self.extra_train_families)} repeats "
                             f"a family; list each once")


@dataclasses.dataclass(frozen=True)
class Receptacle:
    name: str  # equals the kind: at most one of each kind per scene
    x: float
    y: float
    yaw: float  # direction of the front normal

    @property
    def kind(self) -> F.ReceptacleKind:
        return F.RECEPTACLES[self.name]

    def to_world(self, local) -> np.ndarray:
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        lx, ly = local[0], local[1]
        out = np.array([self.x + c * lx - s * ly, self.y + s * lx + c * ly])
        return out if len(local) == 2 else np.append(out, local[2])

    def to_local(self, world) -> np.ndarray:
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        dx, dy = world[0] - self.x, world[1] - self.y
        return np.array([c * dx + s * dy, -s * dx + c * dy])

    def work_pose(self, local_y: float = 0.0, handle: bool = False) -> tuple[float, float, float]:
        """Base pose (x, y, yaw) facing this receptacle, in front of lateral position local_y;
        `handle=True` gives the pose for opening/closing it."""
        k = self.kind
        standoff = k.standoff
        if handle and k.handle_pose is not None:
            standoff, ly = k.handle_pose
        elif k.work_y is not None:
            ly = k.work_y
        else:
            ly = float(np.clip(local_y, -k.width / 2 + 0.12, k.width / 2 - 0.12))
        x, y = self.to_world((k.depth / 2 + standoff, ly))
        return float(x), float(y), wrap_angle(self.yaw + math.pi)


@dataclasses.dataclass(frozen=True)
class SceneObject:
    name: str  # "<colour> <shape>"
    color: str
    shape: str
    receptacle: str
    local: tuple[float, float]  # (x, y) in the receptacle frame (closed state)
    yaw: float  # world yaw

    @property
    def kind(self) -> F.ObjectKind:
        return F.OBJECTS[self.shape]


@dataclasses.dataclass(frozen=True)
class Obstacle:
    kind: str
    x: float
    y: float
    yaw: float


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """What the episode asks: move `target` from its receptacle to `goal` (at `goal_local`)."""

    task: str
    target: str
    source: str
    goal: str
    goal_local: tuple[float, float]
    goal_closed: bool  # the goal is a container that must end closed
    nav_target: str = ""  # for the single-skill navigate task


@dataclasses.dataclass(frozen=True)
class Scene:
    seed: int
    family: str
    width: float
    depth: float
    walls: tuple[tuple[float, float, float, float], ...]  # (cx, cy, half_x, half_y)
    receptacles: tuple[Receptacle, ...]
    objects: tuple[SceneObject, ...]
    obstacles: tuple[Obstacle, ...]
    robot_start: tuple[float, float, float]
    task: TaskSpec  # the move under way (the only one unless the task has several)
    # Every move of a multi-move task in order (empty otherwise); `at_move(k)` is the scene as
    # the k-th move sees it.
    moves: tuple[TaskSpec, ...] = ()

    @property
    def task_moves(self) -> tuple[TaskSpec, ...]:
        """Every move in order: `moves`, or the one task of a single-move scene."""
        return self.moves or (self.task,)

    def at_move(self, k: int) -> Scene:
        """This scene with `task` = the k-th move and the objects of the moves before it
        resting where those moves put them (their goal spots)."""
        if not 0 <= k < len(self.moves):
            raise IndexError(f"scene {self.seed} has {len(self.moves)} moves; no move {k}")
        done = {m.target: m for m in self.moves[:k]}
        objects = tuple(dataclasses.replace(o, receptacle=done[o.name].goal,
                                            local=done[o.name].goal_local)
                        if o.name in done else o for o in self.objects)
        return dataclasses.replace(self, task=self.moves[k], objects=objects)

    def receptacle(self, name: str) -> Receptacle:
        for r in self.receptacles:
            if r.name == name:
                return r
        raise KeyError(f"scene {self.seed} has no receptacle {name!r}")

    def object(self, name: str) -> SceneObject:
        for o in self.objects:
            if o.name == name:
                return o
        raise KeyError(f"scene {self.seed} has no object {name!r}")

    @property
    def split(self) -> str:
        return split_of(self.seed)


class InfeasibleScene(Exception):
    """Raised inside sampling; the sampler resamples with the next attempt index."""


def _walls(family: str, w: float, d: float, rng) -> tuple[list, list]:
    """Wall boxes and the wall segments receptacles may stand against.

    A segment is (x0, y0, x1, y1, yaw of the front normal)."""
    h = WALL_T / 2
    walls = [(w / 2, -h, w / 2 + WALL_T, h), (w / 2, d + h, w / 2 + WALL_T, h),
             (-h, d / 2, h, d / 2), (w + h, d / 2, h, d / 2)]
    south = (0.0, 0.0, w, 0.0, math.pi / 2)
    north = (w, d, 0.0, d, -math.pi / 2)
    west = (0.0, d, 0.0, 0.0, 0.0)
    east = (w, 0.0, w, d, math.pi)
    if family == "perimeter":
        segs = [south, north, west, east]
    elif family == "galley":
        segs = [south, north]
    elif family == "corner":
        segs = [south, west]
    elif family == "island":
        # A free-standing divider (wall height) across the middle of the room, parallel to its
        # width: between its two sides a route bends round one end. Nothing stands against it.
        length = float(rng.uniform(0.45, 0.6)) * w
        cx = w / 2 + float(rng.uniform(-0.3, 0.3))
        cy = d / 2 + float(rng.uniform(-0.3, 0.3))
        walls.append((cx, cy, length / 2, h))
        segs = [south, north, west, east]
    elif family == "divided":
        # A partition wall at x = w/2 from the south wall, leaving a 1.4 m gap at the north.
        px, top = w / 2, d - 1.4
        walls.append((px, top / 2, h, top / 2))
        segs = [(0.0, 0.0, px - h, 0.0, math.pi / 2), (px + h, 0.0, w, 0.0, math.pi / 2),
                west, east, north]
    else:
        raise ValueError(f"unknown layout family {family!r}")
    return walls, segs


def _required_receptacles(task: str, rng) -> tuple[list[str], dict]:
    """Receptacle kinds the task needs, plus its choices (source, goal, closed goal)."""
    surfaces = list(F.OPEN_SURFACES)
    containers = list(F.CONTAINERS)
    if task == "rearrange_two":
        # The first move as rearrange_hard's; the second from another receptacle (not the first
        # goal) to another one (not the first goal either), a container goal ending closed.
        need, first = _required_receptacles("rearrange_hard", rng)
        kinds = list(F.RECEPTACLES)
        pool = [k for k in kinds if k not in (first["source"], first["goal"])]
        src2 = pool[int(rng.integers(len(pool)))]
        pool = [k for k in kinds if k not in (src2, first["goal"])]
        goal2 = pool[int(rng.integers(len(pool)))]
        need = list(dict.fromkeys(need + [src2, goal2]))
        return need, dict(first, source2=src2, goal2=goal2,
                          goal_closed2=F.RECEPTACLES[goal2].container)
    if task in ("rearrange_hard", "open", "close"):
        src = containers[rng.integers(len(containers))]
        goal_closed = task == "rearrange_hard" and bool(rng.random() < 0.5)
        if goal_closed:
            goal = [c for c in containers if c != src][0]
        else:
            goal = surfaces[rng.integers(len(surfaces))]
        need = [src, goal]
    else:  # rearrange_easy, navigate, pick, place: object on an open surface
        pair = rng.permutation(len(surfaces))[:2]
        src, goal = surfaces[pair[0]], surfaces[pair[1]]
        goal_closed = False
        need = [src, goal]
    return need, {"source": src, "goal": goal, "goal_closed": goal_closed}


def _place_receptacles(names, segs, rng) -> list[Receptacle]:
    out: list[Receptacle] = []
    used: dict[int, list[tuple[float, float]]] = {}
    for name in names:
        k = F.RECEPTACLES[name]
        for _ in range(30):
            si = int(rng.integers(len(segs)))
            x0, y0, x1, y1, yaw = segs[si]
            length = math.hypot(x1 - x0, y1 - y0)
            margin = 1.0  # keeps clear of corners so work areas of neighbours never overlap
            lo, hi = margin + k.width / 2, length - margin - k.width / 2
            if hi <= lo:
                continue
            t = float(rng.uniform(lo, hi))
            if any(abs(t - t2) < (k.width + w2) / 2 + 0.35 for t2, w2 in used.get(si, [])):
                continue
            ux, uy = (x1 - x0) / length, (y1 - y0) / length
            nx, ny = math.cos(yaw), math.sin(yaw)
            off = k.depth / 2 + 0.01
            cx, cy = x0 + ux * t + nx * off, y0 + uy * t + ny * off
            used.setdefault(si, []).append((t, k.width))
            out.append(Receptacle(name, cx, cy, yaw))
            break
        else:
            raise InfeasibleScene(f"no wall space for {name}")
    return out


def build_grid(width, depth, walls, receptacles, obstacles, inflate=NAV_INFLATION) -> OccupancyGrid:
    """Occupancy for the base centre. Articulated receptacles block their open sweep too."""
    grid = OccupancyGrid(width, depth)
    grid.blocked[:] = False
    for cx, cy, hx, hy in walls:
        grid.block_rect((cx, cy), (hx, hy), 0.0, inflate)
    for r in receptacles:
        k = r.kind
        c = r.to_world((k.keepout / 2, 0.0))
        grid.block_rect(c, ((k.depth + k.keepout) / 2, k.width / 2), r.yaw, inflate)
    for o in obstacles:
        gtype, size, _ = F.OBSTACLES[o.kind]
        if gtype == "box":
            grid.block_rect((o.x, o.y), size[:2], o.yaw, inflate)
        else:
            grid.block_disc((o.x, o.y), size[0] + inflate)
    # The room boundary itself.
    grid.blocked[:, 0] = grid.blocked[:, -1] = grid.blocked[0, :] = grid.blocked[-1, :] = True
    return grid


def _sample_spot(r: Receptacle, kind: F.ObjectKind, taken: list, rng, tries=40):
    k = r.kind
    margin = max(kind.half_size[:2])
    for _ in range(tries):
        lx = float(rng.uniform(k.region_x[0] + margin * 0.5, k.region_x[1] - margin * 0.5)) \
            if k.container else float(rng.uniform(k.region_x[0] + margin, k.region_x[1] - margin))
        ly = float(rng.uniform(-k.region_half_y + margin, k.region_half_y - margin))
        if all(math.hypot(lx - a, ly - b) > 0.16 for a, b in taken):
            return lx, ly
    return None


def _sample_once(seed: int, task: str, cfg: SceneConfig, rng) -> Scene:
    split = split_of(seed)
    if split == "unseen":
        family = UNSEEN_FAMILY
    else:
        pool = SEEN_FAMILIES + (cfg.extra_train_families if split == "train" else ())
        family = pool[int(rng.integers(len(pool)))]
    w = float(rng.uniform(*cfg.room_width))
    d = float(rng.uniform(*cfg.room_depth))
    walls, segs = _walls(family, w, d, rng)

    # The task's choices (source, goal, closed goal) come from their own stream so that
    # resampling an infeasible layout never biases them.
    need, choice = _required_receptacles(
        task, np.random.default_rng(np.random.SeedSequence([seed, _task_salt(task), 1])))
    n_rec = int(rng.integers(cfg.num_receptacles[0], cfg.num_receptacles[1] + 1))
    others = [k for k in F.RECEPTACLES if k not in need]
    extra = [others[i] for i in rng.permutation(len(others))[: max(0, n_rec - len(need))]]
    receptacles = _place_receptacles(need + extra, segs, rng)
    by_name = {r.name: r for r in receptacles}

    # Objects: unique colour and shape pairs; the target sits in the source receptacle.
    n_obj = int(rng.integers(cfg.num_objects[0], cfg.num_objects[1] + 1))
    pairs = [(c, s) for c in F.COLORS for s in F.OBJECTS]
    picks = rng.permutation(len(pairs))[:n_obj]
    taken: dict[str, list] = {r.name: [] for r in receptacles}
    objects: list[SceneObject] = []
    surfaces = [r.name for r in receptacles if r.kind.open_surface]
    containers = [r.name for r in receptacles if r.kind.container]
    for i, pi in enumerate(picks):
        color, shape = pairs[pi]
        kind = F.OBJECTS[shape]
        if i == 0:
            home = choice["source"]
        elif i == 1 and "source2" in choice:  # the second move's object
            home = choice["source2"]
        else:
            # Distractors: mostly open surfaces, at most one per container.
            pool = surfaces + [c for c in containers if not taken[c]]
            if not pool:
                break
            home = pool[int(rng.integers(len(pool)))]
        spot = _sample_spot(by_name[home], kind, taken[home], rng)
        if spot is None:
            if i == 0 or (i == 1 and "source2" in choice):
                raise InfeasibleScene("no room for the target object")
            continue
        taken[home].append(spot)
        yaw = float(rng.uniform(-math.pi, math.pi))
        objects.append(SceneObject(f"{color} {shape}", color, shape, home, spot, yaw))

    if len(objects) < cfg.num_objects[0]:
        raise InfeasibleScene("too few object spots")
    target = objects[0]
    goal_r = by_name[choice["goal"]]
    goal_spot = _sample_spot(goal_r, target.kind, taken[goal_r.name], rng)
    if goal_spot is None:
        raise InfeasibleScene("no free goal spot")
    goal_spots = {goal_r.name: goal_spot}
    if "source2" in choice:
        second = objects[1]
        goal2_r = by_name[choice["goal2"]]
        spot2 = _sample_spot(goal2_r, second.kind, taken[goal2_r.name], rng)
        if spot2 is None:
            raise InfeasibleScene("no free goal spot for the second object")
        goal_spots[goal2_r.name] = spot2

    # Obstacles in the open floor.
    grid0 = build_grid(w, d, walls, receptacles, [], inflate=NAV_INFLATION + 0.45)
    obstacles: list[Obstacle] = []
    n_obs = int(rng.integers(cfg.num_obstacles[0], cfg.num_obstacles[1] + 1))
    for _ in range(n_obs * 10):
        if len(obstacles) == n_obs:
            break
        ox, oy = float(rng.uniform(0.6, w - 0.6)), float(rng.uniform(0.6, d - 0.6))
        kind = list(F.OBSTACLES)[int(rng.integers(len(F.OBSTACLES)))]
        if not grid0.free((ox, oy)) or any(math.hypot(ox - o.x, oy - o.y) < 1.2 for o in obstacles):
            continue
        obstacles.append(Obstacle(kind, ox, oy, float(rng.uniform(-math.pi, math.pi))))

    if len(obstacles) < cfg.num_obstacles[0]:
        raise InfeasibleScene("no floor space for the obstacles")
    grid = build_grid(w, d, walls, receptacles, obstacles)
    free_cells = np.argwhere(~grid.blocked)
    if len(free_cells) == 0:
        raise InfeasibleScene("no free floor")
    start_cell = free_cells[int(rng.integers(len(free_cells)))]
    sx, sy = grid.point(start_cell)
    # Keep the start away from furniture so the first turn in place is collision free.
    if not build_grid(w, d, walls, receptacles, obstacles, NAV_INFLATION + 0.15).free((sx, sy)):
        raise InfeasibleScene("start too close to furniture")
    reach = grid.reachable((sx, sy))
    for r in receptacles:
        poses = [r.work_pose(0.0), r.work_pose(0.0, handle=True)]
        poses += [r.work_pose(o.local[1]) for o in objects if o.receptacle == r.name]
        poses.append(r.work_pose(goal_spots[r.name][1]) if r.name in goal_spots
                     else r.work_pose(0.0))
        for px, py, _ in poses:
            if not reach[grid.cell((px, py))]:
                raise InfeasibleScene(f"work pose of {r.name} unreachable")

    nav_target = ""
    if task == "navigate":
        nav_target = receptacles[int(rng.integers(len(receptacles)))].name
    spec = TaskSpec(task=task, target=target.name, source=choice["source"], goal=goal_r.name,
                    goal_local=goal_spot, goal_closed=choice["goal_closed"], nav_target=nav_target)
    moves = ()
    if "source2" in choice:
        moves = (spec, TaskSpec(task=task, target=objects[1].name, source=choice["source2"],
                                goal=choice["goal2"], goal_local=goal_spots[choice["goal2"]],
                                goal_closed=choice["goal_closed2"]))
    return Scene(seed=seed, family=family, width=w, depth=d, walls=tuple(walls),
                 receptacles=tuple(receptacles), objects=tuple(objects),
                 obstacles=tuple(obstacles),
                 robot_start=(float(sx), float(sy), float(rng.uniform(-math.pi, math.pi))),
                 task=spec, moves=moves)


def sample_scene(seed: int, task: str, cfg: SceneConfig | None = None, validate=None) -> Scene:
    """The scene and task instance of `seed`: deterministic, feasible by construction.

    `validate(scene)` may raise InfeasibleScene (e.g. after a physics settle check) to make the
    sampler move on to the next attempt."""
    cfg = cfg or SceneConfig()
    split_of(seed)  # validates the range
    if task not in KNOWN_TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(KNOWN_TASKS)}")
    last = None
    for attempt in range(cfg.max_attempts):
        rng = np.random.default_rng(np.random.SeedSequence([seed, attempt, _task_salt(task)]))
        try:
            scene = _sample_once(seed, task, cfg, rng)
            if validate is not None:
                validate(scene)
            return scene
        except InfeasibleScene as e:
            last = e
    raise RuntimeError(f"could not sample a feasible scene for seed {seed} after "
                       f"{cfg.max_attempts} attempts (last reason: {last}); loosen the SceneConfig")


def place_spots(scene: Scene) -> dict[str, tuple[float, float]]:
    """A free spot for the task's target on every receptacle of `scene`, (x, y) in its frame
    (closed state): the goal spot on the goal receptacle, elsewhere one drawn as the goal spot
    is (clear of the objects there) from the seed's own stream, so the scene itself is the same
    with or without them; the middle of the receptacle's region if it has no free spot. The
    observation's receptacle slots describe these spots (sim.observation)."""
    t = scene.task
    kind = scene.object(t.target).kind
    rng = np.random.default_rng(np.random.SeedSequence([scene.seed, _task_salt(t.task), 2]))
    out = {}
    for r in scene.receptacles:
        if r.name == t.goal:
            out[r.name] = (float(t.goal_local[0]), float(t.goal_local[1]))
            continue
        taken = [o.local for o in scene.objects if o.receptacle == r.name]
        spot = _sample_spot(r, kind, taken, rng)
        out[r.name] = spot if spot is not None else (sum(r.kind.region_x) / 2, 0.0)
    return out


def _task_salt(task: str) -> int:
    return sum((i + 1) * ord(c) for i, c in enumerate(task))
