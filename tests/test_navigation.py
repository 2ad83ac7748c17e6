"""Occupancy grid and A* on hand-built grids."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.navigation import (CLEARANCE_REACH, GeodesicField, OccupancyGrid, astar,
                            clearance_map)

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


# ------------------------------------------------------------------ clearance and routes
def pillar_grid() -> OccupancyGrid:
    """A 4 m x 4 m room (border blocked) with a 0.3 m pillar half-way between START and GOAL."""
    g = OccupancyGrid(4.0, 4.0)
    g.block_disc((2.0, 1.0), 0.3)
    g.blocked[:, 0] = g.blocked[:, -1] = g.blocked[0, :] = g.blocked[-1, :] = True
    return g


def test_clearance_map_is_the_capped_euclidean_distance_to_blocked_cells():
    g = pillar_grid()
    c = clearance_map(g)
    blocked = np.argwhere(g.blocked)
    rng = np.random.default_rng(0)
    for i, j in rng.choice(np.argwhere(~g.blocked), 60, replace=False):
        brute = np.min(np.hypot(blocked[:, 0] - i, blocked[:, 1] - j)) * g.res
        assert c[i, j] == pytest.approx(min(brute, CLEARANCE_REACH))
    assert (c[g.blocked] == 0).all()


def min_clearance(g, path) -> float:
    """Smallest distance (m) from any point of the polyline to a blocked cell."""
    blocked = np.argwhere(g.blocked) * g.res
    pts = np.concatenate([np.linspace(a, b, 40) for a, b in zip(path[:-1], path[1:])])
    return float(np.min(np.linalg.norm(pts[:, None] - blocked[None], axis=-1)))


def test_clearance_weighted_astar_keeps_its_distance_from_obstacles():
    g = pillar_grid()
    plain = astar(g, START, GOAL)
    safe = astar(g, START, GOAL, clearance_map(g))
    assert plain is not None and safe is not None
    assert min_clearance(g, plain) < 0.1  # the shortest path grazes the pillar's margin
    assert min_clearance(g, safe) > 0.2
    assert path_length(safe) < 1.5 * path_length(plain)  # a detour, not a tour of the room


def test_geodesic_lookahead_leads_to_the_goal_around_walls():
    g = wall_grid()
    field = GeodesicField(g, GOAL, clearance_map(g))
    pos = np.array(START)
    _, length = field.lookahead(pos, 0.6)
    assert length > 2 * math.dist(START, GOAL)  # around the wall's end, not through it
    for _ in range(40):
        nxt, _ = field.lookahead(pos, 0.6)
        assert g.line_free(pos, nxt)  # every route point is in line of sight, never in the wall
        assert np.linalg.norm(nxt - pos) <= 0.6 + math.sqrt(2) * g.res  # at most one cell over
        pos = nxt
        if np.allclose(pos, GOAL):
            break
    assert np.allclose(pos, GOAL)
    assert field.lookahead(GOAL, 0.6)[1] == pytest.approx(0.0)


def test_geodesic_field_of_an_enclosed_goal_reports_unreachable():
    field = GeodesicField(boxed_goal_grid(), (3.0, 3.0))
    point, length = field.lookahead((1.0, 1.0), 0.6)
    assert math.isinf(length) and np.allclose(point, (3.0, 3.0))
