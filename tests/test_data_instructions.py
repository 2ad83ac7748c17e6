"""Language instructions: a deterministic function of (scene, seed) that names the task."""

from __future__ import annotations

from sim.instructions import RECEPTACLE_WORDS, SHAPE_WORDS, TEMPLATES, instruction, template_kind
from sim.scene import sample_scene
from sim.tasks import TASKS


def _names(words: dict, key: str) -> tuple[str, ...]:
    return words[key]


def test_instruction_is_a_pure_function_of_scene_and_seed():
    scene = sample_scene(3, "rearrange_hard")
    assert instruction(scene, 3) == instruction(sample_scene(3, "rearrange_hard"), 3)
    texts = {instruction(scene, s) for s in range(40)}
    assert len(texts) > 3  # templates and synonyms vary with the seed


def test_instructions_name_the_object_and_the_receptacles():
    for task in TASKS:
        for seed in range(12):
            scene = sample_scene(seed, task)
            t = scene.task
            text = instruction(scene, seed)
            assert "{" not in text and text == text.strip() and "  " not in text
            if task == "navigate":
                assert any(w in text for w in _names(RECEPTACLE_WORDS, t.nav_target))
                continue
            if task not in ("open", "close"):
                obj = scene.object(t.target)
                assert any(f"{obj.color} {w}" in text for w in _names(SHAPE_WORDS, obj.shape)), text
            if task in ("open", "close"):
                assert any(w in text for w in _names(RECEPTACLE_WORDS, t.source)), text
            if task in ("place", "rearrange_easy", "rearrange_hard"):
                assert any(w in text for w in _names(RECEPTACLE_WORDS, t.goal)), text


def test_closed_goal_instructions_ask_to_close_it():
    seen = 0
    for seed in range(30):
        scene = sample_scene(seed, "rearrange_hard")
        if scene.task.goal_closed:
            seen += 1
            assert template_kind(scene) == "rearrange_closed"
            assert any(w in instruction(scene, seed) for w in ("close", "shut"))
    assert seen > 0


def test_every_template_family_is_used_by_some_task():
    kinds = {template_kind(sample_scene(s, task)) for task in TASKS for s in range(20)}
    assert kinds == set(TEMPLATES)
