"""Skill roles: which receptacle a step's skill serves (the skill's argument), derived from a
recorded episode.

The skill labels say *what* the expert does (navigate, open, ...), not *where*: on
rearrange_hard with two containers, "navigate" after opening the goal container means "drive to
the source container", and a policy conditioned only on "navigate" has to work out from the
state which of the four routes in its observation to follow. Closed-loop failures of the best
:bins_base policy were mostly that (docs/results/rearrange_hard.md, "Skill roles"): the goal
container opened, then the robot parked at it instead of driving to the source. The Skill
Transformer paper's skills carry their target; `ModelConfig.num_roles` adds it as a second
label: a role head next to the skill head, the role's embedding added to the skill token and to
the action head's condition.

Roles are not in the RLDS files (they hold the skill id and name); they follow from what is:
  pick -> SOURCE, place -> GOAL, reset_arm / stop -> NONE;
  open / close -> the container whose open fraction (state field `articulation`: source, goal)
      changes most over the run of steps; if neither moves, the expert's order: open the goal
      first when it must end closed and is not open, else the source; close -> the goal when it
      is a container that must end closed;
  navigate -> the role of the next run of another skill (the manipulation it drives to), else
      of the previous one, else NONE.
tests/test_roles.py checks these against the task planner's own targets on expert rollouts.

Two schemes (`SCHEMES`, config `data.role_scheme`):
  "receptacle" (3 roles: none / source / goal): the receptacle above. "navigate, source" still
      covers two drives: to the source container's handle (to open it) and to the pose that
      picks from it, and "navigate, goal" to the goal's handle and to the place pose.
  "route" (5 roles: none / pick / place / source_handle / goal_handle): the work pose the step
      serves, i.e. which of the four route fields of the observation (sim.observation.Routes:
      to the pick pose, the place pose, the source's and the goal's handle) it follows:
      pick -> pick, place -> place, open / close -> the handle of their receptacle, navigate ->
      the route of the manipulation it drives to, reset_arm / stop -> none.
"""

from __future__ import annotations

import numpy as np

from sim.observation import state_slices
from sim.skills import OPEN_FRACTION, Skill

NONE, SOURCE, GOAL = 0, 1, 2
ROLE_NAMES = ("none", "source", "goal")
NUM_ROLES = len(ROLE_NAMES)
# the "route" scheme (NONE = 0 shared)
PICK_ROUTE, PLACE_ROUTE, SOURCE_HANDLE, GOAL_HANDLE = 1, 2, 3, 4
ROUTE_ROLE_NAMES = ("none", "pick", "place", "source_handle", "goal_handle")
SCHEMES = {"receptacle": ROLE_NAMES, "route": ROUTE_ROLE_NAMES}
_MOVED = 0.05  # open-fraction change that counts as "this container was worked on"
_SLICES = state_slices()


def _runs(skill: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each maximal run of equal labels."""
    cut = np.flatnonzero(np.diff(skill)) + 1
    edges = np.concatenate([[0], cut, [len(skill)]])
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def num_roles(scheme: str) -> int:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown role scheme {scheme!r}; use one of {sorted(SCHEMES)} "
                         f"(config data.role_scheme)")
    return len(SCHEMES[scheme])


def _route(skill: int, receptacle: int) -> int:
    """The route role of a manipulation run with the given receptacle role."""
    if skill == Skill.PICK:
        return PICK_ROUTE
    if skill == Skill.PLACE:
        return PLACE_ROUTE
    if skill in (Skill.OPEN, Skill.CLOSE):
        return SOURCE_HANDLE if receptacle == SOURCE else GOAL_HANDLE
    return NONE


def skill_roles(skill: np.ndarray, state: np.ndarray, scheme: str = "receptacle") -> np.ndarray:
    """skill (N,) int labels and the raw (not normalised) state (N, D) of one episode -> (N,)
    int32 roles in [0, num_roles(scheme))."""
    num_roles(scheme)  # validates the name
    skill = np.asarray(skill)
    n = len(skill)
    roles = np.full(n, NONE, np.int32)
    if n == 0:
        return roles
    art = np.asarray(state)[:, _SLICES["articulation"]]  # (N, 2) open fraction: source, goal
    flags = np.asarray(state)[0, _SLICES["task_flags"]]  # source is container, goal is, closed
    goal_closes = bool(flags[1] > 0.5 and flags[2] > 0.5)
    runs = _runs(skill)
    run_role = []
    for a, b in runs:
        s = int(skill[a])
        if s == Skill.PICK:
            r = SOURCE
        elif s == Skill.PLACE:
            r = GOAL
        elif s in (Skill.OPEN, Skill.CLOSE):
            end = min(b, n - 1)
            moved = np.abs(art[end] - art[a])
            if moved.max() >= _MOVED:
                r = GOAL if moved[1] > moved[0] else SOURCE
            elif s == Skill.OPEN:
                r = GOAL if goal_closes and art[a, 1] < OPEN_FRACTION else SOURCE
            else:
                r = GOAL if goal_closes else SOURCE
        else:
            r = NONE
        run_role.append(_route(s, r) if scheme == "route" else r)
    for i, (a, b) in enumerate(runs):
        if int(skill[a]) != Skill.NAVIGATE:
            continue
        nxt = [run_role[j] for j in range(i + 1, len(runs))
               if int(skill[runs[j][0]]) != Skill.NAVIGATE]
        prev = [run_role[j] for j in range(i - 1, -1, -1)
                if int(skill[runs[j][0]]) != Skill.NAVIGATE]
        run_role[i] = nxt[0] if nxt else (prev[0] if prev else NONE)
    for (a, b), r in zip(runs, run_role):
        roles[a:b] = r
    return roles
