"""Skill controllers of the scripted expert. Each returns one `Command` per control step as a
function of the (privileged) world state alone: no phase counters, no step budgets, so the
expert's label for a state does not depend on how the robot got there (DAgger relabels states a
learned policy drove into, and noisy demonstrations show one consistent recovery per state).

navigate: stow the arm, then pure pursuit along the map's clearance-weighted path-cost field
(the route observation's), Astolfi parking, then turn to the work pose. pick/place: Jacobian IK
to a point in a funnel over the grasp / release point, closing or opening there. open/close: a
funnel onto the handle, close on it, pull / push it along the drawer's slide or the door's arc.
tuck: let go, back away from a handle or out of the cabinet, raise, stow."""

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
# Navigation starts once every arm joint is this close to the carry pose (m or rad); `drive`
# then commands the carry pose, so the last of the stowing happens on the way.
NAV_ARM_TOL = 0.06
# Handles (open, close): the grasp site within HANDLE_REACH (m) of the handle with the fingers
# commanded closed and their opening in HANDLE_GRIP (m; 0.021 around the bar, 0.12 wide open)
# is holding it. The approach funnel: HANDLE_STANDOFF m out along the handle's normal while the
# error (off its line, or HANDLE_TILT_M m per rad of gripper tilt) is above HANDLE_FUNNEL[1],
# onto the handle below HANDLE_FUNNEL[0]; a nearer standoff where the arm cannot reach that far.
HANDLE_REACH = 0.03
HANDLE_GRIP = (0.014, 0.03)
HANDLE_STANDOFF = 0.13
HANDLE_STANDOFFS = (HANDLE_STANDOFF, 0.10, 0.07, 0.04)  # the largest the arm reaches is used
HANDLE_FUNNEL = (0.008, 0.03)
HANDLE_TILT_M = 0.15
HANDLE_BEHIND = 0.05  # m behind the handle's plane (over or in the container): stow first
BACKOFF_PROGRESS = 0.005  # m: backing off a handle must bring the grasp site this much nearer


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
    """The skill controllers for one episode (shares IK and the nav grid)."""

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

    def gripper_axes(self):
        mat = self.world.data.site_xmat[self.world.grasp_site].reshape(3, 3)
        return mat[:, 0].copy(), mat[:, 1].copy()

    # ------------------------------------------------------------ tuck
    def _handle_nearby(self):
        """(handle point, outward normal) of the handle the gripper is at or just let go of
        (pointing at it, the fingers not yet clear of the bar, within 6 cm of its line), else
        None."""
        w = self.world
        g = w.grasp_pos()
        approach, _ = self.gripper_axes()
        for r in self.scene.receptacles:
            if not r.kind.container:
                continue
            h, n = self._handle_frame(r.name, w.articulation(r.name))
            d, lateral = self._handle_offset(g, h, n)
            if -0.03 < d < 0.05 and lateral < 0.06 and float(approach[:2] @ -n) > 0.7:
                return h, n
        return None

    def _inside_cabinet(self, p) -> tuple | None:
        """(receptacle, local point) when the point p is inside the cabinet's body, else None."""
        w = self.world
        for r in self.scene.receptacles:
            if r.name != "cabinet":
                continue
            local = r.to_local(p)
            k = r.kind
            if -k.depth / 2 - 0.05 < local[0] < k.depth / 2 + 0.05 \
                    and abs(local[1]) < k.width / 2 + 0.05 and p[2] < F.CABINET_HEIGHT:
                return r, local
        return None

    def tuck_step(self, carrying: str | None = None, tol: float = 0.03) -> Command | None:
        """One step of stowing the arm, chosen from the state alone: let go of anything but the
        carried object, back away from a handle along its normal, back out of the cabinet, raise
        the lift, then the joints to the carry pose. None once every joint is within `tol` of
        it (a function of the state, so the expert also labels states a policy stowed into)."""
        w = self.world
        if w.finger_target < CLOSED_CMD and carrying is None:  # let go (of a handle)
            return Command(w.arm_target.copy(), OPEN_F)
        finger = CLOSED_F if carrying else OPEN_F
        g = w.grasp_pos()
        at_handle = self._handle_nearby()
        if at_handle is not None:
            if carrying is None and w.gripper_opening() < 0.05:  # still opening around it
                return Command(w.arm_target.copy(), OPEN_F)
            h, n = at_handle
            a, f = self.gripper_axes()
            back = np.array([*(h[:2] + HANDLE_STANDOFF * n), g[2]])
            q, err = self.solve(back, a, f)
            # Back off only while that brings the grasp site nearer the standoff point than the
            # current joint targets do (not judged by joint deltas: at the arm's reach limit the
            # IK keeps proposing null-space wiggles of a few thousandths of the action range
            # that do not move the gripper, a dead zone a learned policy froze in for 700
            # steps; nor by the lagging measured position). Else raise.
            _, err_now = self.ik.solve(w.data.qpos, w.arm_target, back, a, f, iters=0)
            if err_now - err > BACKOFF_PROGRESS:
                return Command(q, finger)
        inside = self._inside_cabinet(g)
        if inside is not None:
            r, local = inside
            out = r.to_world((r.kind.depth / 2 + 0.15, local[1]))
            a, f = self.gripper_axes()
            q, _ = self.solve(np.array([out[0], out[1], g[2] + 0.02]), a, f)
            return Command(q, finger)
        arm = w.arm_qpos()
        if np.max(np.abs(arm - CARRY)) < tol and np.max(np.abs(w.arm_target - CARRY)) < tol:
            return None
        if arm[0] < CARRY[0] - 0.05:  # raise first (out of and over furniture), joints held
            q = w.arm_target.copy()
            q[0] = CARRY[0]
            return Command(q, finger)
        return Command(CARRY.copy(), finger)

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

    def navigate_step(self, pose, carrying=None) -> Command:
        """Stow the arm with the base still (the arm within NAV_ARM_TOL of the carry pose),
        then `drive`; stopped once at the pose."""
        cmd = self.tuck_step(carrying, tol=NAV_ARM_TOL)
        if cmd is not None:
            return cmd
        cmd = self.drive(pose, carrying)
        if cmd is None:
            return Command(CARRY.copy(), CLOSED_F if carrying else OPEN_F, 0.0, 0.0)
        return cmd

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

    def pick(self, obj: str, receptacle: str) -> Command:
        if self.needs_tuck():  # e.g. let go of the handle just pulled, back off, stow
            cmd = self.tuck_step()
            if cmd is not None:
                return cmd
        return self.pick_step(obj, receptacle)

    def place(self, obj: str, receptacle: str, goal_local) -> Command:
        if self.needs_tuck():
            cmd = self.tuck_step(carrying=obj)
            if cmd is not None:
                return cmd
        return self.place_step(obj, receptacle, goal_local)

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

    @staticmethod
    def _handle_offset(g, h, n) -> tuple[float, float]:
        """(distance of g in front of the handle h along its outward normal n, distance of g
        from the line through h along n)."""
        rel = g - h
        d = float(rel[:2] @ n)
        return d, float(np.linalg.norm(rel - d * np.append(n, 0.0)))

    def articulate(self, name: str, opening: bool) -> Command:
        """One step of opening or closing `name`, chosen from the state alone (so the expert
        also labels states a learned policy got into, e.g. stalled in front of the handle):
        gripper closed on the handle -> pull / push it one step along the slide or arc; closed
        anywhere else (slipped off, missed, done) -> let go; open -> a funnel onto the handle
        (13 cm out along its normal while off its line or not horizontal, closer as the error
        shrinks), closing once there; from over the drawer or inside the cabinet, stow first."""
        w = self.world
        k = F.RECEPTACLES[name]
        q_now = w.articulation(name)
        h, n = self._handle_frame(name, q_now)
        g = w.grasp_pos()
        done = q_now >= 0.98 * k.travel if opening else q_now <= 0.01 * k.travel
        width = w.gripper_opening()
        if w.finger_target < CLOSED_CMD:
            if not done and np.linalg.norm(g - h) < HANDLE_REACH:
                if width > HANDLE_GRIP[1]:  # still closing on it
                    return Command(w.arm_target.copy(), CLOSED_F)
                if width > HANDLE_GRIP[0]:  # holding it: move it one step
                    step = (0.035 if name == "drawer" else 0.07) * (1 if opening else -1)
                    q_cmd = float(np.clip(q_now + step, -0.05 * k.travel, k.travel * 1.05))
                    hc, nc = self._handle_frame(name, q_cmd)
                    qa, _ = self.solve(hc, *horizontal(-nc))
                    return Command(qa, CLOSED_F)
            return Command(w.arm_target.copy(), OPEN_F)
        if done:
            return self.tuck_step() or self.hold(OPEN_F)
        d, lateral = self._handle_offset(g, h, n)
        if d < -HANDLE_BEHIND or self._inside_cabinet(g) is not None:
            # Over the open drawer or in the cabinet (a place just ended there): stow first;
            # the approach starts from the carry pose, in front of the handle.
            cmd = self.tuck_step()
            if cmd is not None:
                return cmd
        approach, _ = self.gripper_axes()
        tilt = math.acos(float(np.clip(approach @ np.append(-n, 0.0), -1.0, 1.0)))
        off = max(lateral, HANDLE_TILT_M * tilt)
        frac = float(np.clip((off - HANDLE_FUNNEL[0]) / (HANDLE_FUNNEL[1] - HANDLE_FUNNEL[0]),
                             0.0, 1.0))
        n3, axes = np.append(n, 0.0), horizontal(-n)
        for s_max in HANDLE_STANDOFFS:  # e.g. an open drawer's handle is near the base: less
            q, err = self.solve(h + s_max * n3, *axes)
            if err < 0.01:
                break
        standoff = frac * s_max
        if standoff != s_max:  # on the line and level: closer in (else q is the probe's)
            q, err = self.solve(h + standoff * n3, *axes)
        if standoff == 0.0 and width > HANDLE_GRIP[1] + 0.03 \
                and np.linalg.norm(g - h) < AT_TOL + err and np.max(np.abs(w.arm_qpos() - q)) < 0.02:
            return Command(w.arm_target.copy(), CLOSED_F)
        return Command(q, OPEN_F)
