"""Config files and overrides: variants, typed overrides, and errors that name the key."""

from __future__ import annotations

import pytest

from train.config import ConfigError, load_config

HARD = "configs/rearrange_hard.py"


def test_configs_have_task_env_data_sections():
    for path, task in ((HARD, "rearrange_hard"), ("configs/rearrange_easy.py", "rearrange_easy")):
        c = load_config(path)
        assert c.task.name == task
        assert tuple(c.env.cameras) == ()
        assert c.data.episodes > 0 and c.data.window > 0 and c.data.batch_size > 0
        assert 0 < c.data.val_fraction < 1


def test_variants_combine_with_commas():
    c = load_config(HARD + ":small,depth")
    assert c.data.episodes < load_config(HARD).data.episodes
    assert tuple(c.env.cameras) == ("depth",)
    assert c.data.dir != load_config(HARD).data.dir  # a variant never overwrites the default data


@pytest.mark.parametrize("model", ["flat_bc", "skill_nocond"])
def test_baseline_variants_change_only_the_model_flags(model):
    """Same data, same training budget: a baseline token sets model flags and nothing else."""
    base = load_config(HARD + ":small").to_dict()
    c = load_config(HARD + f":small,{model}").to_dict()
    assert c["data"] == base["data"] and c["train"] == base["train"] and c["env"] == base["env"]
    flags = {"flat_bc": (False, False), "skill_nocond": (True, False)}[model]
    assert (c["model"]["skill_head"], c["model"]["skill_conditioning"]) == flags
    assert {k: v for k, v in c["model"].items() if k not in ("skill_head", "skill_conditioning")} \
        == {k: v for k, v in base["model"].items() if k not in ("skill_head", "skill_conditioning")}


@pytest.mark.parametrize("head, bins, dims, arm_weight", [("bins", 64, "all", 1.0),
                                                          ("bins_base", 64, "base", 25.0)])
def test_head_variants_set_the_head_and_its_loss_weights_only(head, bins, dims, arm_weight):
    base = load_config(HARD + ":small").to_dict()
    c = load_config(HARD + f":small,flat_bc,{head}").to_dict()
    assert c["data"] == base["data"] and c["train"] == base["train"]
    m = c["model"]
    assert (m["action_bins"], m["bin_dims"], m["loss"]["arm_weight"]) == (bins, dims, arm_weight)
    assert (m["skill_head"], m["skill_conditioning"]) == (False, False)  # combines with flat_bc
    assert base["model"]["action_bins"] == 0 and base["model"]["loss"]["arm_weight"] != arm_weight
    # an override on the command line still wins over the variant
    assert load_config(HARD + f":{head}", ["model.loss.arm_weight=5"]).model.loss.arm_weight == 5.0


def test_nolidar_variant_drops_the_lidar_from_the_model_only():
    """Same dataset and budget: the model reads every state field but the lidar ranges, and the
    ModelConfig built from the section carries it (tests/test_model_baselines.py checks that
    the outputs are blind to dropped fields)."""
    from robot_skills.model.config import ModelConfig
    base = load_config(HARD + ":bins_base").to_dict()
    c = load_config(HARD + ":bins_base,nolidar").to_dict()
    assert c["data"] == base["data"] and c["train"] == base["train"] and c["env"] == base["env"]
    assert base["model"]["drop_state"] == () and c["model"]["drop_state"] == ("lidar",)
    assert {k: v for k, v in c["model"].items() if k != "drop_state"} == \
        {k: v for k, v in base["model"].items() if k != "drop_state"}
    assert ModelConfig.from_config(c["model"]).drop_state == ("lidar",)


def test_routecap_variant_caps_route_lengths_in_the_model_only():
    """Same dataset and budget: the model section carries route_length_cap=3, which the loader
    (state_bounds) and the checkpoint's ModelConfig both read; without the token it is off."""
    import numpy as np

    from robot_skills.data.loader import state_bounds
    from robot_skills.model.config import ModelConfig
    base = load_config(HARD + ":bins_base,nolidar")
    c = load_config(HARD + ":bins_base,nolidar,routecap")
    b, d = base.to_dict(), c.to_dict()
    assert d["data"] == b["data"] and d["train"] == b["train"] and d["env"] == b["env"]
    assert b["model"]["route_length_cap"] == 0.0 and d["model"]["route_length_cap"] == 3.0
    assert {k: v for k, v in d["model"].items() if k != "route_length_cap"} == \
        {k: v for k, v in b["model"].items() if k != "route_length_cap"}
    assert ModelConfig.from_config(d["model"]).route_length_cap == 3.0
    assert state_bounds(base) is None
    hi = state_bounds(c)
    assert hi is not None and np.sum(hi == 3.0) == 4 and np.all(np.isinf(hi[hi != 3.0]))


def test_two_baseline_variants_are_an_error():
    with pytest.raises(ConfigError, match="exclude each other"):
        load_config(HARD + ":small,flat_bc,skill_nocond")


def test_overrides_are_typed():
    c = load_config(HARD, ["data.episodes=10", "data.noise_std=0", "--config.data.keep_failed=true",
                           "config.env.cameras=depth,rgb", "data.normalization.action=bounds",
                           "data.dir=/tmp/x"])
    assert c.data.episodes == 10 and isinstance(c.data.episodes, int)
    assert c.data.noise_std == 0.0 and isinstance(c.data.noise_std, float)
    assert c.data.keep_failed is True
    assert tuple(c.env.cameras) == ("depth", "rgb")
    assert c.data.normalization.action == "bounds"
    assert c.data.dir == "/tmp/x"


def test_unknown_key_names_it_and_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"'data.episode'.*valid keys: .*episodes"):
        load_config(HARD, ["data.episode=3"])
    with pytest.raises(ConfigError, match=r"'dta.episodes'.*valid keys: data, env, model, task, train"):
        load_config(HARD, ["dta.episodes=3"])


def test_wrong_type_names_the_key_and_the_expected_type():
    with pytest.raises(ConfigError, match=r"'data.episodes' expects int.*'ten'"):
        load_config(HARD, ["data.episodes=ten"])
    with pytest.raises(ConfigError, match=r"'data.episodes' expects int.*'2.5'"):
        load_config(HARD, ["data.episodes=2.5"])
    with pytest.raises(ConfigError, match=r"'data.keep_failed' expects bool"):
        load_config(HARD, ["data.keep_failed=3"])
    with pytest.raises(ConfigError, match=r"'data' is a section"):
        load_config(HARD, ["data=3"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(HARD, ["data.episodes"])


def test_bad_file_or_variant_is_a_clear_error():
    with pytest.raises(ConfigError, match="not found"):
        load_config("configs/nope.py")
    with pytest.raises(ConfigError, match=r"unknown config variant.*'tiny'.*small"):
        load_config(HARD + ":tiny")
