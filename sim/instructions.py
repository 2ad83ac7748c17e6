"""Natural-language instructions for a task instance: a small template grammar with synonyms.

`instruction(scene, seed)` is a pure function of (scene, seed): the dataset stores it as every
step's `language_instruction`, and the planner issue extends the grammar (more templates,
paraphrases). Objects are always named by colour and shape ("the red can"), which is unique in a
scene, so an instruction never becomes ambiguous whichever synonym is drawn.
"""

from __future__ import annotations

import numpy as np

from sim import furniture as F
from sim.scene import Scene

# Surface forms of receptacles and object shapes. The first entry is the canonical name.
RECEPTACLE_WORDS: dict[str, tuple[str, ...]] = {
    "table": ("table",),
    "counter": ("counter", "kitchen counter", "countertop"),
    "shelf": ("shelf",),
    "drawer": ("drawer",),
    "cabinet": ("cabinet", "cupboard"),
}
SHAPE_WORDS: dict[str, tuple[str, ...]] = {
    "cube": ("cube",),
    "block": ("block", "brick"),
    "can": ("can", "tin can"),
    "bottle": ("bottle",),
    "puck": ("puck", "disc"),
}

# Templates per kind of request. Slots: {obj} object phrase, {src} source receptacle, {goal}
# goal receptacle, {on} "on"/"in", {onto} "onto"/"into".
TEMPLATES: dict[str, tuple[str, ...]] = {
    "rearrange": (
        "put the {obj} {on} the {goal}",
        "move the {obj} {onto} the {goal}",
        "place the {obj} {on} the {goal}",
        "take the {obj} from the {src} and put it {on} the {goal}",
        "bring the {obj} to the {goal}",
    ),
    "rearrange_from_container": (
        "take the {obj} out of the {src} and put it {on} the {goal}",
        "get the {obj} from the {src} and place it {on} the {goal}",
        "move the {obj} from the {src} {onto} the {goal}",
        "put the {obj} that is in the {src} {on} the {goal}",
    ),
    "rearrange_closed": (  # the goal container must end closed
        "put the {obj} {on} the {goal} and close it",
        "move the {obj} {onto} the {goal}, then close the {goal}",
        "store the {obj} {on} the {goal} and shut it",
        "take the {obj} out of the {src}, put it {on} the {goal} and close the {goal}",
    ),
    # rearrange_two: {obj2} {goal2} {on2} {onto2} name the second move
    "two_object": (
        "put the {obj} {on} the {goal} and the {obj2} {on2} the {goal2}",
        "move the {obj} {onto} the {goal}, then move the {obj2} {onto2} the {goal2}",
    ),
    "pick": ("pick up the {obj}", "grab the {obj} from the {src}", "lift the {obj}"),
    "place": ("place the {obj} {on} the {goal}", "put the {obj} down {on} the {goal}",
              "set the {obj} {on} the {goal}"),
    "open": ("open the {src}", "pull the {src} open"),
    "close": ("close the {src}", "shut the {src}", "push the {src} closed"),
    "navigate": ("go to the {nav}", "navigate to the {nav}", "drive over to the {nav}"),
}
_SALT = 0x1E57  # separates this stream from the scene sampler's


def template_kind(scene: Scene) -> str:
    """Which template family describes the scene's task."""
    t = scene.task
    if t.task == "rearrange_two":
        return "two_object"
    if t.task in ("rearrange_easy", "rearrange_hard"):
        if t.goal_closed:
            return "rearrange_closed"
        return "rearrange_from_container" if F.RECEPTACLES[t.source].container else "rearrange"
    return t.task


def instruction(scene: Scene, seed: int) -> str:
    """A natural-language goal for the scene's task, drawn deterministically from `seed`."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _SALT]))
    t = scene.task

    def pick(options):
        return options[int(rng.integers(len(options)))]

    template = pick(TEMPLATES[template_kind(scene)])
    goal_container = bool(t.goal) and F.RECEPTACLES[t.goal].container
    obj = scene.object(t.target) if t.target else None
    slots = {
        "obj": f"{obj.color} {pick(SHAPE_WORDS[obj.shape])}" if obj else "",
        "src": pick(RECEPTACLE_WORDS[t.source]) if t.source else "",
        "goal": pick(RECEPTACLE_WORDS[t.goal]) if t.goal else "",
        "nav": pick(RECEPTACLE_WORDS[t.nav_target]) if t.nav_target else "",
        "on": "in" if goal_container else "on",
        "onto": "into" if goal_container else "onto",
    }
    if len(scene.moves) > 1:
        m = scene.moves[1]
        goal2_container = F.RECEPTACLES[m.goal].container
        obj2 = scene.object(m.target)
        slots.update(obj2=f"{obj2.color} {pick(SHAPE_WORDS[obj2.shape])}",
                     goal2=pick(RECEPTACLE_WORDS[m.goal]), on2="in" if goal2_container else "on",
                     onto2="into" if goal2_container else "onto")
    return template.format(**slots)


# ---------------------------------------------------------------------------------------------
# The planner's grammar (issue 7). `instruction()` above stays as it is: the dataset stores its
# output and the RLDS files are byte-reproducible. Everything below is a superset: more
# synonyms, referring expressions, two-object requests, and a fixed set of held-out templates
# that the training draw never uses (sim/instruction_samples.py draws the splits).

RECEPTACLE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "table": RECEPTACLE_WORDS["table"] + ("dining table", "wooden table"),
    "counter": RECEPTACLE_WORDS["counter"] + ("worktop",),
    "shelf": RECEPTACLE_WORDS["shelf"] + ("shelf unit", "rack"),
    "drawer": RECEPTACLE_WORDS["drawer"] + ("top drawer", "drawer unit"),
    "cabinet": RECEPTACLE_WORDS["cabinet"] + ("storage cabinet",),
}
SHAPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "cube": SHAPE_WORDS["cube"] + ("box",),
    "block": SHAPE_WORDS["block"] + ("bar",),
    "can": SHAPE_WORDS["can"] + ("tin",),
    "bottle": SHAPE_WORDS["bottle"] + ("flask",),
    "puck": SHAPE_WORDS["puck"] + ("disk",),
}
# Adjectives true of every object of the shape ("the small red cube", "the tall green bottle").
SHAPE_ADJECTIVES: dict[str, tuple[str, ...]] = {
    "cube": ("small", "little"), "block": ("long", "rectangular"), "can": ("round", "metal"),
    "bottle": ("tall", "slim"), "puck": ("flat", "round"),
}
THING_WORDS = ("thing", "object", "item")

# Template families. Slots as above plus {obj2} {goal2} {on2} {onto2} (second object).
# Requests that imply opening: the planner reads from the scene that the object sits in a closed
# container ("bring the red can to the table"), or that a goal is a container ("put the red can
# away in the cabinet": open it, place, close it).
TRAIN_TEMPLATES: dict[str, tuple[str, ...]] = {
    "navigate": TEMPLATES["navigate"] + (
        "head to the {nav}", "move to the {nav}", "go over to the {nav}", "drive to the {nav}",
        "approach the {nav}", "please go to the {nav}"),
    "pick": TEMPLATES["pick"] + (
        "pick the {obj} up", "grasp the {obj}", "take the {obj}", "get the {obj}",
        "please pick up the {obj}"),
    "place": TEMPLATES["place"] + (
        "put the {obj} you are holding {on} the {goal}", "drop the {obj} {onto} the {goal}",
        "put it {on} the {goal}", "please place the {obj} {on} the {goal}"),
    "open": TEMPLATES["open"] + (
        "open up the {src}", "please open the {src}", "pull open the {src}", "can you open the {src}"),
    "close": TEMPLATES["close"] + (
        "close up the {src}", "please close the {src}", "shut the {src} please"),
    "rearrange": TEMPLATES["rearrange"] + (
        "carry the {obj} over to the {goal}", "set the {obj} {on} the {goal}",
        "pick up the {obj} and put it {on} the {goal}", "i want the {obj} {on} the {goal}",
        "transfer the {obj} from the {src} to the {goal}", "please put the {obj} {on} the {goal}"),
    "rearrange_from_container": TEMPLATES["rearrange_from_container"] + (
        "open the {src}, take out the {obj} and put it {on} the {goal}",
        "fetch the {obj} from the {src} and put it {on} the {goal}",
        "bring the {obj} to the {goal}", "put the {obj} {on} the {goal}",
        "retrieve the {obj} from the {src} and set it {on} the {goal}"),
    "rearrange_closed": TEMPLATES["rearrange_closed"] + (
        "put the {obj} away in the {goal}", "put away the {obj} in the {goal}",
        "place the {obj} {on} the {goal}, then shut the {goal}",
        "open the {goal}, put the {obj} inside and close it", "put the {obj} {on} the {goal}"),
    "two_object": (
        "put the {obj} {on} the {goal} and the {obj2} {on2} the {goal2}",
        "move the {obj} {onto} the {goal}, then move the {obj2} {onto2} the {goal2}",
        "first put the {obj} {on} the {goal}, then the {obj2} {on2} the {goal2}",
        "place the {obj} {on} the {goal} and place the {obj2} {on2} the {goal2}",
        "bring the {obj} to the {goal} and the {obj2} to the {goal2}",
        "take the {obj} to the {goal}, after that put the {obj2} {on2} the {goal2}"),
}
# Never used for training: phrasings (and some words) the planner meets only in evaluation.
HELDOUT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "navigate": ("make your way to the {nav}", "could you roll over to the {nav}"),
    "pick": ("could you grab hold of the {obj}", "lift up the {obj} for me"),
    "place": ("leave the {obj} {on} the {goal}", "could you set down the {obj} {on} the {goal}"),
    "open": ("get the {src} open", "could you open up the {src} for me"),
    "close": ("get the {src} closed", "make sure the {src} is shut"),
    "rearrange": ("could you relocate the {obj} to the {goal}",
                  "the {obj} belongs {on} the {goal}"),
    "rearrange_from_container": ("the {obj} in the {src} belongs {on} the {goal}",
                                 "could you relocate the {obj} to the {goal}"),
    "rearrange_closed": ("tidy the {obj} away into the {goal}",
                         "stash the {obj} {on} the {goal} and shut it"),
    "two_object": ("could you relocate the {obj} to the {goal} and the {obj2} to the {goal2}",
                   "the {obj} belongs {on} the {goal} and the {obj2} belongs {on2} the {goal2}"),
}
FAMILIES = tuple(TRAIN_TEMPLATES)
CANONICAL_NAME_P = 0.5  # probability of naming an object by colour and shape alone


def referring_expressions(facts, name: str, with_location: bool = True) -> list[str]:
    """Every description of object `name` (without "the") that fits no other object of the
    scene: "red can", "round red can", "red thing on the table", "can in the drawer", "red
    object", "can", "red can in the drawer". Canonical ("red can") first. `facts` is a SceneFacts;
    locations are the start state's (a held object has none)."""
    o = facts.object(name)
    where = facts.location(name)
    rel = ("in" if F.RECEPTACLES[where].container else "on") if where else ""

    def unique(color=None, shape=None, loc=None) -> bool:
        return sum(1 for p in facts.objects
                   if (color is None or p.color == color) and (shape is None or p.shape == shape)
                   and (loc is None or facts.location(p.name) == loc)) == 1

    out = [f"{o.color} {{shape}}"] + [f"{a} {o.color} {{shape}}" for a in SHAPE_ADJECTIVES[o.shape]]
    if unique(color=o.color):
        out.append(f"{o.color} {{thing}}")
    if unique(shape=o.shape):
        out.append("{shape}")
    if where and with_location:
        out.append(f"{o.color} {{shape}} {rel} the {{loc}}")
        if unique(color=o.color, loc=where):
            out.append(f"{o.color} {{thing}} {rel} the {{loc}}")
        if unique(shape=o.shape, loc=where):
            out.append(f"{{shape}} {rel} the {{loc}}")
    return out


def describe_object(facts, name: str, rng, with_location: bool = True) -> str:
    """One unambiguous description of the object, synonyms drawn from `rng`: canonical with
    probability CANONICAL_NAME_P, otherwise any other form of `referring_expressions`."""
    forms = referring_expressions(facts, name, with_location)
    form = forms[0] if rng.random() < CANONICAL_NAME_P or len(forms) == 1 else \
        forms[1 + int(rng.integers(len(forms) - 1))]
    o = facts.object(name)
    where = facts.location(name)
    return form.format(shape=_choose(SHAPE_SYNONYMS[o.shape], rng),
                       thing=_choose(THING_WORDS, rng),
                       loc=_choose(RECEPTACLE_SYNONYMS[where], rng) if where else "")


def _choose(options, rng):
    return options[int(rng.integers(len(options)))]


def render(template: str, facts, rng, second=None) -> str:
    """Fills `template` for the scene's task (a SceneFacts), `second` a sim.plans.Move for
    two-object templates (by default a rearrange_two scene's second move). An object described
    by its location is only used in templates that do not name the source themselves."""
    t = facts.task
    if second is None and len(facts.moves) > 1:
        from sim.plans import Move
        second = Move(facts.moves[1].target, facts.moves[1].goal)
    with_location = "{src}" not in template
    goal = second_goal = ""
    slots = {"src": _choose(RECEPTACLE_SYNONYMS[t.source], rng) if t.source else "",
             "nav": _choose(RECEPTACLE_SYNONYMS[t.nav_target], rng) if t.nav_target else ""}
    if "{obj}" in template:
        slots["obj"] = describe_object(facts, t.target, rng, with_location)
    if "{goal}" in template:
        goal = t.goal
        slots["goal"] = _choose(RECEPTACLE_SYNONYMS[goal], rng)
    if second is not None:
        slots["obj2"] = describe_object(facts, second.obj, rng, with_location)
        second_goal = second.goal
        slots["goal2"] = _choose(RECEPTACLE_SYNONYMS[second_goal], rng)
    for suffix, g in (("", goal), ("2", second_goal)):
        container = bool(g) and F.RECEPTACLES[g].container
        slots["on" + suffix] = "in" if container else "on"
        slots["onto" + suffix] = "into" if container else "onto"
    return template.format(**slots)
