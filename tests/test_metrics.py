"""Wilson intervals contain the rate exactly, at every n (a plot's error bars need it)."""

from __future__ import annotations

from robot_skills.metrics import wilson_interval


def test_wilson_interval_contains_the_rate_at_the_edges_and_inside():
    for n in range(1, 301):
        for k in (0, n // 3, n):
            lo, hi = wilson_interval(k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0, (k, n, lo, hi)
        assert wilson_interval(n, n)[1] == 1.0 and wilson_interval(0, n)[0] == 0.0


def test_stage_plot_of_an_all_success_run_draws(tmp_path):
    """100/100 used to give an upper bound of 0.99999..., a negative error bar and a crash."""
    from robot_skills.evaluation.plots import plot_stage_success
    from robot_skills.metrics import summarise_episodes
    rows = [{"success": True, "length": 10, "failure": "", "stages": {"picked": True}}] * 100
    out = tmp_path / "stages.png"
    plot_stage_success(out, summarise_episodes(rows))
    assert out.stat().st_size > 1000


def test_success_per_stage_sequence_separates_episode_kinds():
    """rearrange_hard mixes episodes with a goal surface and with a goal container to close;
    the summary splits success by the stage sequence and the report prints the split."""
    from robot_skills.evaluation.report import format_block, format_markdown, summarise
    surface = {"source_opened": True, "picked": True, "placed": True}
    container = {"source_opened": True, "goal_opened": True, "picked": True, "placed": True,
                 "goal_closed": False}
    rows = ([{"success": True, "length": 10, "failure": "", "stages": surface}] * 3
            + [{"success": False, "length": 20, "failure": "timeout", "stages": container}] * 3
            + [{"success": True, "length": 30, "failure": "",
                "stages": dict(container, goal_closed=True)}])
    for r in rows:
        r.update(skills={}, skill_accuracy=None, disturbed_at=None, seed=0)
    s = summarise(rows, wall_time_s=1.0)
    seqs = {tuple(d["stages"]): d for d in s["by_stage_sequence"]}
    assert set(seqs) == {tuple(surface), tuple(container)}
    assert tuple(s["stages"]) == tuple(container)  # the task's order, not the first row's
    assert (seqs[tuple(surface)]["successes"], seqs[tuple(surface)]["episodes"]) == (3, 3)
    assert (seqs[tuple(container)]["successes"], seqs[tuple(container)]["episodes"]) == (1, 4)
    lo, hi = seqs[tuple(container)]["ci95"]
    assert lo < 0.25 < hi
    assert "source_opened > goal_opened > picked > placed > goal_closed: 0.250 (1/4)" \
        in format_block(s, "t")
    md = format_markdown({"summary": s, "task": "t", "split": "eval", "policy": "p",
                          "seeds": [0], "envs": 1, "episodes": rows})
    assert "| source_opened > picked > placed | 1.000 |" in md
    # one kind of episode: no split printed
    one = summarise(rows[:3], wall_time_s=1.0)
    assert len(one["by_stage_sequence"]) == 1 and "episodes source" not in format_block(one, "t")


def test_success_per_route_detour_band():
    """The report splits success by the scene's route detour (sim.observation.Routes.detour):
    winding routes are where unseen layouts differ from the training families."""
    from robot_skills.evaluation.report import by_route_detour, format_markdown, summarise
    rows = []
    for detour, ok in [(1.2, True), (1.79, True), (2.0, True), (2.9, False), (3.0, False),
                       (7.5, True), (None, False)]:
        rows.append({"success": ok, "length": 10, "failure": "" if ok else "timeout",
                     "stages": {"picked": ok}, "skills": {}, "skill_accuracy": None,
                     "disturbed_at": None, "seed": 0, "route_detour": detour})
    bands = {d["detour"]: (d["successes"], d["episodes"]) for d in by_route_detour(rows)}
    assert bands == {"< 1.8": (2, 2), "1.8-3": (1, 2), ">= 3": (1, 2)}  # None left out
    assert by_route_detour(rows, edges=(10.0,)) == [
        {"detour": "< 10", "episodes": 6, "successes": 4, **proportion_of(4, 6)}]
    assert by_route_detour([dict(r, route_detour=None) for r in rows]) == []
    s = summarise(rows, wall_time_s=1.0)
    md = format_markdown({"summary": s, "task": "t", "split": "unseen", "policy": "p",
                          "seeds": [0], "envs": 1, "episodes": rows})
    assert "| >= 3 | 0.500 |" in md and "| 0 | 0 | 10 | timeout | n/a | - | 3.00 |" in md


def proportion_of(k: int, n: int) -> dict:
    from robot_skills.metrics import proportion
    return proportion([True] * k + [False] * (n - k))
