"""Occupancy grid of a scene and grid A* for the base (used by scene checks and the expert)."""

from __future__ import annotations

import heapq
import math

import numpy as np


def wrap_angle(a: float) -> float:
    """Angle in [-pi, pi)."""
    return (a + math.pi) % (2 * math.pi) - math.pi


class OccupancyGrid:
    """Boolean grid over the room (True = blocked for the base centre, already inflated)."""

    def __init__(self, width: float, depth: float, resolution: float = 0.05):
        self.res = resolution
        self.nx = int(math.ceil(width / resolution)) + 1
        self.ny = int(math.ceil(depth / resolution)) + 1
        self.blocked = np.zeros((self.nx, self.ny), dtype=bool)
        xs = np.arange(self.nx) * resolution
        ys = np.arange(self.ny) * resolution
        self._gx, self._gy = np.meshgrid(xs, ys, indexing="ij")  # (nx, ny)

    def block_rect(self, center, half_extents, yaw: float, inflate: float) -> None:
        """Blocks every cell whose centre lies within `inflate` of a rotated rectangle."""
        c, s = math.cos(yaw), math.sin(yaw)
        dx, dy = self._gx - center[0], self._gy - center[1]
        lx, ly = c * dx + s * dy, -s * dx + c * dy
        ex = np.maximum(np.abs(lx) - half_extents[0], 0.0)
        ey = np.maximum(np.abs(ly) - half_extents[1], 0.0)
        self.blocked |= ex * ex + ey * ey <= inflate * inflate

    def block_disc(self, center, radius: float) -> None:
        self.blocked |= (self._gx - center[0]) ** 2 + (self._gy - center[1]) ** 2 <= radius ** 2

    def cell(self, xy) -> tuple[int, int]:
        i = int(round(xy[0] / self.res))
        j = int(round(xy[1] / self.res))
        return min(max(i, 0), self.nx - 1), min(max(j, 0), self.ny - 1)

    def point(self, cell) -> np.ndarray:
        return np.array([cell[0] * self.res, cell[1] * self.res])

    def free(self, xy) -> bool:
        return not self.blocked[self.cell(xy)]

    def line_free(self, a, b) -> bool:
        n = max(2, int(np.linalg.norm(np.subtract(b, a)) / (self.res * 0.5)) + 1)
        for t in np.linspace(0.0, 1.0, n):
            if not self.free(np.add(a, t * np.subtract(b, a))):
                return False
        return True

    def reachable(self, start_xy) -> np.ndarray:
        """Boolean mask of cells connected to `start_xy` (4-connected flood fill)."""
        seen = np.zeros_like(self.blocked)
        s = self.cell(start_xy)
        if self.blocked[s]:
            return seen
        stack = [s]
        seen[s] = True
        while stack:
            i, j = stack.pop()
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                a, b = i + di, j + dj
                if 0 <= a < self.nx and 0 <= b < self.ny and not seen[a, b] and not self.blocked[a, b]:
                    seen[a, b] = True
                    stack.append((a, b))
        return seen


_MOVES = [(1, 0, 1.0), (-1, 0, 1.0), (0, 1, 1.0), (0, -1, 1.0),
          (1, 1, math.sqrt(2)), (1, -1, math.sqrt(2)), (-1, 1, math.sqrt(2)), (-1, -1, math.sqrt(2))]


def astar(grid: OccupancyGrid, start_xy, goal_xy) -> list[np.ndarray] | None:
    """8-connected A* from start to goal; returns a shortcut-smoothed list of waypoints
    (world xy, ending exactly at goal) or None when the goal is unreachable. A start cell that
    is blocked (the base brushing an inflated margin) is allowed to leave."""
    start, goal = grid.cell(start_xy), grid.cell(goal_xy)
    if grid.blocked[goal]:
        return None
    open_heap = [(0.0, 0, start)]
    came: dict = {start: None}
    cost = {start: 0.0}
    counter = 0
    while open_heap:
        _, _, cur = heapq.heappop(open_heap)
        if cur == goal:
            break
        for di, dj, w in _MOVES:
            nxt = (cur[0] + di, cur[1] + dj)
            if not (0 <= nxt[0] < grid.nx and 0 <= nxt[1] < grid.ny) or grid.blocked[nxt]:
                continue
            nc = cost[cur] + w
            if nc < cost.get(nxt, math.inf):
                cost[nxt] = nc
                came[nxt] = cur
                h = math.hypot(goal[0] - nxt[0], goal[1] - nxt[1])
                counter += 1  # tie-breaker keeps the search deterministic
                heapq.heappush(open_heap, (nc + h, counter, nxt))
    if goal not in came:
        return None
    cells = []
    c = goal
    while c is not None:
        cells.append(c)
        c = came[c]
    cells.reverse()
    pts = [np.asarray(start_xy, dtype=float)] + [grid.point(c) for c in cells[1:-1]]
    pts.append(np.asarray(goal_xy, dtype=float))
    return _shortcut(grid, pts)


def _shortcut(grid: OccupancyGrid, pts: list[np.ndarray]) -> list[np.ndarray]:
    out = [pts[0]]
    i = 0
    while i < len(pts) - 1:
        j = len(pts) - 1
        while j > i + 1 and not grid.line_free(pts[i], pts[j]):
            j -= 1
        out.append(pts[j])
        i = j
    return out
