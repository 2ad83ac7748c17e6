"""`robot-skills compare`: the Skill Transformer next to its baselines, on the same data with the
same training budget, trained and evaluated by one command and shown in one table.

Variants are config variant tokens appended to `--config` (configs/rearrange_common.py):
skill_transformer (none), flat_bc (no skill head, no skill conditioning: behaviour cloning with
the same transformer) and skill_nocond (skill head, action not conditioned on the skill). They
change model flags only; the job checks that data, env and train sections are identical.

WORKDIR/<variant>/ is an ordinary training workdir (checkpoints, best, metrics.jsonl,
eval_<task>_<split>/); a finished one (last checkpoint at train.steps - 1, same config.json) is
not trained again and its evaluation reports are reused when they cover the same seeds.
WORKDIR/compare.json and compare.md hold the table and every number behind it.

Train time is the wall time of the `train` calls that trained the variant here (compilation,
loader start and checkpoints included; summed over resumed runs); steps/s is the last logged
window's steady rate, the fairer compute comparison.
"""

from __future__ import annotations

import json
import os
import time

from robot_skills.evaluation.report import success_text

VARIANTS = ("skill_transformer", "flat_bc", "skill_nocond")
REFERENCE = "skill_transformer"  # success ratios are relative to it
DESCRIPTIONS = {
    "skill_transformer": "skill head, action conditioned on the predicted skill",
    "flat_bc": "flat BC: no skill head, no skill conditioning",
    "skill_nocond": "skill head, action not conditioned on the skill",
}
_MODEL_FLAGS = ("skill_head", "skill_conditioning")
TRAIN_TIME = "compare_train_time.json"  # WORKDIR/<variant>/: wall time of the training runs


def variant_spec(spec: str, variant: str) -> str:
    """"configs/x.py:small" + "flat_bc" -> "configs/x.py:small,flat_bc"."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; use any of {', '.join(VARIANTS)}")
    path, _, tokens = spec.partition(":")
    have = [t.strip() for t in tokens.split(",") if t.strip()]
    clash = sorted(set(have) & set(VARIANTS))
    if clash:
        raise ValueError(f"--config {spec!r} already selects the model variant {clash}; pass "
                         f"the base config (e.g. {path}:small) and choose with --variants")
    if variant != REFERENCE:
        have.append(variant)
    return f"{path}:{','.join(have)}" if have else path


def check_same_budget(configs: dict) -> None:
    """Variants must differ in the model flags only: same data, env, training budget."""
    def comparable(c):
        d = c.to_dict()
        d["model"] = {k: v for k, v in d["model"].items() if k not in _MODEL_FLAGS}
        return json.dumps(d, sort_keys=True, default=str)

    names = list(configs)
    ref = comparable(configs[names[0]])
    for n in names[1:]:
        if comparable(configs[n]) != ref:
            raise ValueError(f"variant {n!r} differs from {names[0]!r} in more than the model "
                             f"flags {_MODEL_FLAGS}: not a same-data, same-budget comparison")


def _last_metrics(workdir: str) -> dict:
    """The last "train" and "val" rows of WORKDIR/metrics.jsonl."""
    out = {}
    path = os.path.join(workdir, "metrics.jsonl")
    if os.path.isfile(path):
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                out[row["split"]] = row
    return out


def train_variant(config, workdir: str, data_dir: str, progress: bool = True,
                  say=print) -> dict:
    """Trains (or resumes, or skips a finished run in) `workdir`; returns the train facts."""
    from train.train_job import latest_checkpoint_step, train

    steps = config.train.steps
    text = config.to_json_best_effort(indent=2)
    saved = os.path.join(workdir, "config.json")
    last = latest_checkpoint_step(workdir)
    if last is not None and os.path.isfile(saved):
        with open(saved) as f:
            if f.read() != text:
                raise ValueError(f"{workdir} holds a run trained with another config (see its "
                                 f"config.json); use a fresh --workdir or delete it")
    timing_path = os.path.join(workdir, TRAIN_TIME)
    timing = {"wall_s": 0.0, "runs": 0}
    if os.path.isfile(timing_path):
        with open(timing_path) as f:
            timing = json.load(f)
    trained = last != steps - 1
    if not trained:
        say(f"finished run in {workdir}: not trained again")
    else:
        resume = "" if last is None else f" (resuming after step {last})"
        say(f"training {steps} steps{resume} -> {workdir}")
        t0 = time.perf_counter()
        train(config, workdir, data_dir=data_dir, progress=progress)
        timing = {"wall_s": timing["wall_s"] + time.perf_counter() - t0,
                  "runs": timing["runs"] + 1}
        with open(timing_path, "w") as f:
            json.dump(timing, f)
    m = _last_metrics(workdir)
    val = m.get("val", {})
    w = config.model.loss
    action_loss = (w.base_weight * val["base_mse"] + w.arm_weight * val["arm_mse"]
                   + w.gripper_weight * val["gripper_loss"]) if val else None
    return {"steps": steps, "trained_now": trained, "resumed_from": last if trained else None,
            "wall_s": timing["wall_s"] if timing["runs"] else None,
            "steps_per_s": m.get("train", {}).get("steps_per_s"),
            "train_loss": m.get("train", {}).get("loss"), "val_loss": val.get("loss"),
            "val_action_loss": action_loss, "val_skill_accuracy": val.get("skill_accuracy")}


def evaluate_variant(workdir: str, task: str, split: str, episodes: int, envs: int,
                     videos: int, reuse: bool, progress: bool = True, say=print) -> dict:
    """run_eval of WORKDIR's checkpoint, or its existing report for the same seeds/checkpoint."""
    from sim.scene import split_seed
    from train.eval_job import checkpoint_dir, run_eval

    path = os.path.join(workdir, f"eval_{task}_{split}", "report.json")
    seeds = [split_seed(split, i) for i in range(episodes)]
    if reuse and os.path.isfile(path):
        with open(path) as f:
            report = json.load(f)
        if report["seeds"] == seeds and report["checkpoint"] == checkpoint_dir(workdir):
            report.update(reused=True, out=os.path.dirname(path))
            say(f"{split}: reusing {path} (same seeds and checkpoint)")
            return report
    say(f"{split}: evaluating on {episodes} episodes")
    report = run_eval(workdir, task, episodes, split, policy="checkpoint", envs=envs,
                      videos=videos, progress=progress)
    report["reused"] = False
    return report


def run_compare(config_spec: str, workdir: str, *, variants=VARIANTS, episodes: int = 10,
                splits=("eval", "unseen"), envs: int = 4, videos: int = 0, overrides=(),
                progress: bool = True, say=print) -> dict:
    """Generates the dataset if missing, trains and evaluates every variant, writes
    WORKDIR/compare.json and compare.md; returns the compare.json content."""
    from robot_skills.model import ModelConfig, count_parameters
    from train.config import load_config
    from train.generate_job import ensure_dataset

    t0 = time.perf_counter()
    variants = list(variants)
    if not variants or len(set(variants)) != len(variants):
        raise ValueError(f"--variants must name distinct variants, got {variants}")
    specs = {v: variant_spec(config_spec, v) for v in variants}
    configs = {v: load_config(specs[v], list(overrides)) for v in variants}
    check_same_budget(configs)
    base = configs[variants[0]]
    task = base.task.name
    os.makedirs(workdir, exist_ok=True)
    data_dir = ensure_dataset(base, progress=progress, say=lambda m: say(f"[data] {m}"))
    results = {}
    for i, v in enumerate(variants):
        vdir = os.path.join(workdir, v)
        tag = f"[{i + 1}/{len(variants)} {v}]"

        def tagged(m, tag=tag):
            say(f"{tag} {m}")

        tr = train_variant(configs[v], vdir, data_dir, progress, say=tagged)
        mc = ModelConfig.from_config(configs[v].model)
        evals = {}
        for split in splits:
            rep = evaluate_variant(vdir, task, split, episodes, envs, videos,
                                   reuse=not tr["trained_now"], progress=progress, say=tagged)
            evals[split] = {"summary": rep["summary"], "predicts_skill": rep["predicts_skill"],
                            "report": os.path.join(rep["out"], "report.json"),
                            "reused": rep["reused"]}
            tagged(f"{split}: success {success_text(rep['summary'], 2)}")
        results[v] = {"spec": specs[v], "workdir": vdir, "description": DESCRIPTIONS[v],
                      "model": {"skill_head": mc.skill_head,
                                "skill_conditioning": mc.skill_conditioning,
                                "parameters": count_parameters(mc)},
                      "train": tr, "eval": evals}
    d, t = base.data, base.train
    out = {"config": config_spec, "overrides": list(overrides), "task": task,
           "data_dir": data_dir, "episodes": episodes, "splits": list(splits),
           "reference": REFERENCE if REFERENCE in variants else None,
           "budget": {"steps": t.steps, "batch_size": d.batch_size, "window": d.window,
                      "lr": t.lr, "seed": t.seed},
           "variants": results}
    out["table"] = comparison_rows(out)
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    out["files"] = {"json": os.path.join(workdir, "compare.json"),
                    "markdown": os.path.join(workdir, "compare.md")}
    with open(out["files"]["json"], "w") as f:
        json.dump(out, f, indent=2)
    with open(out["files"]["markdown"], "w") as f:
        f.write(format_markdown(out))
    return out


# ---------------------------------------------------------------------- the table
def _rate(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _ratio(rate: float, ref: float | None) -> str:
    if ref is None:
        return "n/a"
    return f"{rate / ref:.2f}x" if ref > 0 else "n/a (ref 0)"


def comparison_rows(report: dict) -> list[list[str]]:
    """[[label, cell per variant], ...]: the side-by-side table (pure in compare.json's
    content, so compare.md and the printed table are the same numbers)."""
    variants = report["variants"]
    names = list(variants)
    ref = report.get("reference")
    rows = [["variant"] + names,
            ["skill head"] + ["yes" if variants[n]["model"]["skill_head"] else "no"
                              for n in names],
            ["skill-conditioned action"] + ["yes" if variants[n]["model"]["skill_conditioning"]
                                            else "no" for n in names],
            ["parameters"] + [f"{variants[n]['model']['parameters']:,}" for n in names]]

    def train_cell(n, key, fmt):
        v = variants[n]["train"].get(key)
        return "n/a" if v is None else fmt(v)

    rows.append(["train time"] + [train_cell(n, "wall_s", lambda x: f"{x:.0f} s")
                                  for n in names])
    rows.append(["train steps/s (last window)"] + [
        train_cell(n, "steps_per_s", lambda x: f"{x:.1f}") for n in names])
    rows.append(["val action loss"] + [train_cell(n, "val_action_loss", lambda x: f"{x:.4f}")
                                       for n in names])
    rows.append(["val skill accuracy"] + [
        train_cell(n, "val_skill_accuracy", lambda x: f"{x:.3f}") for n in names])
    for split in report["splits"]:
        s = {n: variants[n]["eval"][split]["summary"] for n in names}
        rows.append([f"{split}: success (95% CI)"] + [success_text(s[n], 2) for n in names])
        if ref is not None:
            rows.append([f"{split}: success vs {ref}"] + [
                _ratio(s[n]["success_rate"], s[ref]["success_rate"]) for n in names])
        stages = []
        for n in names:
            stages += [k for k in s[n]["stages"] if k not in stages]
        for k in stages:
            rows.append([f"{split}: stage {k}"] + [
                _rate(s[n]["stages"][k]["rate"]) if k in s[n]["stages"] else "n/a"
                for n in names])
        rows.append([f"{split}: skill accuracy"] + [
            _rate(s[n]["skill_accuracy"] if variants[n]["eval"][split]["predicts_skill"]
                  else None) for n in names])
        rows.append([f"{split}: mean length"] + [f"{s[n]['mean_length']:.1f}" for n in names])
    return rows


def _header(report: dict) -> str:
    b = report["budget"]
    return (f"{report['task']}: {report['config']}, {report['episodes']} episodes per split; "
            f"same data ({report['data_dir']}) and budget ({b['steps']} steps x batch "
            f"{b['batch_size']} x window {b['window']}, lr {b['lr']})")


def format_table(report: dict) -> str:
    """The table as aligned text (what `robot-skills compare` prints)."""
    rows = report["table"]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [_header(report)]
    for j, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(report: dict) -> str:
    rows = report["table"]
    out = [f"# Compare: {report['task']}", "", _header(report), "",
           "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    out += ["", "Variants:", ""]
    out += [f"- {n}: {v['description']} (`--config {v['spec']}`, workdir `{v['workdir']}`)"
            for n, v in report["variants"].items()]
    out += ["", "Evaluation reports:", ""]
    out += [f"- {n} / {s}: `{e['report']}`" for n, v in report["variants"].items()
            for s, e in v["eval"].items()]
    return "\n".join(out) + "\n"


def format_summary(report: dict) -> str:
    """Short closing lines: success per split and variant, files, wall time."""
    lines = []
    for split in report["splits"]:
        cells = [f"{n} {v['eval'][split]['summary']['success_rate']:.2f}"
                 for n, v in report["variants"].items()]
        lines.append(f"{split} success: " + ", ".join(cells))
    lines.append(f"compare finished in {report['wall_s']:.0f} s; "
                 f"{report['files']['json']}, {report['files']['markdown']}")
    return "\n".join(lines)
