"""Occupancy grid and A* on hand-built grids."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.navigation import OccupancyGrid, astar

START, GOAL = (1.0, 1.0), (3.0, 1.0)


def wall_grid() -> OccupancyGrid:
    """A 4 m x 4 m room with a wall at x = 2 from the south edge up to y = 3 (inflated by
    0.2 m to y ~ 3.2): the only way from the west half to the east half is around its end."""
    g = OccupancyGrid(4.0, 4.0)
    g.block_rect((2.0, 1.5), (0.05, 1.5), 0.0, 0.2)
    return g


def boxed_goal_grid() -> OccupancyGrid:
    """A closed square fence (10 cm thick) around (3, 3)."""
    g = OccupancyGrid(4.0, 4.0)
    for c, h in [((3.0, 3.5), (0.55, 0.05)), ((3.0, 2.5), (0.55, 0.05)),
                 ((2.5, 3.0), (0.05, 0.55)), ((3.5, 3.0), (0.05, 0.55))]:
        g.block_rect(c, h, 0.0, 0.0)
    return g


def path_length(path) -> float:
    return sum(float(np.linalg.norm(b - a)) for a, b in zip(path[:-1], path[1:]))


def test_grid_geometry():
    g = OccupancyGrid(4.0, 3.0, resolution=0.05)
    assert g.blocked.shape == (81, 61)
    assert not g.blocked.any()
    assert g.cell((1.0, 2.0)) == (20, 40)
    np.testing.assert_allclose(g.point((20, 40)), [1.0, 2.0])
    assert g.cell((-5.0, 99.0)) == (0, 60)  # clamped into the grid
    g.block_disc((2.0, 1.5), 0.3)
    assert not g.free((2.0, 1.5)) and not g.free((2.25, 1.5)) and g.free((2.4, 1.5))
    g2 = OccupancyGrid(4.0, 3.0)
    g2.block_rect((2.0, 1.5), (0.5, 0.1), math.pi / 2, 0.0)  # rotated: long along y
    assert not g2.free((2.0, 1.9)) and g2.free((2.4, 1.5))


def test_wall_blocks_the_straight_line():
    g = wall_grid()
    assert g.free(START) and g.free(GOAL)
    assert not g.free((2.0, 1.0)) and not g.free((2.0, 3.15))
    assert g.free((2.0, 3.5))
    assert not g.line_free(START, GOAL)


def test_astar_finds_a_collision_free_path_around_the_wall():
    g = wall_grid()
    path = astar(g, START, GOAL)
    assert path is not None
    np.testing.assert_array_equal(path[0], START)
    np.testing.assert_array_equal(path[-1], GOAL)
    for p in path:
        assert g.free(p), f"waypoint {p} is blocked"
    for a, b in zip(path[:-1], path[1:]):
        assert g.line_free(a, b), f"segment {a} -> {b} crosses the wall"
    # It goes around the end of the wall, and not absurdly far.
    assert max(p[1] for p in path) > 3.0
    length = path_length(path)
    shortest = 2 * math.hypot(1.0, 2.2)  # via the inflated wall tip (2, 3.2)
    assert shortest - 0.1 <= length <= shortest * 1.15
    # Shortcut smoothing leaves only a handful of waypoints.
    assert len(path) <= 6


def test_astar_straight_line_when_unobstructed():
    g = OccupancyGrid(4.0, 4.0)
    path = astar(g, (0.5, 0.5), (3.3, 2.7))
    assert len(path) == 2
    assert path_length(path) == pytest.approx(math.hypot(2.8, 2.2))


def test_astar_is_deterministic():
    g = wall_grid()
    a, b = astar(g, START, GOAL), astar(g, START, GOAL)
    assert len(a) == len(b)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)


def test_astar_returns_none_when_goal_is_enclosed():
    g = boxed_goal_grid()
    assert g.free((3.0, 3.0))
    assert astar(g, START, (3.0, 3.0)) is None
    reach = g.reachable(START)
    assert reach[g.cell(START)] and not reach[g.cell((3.0, 3.0))]
    # ... while a goal outside the fence is still reachable.
    assert astar(g, START, (1.0, 3.5)) is not None


def test_astar_returns_none_when_goal_is_blocked():
    g = wall_grid()
    assert astar(g, START, (2.0, 1.0)) is None


def test_astar_leaves_a_blocked_start_cell():
    """Documented: a start brushing an inflated margin (its own cell blocked, a neighbour
    free) may still leave it."""
    g = OccupancyGrid(4.0, 4.0)
    g.block_rect((2.0, 0.5), (1.9, 0.05), 0.0, 0.45)  # inflated margin up to y = 1.0
    assert not g.free((1.0, 1.0)) and g.free((1.0, 1.05))
    path = astar(g, (1.0, 1.0), (3.0, 3.0))
    assert path is not None
    np.testing.assert_array_equal(path[0], (1.0, 1.0))
    np.testing.assert_array_equal(path[-1], (3.0, 3.0))


def test_reachable_flood_fill_respects_walls():
    g = OccupancyGrid(4.0, 4.0)
    g.block_rect((2.0, 2.0), (0.05, 2.5), 0.0, 0.0)  # wall across the whole room
    reach = g.reachable((1.0, 1.0))
    assert reach[g.cell((0.2, 3.8))]
    assert not reach[g.cell((3.0, 1.0))]
    assert not (reach & g.blocked).any()
    g.blocked[g.cell((1.0, 1.0))] = True
    assert not g.reachable((1.0, 1.0)).any()  # a blocked start reaches nothing
