"""`World`: a scene's MjModel/MjData with named, cached accessors for everything the task
predicates, the observation and the expert read (poses, holding, articulations, contacts)."""

from __future__ import annotations

import math

import mujoco
import numpy as np

from sim import furniture as F
from sim import robot as R
from sim.scene import Scene
from sim.world import PhysicsConfig, body_name, build_model, object_world_pose

ROBOT_GEOM_GROUP = 2


class World:
    """Physics state of one episode. Everything here reads the true sim state (privileged)."""

    def __init__(self, scene: Scene, physics: PhysicsConfig = PhysicsConfig()):
        self.scene = scene
        self.physics = physics
        self.model = build_model(scene, physics)
        # A diverging simulation must stay diverged so that it is reported, not silently reset.
        self.model.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_AUTORESET
        self.data = mujoco.MjData(self.model)
        m = self.model
        self.substeps = physics.substeps
        self._jq = {n: m.joint(n).qposadr[0] for n in R.BASE_JOINTS + R.ARM_JOINTS + R.FINGER_JOINTS}
        self._jv = {n: m.joint(n).dofadr[0] for n in R.BASE_JOINTS + R.ARM_JOINTS + R.FINGER_JOINTS}
        self._act = {n: m.actuator(n).id for n in R.BASE_JOINTS + R.ARM_JOINTS + R.FINGER_JOINTS}
        self.base_body = m.body("base").id
        self.grasp_site = m.site("grasp").id
        self.obj_body = {o.name: m.body(body_name(o.name)).id for o in scene.objects}
        self.obj_geom = {o.name: m.geom(body_name(o.name)).id for o in scene.objects}
        self.geom_obj = {g: n for n, g in self.obj_geom.items()}
        self.obj_qpos = {o.name: m.joint(body_name(o.name)).qposadr[0] for o in scene.objects}
        self.obj_dof = {o.name: m.joint(body_name(o.name)).dofadr[0] for o in scene.objects}
        self.pad_l, self.pad_r = m.geom("pad_l").id, m.geom("pad_r").id
        robot_bodies = {i for i in range(m.nbody) if _is_robot_body(m, i)}
        self.robot_geoms = np.array([g for g in range(m.ngeom) if m.geom_bodyid[g] in robot_bodies])
        self.base_geoms = np.array([m.geom("base_body").id, m.geom("mast").id])
        obj_geoms = set(self.obj_geom.values())
        # Static world: everything that is neither robot nor object nor floor.
        floor = m.geom("floor").id
        self.static_geom_mask = np.ones(m.ngeom, dtype=bool)
        self.static_geom_mask[list(obj_geoms) + list(self.robot_geoms) + [floor]] = False
        self.articulation_joint = {}
        for r in scene.receptacles:
            if r.name == "drawer":
                self.articulation_joint["drawer"] = m.joint("drawer_slide").id
            elif r.name == "cabinet":
                self.articulation_joint["cabinet"] = m.joint("cabinet_hinge").id
        for g in self.robot_geoms:
            m.geom_group[g] = ROBOT_GEOM_GROUP
        self.arm_lo = np.array([R.ARM_RANGES[j][0] for j in R.ARM_JOINTS])
        self.arm_hi = np.array([R.ARM_RANGES[j][1] for j in R.ARM_JOINTS])
        self.arm_target = np.zeros(len(R.ARM_JOINTS))
        self.finger_target = R.FINGER_RANGE[1]

    # ---------------------------------------------------------------- reset
    def reset_state(self) -> None:
        """Robot at its start pose with the arm stowed, objects at their spots, settled."""
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        x, y, yaw = self.scene.robot_start
        self.set_base_pose(x, y, yaw)
        self.set_arm(R.STOW_Q, R.FINGER_RANGE[1])
        for o in self.scene.objects:
            pos, oyaw = object_world_pose(self.scene, o)
            self.set_object_pose(o.name, pos, oyaw)
        mujoco.mj_forward(m, d)

    def set_base_pose(self, x, y, yaw) -> None:
        q = self.data.qpos
        q[self._jq["base_x"]], q[self._jq["base_y"]], q[self._jq["base_yaw"]] = x, y, yaw

    def set_arm(self, arm_q: np.ndarray, finger: float) -> None:
        q = self.data.qpos
        for j, v in zip(R.ARM_JOINTS, arm_q):
            q[self._jq[j]] = v
        for j in R.FINGER_JOINTS:
            q[self._jq[j]] = finger
        self.arm_target = np.array(arm_q, dtype=float)
        self.finger_target = float(finger)
        self.apply_targets()

    def set_object_pose(self, name, pos, yaw) -> None:
        a = self.obj_qpos[name]
        self.data.qpos[a:a + 3] = pos
        self.data.qpos[a + 3:a + 7] = [math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)]
        v = self.obj_dof[name]
        self.data.qvel[v:v + 6] = 0

    def set_articulation(self, name: str, q: float) -> None:
        j = self.articulation_joint[name]
        self.data.qpos[self.model.jnt_qposadr[j]] = q

    def move_articulation(self, name: str, q: float, contents=()) -> None:
        """Puts a container's drawer or door at q, at rest. Objects named in `contents` rest in
        the drawer and move with it (a door moves nothing); the caller runs mj_forward."""
        r = self.scene.receptacle(name)
        shift = (q - self.articulation(name)) * np.array([math.cos(r.yaw), math.sin(r.yaw), 0.0])
        self.set_articulation(name, q)
        self.data.qvel[self.model.jnt_dofadr[self.articulation_joint[name]]] = 0.0
        if name != "drawer" or not contents:
            return
        mujoco.mj_forward(self.model, self.data)
        for o in contents:
            self.set_object_pose(o, self.object_pos(o) + shift, self.object_yaw(o))

    # ---------------------------------------------------------------- control
    def apply_targets(self) -> None:
        c = self.data.ctrl
        for j, v in zip(R.ARM_JOINTS, self.arm_target):
            c[self._act[j]] = v
        for j in R.FINGER_JOINTS:
            c[self._act[j]] = self.finger_target

    def set_base_velocity(self, forward: float, yaw_rate: float) -> None:
        yaw = self.base_pose()[2]
        c = self.data.ctrl
        c[self._act["base_x"]] = forward * math.cos(yaw)
        c[self._act["base_y"]] = forward * math.sin(yaw)
        c[self._act["base_yaw"]] = yaw_rate

    def step_physics(self, forward: float, yaw_rate: float, chunks: int = 5) -> None:
        """One control period; the world-frame base velocity follows the heading per chunk."""
        n = self.substeps // chunks
        for i in range(chunks):
            self.set_base_velocity(forward, yaw_rate)
            mujoco.mj_step(self.model, self.data, nstep=n if i < chunks - 1 else self.substeps - n * (chunks - 1))

    # ---------------------------------------------------------------- reads
    def base_pose(self) -> np.ndarray:
        q = self.data.qpos
        return np.array([q[self._jq["base_x"]], q[self._jq["base_y"]], q[self._jq["base_yaw"]]])

    def base_velocity(self) -> np.ndarray:
        """(forward, yaw rate) in the robot frame."""
        v = self.data.qvel
        yaw = self.base_pose()[2]
        vx, vy = v[self._jv["base_x"]], v[self._jv["base_y"]]
        return np.array([math.cos(yaw) * vx + math.sin(yaw) * vy, v[self._jv["base_yaw"]]])

    def arm_qpos(self) -> np.ndarray:
        return np.array([self.data.qpos[self._jq[j]] for j in R.ARM_JOINTS])

    def gripper_opening(self) -> float:
        return float(sum(self.data.qpos[self._jq[j]] for j in R.FINGER_JOINTS))

    def grasp_pos(self) -> np.ndarray:
        return self.data.site_xpos[self.grasp_site].copy()

    def object_pos(self, name: str) -> np.ndarray:
        return self.data.xpos[self.obj_body[name]].copy()

    def object_speed(self, name: str) -> float:
        v = self.obj_dof[name]
        return float(np.linalg.norm(self.data.qvel[v:v + 3]))

    def object_yaw(self, name: str) -> float:
        mat = self.data.xmat[self.obj_body[name]].reshape(3, 3)
        return math.atan2(mat[1, 0], mat[0, 0])

    def articulation(self, name: str) -> float:
        """Joint value of a container's drawer (m) or door (rad); 0 is closed."""
        j = self.articulation_joint[name]
        return float(self.data.qpos[self.model.jnt_qposadr[j]])

    def open_fraction(self, name: str) -> float:
        return self.articulation(name) / F.RECEPTACLES[name].travel

    def handle_pos(self, name: str) -> np.ndarray:
        return self.data.site_xpos[self.model.site(f"{name}_handle").id].copy()

    def to_base(self, p: np.ndarray) -> np.ndarray:
        """World point -> robot base frame."""
        x, y, yaw = self.base_pose()
        c, s = math.cos(yaw), math.sin(yaw)
        dx, dy = p[0] - x, p[1] - y
        return np.array([c * dx + s * dy, -s * dx + c * dy, p[2]])

    def contact_pairs(self) -> np.ndarray:
        n = self.data.ncon
        if n == 0:
            return np.zeros((0, 2), dtype=int)
        return np.stack([self.data.contact.geom1[:n], self.data.contact.geom2[:n]], axis=1)

    def held_objects(self, pairs: np.ndarray | None = None) -> list[str]:
        """Objects touched by both finger pads."""
        pairs = self.contact_pairs() if pairs is None else pairs
        if len(pairs) == 0:
            return []
        touch_l, touch_r = set(), set()
        for g1, g2 in pairs:
            if g1 == self.pad_l or g2 == self.pad_l:
                touch_l.add(g2 if g1 == self.pad_l else g1)
            if g1 == self.pad_r or g2 == self.pad_r:
                touch_r.add(g2 if g1 == self.pad_r else g1)
        return [self.geom_obj[g] for g in sorted(touch_l & touch_r) if g in self.geom_obj]

    def base_collision(self, pairs: np.ndarray | None = None) -> bool:
        """Robot base or mast touching a wall, furniture or an obstacle."""
        pairs = self.contact_pairs() if pairs is None else pairs
        if len(pairs) == 0:
            return False
        a, b = pairs[:, 0], pairs[:, 1]
        base_a, base_b = np.isin(a, self.base_geoms), np.isin(b, self.base_geoms)
        return bool(np.any((base_a & self.static_geom_mask[b]) | (base_b & self.static_geom_mask[a])))

    def unstable(self) -> bool:
        d = self.data
        if not (np.all(np.isfinite(d.qpos)) and np.all(np.isfinite(d.qvel))):
            return True
        for warn in (mujoco.mjtWarning.mjWARN_BADQACC, mujoco.mjtWarning.mjWARN_BADQPOS,
                     mujoco.mjtWarning.mjWARN_BADQVEL):
            if d.warning[warn].number > 0:
                return True
        return bool(np.max(np.abs(d.qvel)) > 200.0)


def _is_robot_body(m: mujoco.MjModel, b: int) -> bool:
    base = m.body("base").id
    while b > 0:
        if b == base:
            return True
        b = m.body_parentid[b]
    return False
