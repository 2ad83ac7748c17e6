"""Which steps each batch holds: pure functions of (seed, split, step)."""

from __future__ import annotations

import numpy as np
import pytest

from robot_skills.data.sampling import sample_positions, split_episodes, window_indices


def test_split_by_episode_is_disjoint_complete_and_deterministic():
    for n in (2, 3, 10, 1000):
        s = split_episodes(n, 0.1, seed=4)
        train, val = set(s["train"].tolist()), set(s["val"].tolist())
        assert not train & val and train | val == set(range(n))
        assert len(val) >= 1 and len(train) >= 1
        assert all(np.array_equal(s[k], split_episodes(n, 0.1, seed=4)[k]) for k in s)
    assert len(split_episodes(1000, 0.1, 0)["val"]) == 100
    other_seed = split_episodes(100, 0.1, 1)["val"]
    assert not np.array_equal(split_episodes(100, 0.1, 0)["val"], other_seed)
    assert len(split_episodes(10, 0.0, 0)["val"]) == 0
    with pytest.raises(ValueError):
        split_episodes(10, 1.0, 0)


def test_positions_are_a_pure_function_of_seed_split_and_step():
    lengths = np.array([5, 50, 1, 20])
    a = sample_positions(0, "train", 7, lengths, 32)
    b = sample_positions(0, "train", 7, lengths, 32)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    c = sample_positions(0, "train", 8, lengths, 32)
    d = sample_positions(0, "val", 7, lengths, 32)
    assert not np.array_equal(a[1], c[1]) and not np.array_equal(a[1], d[1])
    ep, t = a
    assert np.all((t >= 0) & (t < lengths[ep]))


def test_positions_are_uniform_over_steps_not_episodes():
    lengths = np.array([10, 90])
    ep = np.concatenate([sample_positions(0, "train", s, lengths, 100)[0] for s in range(100)])
    assert abs(np.mean(ep == 1) - 0.9) < 0.02


def test_windows_are_left_padded_at_episode_starts():
    idx, mask = window_indices(np.array([0, 2, 9]), 4)
    np.testing.assert_array_equal(idx, [[0, 0, 0, 0], [0, 0, 1, 2], [6, 7, 8, 9]])
    np.testing.assert_array_equal(mask, [[0, 0, 0, 1], [0, 1, 1, 1], [1, 1, 1, 1]])


def test_grouped_positions_come_in_runs_of_one_episode_and_stay_uniform_over_steps():
    lengths = np.array([10, 90, 3])
    ep, t = sample_positions(0, "train", 5, lengths, 12, groups=4)
    assert [len(set(ep[g * 3:(g + 1) * 3])) for g in range(4)] == [1, 1, 1, 1]
    assert np.all((t >= 0) & (t < lengths[ep]))
    again = sample_positions(0, "train", 5, lengths, 12, groups=4)
    assert np.array_equal(ep, again[0]) and np.array_equal(t, again[1])
    eps, ts = zip(*(sample_positions(0, "train", s, lengths, 8, groups=2) for s in range(2000)))
    eps, ts = np.concatenate(eps), np.concatenate(ts)
    assert abs(np.mean(eps == 1) - 90 / 103) < 0.02  # episodes in proportion to their steps
    assert abs(np.mean(ts[eps == 1] < 45) - 0.5) < 0.03  # steps uniform within an episode
    with pytest.raises(ValueError, match="episodes_per_batch"):
        sample_positions(0, "train", 5, lengths, 12, groups=5)
