"""The mobile manipulator: MJCF, joint/actuator names and the normalised action layout.

A Stretch-like robot: a velocity-controlled planar base (x, y, yaw), a mast with a lift, a
telescoping arm, a wrist (yaw, pitch) and a parallel-jaw gripper whose pads hold objects by
contact and friction. The head camera looks forward and down from the top of the mast.
"""

from __future__ import annotations

import dataclasses

import numpy as np

BASE_RADIUS = 0.22
# Arm geometry (base frame, metres). The shoulder (yaw) sits on the lift at x = LIFT_X. With the
# shoulder at 0, a horizontal gripper's grasp site is GRASP_REACH_0 + extend in front of the
# base centre; a top-down one is GRIPPER_LENGTH below the wrist at WRIST_REACH_0 + extend.
WRIST_REACH_0 = 0.36
GRIPPER_LENGTH = 0.11
GRASP_REACH_0 = WRIST_REACH_0 + GRIPPER_LENGTH
LIFT_X = 0.06

ARM_JOINTS = ("lift", "shoulder_yaw", "extend", "wrist_yaw", "wrist_pitch")
ARM_RANGES = {
    "lift": (0.15, 1.30),
    "shoulder_yaw": (-1.25, 1.25),
    "extend": (0.0, 0.80),
    "wrist_yaw": (-1.75, 1.75),
    "wrist_pitch": (-0.3, 1.75),
}
FINGER_RANGE = (0.0, 0.06)  # per-finger opening from the centre line
BASE_JOINTS = ("base_x", "base_y", "base_yaw")
FINGER_JOINTS = ("finger_l", "finger_r")


@dataclasses.dataclass(frozen=True)
class ActionSpec:
    """Layout and scales of the normalised action in [-1, 1]^8.

    [v_forward, v_yaw, d_lift, d_shoulder_yaw, d_extend, d_wrist_yaw, d_wrist_pitch, gripper]
    Base entries are velocities; arm entries are per-control-step deltas of the joint targets;
    gripper > 0 closes, < 0 opens (linear in between).
    """

    max_forward: float = 0.6  # m/s
    max_yaw_rate: float = 1.5  # rad/s
    max_lift_step: float = 0.04  # m per control step
    max_shoulder_step: float = 0.15  # rad per control step
    max_extend_step: float = 0.04
    max_wrist_step: float = 0.2

    names: tuple[str, ...] = (
        "base_forward", "base_yaw_rate", "lift", "shoulder_yaw", "extend", "wrist_yaw", "wrist_pitch", "gripper")

    @property
    def dim(self) -> int:
        return len(self.names)

    @property
    def arm_step(self) -> np.ndarray:
        return np.array([self.max_lift_step, self.max_shoulder_step, self.max_extend_step,
                         self.max_wrist_step, self.max_wrist_step])


ACTION = ActionSpec()

# Stowed arm: high enough to clear every surface while the base turns, gripper pointing down.
STOW_QPOS = {"lift": 1.22, "shoulder_yaw": 0.0, "extend": 0.0, "wrist_yaw": 0.0, "wrist_pitch": np.pi / 2}
STOW_Q = np.array([STOW_QPOS[j] for j in ARM_JOINTS])  # the same pose in ARM_JOINTS order; also
# the carry pose (arm tucked, object held above every surface)


def robot_xml(x: float, y: float, yaw: float) -> str:
    """MJCF body of the robot placed at (x, y, yaw); defaults classes are in `robot_defaults`."""
    lr, sr, er, yr, pr = (ARM_RANGES[j] for j in ARM_JOINTS)
    return f"""
    <body name="base" pos="{x:.4f} {y:.4f} 0">
      <joint name="base_x" type="slide" axis="1 0 0" damping="0"/>
      <joint name="base_y" type="slide" axis="0 1 0" damping="0"/>
      <joint name="base_yaw" type="hinge" axis="0 0 1" damping="0" ref="0"/>
      <geom name="base_body" class="robot_base" type="cylinder" size="{BASE_RADIUS} 0.1" pos="0 0 0.12" mass="40" rgba="0.25 0.27 0.3 1"/>
      <geom name="base_top" class="robot_visual" type="cylinder" size="{BASE_RADIUS - 0.02} 0.005" pos="0 0 0.225" rgba="0.85 0.45 0.1 1"/>
      <geom name="mast" class="robot_base" type="box" size="0.035 0.035 0.62" pos="0 0 0.84" mass="3" rgba="0.2 0.2 0.22 1"/>
      <geom name="head" class="robot_visual" type="box" size="0.05 0.08 0.04" pos="0.02 0 1.49" rgba="0.15 0.15 0.15 1"/>
      <camera name="head" pos="0.08 0 1.49" xyaxes="0 -1 0 0.6 0 0.8" fovy="70"/>
      <site name="base_site" pos="0 0 0.25" size="0.01"/>
      <body name="lift_carriage" pos="{LIFT_X} 0 0" gravcomp="1">
        <joint name="lift" type="slide" axis="0 0 1" range="{lr[0]} {lr[1]}" armature="1" damping="20"/>
        <geom name="carriage" class="robot_arm" type="box" size="0.04 0.06 0.04" pos="0.0 0 0" mass="0.8" rgba="0.85 0.45 0.1 1"/>
        <body name="shoulder" pos="0 0 0" gravcomp="1">
        <joint name="shoulder_yaw" type="hinge" axis="0 0 1" range="{sr[0]} {sr[1]}" armature="0.5" damping="5"/>
        <geom name="shoulder_link" class="robot_arm" type="cylinder" size="0.03 0.045" mass="0.3" rgba="0.2 0.2 0.22 1"/>
        <body name="arm" pos="0.05 0 0" gravcomp="1">
          <joint name="extend" type="slide" axis="1 0 0" range="{er[0]} {er[1]}" armature="1" damping="20"/>
          <geom name="boom" class="robot_arm" type="box" size="0.125 0.022 0.018" pos="0.125 0 0" mass="0.8" rgba="0.3 0.3 0.32 1"/>
          <body name="wrist" pos="{WRIST_REACH_0 - LIFT_X - 0.05:.3f} 0 0" gravcomp="1">
            <joint name="wrist_yaw" type="hinge" axis="0 0 1" range="{yr[0]} {yr[1]}" armature="0.02" damping="0.5"/>
            <geom name="wrist_yaw_link" class="robot_arm" type="cylinder" size="0.022 0.025" mass="0.15" rgba="0.2 0.2 0.22 1"/>
            <body name="wrist_pitch_link" pos="0 0 0" gravcomp="1">
              <joint name="wrist_pitch" type="hinge" axis="0 1 0" range="{pr[0]} {pr[1]}" armature="0.02" damping="0.5"/>
              <geom name="palm" class="robot_arm" type="box" size="0.025 0.05 0.02" pos="0.05 0 0" mass="0.2" rgba="0.85 0.45 0.1 1"/>
              <site name="grasp" pos="{GRIPPER_LENGTH} 0 0" size="0.008" rgba="0 1 0 0.5"/>
              <body name="finger_l" pos="{GRIPPER_LENGTH} 0 0" gravcomp="1">
                <joint name="finger_l" type="slide" axis="0 1 0" range="{FINGER_RANGE[0]} {FINGER_RANGE[1]}" armature="0.01" damping="2"/>
                <geom name="pad_l" class="robot_pad" type="box" size="0.022 0.005 0.014" pos="0 0.005 0" mass="0.03"/>
                <geom name="finger_l_link" class="robot_arm" type="box" size="0.035 0.004 0.01" pos="-0.05 0.006 0" mass="0.02" rgba="0.2 0.2 0.22 1"/>
              </body>
              <body name="finger_r" pos="{GRIPPER_LENGTH} 0 0" gravcomp="1">
                <joint name="finger_r" type="slide" axis="0 -1 0" range="{FINGER_RANGE[0]} {FINGER_RANGE[1]}" armature="0.01" damping="2"/>
                <geom name="pad_r" class="robot_pad" type="box" size="0.022 0.005 0.014" pos="0 -0.005 0" mass="0.03"/>
                <geom name="finger_r_link" class="robot_arm" type="box" size="0.035 0.004 0.01" pos="-0.05 -0.006 0" mass="0.02" rgba="0.2 0.2 0.22 1"/>
              </body>
            </body>
          </body>
        </body>
        </body>
      </body>
    </body>"""


def robot_defaults() -> str:
    """Default classes for robot geoms. Robot geoms collide with the world and objects
    (contype 2 / conaffinity 1) but never with each other."""
    return """
    <default class="robot_base"><geom contype="2" conaffinity="1" condim="3" friction="0.5 0.005 0.0001"/></default>
    <default class="robot_arm"><geom contype="2" conaffinity="1" condim="3" friction="0.8 0.005 0.0001"/></default>
    <default class="robot_pad"><geom contype="2" conaffinity="1" condim="4" friction="1.6 0.02 0.0001" rgba="0.1 0.1 0.1 1" solref="0.004 1" solimp="0.95 0.99 0.001"/></default>
    <default class="robot_visual"><geom contype="0" conaffinity="0" mass="0"/></default>"""


def robot_actuators() -> str:
    """Velocity actuators on the base (world-frame targets set by the env from the robot-frame
    command), position servos on the arm and fingers."""
    lr, sr, er, yr, pr = (ARM_RANGES[j] for j in ARM_JOINTS)
    return f"""
    <velocity name="base_x" joint="base_x" kv="4000" ctrlrange="-1 1" forcerange="-600 600"/>
    <velocity name="base_y" joint="base_y" kv="4000" ctrlrange="-1 1" forcerange="-600 600"/>
    <velocity name="base_yaw" joint="base_yaw" kv="800" ctrlrange="-2 2" forcerange="-200 200"/>
    <position name="lift" joint="lift" kp="6000" kv="300" ctrlrange="{lr[0]} {lr[1]}" forcerange="-400 400"/>
    <position name="shoulder_yaw" joint="shoulder_yaw" kp="400" kv="40" ctrlrange="{sr[0]} {sr[1]}" forcerange="-150 150"/>
    <position name="extend" joint="extend" kp="3000" kv="200" ctrlrange="{er[0]} {er[1]}" forcerange="-200 200"/>
    <position name="wrist_yaw" joint="wrist_yaw" kp="40" kv="3" ctrlrange="{yr[0]} {yr[1]}" forcerange="-20 20"/>
    <position name="wrist_pitch" joint="wrist_pitch" kp="60" kv="4" ctrlrange="{pr[0]} {pr[1]}" forcerange="-30 30"/>
    <position name="finger_l" joint="finger_l" kp="1500" kv="30" ctrlrange="{FINGER_RANGE[0]} {FINGER_RANGE[1]}" forcerange="-25 25"/>
    <position name="finger_r" joint="finger_r" kp="1500" kv="30" ctrlrange="{FINGER_RANGE[0]} {FINGER_RANGE[1]}" forcerange="-25 25"/>"""
