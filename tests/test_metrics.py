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
