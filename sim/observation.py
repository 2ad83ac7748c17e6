"""What the policy sees: the `state` vector (named slices, robot-frame GPS+compass style goals,
two lidar rings) and optional head-camera depth/RGB."""

from __future__ import annotations

import math

import mujoco
import numpy as np

from sim import furniture as F
from sim import robot as R
from sim.navigation import GeodesicField, clearance_map, detour_ratio, wrap_angle
from sim.scene import build_grid, place_spots
from sim.state import ROBOT_GEOM_GROUP

LIDAR_RAYS = 16
LIDAR_HEIGHTS = (0.30, 0.66)  # one ring under table tops, one above crates
LIDAR_RANGE = 4.0
ROUTE_LOOKAHEAD = 0.6  # m along the map's path to the next route point
REL_SCALE = 0.05  # m: target_rel / goal_rel resolve about +-10 cm around the grasp site
ARM_REL_SCALE = 0.05  # rad / m: arm_stow_rel resolves the last ~0.1 of each joint to the stow pose
POSE_SCALE = (0.05, 0.05, 0.1)  # m, m, rad: *_pose_rel resolve the last ~10 cm / ~0.2 rad
ROUTE_MAX_LENGTH = 12.0  # m; the path length feature saturates here (unreachable = this)
DETOUR_MIN_LEG = 0.3  # m: Routes.detour ignores legs shorter than this (ratios of near-zero)

# (name, size) in order; `state_slices()` turns this into index ranges.
STATE_LAYOUT: tuple[tuple[str, int], ...] = (
    ("arm_qpos", 5),  # lift, shoulder_yaw, extend, wrist_yaw, wrist_pitch
    # The arm's offset from the stow (= carry) pose, finely: tanh((qpos - STOW_Q) /
    # ARM_REL_SCALE). The expert holds the arm there while driving and corrects drifts of a
    # hundredth of a radian, which in arm_qpos are a few hundredths of a standard deviation.
    ("arm_stow_rel", 5),
    ("gripper_opening", 1),
    ("is_holding", 1),
    ("base_velocity", 2),  # forward m/s, yaw rate rad/s
    ("grasp_pos", 3),  # grasp site in the base frame
    ("target_pos", 3),  # target object in the base frame
    ("goal_pos", 3),  # goal spot (or navigation target) in the base frame
    # Fine relative positions for grasping and releasing: tanh(d / REL_SCALE) of the target
    # object and of the goal spot relative to the grasp site (base frame). Centimetres matter
    # here; in the absolute features above they are a few hundredths of a standard deviation.
    ("target_rel", 3),
    ("goal_rel", 3),
    ("source_handle", 3),  # handle of the source container in the base frame (0 if none)
    ("goal_handle", 3),  # handle of the goal container (0 if none)
    # Fine handle positions for opening and closing: tanh((handle - grasp site) / REL_SCALE)
    # in the base frame (0 if the receptacle is not a container).
    ("source_handle_rel", 3),
    ("goal_handle_rel", 3),
    ("articulation", 2),  # open fraction of source / goal container
    # Route to the pose for picking the target (where it started) / for placing at the goal:
    # base-frame (x, y) of the point ROUTE_LOOKAHEAD along the map's best path (the static
    # occupancy map a mapped robot has, clearance-weighted as the expert's planner), that path's
    # length, and the pose's heading relative to the base (cos, sin). No expert plan is read.
    ("target_route", 5),
    ("goal_route", 5),
    # Fine offset of each of those poses from the base: tanh((x, y) in the base frame /
    # POSE_SCALE, heading error / POSE_SCALE). Arrival needs 4 cm and 0.06 rad; in the route
    # features a centimetre is a few hundredths of a standard deviation.
    ("target_pose_rel", 3),
    ("goal_pose_rel", 3),
    # The same route and fine pose offset for the pose that opens / closes the source and the
    # goal container (the cabinet's is out on its hinge side, not the pick pose); 0 if the
    # receptacle is not a container.
    ("source_open_route", 5),
    ("goal_open_route", 5),
    ("source_open_pose_rel", 3),
    ("goal_open_pose_rel", 3),
    ("task_flags", 3),  # source is a container, goal is a container, goal must end closed
    ("lidar", LIDAR_RAYS * len(LIDAR_HEIGHTS)),  # ranges in metres, capped at LIDAR_RANGE
)
STATE_DIM = sum(n for _, n in STATE_LAYOUT)
ROUTE_FIELDS = ("target_route", "goal_route", "source_open_route", "goal_open_route")
ROUTE_LENGTH = 2  # index of the path length inside each route field

# Receptacle slots (opt-in: EnvConfig.receptacle_slots): after the fields above, one slot per
# receptacle kind in this fixed order, zeros where the scene has none, each describing that
# receptacle the way the goal fields describe the goal: a free spot for the target on it (the
# goal spot on the goal receptacle, sim.scene.place_spots), the route to the pose that places
# there, its handle, the route to the pose that opens it and its open fraction. With the goal
# fields dropped from what the model reads (configs: variant "langgoal") every receptacle looks
# alike and only the instruction says which one is the goal.
SLOT_KINDS = tuple(F.RECEPTACLES)
SLOT_LAYOUT: tuple[tuple[str, int], ...] = (
    ("present", 1),
    ("container", 1),
    ("spot_pos", 3),  # the free spot in the base frame
    ("spot_rel", 3),  # tanh((spot - grasp site) / REL_SCALE)
    ("spot_route", 5),  # route to the pose that places at the spot (as target_route)
    ("spot_pose_rel", 3),
    ("handle", 3),  # containers: handle in the base frame, else 0
    ("handle_rel", 3),
    ("open_route", 5),  # containers: route to the pose that opens / closes it
    ("open_pose_rel", 3),
    ("open_fraction", 1),
)
SLOT_DIM = sum(n for _, n in SLOT_LAYOUT)
SLOT_ROUTE_FIELDS = ("spot_route", "open_route")
SLOTS_STATE_DIM = STATE_DIM + len(SLOT_KINDS) * SLOT_DIM


# Multi-move tasks (sim.scene.MULTI_MOVE_TASKS) end the state in a one-hot of the move under
# way: the target and goal fields switch to the next move's when one is done, and a policy that
# does not see the goal fields (langgoal) learns from this which of the instruction's moves it
# is on. Single-move tasks never have it (their widths stay STATE_DIM / SLOTS_STATE_DIM).
MAX_MOVES = 2
MOVE_FIELD = ("move", MAX_MOVES)


def state_layout(receptacle_slots: bool = False, moves: bool = False
                 ) -> tuple[tuple[str, int], ...]:
    """STATE_LAYOUT, then with receptacle slots one field per (kind, slot field), named
    "<kind>_<field>" (e.g. "drawer_open_route"), then for a multi-move task MOVE_FIELD."""
    out = STATE_LAYOUT
    if receptacle_slots:
        out = out + tuple((f"{kind}_{name}", n) for kind in SLOT_KINDS for name, n in SLOT_LAYOUT)
    return out + ((MOVE_FIELD,) if moves else ())


def state_width(receptacle_slots: bool = False, moves: bool = False) -> int:
    """D of the state: STATE_DIM, SLOTS_STATE_DIM with receptacle slots, + MAX_MOVES for a
    multi-move task."""
    return (SLOTS_STATE_DIM if receptacle_slots else STATE_DIM) + (MAX_MOVES if moves else 0)


LAYOUTS = {state_width(a, b): (a, b) for a in (False, True) for b in (False, True)}


def layout_of(state_dim: int) -> tuple[bool, bool]:
    """(receptacle_slots, moves) of a simulator state of this width; a width that is none of
    the simulator's (a unit test's model) reads as the plain layout."""
    return LAYOUTS.get(state_dim, (False, False))


def has_receptacle_slots(state_dim: int) -> bool:
    """Whether a state of this size carries the receptacle slots."""
    return layout_of(state_dim)[0]


def route_length_bounds(cap: float, state_dim: int = STATE_DIM) -> np.ndarray:
    """(state_dim,) float32 upper bounds under which every route's path length (the receptacle
    slots' too) reads as min(length, cap) metres, +inf elsewhere (and everywhere for cap <= 0).
    A policy needs the length near arrival; far away, "far" is enough, and a length longer than
    any demonstration's (an unseen layout's detour) then reads as one the policy was trained
    on."""
    if not cap >= 0:
        raise ValueError(f"route_length_cap must be >= 0 metres (0 = off), got {cap}")
    hi = np.full(state_dim, np.inf, np.float32)
    if cap > 0:
        if state_dim not in LAYOUTS:
            raise ValueError(f"a route length cap needs the simulator's state layout (dim "
                             f"{STATE_DIM}, {SLOTS_STATE_DIM} with receptacle slots, "
                             f"+{MAX_MOVES} for a multi-move task); got dim {state_dim}")
        slots, moves = layout_of(state_dim)
        sl = state_slices(slots, moves)
        names = ROUTE_FIELDS + (tuple(f"{k}_{f}" for k in SLOT_KINDS for f in SLOT_ROUTE_FIELDS)
                                if slots else ())
        for name in names:
            hi[sl[name].start + ROUTE_LENGTH] = cap
    return hi


def state_slices(receptacle_slots: bool = False, moves: bool = False) -> dict[str, slice]:
    out, i = {}, 0
    for name, n in state_layout(receptacle_slots, moves):
        out[name] = slice(i, i + n)
        i += n
    return out


def spot_world(world, receptacle: str, local) -> np.ndarray:
    """World (x, y, z) of a spot (x, y) on a receptacle's surface, given in its closed-state
    frame: a drawer's spot slides out with the drawer."""
    r = world.scene.receptacle(receptacle)
    local = np.array(local[:2], dtype=float)
    if r.name == "drawer":
        local[0] += world.articulation("drawer")
    xy = r.to_world(local)
    return np.array([xy[0], xy[1], r.kind.surface_z])


class Routes:
    """The route fields of one episode (built once per scene: ~30 ms each): to the pose that
    picks the target where it starts, to the pose that places it (or the navigation target),
    and to the poses that open the source and the goal container (None if not a container).
    Equal poses share one field."""

    def __init__(self, scene, receptacle_slots: bool = False):
        t = scene.task
        grid = build_grid(scene.width, scene.depth, scene.walls, scene.receptacles,
                          scene.obstacles)
        clearance = clearance_map(grid)
        self.grid, self.clearance = grid, clearance  # the expert plans on the same map
        obj = next((o for o in scene.objects if o.name == t.target), None)
        poses = []
        if obj is not None:
            poses.append(scene.receptacle(obj.receptacle).work_pose(obj.local[1]))
        else:
            poses.append(None)
        if t.task == "navigate":
            poses.append(scene.receptacle(t.nav_target).work_pose(0.0))
        else:
            poses.append(scene.receptacle(t.goal).work_pose(t.goal_local[1]))
        for name in (t.source, t.goal):
            r = scene.receptacle(name)
            poses.append(r.work_pose(0.0, handle=True) if r.kind.container else None)
        self.task_routes = len(poses)  # the task's own routes; receptacle slots' come after
        # Receptacle slots: (spot route, open route) rows of `features` per kind in the scene.
        self.slot_rows: dict[str, tuple[int, int | None]] = {}
        self.spots = place_spots(scene) if receptacle_slots else {}  # (x, y) per receptacle
        if receptacle_slots:
            for r in scene.receptacles:
                k = len(poses)
                poses.append(r.work_pose(self.spots[r.name][1]))
                if r.kind.container:
                    poses.append(r.work_pose(0.0, handle=True))
                self.slot_rows[r.name] = (k, k + 1 if r.kind.container else None)
        self.poses = poses
        shared: dict[tuple[float, float, float], GeodesicField] = {}
        for p in poses:
            if p is not None and p not in shared:
                shared[p] = GeodesicField(grid, p[:2], clearance)
        self.fields = [None if p is None else shared[p] for p in poses]

    def detour(self, start_xy, min_leg: float = DETOUR_MIN_LEG) -> float:
        """sim.navigation.detour_ratio over the episode's legs: from `start_xy` or any route pose
        to another route pose of the task (not the receptacle slots'). The unseen split's
        partition wall makes long detours common (a ratio of 3 or more in 30 of its first 100
        evaluation scenes, 3 of 100 on the eval split)."""
        n = self.task_routes
        goals = [(p[:2], f) for p, f in zip(self.poses[:n], self.fields[:n]) if f is not None]
        return detour_ratio([start_xy, *(g for g, _ in goals)], goals, min_leg)

    def features(self, base_pose) -> np.ndarray:
        """(4 + slot routes, 8): per route (pick, place, open source, open goal, then the
        receptacle slots' rows, `slot_rows`), base-frame lookahead point,
        path length, heading (cos, sin), then the fine pose offset
        tanh((x, y, heading error) / POSE_SCALE); zeros for a route that does not exist."""
        x, y, yaw = base_pose
        c, s = math.cos(yaw), math.sin(yaw)
        out = np.zeros((len(self.poses), 8))
        for k, (pose, field) in enumerate(zip(self.poses, self.fields)):
            if field is None:
                continue
            point, length = field.lookahead((x, y), ROUTE_LOOKAHEAD)
            dx, dy = point[0] - x, point[1] - y
            dyaw = pose[2] - yaw
            px, py = pose[0] - x, pose[1] - y
            fine = np.array([c * px + s * py, -s * px + c * py, wrap_angle(dyaw)])
            out[k] = (c * dx + s * dy, -s * dx + c * dy, min(length, ROUTE_MAX_LENGTH),
                      math.cos(dyaw), math.sin(dyaw), *np.tanh(fine / POSE_SCALE))
        return out


class Observer:
    """Builds observations for one World; holds the ray buffers and the camera renderer."""

    def __init__(self, world, cameras: tuple[str, ...] = (), camera_size: int = 64,
                 routes: Routes | None = None, receptacle_slots: bool = False,
                 moves: bool = False):
        for c in cameras:
            if c not in ("depth", "rgb"):
                raise ValueError(f"unknown camera stream {c!r}; use 'depth' and/or 'rgb'")
        self.world = world
        self.receptacle_slots = receptacle_slots
        self.set_routes(Routes(world.scene, receptacle_slots) if routes is None else routes)
        self.cameras = tuple(cameras)
        self.camera_size = camera_size
        ang = np.arange(LIDAR_RAYS) * (2 * math.pi / LIDAR_RAYS)
        self._ray_angles = ang
        self._geomid = np.zeros(LIDAR_RAYS, dtype=np.int32)
        self._dist = np.zeros(LIDAR_RAYS)
        self._vec = np.zeros(3 * LIDAR_RAYS)
        self._group = np.ones(6, dtype=np.uint8)
        self._group[ROBOT_GEOM_GROUP] = 0
        self._renderer = None
        self.moves = moves
        self._slices = state_slices(receptacle_slots, moves)
        self.state_dim = state_width(receptacle_slots, moves)

    def set_routes(self, routes: Routes) -> None:
        """The route fields to observe (a multi-move task's next move brings its own)."""
        if self.receptacle_slots and not routes.slot_rows:
            raise ValueError("receptacle_slots needs Routes built with receptacle_slots=True")
        self.routes = routes

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def lidar(self) -> np.ndarray:
        w = self.world
        x, y, yaw = w.base_pose()
        a = self._ray_angles + yaw
        self._vec[0::3], self._vec[1::3] = np.cos(a), np.sin(a)
        out = []
        for h in LIDAR_HEIGHTS:
            mujoco.mj_multiRay(w.model, w.data, np.array([x, y, h]), self._vec, self._group, 1,
                               w.base_body, self._geomid, self._dist, None, LIDAR_RAYS, LIDAR_RANGE)
            d = np.where(self._dist < 0, LIDAR_RANGE, np.minimum(self._dist, LIDAR_RANGE))
            out.append(d)
        return np.concatenate(out)

    def state(self, task, held: list[str], goal_world: np.ndarray) -> np.ndarray:
        w = self.world
        t = task.spec
        s = np.zeros(self.state_dim, dtype=np.float64)
        sl = self._slices
        q = s[sl["arm_qpos"]] = w.arm_qpos()
        s[sl["arm_stow_rel"]] = np.tanh((q - R.STOW_Q) / ARM_REL_SCALE)
        s[sl["gripper_opening"]] = w.gripper_opening()
        s[sl["is_holding"]] = float(t.target in held)
        s[sl["base_velocity"]] = w.base_velocity()
        grasp = s[sl["grasp_pos"]] = w.to_base(w.grasp_pos())
        target = s[sl["target_pos"]] = w.to_base(w.object_pos(t.target))
        goal = s[sl["goal_pos"]] = w.to_base(goal_world)
        s[sl["target_rel"]] = np.tanh((target - grasp) / REL_SCALE)
        s[sl["goal_rel"]] = np.tanh((goal - grasp) / REL_SCALE)
        src_c = F.RECEPTACLES[t.source].container
        goal_c = F.RECEPTACLES[t.goal].container
        if src_c:
            handle = s[sl["source_handle"]] = w.to_base(w.handle_pos(t.source))
            s[sl["source_handle_rel"]] = np.tanh((handle - grasp) / REL_SCALE)
            s[sl["articulation"].start] = w.open_fraction(t.source)
        if goal_c:
            handle = s[sl["goal_handle"]] = w.to_base(w.handle_pos(t.goal))
            s[sl["goal_handle_rel"]] = np.tanh((handle - grasp) / REL_SCALE)
            s[sl["articulation"].start + 1] = w.open_fraction(t.goal)
        s[sl["task_flags"]] = [float(src_c), float(goal_c), float(t.goal_closed)]
        route = self.routes.features(w.base_pose())
        for k, name in enumerate(("target", "goal", "source_open", "goal_open")):
            s[sl[f"{name}_route"]], s[sl[f"{name}_pose_rel"]] = route[k, :5], route[k, 5:]
        s[sl["lidar"]] = self.lidar()
        if self.receptacle_slots:
            self._slot_features(s, grasp, route)
        if self.moves:
            s[sl["move"].start + task.move] = 1.0
        s = np.nan_to_num(s, nan=0.0, posinf=1e3, neginf=-1e3)
        return np.clip(s, -1e3, 1e3).astype(np.float32)

    def _slot_features(self, s: np.ndarray, grasp: np.ndarray, route: np.ndarray) -> None:
        """Fills the receptacle slots of state `s` (SLOT_LAYOUT per kind of SLOT_KINDS)."""
        w, sl = self.world, self._slices
        for name, (spot_row, open_row) in self.routes.slot_rows.items():
            def put(field, value):
                s[sl[f"{name}_{field}"]] = value
            put("present", 1.0)
            spot = w.to_base(spot_world(w, name, self.routes.spots[name]))
            put("spot_pos", spot)
            put("spot_rel", np.tanh((spot - grasp) / REL_SCALE))
            put("spot_route", route[spot_row, :5])
            put("spot_pose_rel", route[spot_row, 5:])
            if open_row is not None:
                put("container", 1.0)
                handle = w.to_base(w.handle_pos(name))
                put("handle", handle)
                put("handle_rel", np.tanh((handle - grasp) / REL_SCALE))
                put("open_route", route[open_row, :5])
                put("open_pose_rel", route[open_row, 5:])
                put("open_fraction", w.open_fraction(name))

    def images(self) -> dict[str, np.ndarray]:
        if not self.cameras:
            return {}
        w = self.world
        if self._renderer is None:
            self._renderer = mujoco.Renderer(w.model, self.camera_size, self.camera_size)
        out = {}
        r = self._renderer
        if "rgb" in self.cameras:
            r.disable_depth_rendering()
            r.update_scene(w.data, "head")
            out["rgb"] = r.render().copy()
        if "depth" in self.cameras:
            r.enable_depth_rendering()
            r.update_scene(w.data, "head")
            d = r.render().copy()
            r.disable_depth_rendering()
            out["depth"] = np.clip(np.nan_to_num(d, nan=10.0), 0.0, 10.0)[..., None].astype(np.float32)
        return out
