"""(instruction, scene, plan) samples for the language planner, drawn deterministically by
split and index.

Splits:
  train             train-seed scenes, TRAIN_TEMPLATES, no held-out pair anywhere
  seen              eval-seed scenes, otherwise as train (seen phrasings, new scenes)
  heldout_template  eval-seed scenes, HELDOUT_TEMPLATES only, no held-out pair
  heldout_pair      eval-seed scenes, TRAIN_TEMPLATES, at least one (object, goal) pair from
                    HELDOUT_PAIRS: a colour-shape object and a receptacle that training never
                    asks to put together (each colour, shape and receptacle is seen in training)

A pair is (object moved, goal receptacle). Tasks mix all sim tasks and two-object requests
(`two_object`: a rearrange_easy / rearrange_hard scene with a second object and goal picked
from it freely; `executable` is False: the sim's own two-object task, rearrange_two, draws its
second move by narrower rules, and `scene_instruction` phrases its scenes). Scenes are
`sim.scene_facts.symbolic_scene`s unless `real=True` (then `sim.scene.sample_scene`, ~50 ms
each).
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from sim import furniture as F
from sim.instructions import HELDOUT_TEMPLATES, TRAIN_TEMPLATES, render, template_kind
from sim.plans import Move, plan_for, plan_moves, plan_text
from sim.scene import split_seed
from sim.scene_facts import SceneFacts, scene_text, symbolic_scene
from sim.skills import SkillCall

SPLITS = ("train", "seen", "heldout_template", "heldout_pair")
_SALT = {"train": 0x7A1, "seen": 0x5EE, "heldout_template": 0x7E3, "heldout_pair": 0xA12}
# Mix of requests (weights). two_object scenes come from rearrange_easy / rearrange_hard.
TASK_WEIGHTS = {"rearrange_hard": 0.30, "rearrange_easy": 0.20, "two_object": 0.25,
                "navigate": 0.05, "pick": 0.05, "place": 0.05, "open": 0.05, "close": 0.05}
GOAL_TASKS = ("rearrange_hard", "rearrange_easy", "two_object", "place")  # have (object, goal)
MAX_ATTEMPTS = 500


def _heldout_pairs() -> frozenset[tuple[str, str]]:
    """~11% of the 225 (object, receptacle) combinations, spread over colours, shapes and
    receptacles by a fixed rule (never changes: evaluation numbers depend on it)."""
    out = set()
    for (ci, c), (si, s), (ri, r) in itertools.product(
            enumerate(F.COLORS), enumerate(F.OBJECTS), enumerate(F.RECEPTACLES)):
        if (5 * ci + 3 * si + ri) % 9 == 4:
            out.add((f"{c} {s}", r))
    return frozenset(out)


HELDOUT_PAIRS = _heldout_pairs()


@dataclasses.dataclass(frozen=True)
class InstructionSample:
    split: str
    index: int
    instruction: str
    scene: str  # sim.scene_facts.scene_text: the planner's view of the start state
    plan: tuple[SkillCall, ...]
    task: str  # a sim task, or "two_object"
    family: str  # template family (sim.instructions.FAMILIES)
    template: str
    pairs: tuple[tuple[str, str], ...]  # (object, goal receptacle) per moved object
    scene_seed: int

    @property
    def two_object(self) -> bool:
        return self.task == "two_object"

    @property
    def executable(self) -> bool:
        """The sim has this task (two-object requests are text + plan only for now)."""
        return not self.two_object

    @property
    def plan_text(self) -> str:
        return plan_text(self.plan)


def _choose_weighted(rng, weights: dict) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _second_move(facts: SceneFacts, rng) -> Move | None:
    """A second object (not the target, not held) and a receptacle it is not in."""
    objs = [o.name for o in facts.objects if o.name != facts.task.target and facts.location(o.name)]
    if not objs:
        return None
    obj = objs[int(rng.integers(len(objs)))]
    goals = [r for r in facts.receptacles if r != facts.location(obj)]
    return Move(obj, goals[int(rng.integers(len(goals)))])


def _pairs_ok(split: str, pairs) -> bool:
    held = any(p in HELDOUT_PAIRS for p in pairs)
    return held if split == "heldout_pair" else not held


def draw_sample(split: str, index: int, real: bool = False) -> InstructionSample:
    """The `index`-th sample of `split` (pure in (split, index, real))."""
    if split not in SPLITS:
        raise ValueError(f"unknown instruction split {split!r}; choose one of {SPLITS}")
    rng = np.random.default_rng(np.random.SeedSequence([int(index), _SALT[split]]))
    weights = TASK_WEIGHTS if split != "heldout_pair" else \
        {k: v for k, v in TASK_WEIGHTS.items() if k in GOAL_TASKS}
    templates = HELDOUT_TEMPLATES if split == "heldout_template" else TRAIN_TEMPLATES
    task = _choose_weighted(rng, weights)
    for _ in range(MAX_ATTEMPTS):
        scene_task = task if task != "two_object" else \
            ("rearrange_easy", "rearrange_hard")[int(rng.integers(2))]
        seed = split_seed("train" if split == "train" else "eval", int(rng.integers(1_000_000)))
        if real:
            from sim.scene import sample_scene
            facts = SceneFacts.from_scene(sample_scene(seed, scene_task))
        else:
            facts = symbolic_scene(seed, scene_task)
        t = facts.task
        moves = [Move(t.target, t.goal)] if task in GOAL_TASKS else []
        if task == "two_object":
            second = _second_move(facts, rng)
            if second is None:
                continue
            moves.append(second)
        pairs = tuple((m.obj, m.goal) for m in moves)
        if _pairs_ok(split, pairs):
            break
    else:
        raise RuntimeError(f"no {split} sample for index {index} after {MAX_ATTEMPTS} scenes")
    family = "two_object" if task == "two_object" else template_kind(facts)
    options = templates[family]
    template = options[int(rng.integers(len(options)))]
    text = render(template, facts, rng, second=moves[1] if task == "two_object" else None)
    plan = plan_moves(facts, moves) if task == "two_object" else plan_for(facts)
    return InstructionSample(split, int(index), text, scene_text(facts), tuple(plan), task,
                             family, template, pairs, seed)


def draw_samples(split: str, count: int, start: int = 0, real: bool = False
                 ) -> list[InstructionSample]:
    """Samples start .. start + count - 1 of `split`."""
    return [draw_sample(split, i, real) for i in range(start, start + count)]


PHRASINGS = {"train": TRAIN_TEMPLATES, "heldout_template": HELDOUT_TEMPLATES}


def scene_instruction(scene, seed: int, phrasing: str = "train") -> str:
    """A planner-grammar instruction for a sim scene, drawn from `seed`: "train" phrasings
    (TRAIN_TEMPLATES: what training sees) or "heldout_template" (HELDOUT_TEMPLATES: evaluation
    only)."""
    if phrasing not in PHRASINGS:
        raise ValueError(f"unknown phrasing {phrasing!r}; choose one of {tuple(PHRASINGS)}")
    facts = SceneFacts.from_scene(scene)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _SALT[phrasing], 1]))
    options = PHRASINGS[phrasing][template_kind(facts)]
    return render(options[int(rng.integers(len(options)))], facts, rng)


def train_instruction(scene, seed: int) -> str:
    """A training-grammar instruction for a sim scene (the richer counterpart of
    sim.instructions.instruction, for when the dataset switches grammars; LCB stage 2 trains
    on it)."""
    return scene_instruction(scene, seed, "train")
