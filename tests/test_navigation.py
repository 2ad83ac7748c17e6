"""Occupancy grid, clearance map and the path-cost field (GeodesicField) on hand-built grids."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.navigation import CLEARANCE_REACH, GeodesicField, OccupancyGrid, clearance_map

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


def test_geodesic_field_is_deterministic_and_straight_when_unobstructed():
    g = OccupancyGrid(4.0, 4.0)
    a, b = GeodesicField(g, (3.3, 2.7)), GeodesicField(g, (3.3, 2.7))
    np.testing.assert_array_equal(a.cost, b.cost)
    _, length = a.lookahead((0.5, 0.5), 0.6)
    # 8-connected grid metric: at most ~8% above the straight line.
    assert math.hypot(2.8, 2.2) - 0.05 <= length <= 1.09 * math.hypot(2.8, 2.2)


def test_geodesic_field_of_a_blocked_goal_reports_unreachable():
    field = GeodesicField(wall_grid(), (2.0, 1.0))
    assert math.isinf(field.lookahead(START, 0.6)[1])


def test_geodesic_route_leaves_a_blocked_start_cell():
    """Documented: a base brushing an inflated margin (its own cell blocked) is routed from the
    nearest reached cell."""
    g = OccupancyGrid(4.0, 4.0)
    g.block_rect((2.0, 0.5), (1.9, 0.05), 0.0, 0.45)  # inflated margin up to y = 1.0
    assert not g.free((1.0, 1.0)) and g.free((1.0, 1.05))
    point, length = GeodesicField(g, (3.0, 3.0)).lookahead((1.0, 1.0), 0.6)
    assert math.isfinite(length) and g.free(point)


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


def route(field, start, step=0.3, max_points=60) -> list[np.ndarray]:
    """The polyline of route points from start to the field's goal."""
    pts = [np.asarray(start, float)]
    while not np.allclose(pts[-1], field.goal) and len(pts) < max_points:
        pts.append(field.lookahead(pts[-1], step)[0])
    return pts


def test_clearance_weighted_route_keeps_its_distance_from_obstacles():
    g = pillar_grid()
    plain = route(GeodesicField(g, GOAL), START)
    safe = route(GeodesicField(g, GOAL, clearance_map(g)), START)
    assert np.allclose(plain[-1], GOAL) and np.allclose(safe[-1], GOAL)
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


def test_detour_ratio_measures_the_way_around_a_wall():
    """Routes.detour's measure: path cost over the straight line, worst leg; legs shorter than
    min_leg and unreachable goals do not count."""
    from sim.navigation import detour_ratio
    g = wall_grid()
    around = [(GOAL, GeodesicField(g, GOAL, clearance_map(g)))]
    ratio = detour_ratio([START], around, min_leg=0.3)
    assert ratio > 2.5  # up past the wall's end at y ~ 3.2 and down again: ~2 + 2 x 2.2 m over 2 m
    open_room = OccupancyGrid(4.0, 4.0)
    straight = [(GOAL, GeodesicField(open_room, GOAL, clearance_map(open_room)))]
    assert 1.0 <= detour_ratio([START], straight, min_leg=0.3) < 1.1
    # the worst leg wins; a start on the goal itself (a leg shorter than min_leg) is skipped
    assert detour_ratio([GOAL, START, (1.0, 3.5)], around, min_leg=0.3) == pytest.approx(ratio)
    assert detour_ratio([START], around, min_leg=5.0) == 1.0
    boxed = [((3.0, 3.0), GeodesicField(boxed_goal_grid(), (3.0, 3.0)))]
    assert detour_ratio([START], boxed, min_leg=0.3) == 1.0  # unreachable: no leg to measure
