"""ModelConfig: built from a config section, round-trips through JSON, rejects typos."""

from __future__ import annotations

import json

import pytest

from robot_skills.model import SIZES, LossConfig, ModelConfig, model_section
from sim.observation import STATE_DIM
from sim.skills import NUM_SKILLS


@pytest.mark.parametrize("size", list(SIZES))
def test_model_section_builds_the_named_size(size):
    section = model_section(size, cameras=("depth",))
    config = ModelConfig.from_config(section)
    assert config.d_model == SIZES[size]["d_model"]
    assert config.image_keys == ("depth",)
    assert (config.state_dim, config.num_skills, config.action_dim) == (STATE_DIM, NUM_SKILLS, 8)


def test_config_round_trips_through_json():
    config = ModelConfig(d_model=64, num_heads=4, num_tasks=5, image_keys=("rgb",),
                         skill_conditioning=False,
                         loss=LossConfig(skill_loss="focal", gripper_weight=2.0))
    again = ModelConfig.from_config(json.loads(json.dumps(config.to_dict())))
    assert again == config


def test_overrides_in_the_section_are_applied():
    section = model_section("small")
    section.num_layers = 3
    section.loss.skill_loss = "focal"
    config = ModelConfig.from_config(section)
    assert config.num_layers == 3 and config.loss.skill_loss == "focal"


@pytest.mark.parametrize("bad, match", [
    ({"d_modle": 64}, "d_modle"),
    ({"loss": {"skil_weight": 1.0}}, "skil_weight"),
    ({"d_model": 30, "num_heads": 4}, "multiple"),
    ({"dtype": "float16"}, "dtype"),
    ({"image_keys": ["lidar"]}, "lidar"),
    ({"loss": {"skill_loss": "hinge"}}, "hinge"),
    ({"skill_head": False}, "skill_conditioning=True needs skill_head=True"),
    ({"route_length_cap": -1.0}, "route_length_cap must be >= 0"),
])
def test_invalid_sections_are_rejected_with_the_key_named(bad, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig.from_config(bad)


def test_unknown_size_is_rejected():
    with pytest.raises(ValueError, match="small"):
        model_section("huge")
