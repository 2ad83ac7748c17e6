"""Occupancy grid of a scene, its clearance map, grid A* for the base (scene checks, the expert)
and geodesic fields (the route observation: where the map's shortest safe path goes next).

Paths prefer clearance: a step into a cell closer than `CLEARANCE_REACH` to the (already
inflated) blocked region costs up to `1 + CLEARANCE_WEIGHT` times more, so demonstrations keep
their distance from furniture and obstacles wherever the room allows and tight passages are
still used when they are the only way. Reachability (which cells connect) is unchanged."""

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


CLEARANCE_REACH = 0.30  # m beyond the inflated margin where the clearance penalty fades out
CLEARANCE_WEIGHT = 3.0  # extra step cost next to the margin (x the step length)


def clearance_map(grid: OccupancyGrid, reach: float = CLEARANCE_REACH) -> np.ndarray:
    """(nx, ny) distance in metres from each cell to the nearest blocked cell, capped at
    `reach` (0 on blocked cells). Exact Euclidean within the cap (one shift per offset)."""
    out = np.full(grid.blocked.shape, reach, dtype=np.float64)
    r = int(math.ceil(reach / grid.res))
    b = grid.blocked
    nx, ny = b.shape
    for di in range(-r, r + 1):
        for dj in range(-r, r + 1):
            d = math.hypot(di, dj) * grid.res
            if d == 0.0 or d >= reach:
                continue
            shifted = np.zeros_like(b)  # shifted[i, j] = b[i + di, j + dj]
            shifted[max(0, -di):nx - max(0, di), max(0, -dj):ny - max(0, dj)] = \
                b[max(0, di):nx - max(0, -di), max(0, dj):ny - max(0, -dj)]
            np.minimum(out, np.where(shifted, d, reach), out=out)
    out[b] = 0.0
    return out


def step_penalty(clearance: np.ndarray | None) -> np.ndarray | None:
    """Per-cell cost multiplier of entering a cell (1 far from obstacles)."""
    if clearance is None:
        return None
    reach = CLEARANCE_REACH
    return 1.0 + CLEARANCE_WEIGHT * (1.0 - np.minimum(clearance, reach) / reach)


_MOVES = [(1, 0, 1.0), (-1, 0, 1.0), (0, 1, 1.0), (0, -1, 1.0),
          (1, 1, math.sqrt(2)), (1, -1, math.sqrt(2)), (-1, 1, math.sqrt(2)), (-1, -1, math.sqrt(2))]


class GeodesicField:
    """Clearance-weighted path cost (metres) from every cell to one goal (Dijkstra over the
    8-connected grid, run once); `lookahead` follows the field downhill from any position."""

    def __init__(self, grid: OccupancyGrid, goal_xy, clearance: np.ndarray | None = None):
        self.grid = grid
        self.goal = np.asarray(goal_xy, dtype=float)[:2]
        penalty = step_penalty(clearance)
        cost = np.full(grid.blocked.shape, math.inf)
        g = grid.cell(self.goal)
        cost[g] = 0.0
        heap = [(0.0, g)]
        blocked, nx, ny, res = grid.blocked, grid.nx, grid.ny, grid.res
        while heap:
            c, cur = heapq.heappop(heap)
            if c > cost[cur]:
                continue
            # Reverse search: moving cur -> nxt costs what the base pays entering cur from nxt.
            enter = res * (1.0 if penalty is None else penalty[cur])
            for di, dj, w in _MOVES:
                nxt = (cur[0] + di, cur[1] + dj)
                if not (0 <= nxt[0] < nx and 0 <= nxt[1] < ny) or blocked[nxt]:
                    continue
                nc = c + w * enter
                if nc < cost[nxt]:
                    cost[nxt] = nc
                    heapq.heappush(heap, (nc, nxt))
        self.cost = cost

    def _entry_cell(self, xy) -> tuple[int, int] | None:
        """The cell at xy, or when it is blocked/unreached (the base brushing a margin) the
        nearest reached cell within 0.3 m."""
        c = self.grid.cell(xy)
        if np.isfinite(self.cost[c]):
            return c
        r = int(round(0.3 / self.grid.res))
        best, best_d = None, math.inf
        for di in range(-r, r + 1):
            for dj in range(-r, r + 1):
                n = (c[0] + di, c[1] + dj)
                if 0 <= n[0] < self.grid.nx and 0 <= n[1] < self.grid.ny \
                        and np.isfinite(self.cost[n]) and math.hypot(di, dj) < best_d:
                    best, best_d = n, math.hypot(di, dj)
        return best

    def lookahead(self, xy, distance: float) -> tuple[np.ndarray, float]:
        """(point `distance` metres further along the best path from xy, or the goal if it is
        nearer; path cost from xy to the goal). (goal, inf) when xy cannot reach the goal."""
        c = self._entry_cell(xy)
        if c is None:
            return self.goal.copy(), math.inf
        total = float(self.cost[c]) + math.hypot(*(self.grid.point(c) - np.asarray(xy)[:2]))
        walked = 0.0
        while walked < distance and self.cost[c] > 0.0:
            best, best_w = None, 0.0
            for di, dj, w in _MOVES:
                n = (c[0] + di, c[1] + dj)
                if 0 <= n[0] < self.grid.nx and 0 <= n[1] < self.grid.ny \
                        and self.cost[n] < (self.cost[best] if best else self.cost[c]):
                    best, best_w = n, w
            if best is None:
                break
            c = best
            walked += best_w * self.grid.res
        point = self.goal.copy() if self.cost[c] == 0.0 else self.grid.point(c)
        return point, total


def detour_ratio(starts, goals, min_leg: float) -> float:
    """How far paths bend around walls and furniture: the largest ratio, over the legs from each
    of `starts` (x, y) to each of `goals` ((x, y), GeodesicField to it) at least `min_leg` apart
    in a straight line, of the field's path cost (metres, clearance-weighted) to the
    straight-line distance; 1.0 without such a leg; unreachable legs are skipped."""
    worst = 1.0
    for a in starts:
        a = np.asarray(a, dtype=float)[:2]
        for g, field in goals:
            straight = math.hypot(g[0] - a[0], g[1] - a[1])
            if straight < min_leg:
                continue
            _, cost = field.lookahead(a, 0.0)
            if math.isfinite(cost):
                worst = max(worst, cost / straight)
    return worst
