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
    return template.format(**slots)
