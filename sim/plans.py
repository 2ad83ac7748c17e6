"""Ground-truth plans: the sequence of skill calls the expert makes for a task, derived from
the scene's facts, and their text form for the language planner.

`plan_for(scene)` replays the decision order of `sim.expert.task_planner.TaskPlanner` on a
symbolic state (robot pose, open containers, object locations): a closed goal container is
opened first, then a closed source, then pick, place, close the goal, stop; a `navigate` comes
before every skill whose work pose differs from where the robot stands. Work poses are keyed
(receptacle, access | handle); only the hinged cabinet has a distinct handle pose, so it needs a
`navigate cabinet` between opening and reaching in. tests/test_planner_language.py checks the
result against the expert's own calls in rollouts. `plan_moves` extends the same rules to
several objects in order (two-object requests; the sim's rearrange_two runs them).

Text form: every step followed by <ACT>, e.g.
  "navigate drawer <ACT> open drawer <ACT> pick red can <ACT> navigate table <ACT>
   place red can table <ACT> stop <ACT>"
"""

from __future__ import annotations

import dataclasses

from sim import furniture as F
from sim.scene import Scene
from sim.scene_facts import SceneFacts
from sim.skills import SKILL_NAMES, Skill, SkillCall

ACT = "<ACT>"


class PlanParseError(ValueError):
    """A plan text that is not a sequence of well-formed `<skill> <arguments> <ACT>` steps."""


@dataclasses.dataclass(frozen=True)
class Move:
    """One object to one receptacle; a container goal ends closed (as in rearrange_hard)."""

    obj: str
    goal: str


def _pose(receptacle: str, handle: bool) -> tuple[str, str]:
    """Work-pose key; receptacles without a separate handle pose open where they are reached."""
    separate = handle and F.RECEPTACLES[receptacle].handle_pose is not None
    return receptacle, "handle" if separate else "access"


class _SymbolicState:
    def __init__(self, facts: SceneFacts):
        self.at = _pose(facts.robot_at, False) if facts.robot_at else None
        self.open = set(facts.open_containers)
        self.loc = {o.name: facts.location(o.name) for o in facts.objects}
        self.steps: list[SkillCall] = []

    def run(self, skill: Skill, target: str = "", receptacle: str = "", *, where: str,
            handle: bool = False) -> None:
        """Navigates to the skill's work pose when not there, then calls the skill."""
        pose = _pose(where, handle)
        if self.at != pose:
            self.steps.append(SkillCall(Skill.NAVIGATE, where))
            self.at = pose
        self.steps.append(SkillCall(skill, target, receptacle))

    def move(self, m: Move) -> None:
        goal_container = F.RECEPTACLES[m.goal].container
        if goal_container and m.goal not in self.open:
            self.run(Skill.OPEN, m.goal, where=m.goal, handle=True)
            self.open.add(m.goal)
        src = self.loc[m.obj]
        if src:  # not already in the gripper
            if F.RECEPTACLES[src].container and src not in self.open:
                self.run(Skill.OPEN, src, where=src, handle=True)
                self.open.add(src)
            self.run(Skill.PICK, m.obj, where=src)
        self.run(Skill.PLACE, m.obj, m.goal, where=m.goal)
        self.loc[m.obj] = m.goal
        if goal_container:
            self.run(Skill.CLOSE, m.goal, where=m.goal, handle=True)
            self.open.discard(m.goal)


def plan_moves(scene: Scene | SceneFacts, moves: list[Move] | tuple[Move, ...]
               ) -> list[SkillCall]:
    """The plan that moves each object in turn, then stops."""
    st = _SymbolicState(SceneFacts.from_scene(scene))
    for m in moves:
        st.move(m)
    return st.steps + [SkillCall(Skill.STOP)]


def plan_for(scene: Scene | SceneFacts) -> list[SkillCall]:
    """The expert's sequence of skill calls for the scene's task, ending with stop."""
    f = SceneFacts.from_scene(scene)
    t = f.task
    if t.task in ("rearrange_easy", "rearrange_hard", "place"):
        return plan_moves(f, [Move(t.target, t.goal)])
    if f.moves:  # rearrange_two
        return plan_moves(f, [Move(m.target, m.goal) for m in f.moves])
    st = _SymbolicState(f)
    if t.task == "navigate":
        st.run(Skill.STOP, where=t.nav_target)
        return st.steps
    if t.task == "pick":
        st.run(Skill.PICK, t.target, where=t.source)
    elif t.task in ("open", "close"):
        st.run(Skill.OPEN if t.task == "open" else Skill.CLOSE, t.source, where=t.source,
               handle=True)
    else:
        raise ValueError(f"no plan for task {t.task!r}")
    return st.steps + [SkillCall(Skill.STOP)]


def plan_text(steps: list[SkillCall] | tuple[SkillCall, ...]) -> str:
    """"navigate drawer <ACT> open drawer <ACT> ... stop <ACT>"."""
    return " ".join(f"{s.text()} {ACT}" for s in steps)


# Arguments each skill takes in text: "object" is two words (colour shape).
_ARGS = {Skill.NAVIGATE: ("receptacle",), Skill.PICK: ("object",),
         Skill.PLACE: ("object", "receptacle"), Skill.OPEN: ("container",),
         Skill.CLOSE: ("container",), Skill.RESET_ARM: (), Skill.STOP: ()}


def _parse_step(i: int, words: list[str]) -> SkillCall:
    where = f"plan step {i + 1} {' '.join(words)!r}"
    if not words:
        raise PlanParseError(f"plan step {i + 1} is empty (two <ACT> in a row?)")
    if words[0] not in SKILL_NAMES:
        raise PlanParseError(f"{where}: unknown skill {words[0]!r}; expected one of "
                             f"{', '.join(SKILL_NAMES)}")
    skill = Skill[words[0].upper()]
    args, rest = [], words[1:]
    for kind in _ARGS[skill]:
        if kind == "object":
            if len(rest) < 2 or rest[0] not in F.COLORS or rest[1] not in F.OBJECTS:
                raise PlanParseError(f"{where}: expected an object '<colour> <shape>' "
                                     f"(colours {', '.join(F.COLORS)}; shapes "
                                     f"{', '.join(F.OBJECTS)}), got {' '.join(rest)!r}")
            args.append(f"{rest[0]} {rest[1]}")
            rest = rest[2:]
        else:
            names = F.CONTAINERS if kind == "container" else tuple(F.RECEPTACLES)
            if not rest or rest[0] not in names:
                raise PlanParseError(f"{where}: expected a {kind} ({', '.join(names)}), got "
                                     f"{' '.join(rest) or 'nothing'!r}")
            args.append(rest[0])
            rest = rest[1:]
    if rest:
        raise PlanParseError(f"{where}: unexpected words {' '.join(rest)!r} after the "
                             f"arguments of {skill.name.lower()}")
    if skill == Skill.PLACE:
        return SkillCall(skill, args[0], args[1])
    return SkillCall(skill, args[0] if args else "")


def parse_plan(text: str) -> list[SkillCall]:
    """Plan text -> steps; PlanParseError names the first malformed step."""
    words = text.split()
    if not words:
        raise PlanParseError("empty plan: expected steps like 'pick red can <ACT>'")
    if words[-1] != ACT:
        raise PlanParseError(f"plan does not end with {ACT}: the last step "
                             f"{' '.join(words[-4:])!r} is unterminated")
    steps, current = [], []
    for w in words:
        if w == ACT:
            steps.append(_parse_step(len(steps), current))
            current = []
        else:
            current.append(w)
    return steps
