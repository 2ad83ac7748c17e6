"""Scene -> MJCF -> MjModel: room, furniture (with the drawer slide and the door hinge),
obstacles, objects on free joints and the robot."""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np

from sim import furniture as F
from sim import robot as R
from sim.scene import WALL_H, Scene


@dataclasses.dataclass(frozen=True)
class PhysicsConfig:
    timestep: float = 0.002  # 500 Hz physics
    control_hz: float = 10.0
    render_width: int = 512
    render_height: int = 384

    @property
    def substeps(self) -> int:
        n = round(1.0 / (self.control_hz * self.timestep))
        if n < 1 or abs(n * self.timestep * self.control_hz - 1.0) > 1e-6:
            raise ValueError(f"control_hz={self.control_hz} is not a whole divisor of the physics "
                             f"rate {1 / self.timestep:g} Hz; choose e.g. 10 or 20")
        return n


def body_name(obj_name: str) -> str:
    return "obj_" + obj_name.replace(" ", "_")


def _lookat_axes(pos, target) -> str:
    f = np.subtract(target, pos)
    f = f / np.linalg.norm(f)
    x = np.cross(f, [0, 0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(x, f)
    return " ".join(f"{v:.4f}" for v in (*x, *y))


def _box(name, pos, size, cls="furniture", rgba=None, extra=""):
    col = f' rgba="{rgba[0]} {rgba[1]} {rgba[2]} {rgba[3] if len(rgba) > 3 else 1}"' if rgba else ""
    return (f'<geom name="{name}" class="{cls}" type="box" pos="{pos[0]:.4f} {pos[1]:.4f} {pos[2]:.4f}" '
            f'size="{size[0]:.4f} {size[1]:.4f} {size[2]:.4f}"{col} {extra}/>')


WOOD = (0.62, 0.45, 0.3)
DARK = (0.3, 0.22, 0.16)
WHITE = (0.88, 0.87, 0.84)
STEEL = (0.7, 0.7, 0.72)


def _receptacle_xml(r) -> str:
    k = r.kind
    hd, hw = k.depth / 2, k.width / 2
    head = f'<body name="{r.name}" pos="{r.x:.4f} {r.y:.4f} 0" euler="0 0 {r.yaw:.5f}">'
    g = []
    n = r.name
    if n == "table":
        top = k.surface_z
        g.append(_box(f"{n}_top", (0, 0, top - 0.02), (hd, hw, 0.02), rgba=WOOD))
        for i, (sx, sy) in enumerate([(1, 1), (1, -1), (-1, 1), (-1, -1)]):
            g.append(f'<geom name="{n}_leg{i}" class="furniture" type="cylinder" size="0.025 {(top - 0.04) / 2:.4f}" '
                     f'pos="{sx * (hd - 0.06):.4f} {sy * (hw - 0.06):.4f} {(top - 0.04) / 2:.4f}" rgba="{DARK[0]} {DARK[1]} {DARK[2]} 1"/>')
    elif n == "counter":
        top = k.surface_z
        g.append(_box(f"{n}_body", (-0.01, 0, (top - 0.03) / 2), (hd - 0.01, hw, (top - 0.03) / 2), rgba=WHITE))
        g.append(_box(f"{n}_top", (0, 0, top - 0.015), (hd + 0.01, hw + 0.01, 0.015), rgba=(0.25, 0.25, 0.27)))
    elif n == "shelf":
        top = k.surface_z
        for side in (-1, 1):
            g.append(_box(f"{n}_side{side + 1}", (0, side * (hw - 0.015), top / 2), (hd, 0.015, top / 2), rgba=WOOD))
        g.append(_box(f"{n}_back", (-hd + 0.01, 0, top / 2), (0.01, hw, top / 2), rgba=WOOD))
        for i, z in enumerate((0.05, 0.42)):
            g.append(_box(f"{n}_board{i}", (0, 0, z), (hd, hw - 0.03, 0.015), rgba=WOOD))
        g.append(_box(f"{n}_top", (0, 0, top - 0.015), (hd, hw, 0.015), rgba=DARK))
    elif n == "drawer":
        h = F.DRAWER_CABINET_HEIGHT
        g.append(_box(f"{n}_plinth", (0, 0, (F.DRAWER_BOTTOM_Z - 0.02) / 2), (hd, hw, (F.DRAWER_BOTTOM_Z - 0.02) / 2), rgba=WHITE))
        for side in (-1, 1):
            g.append(_box(f"{n}_side{side + 1}", (0, side * (hw - 0.015), h / 2), (hd, 0.015, h / 2), rgba=WHITE))
        g.append(_box(f"{n}_back", (-hd + 0.01, 0, h / 2), (0.01, hw, h / 2), rgba=WHITE))
        g.append(_box(f"{n}_top", (0, 0, h - 0.015), (hd, hw, 0.015), rgba=DARK))
        iw = hw - 0.035  # drawer box half width
        z0, z1 = F.DRAWER_BOTTOM_Z, F.DRAWER_TOP_Z
        wall_h = 0.07
        drawer = [
            f'<body name="{n}_box" pos="0 0 0">',
            f'<joint name="{n}_slide" type="slide" axis="1 0 0" range="0 {k.travel}" damping="15" frictionloss="3" armature="0.5"/>',
            _box(f"{n}_bottom", (0, 0, k.surface_z - 0.01), (hd - 0.03, iw, 0.01), "articulated", WOOD, 'mass="1.0"'),
            _box(f"{n}_lwall", (0, iw - 0.01, k.surface_z + wall_h), (hd - 0.03, 0.01, wall_h), "articulated", WOOD, 'mass="0.2"'),
            _box(f"{n}_rwall", (0, -iw + 0.01, k.surface_z + wall_h), (hd - 0.03, 0.01, wall_h), "articulated", WOOD, 'mass="0.2"'),
            _box(f"{n}_bwall", (-hd + 0.04, 0, k.surface_z + wall_h), (0.01, iw, wall_h), "articulated", WOOD, 'mass="0.2"'),
            _box(f"{n}_front", (hd - 0.01, 0, (z0 + z1) / 2), (0.01, hw - 0.033, (z1 - z0) / 2), "articulated", WHITE, 'mass="0.4"'),
            *_handle_xml(n, hd, (z0 + z1) / 2, 0.0),
            '</body>',
        ]
        g.extend(drawer)
    elif n == "cabinet":
        h = F.CABINET_HEIGHT
        g.append(_box(f"{n}_plinth", (0, 0, F.CABINET_FLOOR_Z / 2), (hd - 0.02, hw, F.CABINET_FLOOR_Z / 2), rgba=DARK))
        g.append(_box(f"{n}_floor", (0, 0, k.surface_z - 0.01), (hd - 0.02, hw - 0.03, 0.01), rgba=WOOD))
        for side in (-1, 1):
            g.append(_box(f"{n}_side{side + 1}", (0, side * (hw - 0.015), h / 2), (hd - 0.02, 0.015, h / 2), rgba=WOOD))
        g.append(_box(f"{n}_back", (-hd + 0.03, 0, h / 2), (0.01, hw, h / 2), rgba=WOOD))
        g.append(_box(f"{n}_top", (0, 0, h - 0.015), (hd, hw + 0.005, 0.015), rgba=DARK))
        y0 = F.DOOR_HINGE_Y
        zc = (k.surface_z - 0.02 + h - 0.03) / 2
        half_h = (h - 0.03 - (k.surface_z - 0.02)) / 2
        door = [
            f'<body name="{n}_door" pos="{hd - 0.01:.4f} {y0:.4f} 0">',
            f'<joint name="{n}_hinge" type="hinge" axis="0 0 -1" range="0 {k.travel + 0.1:.3f}" damping="1.5" frictionloss="0.6" armature="0.05"/>',
            _box(f"{n}_door_panel", (0.01, F.DOOR_WIDTH / 2, zc), (0.01, F.DOOR_WIDTH / 2 - 0.005, half_h), "articulated", (0.75, 0.55, 0.38), 'mass="1.5"'),
            *_handle_xml(n, 0.02, F.DOOR_HANDLE_Z, F.DOOR_HANDLE_R),
            '</body>',
        ]
        g.extend(door)
    site = f'<site name="{n}_surface" pos="0 0 {k.surface_z:.4f}" size="0.01" rgba="0 0 0 0"/>'
    return "\n".join([head, *g, site, "</body>"])


def _handle_xml(n, face_x, z, y) -> list[str]:
    """A vertical bar handle standing HANDLE_OFFSET in front of a face at x = face_x."""
    bx = face_x + F.HANDLE_OFFSET
    return [
        f'<geom name="{n}_handle" class="handle" type="cylinder" size="0.011 0.055" pos="{bx:.4f} {y:.4f} {z:.4f}"/>',
        _box(f"{n}_handle_post0", ((face_x + bx) / 2, y, z + 0.045), (F.HANDLE_OFFSET / 2, 0.008, 0.008), "handle"),
        _box(f"{n}_handle_post1", ((face_x + bx) / 2, y, z - 0.045), (F.HANDLE_OFFSET / 2, 0.008, 0.008), "handle"),
        f'<site name="{n}_handle" pos="{bx:.4f} {y:.4f} {z:.4f}" size="0.01" rgba="0 0 0 0"/>',
    ]


def object_world_pose(scene: Scene, obj) -> tuple[np.ndarray, float]:
    """Initial world position (centre) and yaw of an object resting in its receptacle."""
    r = scene.receptacle(obj.receptacle)
    kind = obj.kind
    xy = r.to_world(obj.local)
    z = r.kind.surface_z + kind.half_size[2] + 0.002
    return np.array([xy[0], xy[1], z]), obj.yaw


def _object_xml(scene: Scene, obj) -> str:
    pos, yaw = object_world_pose(scene, obj)
    kind = obj.kind
    rgb = F.COLORS[obj.color]
    size = " ".join(f"{s:.4f}" for s in kind.size)
    b = body_name(obj.name)
    return (f'<body name="{b}" pos="{pos[0]:.4f} {pos[1]:.4f} {pos[2]:.4f}" euler="0 0 {yaw:.5f}">'
            f'<freejoint name="{b}"/>'
            f'<geom name="{b}" class="object" type="{kind.geom}" size="{size}" mass="{kind.mass}" '
            f'rgba="{rgb[0]} {rgb[1]} {rgb[2]} 1"/></body>')


def _obstacle_xml(i, o) -> str:
    gtype, size, rgba = F.OBSTACLES[o.kind]
    s = " ".join(f"{v:.3f}" for v in size)
    z = size[2] if gtype == "box" else size[1]
    out = (f'<body name="obstacle{i}" pos="{o.x:.4f} {o.y:.4f} 0" euler="0 0 {o.yaw:.4f}">'
           f'<geom name="obstacle{i}" class="furniture" type="{gtype}" size="{s}" pos="0 0 {z:.3f}" '
           f'rgba="{rgba[0]} {rgba[1]} {rgba[2]} 1"/>')
    if o.kind == "plant":
        out += (f'<geom name="obstacle{i}_leaves" class="visual" type="ellipsoid" size="0.26 0.26 0.22" '
                f'pos="0 0 {2 * z + 0.15:.3f}" rgba="0.2 0.5 0.2 1"/>')
    return out + "</body>"


def scene_xml(scene: Scene, physics: PhysicsConfig = PhysicsConfig()) -> str:
    w, d = scene.width, scene.depth
    walls = "\n".join(
        f'<geom name="wall{i}" class="wall" type="box" pos="{cx:.4f} {cy:.4f} {WALL_H / 2}" size="{hx:.4f} {hy:.4f} {WALL_H / 2}"/>'
        for i, (cx, cy, hx, hy) in enumerate(scene.walls))
    cam_pos = (w / 2, -0.35 * d, 0.55 * (w + d))
    cam_axes = _lookat_axes(cam_pos, (w / 2, d * 0.52, 0.0))
    return f"""<mujoco model="robot_skills_scene_{scene.seed}">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{physics.timestep}" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <visual>
    <global offwidth="{max(physics.render_width, 640)}" offheight="{max(physics.render_height, 480)}" fovy="50"/>
    <quality shadowsize="0"/>
    <headlight ambient="0.45 0.45 0.45" diffuse="0.45 0.45 0.45" specular="0.05 0.05 0.05"/>
  </visual>
  <asset>
    <texture name="floor" type="2d" builtin="checker" rgb1="0.72 0.66 0.58" rgb2="0.66 0.6 0.52" width="256" height="256"/>
    <material name="floor" texture="floor" texrepeat="{w / 0.6:.2f} {d / 0.6:.2f}" reflectance="0.0"/>
    <material name="wall" rgba="0.86 0.88 0.9 1"/>
  </asset>
  <default>
    <default class="furniture"><geom contype="1" conaffinity="1" condim="3" friction="0.9 0.005 0.0001"/></default>
    <default class="articulated"><geom contype="1" conaffinity="1" condim="3" friction="0.9 0.005 0.0001"/></default>
    <default class="handle"><geom contype="1" conaffinity="1" condim="3" friction="1.2 0.005 0.0001" rgba="{STEEL[0]} {STEEL[1]} {STEEL[2]} 1" mass="0.05"/></default>
    <default class="wall"><geom contype="1" conaffinity="1" condim="3" material="wall"/></default>
    <default class="object"><geom contype="1" conaffinity="1" condim="4" friction="1.0 0.01 0.0002" solref="0.004 1"/></default>
    <default class="visual"><geom contype="0" conaffinity="0" mass="0"/></default>
    {R.robot_defaults()}
  </default>
  <worldbody>
    <light name="sun" pos="{w / 2} {d / 2} 4" dir="0 0.2 -1" diffuse="0.55 0.55 0.55" castshadow="false"/>
    <geom name="floor" type="plane" size="{w / 2 + 0.2:.3f} {d / 2 + 0.2:.3f} 0.1" pos="{w / 2:.3f} {d / 2:.3f} 0" material="floor" contype="1" conaffinity="1" condim="3"/>
    <camera name="overview" pos="{cam_pos[0]:.3f} {cam_pos[1]:.3f} {cam_pos[2]:.3f}" xyaxes="{cam_axes}"/>
    {walls}
    {"".join(_receptacle_xml(r) for r in scene.receptacles)}
    {"".join(_obstacle_xml(i, o) for i, o in enumerate(scene.obstacles))}
    {"".join(_object_xml(scene, o) for o in scene.objects)}
    {R.robot_xml(0.0, 0.0, 0.0)}
  </worldbody>
  <actuator>
    {R.robot_actuators()}
  </actuator>
</mujoco>"""


def build_model(scene: Scene, physics: PhysicsConfig = PhysicsConfig()) -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_string(scene_xml(scene, physics))
