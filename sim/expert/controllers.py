"""Skill controllers of the scripted expert, written as generators: each yields one `Command`
per control step and reads the (privileged) world state between steps.

navigate: pure pursuit along the map's clearance-weighted path-cost field (the route
observation's), Astolfi parking, then turn to the work pose; a function of the state alone.
pick/place: Jacobian IK through waypoints (entry, hover, grasp/release). open/close: grasp the handle and pull/push it along
the drawer's slide or the door's arc."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from sim import furniture as F
from sim import robot as R
from sim.expert.ik import ArmIK, horizontal, top_down
from sim.navigation import GeodesicField, wrap_angle
from sim.observation import ROUTE_LOOKAHEAD

OPEN_F = R.FINGER_RANGE[1]
CLOSED_F = 0.0
PALM_CLEARANCE = 0.03  # grasp site to the top of the object, so the palm never lands on it
CARRY = R.STOW_Q  # arm tucked, gripper down, above every surface
PARK_RADIUS = 0.35  # m from the work pose where path following hands over to `park`
# m: inside [0] only turn to the heading (+ creep); up to [1] blended with `park`. [0] is
# below the planner's ARRIVE_POS, so turning on the spot ends in "arrived".
ALIGN_RADIUS = (0.03, 0.10)
NAVIGATE_MAX_STEPS = 2000  # one navigate call; the episode's time limit ends it sooner


def _field_key(pose) -> tuple[float, float]:
    """Work poses within a centimetre share one path-cost field (the grid is 5 cm)."""
    return round(float(pose[0]), 2), round(float(pose[1]), 2)


def park(base, pose, k_rho=1.2, k_alpha=4.0, k_beta=-1.5) -> tuple[float, float]:
    """Unicycle pose stabilisation (Astolfi's polar law, reversing when the pose is behind):
    (forward m/s, yaw rate rad/s) that bring `base` (x, y, yaw) to `pose` smoothly. Unlike
    "turn to the point, drive, turn to the heading" it has no switch that flips the robot
    around a few cm before the pose, so a learned policy can imitate it."""
    c, s = math.cos(pose[2]), math.sin(pose[2])
    dx, dy = base[0] - pose[0], base[1] - pose[1]
    x, y = c * dx + s * dy, -s * dx + c * dy  # robot position in the pose frame
    th = wrap_angle(base[2] - pose[2])
    rho = math.hypot(x, y)
    alpha = wrap_angle(math.atan2(-y, -x) - th)
    direction = 1.0
    if abs(alpha) > math.pi / 2:  # the pose is behind: back into it
        direction = -1.0
        alpha = wrap_angle(alpha + math.pi)
    beta = wrap_angle(-th - alpha)
    fwd = float(np.clip(direction * k_rho * rho, -0.3, 0.3))
    rate = float(np.clip(k_alpha * alpha + k_beta * beta, -1.2, 1.2))
    return fwd, rate


@dataclasses.dataclass
class Command:
    arm_q: np.ndarray  # absolute arm joint targets
    finger: float  # finger opening target (per finger)
    forward: float = 0.0  # m/s
    yaw_rate: float = 0.0  # rad/s


class Skills:
    """Factory of controller generators for one episode (shares IK and the nav grid)."""

    def __init__(self, env):
        self.env = env
        self.world = env.world
        self.scene = env.scene
        self.ik = ArmIK(self.world)
        routes = env.observer.routes  # the map the route observation is computed on
        self.grid, self.clearance = routes.grid, routes.clearance
        self._fields: dict[tuple[float, float], GeodesicField] = {
            _field_key(pose): f for pose, f in zip(routes.poses, routes.fields) if f is not None}

    # ------------------------------------------------------------ primitives
    def hold(self, finger=None):
        w = self.world
        return Command(w.arm_target.copy(), w.finger_target if finger is None else finger)

    def solve(self, pos, approach, fingers):
        w = self.world
        q, err = self.ik.solve(w.data.qpos, w.arm_target, np.asarray(pos, float), approach, fingers)
        return q, err

    def move_joints(self, q, finger, tol=0.01, max_steps=60):
        """Drive the arm to joint targets q; yields until the joints are there."""
        w = self.world
        q = np.clip(q, w.arm_lo, w.arm_hi)
        for _ in range(max_steps):
            if np.max(np.abs(w.arm_qpos() - q)) < tol and np.max(np.abs(w.arm_target - q)) < 1e-6:
                return True
            yield Command(q.copy(), finger)
        return False

    def move_to(self, pos, approach, fingers, finger, tol=0.012, max_steps=60):
        """Closed-loop Cartesian move: re-solves IK every step (so base drift and noise are
        corrected) until the grasp site is within `tol` of `pos` and the arm has settled."""
        w = self.world
        pos = np.asarray(pos, float)
        for _ in range(max_steps):
            q, err = self.solve(pos, approach, fingers)
            near = np.linalg.norm(w.grasp_pos() - pos) < tol + err
            if near and np.max(np.abs(w.arm_qpos() - q)) < 0.02:
                return True
            yield Command(q, finger)
        return False

    def grip(self, finger, steps):
        for _ in range(steps):
            yield self.hold(finger)

    def gripper_axes(self):
        mat = self.world.data.site_xmat[self.world.grasp_site].reshape(3, 3)
        return mat[:, 0].copy(), mat[:, 1].copy()

    # ------------------------------------------------------------ tuck
    def tuck(self, carrying: str | None = None):
        """Release anything but the carried object, back out of furniture, raise, retract."""
        w = self.world
        held = w.held_objects()
        if w.finger_target < 0.015 and (carrying is None or carrying not in held):
            yield from self.grip(OPEN_F, 4)
            a, f = self.gripper_axes()
            yield from self.move_to(w.grasp_pos() - 0.10 * a, a, f, OPEN_F, tol=0.05, max_steps=15)
        finger = CLOSED_F if carrying else OPEN_F
        p = w.grasp_pos()
        for r in self.scene.receptacles:
            local = r.to_local(p)
            k = r.kind
            front = k.depth / 2 + (w.articulation("drawer") if r.name == "drawer" else 0.0)
            if r.name == "cabinet" and -k.depth / 2 - 0.05 < local[0] < front + 0.05 \
                    and abs(local[1]) < k.width / 2 + 0.05 and p[2] < F.CABINET_HEIGHT:
                out = r.to_world((front + 0.15, local[1]))
                a, f = self.gripper_axes()
                target = np.array([out[0], out[1], p[2] + 0.02])
                yield from self.move_to(target, a, f, finger, tol=0.04, max_steps=30)
                break
        q = w.arm_target.copy()
        if q[0] < CARRY[0] - 0.02:
            q[0] = CARRY[0]
            yield from self.move_joints(q, finger, tol=0.03, max_steps=25)
        yield from self.move_joints(CARRY, finger, tol=0.03, max_steps=40)

    # ------------------------------------------------------------ navigate
    def field(self, pose) -> GeodesicField:
        """The map's path-cost field to `pose` (built once per pose; the route observation's
        fields are reused, so the expert steers by exactly what the policy observes)."""
        key = _field_key(pose)
        if key not in self._fields:
            self._fields[key] = GeodesicField(self.grid, pose[:2], self.clearance)
        return self._fields[key]

    def drive(self, pose, carrying=None) -> Command | None:
        """One navigation command from the current state alone (no memory of a planned path):
        pure pursuit towards the point ROUTE_LOOKAHEAD along the map's best path (the point the
        route observation shows), `park` within PARK_RADIUS, then turn to the pose's heading.
        None once there. Being a function of the state, it also labels states a learned policy
        drove into (DAgger)."""
        finger = CLOSED_F if carrying else OPEN_F
        x, y, yaw = self.world.base_pose()
        dist = math.hypot(pose[0] - x, pose[1] - y)
        err = wrap_angle(pose[2] - yaw)
        if dist < 0.015 and abs(err) < 0.02:
            return None
        if dist < ALIGN_RADIUS[1]:
            # Near the pose the direction to its point is ill-defined (Astolfi's alpha flips
            # with millimetres of position), so hand over continuously to turning to the
            # heading while creeping along the body axis: the label's sign stays put.
            creep = (pose[0] - x) * math.cos(yaw) + (pose[1] - y) * math.sin(yaw)
            fwd = float(np.clip(1.2 * creep, -0.1, 0.1))
            rate = float(np.clip(3.0 * err, -1.2, 1.2))
            blend = (dist - ALIGN_RADIUS[0]) / (ALIGN_RADIUS[1] - ALIGN_RADIUS[0])
            if blend > 0.0:
                pf, pr = park((x, y, yaw), pose)
                fwd, rate = blend * pf + (1.0 - blend) * fwd, blend * pr + (1.0 - blend) * rate
            return Command(CARRY.copy(), finger, fwd, rate)
        point, length = self.field(pose).lookahead((x, y), ROUTE_LOOKAHEAD)
        if not math.isfinite(length):  # pushed into an inflated margin: back out of it
            return Command(CARRY.copy(), finger, -0.2, 0.0)
        if dist < PARK_RADIUS and length < 2 * PARK_RADIUS:
            return Command(CARRY.copy(), finger, *park((x, y, yaw), pose))
        err = wrap_angle(math.atan2(point[1] - y, point[0] - x) - yaw)
        rate = float(np.clip(3.0 * err, -1.4, 1.4))
        if abs(err) > 0.3:
            return Command(CARRY.copy(), finger, 0.0, rate)
        return Command(CARRY.copy(), finger, min(0.55, 1.5 * length) * math.cos(err), rate)

    def navigate(self, pose, carrying=None):
        yield from self.tuck(carrying)
        for _ in range(NAVIGATE_MAX_STEPS):
            cmd = self.drive(pose, carrying)
            if cmd is None:
                break
            yield cmd
        yield Command(CARRY.copy(), CLOSED_F if carrying else OPEN_F, 0.0, 0.0)

    # ------------------------------------------------------------ pick / place
    def _hover_z(self, r, z_grasp, rise):
        if r.name == "cabinet":
            return min(z_grasp + rise, F.CABINET_HEIGHT - 0.05 - R.GRIPPER_LENGTH - 0.05)
        return z_grasp + rise

    def _entry(self, r, local_y, z):
        k = r.kind
        front = k.depth / 2 + (self.world.articulation("drawer") if r.name == "drawer" else 0.0)
        xy = r.to_world((front + 0.12, local_y))
        return np.array([xy[0], xy[1], z])

    def pick(self, obj: str, receptacle: str):
        w = self.world
        yield from self.tuck()
        r = self.scene.receptacle(receptacle)
        kind = self.scene.object(obj).kind
        p = w.object_pos(obj)
        hz = kind.half_size[2]
        # Pads low enough to hold, palm (PALM_CLEARANCE above the grasp site) above the top.
        z_grasp = p[2] + max(-hz + 0.024, hz - PALM_CLEARANCE)
        base_yaw = w.base_pose()[2]
        if kind.geom == "box":
            oyaw = w.object_yaw(obj)
            sym = math.pi / 2 if kind.shape == "cube" else math.pi
            want = oyaw + math.pi / 2  # fingers close across the short side
            lateral = base_yaw + math.pi / 2
            k = round(wrap_angle(lateral - want) / sym)
            fyaw = want + k * sym
        else:
            fyaw = math.atan2(p[1] - w.base_pose()[1], p[0] - w.base_pose()[0]) + math.pi / 2
        a, f = top_down(fyaw)
        # Open just wide enough: less to bump into beside the object.
        half_across = kind.half_size[1] if kind.geom == "box" else kind.half_size[0]
        if kind.shape == "cube":
            half_across = kind.half_size[0] * 1.45  # the diagonal, if the yaw estimate is off
        open_f = min(R.FINGER_RANGE[1], half_across + 0.022)
        z_hover = self._hover_z(r, z_grasp, 0.18)
        local_y = r.to_local(p)[1]
        if r.name == "cabinet":
            yield from self.move_to(self._entry(r, local_y, z_hover), a, f, open_f, tol=0.03)
        yield from self.move_to(np.array([p[0], p[1], z_hover]), a, f, open_f, tol=0.02)
        p = w.object_pos(obj)
        yield from self.move_to(np.array([p[0], p[1], z_grasp]), a, f, open_f, tol=0.01, max_steps=30)
        yield from self.grip(CLOSED_F, 6)
        lift_z = z_grasp + {"cabinet": 0.08, "drawer": 0.24}.get(r.name, 0.15)
        yield from self.move_to(np.array([p[0], p[1], lift_z]), a, f, CLOSED_F, tol=0.03, max_steps=30)
        for _ in range(3):
            yield self.hold(CLOSED_F)

    def place(self, obj: str, receptacle: str, goal_local):
        w = self.world
        yield from self.tuck(carrying=obj)
        r = self.scene.receptacle(receptacle)
        kind = self.scene.object(obj).kind
        local = np.array(goal_local, dtype=float)
        if r.name == "drawer":
            local[0] += w.articulation("drawer")
        spot = r.to_world(local)
        dz = w.grasp_pos()[2] - w.object_pos(obj)[2]  # grasp site above the object centre
        z_release = r.kind.surface_z + kind.half_size[2] + dz + 0.015
        z_hover = self._hover_z(r, z_release, 0.16)
        a, f = self.gripper_axes()
        a = np.array([0.0, 0.0, -1.0])
        f = np.array([f[0], f[1], 0.0]) / max(1e-6, math.hypot(f[0], f[1]))
        if r.name == "cabinet":
            yield from self.move_to(self._entry(r, local[1], z_hover), a, f, CLOSED_F, tol=0.03)
        yield from self.move_to(np.array([spot[0], spot[1], z_hover]), a, f, CLOSED_F, tol=0.02)
        yield from self.move_to(np.array([spot[0], spot[1], z_release]), a, f, CLOSED_F, tol=0.01, max_steps=30)
        yield from self.grip(OPEN_F, 6)
        up = z_release + (0.07 if r.name == "cabinet" else 0.14)
        yield from self.move_to(np.array([spot[0], spot[1], up]), a, f, OPEN_F, tol=0.03, max_steps=30)
        for _ in range(3):
            yield self.hold(OPEN_F)

    # ------------------------------------------------------------ open / close
    def _handle_frame(self, name: str, q: float):
        """Handle position and outward normal of `name` when its joint is at q."""
        r = self.scene.receptacle(name)
        k = r.kind
        h = self.world.handle_pos(name)
        n_local = np.array([1.0, 0.0])
        if name == "drawer":
            local = r.to_local(h)
            local[0] += q - self.world.articulation(name)
            xy = r.to_world(local)
        else:
            hinge = np.array([k.depth / 2 - 0.01, F.DOOR_HINGE_Y])
            n_local = np.array([math.cos(q), -math.sin(q)])
            along = np.array([math.sin(q), math.cos(q)])
            xy = r.to_world(hinge + (0.02 + F.HANDLE_OFFSET) * n_local + F.DOOR_HANDLE_R * along)
        c, s = math.cos(r.yaw), math.sin(r.yaw)
        n = np.array([c * n_local[0] - s * n_local[1], s * n_local[0] + c * n_local[1]])
        return np.array([xy[0], xy[1], h[2]]), n

    def articulate(self, name: str, opening: bool):
        w = self.world
        yield from self.tuck()
        k = F.RECEPTACLES[name]
        q0 = w.articulation(name)
        h, n = self._handle_frame(name, q0)
        a, f = horizontal(-n)
        yield from self.move_to(h + 0.13 * np.append(n, 0), a, f, OPEN_F, tol=0.02)
        h, n = self._handle_frame(name, w.articulation(name))
        yield from self.move_to(h, a, f, OPEN_F, tol=0.01, max_steps=30)
        yield from self.grip(CLOSED_F, 6)
        goal = k.travel if opening else 0.0
        step = (0.035 if name == "drawer" else 0.07) * (1 if opening else -1)
        for _ in range(80):
            q = w.articulation(name)
            if (opening and q >= goal - 0.02 * k.travel) or (not opening and q <= 0.01 * k.travel):
                break
            q_cmd = float(np.clip(q + step, -0.05 * k.travel, k.travel * 1.05))
            hc, nc = self._handle_frame(name, q_cmd)
            ac, fc = horizontal(-nc)
            qa, _ = self.solve(hc, ac, fc)
            yield Command(qa, CLOSED_F)
        yield from self.grip(OPEN_F, 5)
        h, n = self._handle_frame(name, w.articulation(name))
        a, f = horizontal(-n)
        yield from self.move_to(h + 0.13 * np.append(n, 0), a, f, OPEN_F, tol=0.04, max_steps=20)
        yield from self.move_joints(CARRY, OPEN_F, tol=0.05, max_steps=30)
