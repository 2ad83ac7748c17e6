"""`robot-skills compare`: variant specs, the same-budget check, the side-by-side table (pure), and
the whole command on a tiny setting (generate once, train and evaluate every variant, rerun
reuses the finished runs)."""

from __future__ import annotations

import json
import os
import re

import pytest

from train.compare_job import (VARIANTS, check_same_budget, comparison_rows, format_markdown,
                               format_table, variant_spec)
from train.config import load_config

TINY = ["task.name=pick", "data.episodes=2", "data.workers=1", "data.val_fraction=0.5",
        "data.window=4", "data.batch_size=8", "data.prefetch=1", "model.d_model=32",
        "model.num_layers=1", "model.num_heads=2", "model.mlp_dim=64", "model.state_hidden=32",
        "model.context=4", "train.steps=5", "train.warmup_steps=2", "train.log_every=1",
        "train.eval_every=5", "train.eval_batches=1", "train.checkpoint_every=5"]


def test_variant_spec_appends_the_model_token():
    assert variant_spec("configs/x.py:small", "skill_transformer") == "configs/x.py:small"
    assert variant_spec("configs/x.py:small", "flat_bc") == "configs/x.py:small,flat_bc"
    assert variant_spec("configs/x.py", "skill_nocond") == "configs/x.py:skill_nocond"
    with pytest.raises(ValueError, match="already selects"):
        variant_spec("configs/x.py:small,flat_bc", "skill_nocond")
    with pytest.raises(ValueError, match="unknown variant"):
        variant_spec("configs/x.py", "lstm")


def test_variants_that_differ_in_more_than_the_model_flags_are_refused():
    spec = "configs/rearrange_easy.py:small"
    same = {v: load_config(variant_spec(spec, v)) for v in VARIANTS}
    check_same_budget(same)
    same["flat_bc"].train.steps += 1
    with pytest.raises(ValueError, match="flat_bc"):
        check_same_budget(same)


def _summary(rate, n, stages, acc):
    k = round(rate * n)
    return {"episodes": n, "successes": k, "success_rate": k / n, "ci95": (0.0, 1.0),
            "stages": {s: {"rate": r, "n": n} for s, r in stages.items()},
            "skill_accuracy": acc, "mean_length": 100.0}


def _variant(head, cond, summary):
    return {"spec": "x", "workdir": "w", "description": "d",
            "model": {"skill_head": head, "skill_conditioning": cond, "parameters": 1234},
            "train": {"wall_s": 12.3, "val_action_loss": 0.5,
                      "val_skill_accuracy": 0.9 if head else None},
            "eval": {"eval": {"summary": summary, "predicts_skill": head, "report": "r"}}}


def _report(ref_rate):
    return {"task": "pick", "config": "c", "episodes": 4, "splits": ["eval"], "data_dir": "d",
            "reference": "skill_transformer",
            "budget": {"steps": 5, "batch_size": 8, "window": 4, "lr": 1e-3},
            "variants": {
                "skill_transformer": _variant(True, True, _summary(ref_rate, 4, {"picked": 0.5},
                                                                   0.8)),
                # a meaningless accuracy from a policy without a head must not be shown
                "flat_bc": _variant(False, False, _summary(0.25, 4, {"picked": 0.25,
                                                                     "lifted": 0.5}, 0.1)),
            }}


def test_table_puts_variants_side_by_side_with_ratios_and_na():
    report = _report(0.5)
    rows = {r[0]: r[1:] for r in comparison_rows(report)}
    assert rows["variant"] == ["skill_transformer", "flat_bc"]
    assert rows["skill head"] == ["yes", "no"]
    assert rows["eval: success vs skill_transformer"] == ["1.00x", "0.50x"]
    assert rows["eval: skill accuracy"] == ["0.800", "n/a"]
    assert rows["val skill accuracy"] == ["0.900", "n/a"]
    assert rows["eval: stage picked"] == ["0.500", "0.250"]
    assert rows["eval: stage lifted"] == ["n/a", "0.500"]  # a stage one variant lacks
    assert rows["eval: success (95% CI)"][0].startswith("0.50 (2/4")
    assert rows["train time"] == ["12 s", "12 s"]
    report["table"] = comparison_rows(report)
    lines = format_table(report).splitlines()[1:]
    starts = [m.start() for m in re.finditer(r"-+", lines[1])]  # the rule under the header
    for line in lines[:1] + lines[2:]:  # every cell starts where its column's rule starts
        assert all(line[i] != " " and line[i - 2:i] == "  " for i in starts[1:]), line
    assert "| eval: skill accuracy | 0.800 | n/a |" in format_markdown(report)


def test_ratio_to_a_reference_without_successes_is_not_a_number():
    rows = {r[0]: r[1:] for r in comparison_rows(_report(0.0))}
    assert rows["eval: success vs skill_transformer"] == ["n/a (ref 0)", "n/a (ref 0)"]


@pytest.mark.slow  # 50-80 s on the shared 2-core machine (3 trainings + 3 evaluations)
@pytest.mark.timeout(600)
def test_compare_command_trains_and_evaluates_every_variant(tmp_path, capsys):
    from train.cli import main

    work, data = tmp_path / "cmp", tmp_path / "data"
    argv = ["compare", "--config", "configs/rearrange_easy.py:small", "--workdir", str(work),
            "--episodes", "1", "--splits", "eval", "--envs", "1",
            "--set", f"data.dir={data}", *TINY, "--json", str(tmp_path / "copy.json")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "generating 2 expert episodes" in out
    report = json.loads((work / "compare.json").read_text())
    assert json.loads((tmp_path / "copy.json").read_text())["table"] == report["table"]
    assert list(report["variants"]) == list(VARIANTS)
    assert report["data_dir"] == str(data)
    for name, v in report["variants"].items():
        assert sorted(os.listdir(work / name / "checkpoints")) == ["4"]
        assert v["train"]["trained_now"] and v["train"]["wall_s"] > 0
        s = v["eval"]["eval"]["summary"]
        assert s["episodes"] == 1 and os.path.isfile(v["eval"]["eval"]["report"])
        assert v["eval"]["eval"]["predicts_skill"] == (name != "flat_bc")
    rows = {r[0]: r[1:] for r in report["table"]}
    assert rows["eval: skill accuracy"][VARIANTS.index("flat_bc")] == "n/a"
    assert (work / "compare.md").read_text().startswith("# Compare: pick")
    assert "eval success: skill_transformer" in out

    # A rerun reuses the dataset, the finished runs and their evaluation reports.
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "reusing" in out and "not trained again" in out and "evaluating" not in out
    again = json.loads((work / "compare.json").read_text())
    for name, v in again["variants"].items():
        assert not v["train"]["trained_now"] and v["eval"]["eval"]["reused"]
        assert v["train"]["wall_s"] == report["variants"][name]["train"]["wall_s"]
    assert again["table"] == report["table"]
