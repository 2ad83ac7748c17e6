"""Per-episode rows and the aggregate of an evaluation run (report.json / report.md content).

Per-skill success is kept simple: a skill the expert asked for at least once in the episode
(its label seen) succeeds when every stage of that kind the task has was reached
(SKILL_STAGES: pick -> picked, open -> source_opened and goal_opened, ...; a multi-move task's
later moves count too: picked_2, ...). Skills with no
stage in the task (navigate in rearrange tasks, reset_arm, stop) are not scored.

Under a disturbance (sim/disturbances.py) recovery success is the success rate among the
episodes the disturbance happened in (its trigger stage reached and the disturbance applied).
"""

from __future__ import annotations

import bisect

from robot_skills.metrics import proportion, summarise_episodes, wilson_interval
from sim.skills import SKILL_NAMES
from sim.tasks import stage_kind

# Route detour bands of the report (path cost / straight line of the most winding leg): the
# seen layout families rarely reach 3 (3 of the first 100 eval scenes), the unseen split's
# partition wall often does (30 of 100).
DETOUR_EDGES = (1.8, 3.0)

SKILL_STAGES: dict[str, tuple[str, ...]] = {
    "navigate": ("arrived",),
    "pick": ("picked",),
    "place": ("placed",),
    "open": ("opened", "source_opened", "goal_opened"),
    "close": ("closed", "goal_closed"),
}


def skill_success(expert_skills, stages: dict[str, bool]) -> dict[str, bool]:
    """{skill name: reached} for each scored skill the expert labelled in the episode."""
    out = {}
    for s in sorted(set(expert_skills)):
        if not 0 <= s < len(SKILL_NAMES):
            continue
        name = SKILL_NAMES[s]
        kinds = SKILL_STAGES.get(name, ())
        have = [v for k, v in stages.items() if stage_kind(k) in kinds]
        if have:
            out[name] = all(have)
    return out


def episode_row(trace, predicts_skill: bool = True) -> dict:
    """One report row. skill_accuracy: fraction of steps whose predicted skill equals the env's
    expert label for the same state (None for the expert itself)."""
    n = len(trace.expert_skills)
    acc = None
    if predicts_skill and n:
        acc = sum(p == e for p, e in zip(trace.predicted_skills, trace.expert_skills)) / n
    return {"seed": trace.seed, "success": trace.success, "length": trace.length,
            "failure": trace.failure, "stages": trace.stages,
            "skills": skill_success(trace.expert_skills, trace.stages),
            "skill_accuracy": acc, "wall_time_s": round(trace.wall_time_s, 3),
            "disturbed_at": trace.disturbed_at,
            "route_detour": (None if trace.route_detour is None
                             else round(trace.route_detour, 3)),
            **({"language": trace.language} if getattr(trace, "language", None) else {})}


def by_route_detour(rows: list[dict], edges=DETOUR_EDGES) -> list[dict]:
    """Success per band of route detour (sim.observation.Routes.detour: the path cost of the
    scene's most winding leg over its straight-line distance), bands split at `edges`; empty
    bands and rows without a detour are left out; [] when no row has one."""
    names = ([f"< {edges[0]:g}"] + [f"{a:g}-{b:g}" for a, b in zip(edges[:-1], edges[1:])]
             + [f">= {edges[-1]:g}"])
    bands: list[list[bool]] = [[] for _ in names]
    for r in rows:
        if r.get("route_detour") is not None:
            bands[bisect.bisect_right(edges, r["route_detour"])].append(bool(r["success"]))
    return [{"detour": name, "episodes": len(b), "successes": sum(b), **proportion(b)}
            for name, b in zip(names, bands) if b]


def language_rate(rows: list[dict], key: str) -> dict | None:
    """How often an LCB agent's per-episode language flag `key` holds, with its Wilson 95%
    interval; None when no row has it. plan_exact: the planner's decoded plan is the scene's
    ground-truth plan; pointer_at_goal: the slot pointer points at each move's goal."""
    hit = [r["language"][key] for r in rows
           if r.get("language") and r["language"].get(key) is not None]
    if not hit:
        return None
    k = sum(map(bool, hit))
    return {"rate": k / len(hit), "exact": k, "n": len(hit), "ci95": wilson_interval(k, len(hit))}


def recovery(rows: list[dict], disturbance) -> dict:
    """Success among the disturbed episodes, with its Wilson 95% interval.
    disturbance: a sim.disturbances.DisturbanceConfig."""
    hit = [r for r in rows if r["disturbed_at"] is not None]
    k = sum(bool(r["success"]) for r in hit)
    return {"kind": disturbance.kind, "trigger": disturbance.trigger,
            "delay": disturbance.delay, "episodes_disturbed": len(hit), "recovered": k,
            "recovery_rate": k / len(hit) if hit else None, "ci95": wilson_interval(k, len(hit))}


def summarise(rows: list[dict], wall_time_s: float, workers: int = 1,
              disturbance=None) -> dict:
    """summarise_episodes (success with Wilson 95% CI, stages, failures, mean length) plus
    per-skill success, skill accuracy (mean over episodes and over steps), wall time with the
    number of worker processes, and recovery() under a disturbance (else None)."""
    s = summarise_episodes(rows)
    names = [n for n in SKILL_NAMES if any(n in r["skills"] for r in rows)]
    s["skills"] = {}
    for n in names:
        have = [r["skills"][n] for r in rows if n in r["skills"]]
        s["skills"][n] = {**proportion(have), "n": len(have)}
    accs = [(r["skill_accuracy"], r["length"]) for r in rows if r["skill_accuracy"] is not None]
    s["skill_accuracy"] = sum(a for a, _ in accs) / len(accs) if accs else None
    s["skill_accuracy_steps"] = (sum(a * n for a, n in accs) / sum(n for _, n in accs)
                                 if accs and sum(n for _, n in accs) else None)
    s["wall_time_s"] = round(wall_time_s, 2)
    s["workers"] = workers
    steps = sum(r["length"] for r in rows)
    s["env_steps_per_s"] = round(steps / wall_time_s, 1) if wall_time_s > 0 else None
    s["disturbance"] = recovery(rows, disturbance) if disturbance is not None else None
    s["plan_exact_match"] = language_rate(rows, "plan_exact")
    s["pointer_at_goal"] = language_rate(rows, "pointer_at_goal")
    s["by_route_detour"] = by_route_detour(rows)
    return s


def success_text(s: dict, digits: int = 3) -> str:
    """A summary's success rate with its count and Wilson 95% CI: "0.300 (3/10, 95% CI ...)"."""
    lo, hi = s["ci95"]
    return (f"{s['success_rate']:.{digits}f} ({s['successes']}/{s['episodes']}, "
            f"95% CI {lo:.{digits}f}-{hi:.{digits}f})")


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"  # None: the policy predicts no skill


def _recovery_text(d: dict) -> str:
    lo, hi = d["ci95"]
    return (f"{_pct(d['recovery_rate'])} ({d['recovered']}/{d['episodes_disturbed']} disturbed "
            f"episodes, 95% CI {lo:.3f}-{hi:.3f}; {d['kind']}, {d['delay']} steps after "
            f"{d['trigger']})")


def _rate_text(d: dict) -> str:
    lo, hi = d["ci95"]
    return f"{d['rate']:.3f} ({d['exact']}/{d['n']} episodes, 95% CI {lo:.3f}-{hi:.3f})"


def _sequences(s: dict) -> list[dict]:
    """Success per stage sequence, where the episodes have more than one (else [])."""
    seqs = s.get("by_stage_sequence") or []
    return seqs if len(seqs) > 1 else []


def _sequence_name(d: dict) -> str:
    return " > ".join(d["stages"]) or "(no stages)"


def format_block(s: dict, title: str) -> str:
    """The one aggregate block printed by `robot-skills eval`."""
    lines = [title,
             f"  success        {success_text(s)}"]
    if s.get("disturbance"):
        lines.append(f"  recovery       {_recovery_text(s['disturbance'])}")
    lines += [f"  mean length    {s['mean_length']:.1f} steps",
              f"  skill accuracy {_pct(s['skill_accuracy'])}",
              *([f"  plan exact     {_rate_text(s['plan_exact_match'])}"]
                if s.get("plan_exact_match") else []),
              *([f"  pointer @ goal {_rate_text(s['pointer_at_goal'])}"]
                if s.get("pointer_at_goal") else []),
              f"  eval time      {s['wall_time_s']:.1f} s ({s['env_steps_per_s']} env steps/s, "
              f"{s.get('workers', 1)} workers)"]
    for k, v in s["stages"].items():
        lines.append(f"  stage {k:<14} {v['rate']:.3f} (n={v['n']})")
    for k, v in s["skills"].items():
        lines.append(f"  skill {k:<14} {v['rate']:.3f} (n={v['n']})")
    for d in _sequences(s):
        lines.append(f"  episodes {_sequence_name(d)}: {d['rate']:.3f} "
                     f"({d['successes']}/{d['episodes']})")
    for d in s.get("by_route_detour") or []:
        lines.append(f"  route detour {d['detour']:<6} {d['rate']:.3f} "
                     f"({d['successes']}/{d['episodes']})")
    if s["failures"]:
        lines.append("  failures       " + ", ".join(f"{k} {v}" for k, v in s["failures"].items()))
    return "\n".join(lines)


def format_markdown(report: dict) -> str:
    s = report["summary"]
    lo, hi = s["ci95"]
    d = s.get("disturbance")
    title = f"{report['task']} / {report['split']} / policy {report['policy']}"
    out = [f"# Evaluation: {title}" + (f" / disturbance {d['kind']}" if d else ""), "",
           f"- episodes: {s['episodes']} (seeds {report['seeds'][0]}..{report['seeds'][-1]}), "
           f"envs stepped together: {report['envs']} in each of {s.get('workers', 1)} worker "
           f"processes",
           f"- success: **{s['success_rate']:.3f}** (95% CI {lo:.3f}-{hi:.3f})",
           *([f"- recovery success: **{_recovery_text(d)}**"] if d else []),
           f"- mean episode length: {s['mean_length']:.1f} steps",
           f"- skill accuracy vs expert labels: {_pct(s['skill_accuracy'])} (per episode), "
           f"{_pct(s['skill_accuracy_steps'])} (per step)",
           *([f"- planner's plan exact match (decoded vs ground truth): "
              f"{_rate_text(s['plan_exact_match'])}"] if s.get("plan_exact_match") else []),
           *([f"- slot pointer at each move's goal receptacle: "
              f"{_rate_text(s['pointer_at_goal'])}"] if s.get("pointer_at_goal") else []),
           f"- eval wall time: {s['wall_time_s']:.1f} s", "",
           "| stage | rate | 95% CI | n |", "|---|---|---|---|"]
    for k, v in s["stages"].items():
        out.append(f"| {k} | {v['rate']:.3f} | {v['ci95'][0]:.3f}-{v['ci95'][1]:.3f} | {v['n']} |")
    out += ["", "| skill | rate | 95% CI | n |", "|---|---|---|---|"]
    for k, v in s["skills"].items():
        out.append(f"| {k} | {v['rate']:.3f} | {v['ci95'][0]:.3f}-{v['ci95'][1]:.3f} | {v['n']} |")
    if _sequences(s):
        out += ["", "| episodes with the stages | success | 95% CI | n |", "|---|---|---|---|"]
        for d in _sequences(s):
            out.append(f"| {_sequence_name(d)} | {d['rate']:.3f} | {d['ci95'][0]:.3f}-"
                       f"{d['ci95'][1]:.3f} | {d['episodes']} |")
    if s.get("by_route_detour"):
        out += ["", "| route detour (path / straight line) | success | 95% CI | n |",
                "|---|---|---|---|"]
        for d in s["by_route_detour"]:
            out.append(f"| {d['detour']} | {d['rate']:.3f} | {d['ci95'][0]:.3f}-"
                       f"{d['ci95'][1]:.3f} | {d['episodes']} |")
    out += ["", "Failures: " + (", ".join(f"{k} {v}" for k, v in s["failures"].items())
                                or "none"), ""]
    if report.get("files"):
        out += ["Files:", ""] + [f"- {k}: `{v}`" for k, v in report["files"].items()] + [""]
    out += ["| seed | success | length | failure | skill accuracy | disturbed at step "
            "| route detour |", "|---|---|---|---|---|---|---|"]
    for r in report["episodes"]:
        at, dt = r.get("disturbed_at"), r.get("route_detour")
        out.append(f"| {r['seed']} | {int(r['success'])} | {r['length']} | {r['failure'] or '-'} "
                   f"| {_pct(r['skill_accuracy'])} | {'-' if at is None else at} "
                   f"| {'-' if dt is None else f'{dt:.2f}'} |")
    return "\n".join(out) + "\n"
