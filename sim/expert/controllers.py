"""Skill controllers of the scripted expert, written as generators: each yields one `Command`
per control step and reads the (privileged) world state between steps.

navigate: pure pursuit along the map's clearance-weighted path-cost field (the route
observation's), Astolfi parking, then turn to the work pose; a function of the state alone.
pick/place: also functions of the state: Jacobian IK to a point in a funnel over the grasp /
release point, closing or opening there. open/close (and tuck): phases that grasp the handle and
pull/push it along the drawer's slide or the door's arc."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from sim import furniture as F
from sim import robot as R
from sim import skills as S
from sim.expert.ik import ArmIK, horizontal, top_down
from sim.navigation import GeodesicField, wrap_angle
from sim.observation import ROUTE_LOOKAHEAD

OPEN_F = R.FINGER_RANGE[1]
CLOSED_F = 0.0
CLOSED_CMD = 0.015  # finger target below this: the gripper is commanded closed
PALM_CLEARANCE = 0.03  # grasp site to the top of the object, so the palm never lands on it
CARRY = R.STOW_Q  # arm tucked, gripper down, above every surface
PARK_RADIUS = 0.35  # m from the work pose where path following hands over to `park`
# m: inside [0] only turn to the heading (+ creep); up to [1] blended with `park`. [0] is
# below the planner's ARRIVE_POS, so turning on the spot ends in "arrived".
ALIGN_RADIUS = (0.03, 0.10)
# Near the pose, outside half the planner's arrival tolerance (ARRIVE_YAW 0.06 rad, ARRIVE_POS
# 0.04 m), turn and creep at least this fast (rad/s, m/s): a proportional law's last commands
# are a few hundredths of the action range, which a learned policy regresses to zero and then
# stalls just outside "arrived" (seen in DAgger rollouts: 0.074 rad off for 440 steps).
MIN_TURN, MIN_CREEP = (0.03, 0.45), (0.02, 0.06)
# While the arm works (pick, place, open, close) the base holds its work pose: forward and
# yaw rate proportional to the offset along the body axis and the heading error (1/s), capped
# (m/s, rad/s). The expert's own base barely moves there; the labels are for states a learned
# policy drifts into (a bias of 0.02 of the range moves the base 15 cm in an open).
STATION_GAIN, STATION_MAX = (2.0, 4.0), (0.1, 0.5)
FUNNEL = (0.008, 0.04)  # m lateral error: descend fully below [0], stay at hover height above [1]
AT_TOL = 0.012  # m: grasp site at a grasp / release point (plus the IK residual)
BLOCKED_ABOVE = 0.035  # m: stopped this close above a grasp / release point counts as there
NAVIGATE_MAX_STEPS = 2000  # one navigate call; the episode's time limit ends it sooner


def _pose_offset(base, pose) -> tuple[float, float]:
    """(offset of `pose` along the base's heading in m, heading error in rad)."""
    x, y, yaw = base
    along = (pose[0] - x) * math.cos(yaw) + (pose[1] - y) * math.sin(yaw)
    return along, wrap_angle(pose[2] - yaw)


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
            # Both within tol (not the target exactly: when a policy drives, its commanded
            # target is never exactly q, and waiting for it would label idling as the skill).
            if np.max(np.abs(w.arm_qpos() - q)) < tol and np.max(np.abs(w.arm_target - q)) < tol:
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
        if w.finger_target < CLOSED_CMD and (carrying is None or carrying not in held):
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
    def station(self, pose) -> tuple[float, float]:
        """(forward m/s, yaw rate rad/s) that keep the base at `pose` while the arm works
        (a differential base corrects along its axis and in heading, not sideways)."""
        along, err = _pose_offset(self.world.base_pose(), pose)
        return (float(np.clip(STATION_GAIN[0] * along, -STATION_MAX[0], STATION_MAX[0])),
                float(np.clip(STATION_GAIN[1] * err, -STATION_MAX[1], STATION_MAX[1])))

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
        x, y, yaw = base = self.world.base_pose()
        dist = math.hypot(pose[0] - x, pose[1] - y)
        creep, err = _pose_offset(base, pose)
        if dist < 0.015 and abs(err) < 0.02:
            return None
        if dist < ALIGN_RADIUS[1]:
            # Near the pose the direction to its point is ill-defined (Astolfi's alpha flips
            # with millimetres of position), so hand over continuously to turning to the
            # heading while creeping along the body axis: the label's sign stays put.
            fwd = float(np.clip(1.2 * creep, -0.1, 0.1))
            rate = float(np.clip(3.0 * err, -1.2, 1.2))
            if abs(err) > MIN_TURN[0]:
                rate = math.copysign(max(abs(rate), MIN_TURN[1]), err)
            if abs(creep) > MIN_CREEP[0]:
                fwd = math.copysign(max(abs(fwd), MIN_CREEP[1]), creep)
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
    # Pick and place are functions of the state (like `drive`): each step's command follows
    # from where the grasp site, the object and the fingers are, so the expert also labels
    # states a learned policy got into mid-manipulation (DAgger), and recovers from a knocked
    # object or a missed grasp by approaching again.
    def _hover_z(self, r, z_grasp, rise):
        if r.name == "cabinet":
            return min(z_grasp + rise, F.CABINET_HEIGHT - 0.05 - R.GRIPPER_LENGTH - 0.05)
        return z_grasp + rise

    def _entry(self, r, local_y, z):
        k = r.kind
        front = k.depth / 2 + (self.world.articulation("drawer") if r.name == "drawer" else 0.0)
        xy = r.to_world((front + 0.12, local_y))
        return np.array([xy[0], xy[1], z])

    def _approach(self, r, goal, z_hover) -> np.ndarray:
        """Where the grasp site heads on its way to `goal` (a grasp or release point in
        receptacle r): a funnel above the goal whose allowed height grows with the lateral
        error (so the gripper only descends once centred, and rises straight up first when it
        is low and off-centre); into the cabinet, first to the entry point in front of it."""
        g = self.world.grasp_pos()
        if r.name == "cabinet":
            gl, ol = r.to_local(g), r.to_local(goal)
            if gl[0] > r.kind.depth / 2 - 0.02:  # still outside: line up in front first
                if abs(gl[1] - ol[1]) > 0.03 or abs(g[2] - z_hover) > 0.04:
                    return self._entry(r, ol[1], z_hover)
                return np.array([goal[0], goal[1], z_hover])
        lateral = math.hypot(g[0] - goal[0], g[1] - goal[1])
        frac = float(np.clip((lateral - FUNNEL[0]) / (FUNNEL[1] - FUNNEL[0]), 0.0, 1.0))
        z = goal[2] + frac * (z_hover - goal[2])
        if g[2] < z - 0.03:
            return np.array([g[0], g[1], z])
        return np.array([goal[0], goal[1], z])

    def _at(self, target, q, err) -> bool:
        """The grasp site is at `target` and the arm has settled on the joints q, or it is
        centred over `target` a little above it with the lift commanded lower than it is (e.g.
        the boom resting on a drawer front): as low as it gets."""
        w = self.world
        g = w.grasp_pos()
        if np.linalg.norm(g - target) < AT_TOL + err and np.max(np.abs(w.arm_qpos() - q)) < 0.02:
            return True
        lateral = math.hypot(g[0] - target[0], g[1] - target[1])
        lift_held_up = abs(q[0] - w.arm_target[0]) < 0.01 and w.arm_qpos()[0] > w.arm_target[0] + 0.005
        return bool(lateral < AT_TOL and g[2] - target[2] < BLOCKED_ABOVE and lift_held_up)

    def _pick_axes(self, obj: str):
        """Top-down gripper axes for `obj`: fingers across a box's short side (the symmetric
        choice nearest the base's lateral axis), across a cylinder seen from the base."""
        w = self.world
        kind = self.scene.object(obj).kind
        x, y, base_yaw = w.base_pose()
        p = w.object_pos(obj)
        if kind.geom == "box":
            sym = math.pi / 2 if kind.shape == "cube" else math.pi
            want = w.object_yaw(obj) + math.pi / 2
            k = round(wrap_angle(base_yaw + math.pi / 2 - want) / sym)
            return top_down(want + k * sym)
        return top_down(math.atan2(p[1] - y, p[0] - x) + math.pi / 2)

    def pick_step(self, obj: str, receptacle: str) -> Command:
        w = self.world
        r = self.scene.receptacle(receptacle)
        kind = self.scene.object(obj).kind
        hz = kind.half_size[2]
        above = max(-hz + 0.024, hz - PALM_CLEARANCE)  # grasp site over the object centre:
        # pads low enough to hold, the palm (PALM_CLEARANCE above the site) above the top.
        half = kind.half_size[1] if kind.geom == "box" else kind.half_size[0]
        contact = 2 * half  # finger opening when both pads touch the object
        # Open just wide enough (less to bump into beside the object); a cube may be met
        # along its diagonal if the yaw estimate is off.
        open_f = min(R.FINGER_RANGE[1], (half * 1.45 if kind.shape == "cube" else half) + 0.022)
        p, g = w.object_pos(obj), w.grasp_pos()
        opening = w.gripper_opening()
        if w.finger_target < CLOSED_CMD:  # closing or closed
            if np.linalg.norm(p - g) < 0.05 and opening > contact - 0.01:
                if obj in w.held_objects() or opening < contact + 0.006:  # on it: lift
                    rest = r.kind.surface_z + hz
                    lift = {"cabinet": 0.08, "drawer": 0.24}.get(r.name, 0.15)
                    a, f = self.gripper_axes()
                    q, _ = self.solve((g[0], g[1], rest + above + lift), a, f)
                    return Command(q, CLOSED_F)
                return Command(w.arm_target.copy(), CLOSED_F)  # still closing
            return Command(w.arm_target.copy(), open_f)  # closed on nothing: open again
        a, f = self._pick_axes(obj)
        grasp = np.array([p[0], p[1], p[2] + above])
        target = self._approach(r, grasp, self._hover_z(r, grasp[2], 0.18))
        q, err = self.solve(target, a, f)
        if np.allclose(target, grasp) and opening > contact + 0.01 \
                and self._at(grasp, q, err):
            return Command(w.arm_target.copy(), CLOSED_F)
        return Command(q, open_f)

    def place_step(self, obj: str, receptacle: str, goal_local) -> Command:
        w = self.world
        r = self.scene.receptacle(receptacle)
        kind = self.scene.object(obj).kind
        local = np.array(goal_local, dtype=float)
        if r.name == "drawer":
            local[0] += w.articulation("drawer")
        spot = r.to_world(local)
        g = w.grasp_pos()
        a, f = self.gripper_axes()
        a = np.array([0.0, 0.0, -1.0])
        f = np.array([f[0], f[1], 0.0]) / max(1e-6, math.hypot(f[0], f[1]))
        if w.finger_target >= CLOSED_CMD:  # released: back off upwards
            up = 0.05 if r.name == "cabinet" else 0.12
            q, _ = self.solve((g[0], g[1], r.kind.surface_z + kind.half_size[2] * 2 + up), a, f)
            return Command(q, OPEN_F)
        dz = g[2] - w.object_pos(obj)[2]  # grasp site above the object centre
        release = np.array([spot[0], spot[1], r.kind.surface_z + kind.half_size[2] + dz + 0.015])
        target = self._approach(r, release, self._hover_z(r, release[2], 0.16))
        q, err = self.solve(target, a, f)
        if np.allclose(target, release) and self._at(release, q, err):
            return Command(w.arm_target.copy(), OPEN_F)
        return Command(q, CLOSED_F)

    def needs_tuck(self) -> bool:
        """The gripper does not point down (e.g. it just pulled a handle): stow it before a
        top-down pick or place. Otherwise those start at once (no time-based phase)."""
        approach, _ = self.gripper_axes()
        return bool(approach[2] > -0.9)

    def pick(self, obj: str, receptacle: str):
        if self.needs_tuck():  # e.g. let go of the handle just pulled, back off, stow
            yield from self.tuck()
        while True:
            yield self.pick_step(obj, receptacle)

    def place(self, obj: str, receptacle: str, goal_local):
        if self.needs_tuck():
            yield from self.tuck(carrying=obj)
        while True:
            yield self.place_step(obj, receptacle, goal_local)

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
        """Tuck, reach the handle from 13 cm out, grip, pull / push it along the slide or arc,
        let go, back off, stow. Called with the grasp site already at the handle (a learned
        policy began the skill: `skills.engaged`), it resumes there instead of stowing the arm
        first, and with the gripper already closed it pulls at once."""
        w = self.world
        k = F.RECEPTACLES[name]
        at_handle = S.engaged(w, S.SkillCall(S.Skill.OPEN if opening else S.Skill.CLOSE, name))
        if not at_handle:
            yield from self.tuck()
            h, n = self._handle_frame(name, w.articulation(name))
            a, f = horizontal(-n)
            yield from self.move_to(h + 0.13 * np.append(n, 0), a, f, OPEN_F, tol=0.02)
        if not (at_handle and w.finger_target < CLOSED_CMD):
            h, n = self._handle_frame(name, w.articulation(name))
            a, f = horizontal(-n)
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
