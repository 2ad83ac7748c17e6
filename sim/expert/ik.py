"""Damped least-squares Jacobian IK for the arm (lift, shoulder yaw, extend, wrist yaw, wrist
pitch) on a scratch copy of the state: grasp-site position plus gripper approach and finger
axes."""

from __future__ import annotations

import mujoco
import numpy as np

from sim import robot as R


class ArmIK:
    def __init__(self, world):
        m = world.model
        self.model = m
        self.scratch = mujoco.MjData(m)
        self.dofs = np.array([m.joint(j).dofadr[0] for j in R.ARM_JOINTS])
        self.qadr = np.array([m.joint(j).qposadr[0] for j in R.ARM_JOINTS])
        self.lo = np.array([R.ARM_RANGES[j][0] for j in R.ARM_JOINTS])
        self.hi = np.array([R.ARM_RANGES[j][1] for j in R.ARM_JOINTS])
        self.site = world.grasp_site
        self._jacp = np.zeros((3, m.nv))
        self._jacr = np.zeros((3, m.nv))

    def solve(self, qpos: np.ndarray, q_arm0: np.ndarray, pos: np.ndarray,
              approach: np.ndarray, fingers: np.ndarray, iters: int = 40,
              rot_weight: float = 0.4) -> tuple[np.ndarray, float]:
        """Arm joints reaching `pos` with the gripper x axis along `approach` and y along
        `fingers`, starting from q_arm0 with the rest of the robot at `qpos`. Returns (q, error)."""
        d = self.scratch
        d.qpos[:] = qpos
        q = np.clip(np.array(q_arm0, dtype=float), self.lo, self.hi)
        err_norm = np.inf
        lam2 = 1e-3
        for _ in range(iters):
            d.qpos[self.qadr] = q
            mujoco.mj_kinematics(self.model, d)
            mujoco.mj_comPos(self.model, d)
            x = d.site_xpos[self.site]
            mat = d.site_xmat[self.site].reshape(3, 3)
            e_pos = pos - x
            e_rot = 0.5 * (np.cross(mat[:, 0], approach) + np.cross(mat[:, 1], fingers))
            err_norm = float(np.linalg.norm(e_pos))
            if err_norm < 1e-3 and np.linalg.norm(e_rot) < 1e-2:
                break
            mujoco.mj_jacSite(self.model, d, self._jacp, self._jacr, self.site)
            J = np.vstack([self._jacp[:, self.dofs], rot_weight * self._jacr[:, self.dofs]])  # (6, 5)
            e = np.concatenate([e_pos, rot_weight * e_rot])
            dq = J.T @ np.linalg.solve(J @ J.T + lam2 * np.eye(6), e)
            q = np.clip(q + np.clip(dq, -0.3, 0.3), self.lo, self.hi)
        d.qpos[self.qadr] = q
        mujoco.mj_kinematics(self.model, d)
        err_norm = float(np.linalg.norm(pos - d.site_xpos[self.site]))
        return q, err_norm


def top_down(yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """Gripper pointing down with the fingers closing along world direction `yaw`."""
    return np.array([0.0, 0.0, -1.0]), np.array([np.cos(yaw), np.sin(yaw), 0.0])


def horizontal(direction_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gripper pointing horizontally along `direction_xy`, fingers closing horizontally."""
    a = np.array([direction_xy[0], direction_xy[1], 0.0])
    a /= np.linalg.norm(a)
    return a, np.array([-a[1], a[0], 0.0])
