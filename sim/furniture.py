"""Receptacle kinds and object kinds: sizes, surfaces, where things rest and how the robot
stands in front of them. Pure data; MJCF for them lives in `sim.world`."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ReceptacleKind:
    """A piece of furniture. Local frame: origin at the footprint centre on the floor, +x is the
    front normal (into the room), y runs along the wall. The front face is at x = depth / 2."""

    name: str
    width: float  # along the wall
    depth: float
    surface_z: float  # height objects rest at (interior floor for containers)
    container: bool  # has an articulation that closes it
    standoff: float  # base centre to front face when the robot works here
    keepout: float  # depth in front of the face swept by an opened drawer/door
    # Region (local x range, local y half-width) where objects may rest when closed.
    region_x: tuple[float, float] = (0.0, 0.0)
    region_half_y: float = 0.0
    travel: float = 0.0  # drawer travel (m) or door opening (rad)
    work_y: float | None = None  # fixed lateral work position (containers), else the item's
    # Base pose (standoff, local y) for opening/closing, when it differs from the access pose.
    handle_pose: tuple[float, float] | None = None

    @property
    def open_surface(self) -> bool:
        return not self.container


def _surface(name, width, depth, z, standoff=0.40):
    inset = 0.09
    return ReceptacleKind(
        name=name, width=width, depth=depth, surface_z=z, container=False, standoff=standoff,
        keepout=0.0, region_x=(-depth / 2 + inset, depth / 2 - inset),
        region_half_y=width / 2 - inset)


RECEPTACLES: dict[str, ReceptacleKind] = {
    "table": _surface("table", 0.90, 0.60, 0.72),
    "counter": _surface("counter", 1.00, 0.55, 0.86),
    "shelf": _surface("shelf", 0.80, 0.38, 0.80),
    # Cabinet with a drawer on a slide joint; objects sit in the front part of the drawer so
    # that they are exposed (reachable from above) when it is open.
    "drawer": ReceptacleKind(
        name="drawer", width=0.70, depth=0.50, surface_z=0.42, container=True, standoff=0.86,
        keepout=0.40, region_x=(0.25 - 0.18, 0.25 - 0.12), region_half_y=0.13, travel=0.30,
        work_y=0.0),
    # Cabinet with a door on a vertical hinge at its -y edge. The robot opens and closes it
    # standing out on the hinge side (it must face the door's outer face through the whole
    # swing) and reaches inside from the front.
    "cabinet": ReceptacleKind(
        name="cabinet", width=0.56, depth=0.46, surface_z=0.30, container=True, standoff=0.85,
        keepout=0.52, region_x=(0.23 - 0.20, 0.23 - 0.10), region_half_y=0.13, travel=1.50,
        work_y=0.0, handle_pose=(1.01, -0.45)),
}
OPEN_SURFACES = tuple(k for k, v in RECEPTACLES.items() if v.open_surface)
CONTAINERS = tuple(k for k, v in RECEPTACLES.items() if v.container)

# Drawer geometry (cabinet local frame).
DRAWER_BOTTOM_Z = 0.40
DRAWER_TOP_Z = 0.565
DRAWER_CABINET_HEIGHT = 0.62
# Side-hinged cabinet door geometry (cabinet local frame).
CABINET_HEIGHT = 0.74
CABINET_FLOOR_Z = 0.28  # interior floor panel bottom; its top is surface_z
DOOR_HINGE_Y = -0.26
DOOR_WIDTH = 0.52
DOOR_HANDLE_R = 0.46  # handle distance from the hinge along the door
DOOR_HANDLE_Z = 0.52
HANDLE_OFFSET = 0.055  # handle bar distance in front of the face


@dataclasses.dataclass(frozen=True)
class ObjectKind:
    """A graspable shape. `half_size` is (x, y, z) half extents of its bounding box."""

    shape: str
    geom: str  # MuJoCo geom type
    size: tuple[float, ...]  # MuJoCo geom size
    half_size: tuple[float, float, float]
    mass: float


OBJECTS: dict[str, ObjectKind] = {
    "cube": ObjectKind("cube", "box", (0.025, 0.025, 0.025), (0.025, 0.025, 0.025), 0.12),
    "block": ObjectKind("block", "box", (0.05, 0.02, 0.025), (0.05, 0.02, 0.025), 0.12),
    "can": ObjectKind("can", "cylinder", (0.03, 0.045), (0.03, 0.03, 0.045), 0.15),
    "bottle": ObjectKind("bottle", "cylinder", (0.024, 0.055), (0.024, 0.024, 0.055), 0.15),
    "puck": ObjectKind("puck", "cylinder", (0.038, 0.022), (0.038, 0.038, 0.022), 0.10),
}

COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.12, 0.12), "green": (0.15, 0.65, 0.2), "blue": (0.15, 0.3, 0.85),
    "yellow": (0.95, 0.85, 0.1), "orange": (0.95, 0.5, 0.1), "purple": (0.55, 0.2, 0.7),
    "white": (0.92, 0.92, 0.9), "black": (0.08, 0.08, 0.08), "pink": (0.95, 0.5, 0.7),
}

OBSTACLES = {
    # name: (geom type, size, height, rgba)
    "crate": ("box", (0.2, 0.2, 0.22), (0.55, 0.4, 0.25, 1)),
    "plant": ("cylinder", (0.18, 0.3), (0.72, 0.38, 0.22, 1)),
    "ottoman": ("cylinder", (0.24, 0.2), (0.45, 0.3, 0.5, 1)),
}
