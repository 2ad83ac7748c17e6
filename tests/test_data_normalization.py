"""Normalisation statistics: exact streaming moments, reservoir quantiles, inverse transforms."""

from __future__ import annotations

import numpy as np
import pytest

from robot_skills.data.normalization import (STD_FLOOR, StatsAccumulator, denormalize,
                                             normalize)


def _accumulate(chunks, dim, reservoir=100_000, seed=0):
    acc = StatsAccumulator(dim, reservoir=reservoir, seed=seed)
    for c in chunks:
        acc.update(c)
    return acc.result()


def test_streaming_statistics_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (5000, 4)).astype(np.float32)
    x[:, 3] = 7.0  # a constant dimension
    s = _accumulate(np.array_split(x, 17), 4)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(s["mean"], x64.mean(0), rtol=1e-9)
    np.testing.assert_allclose(s["std"], x64.std(0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(s["min"], x.min(0))
    np.testing.assert_allclose(s["max"], x.max(0))
    # Exact while the data fits the reservoir.
    np.testing.assert_allclose(s["q50"], np.quantile(x, 0.5, axis=0), rtol=1e-6)
    assert s["count"] == 5000


def test_reservoir_quantiles_are_close_and_deterministic():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (20000, 2))
    a = _accumulate(np.array_split(x, 9), 2, reservoir=2000)
    b = _accumulate(np.array_split(x, 9), 2, reservoir=2000)
    assert a == b
    np.testing.assert_allclose(a["q01"], 0.01, atol=0.01)
    np.testing.assert_allclose(a["q99"], 0.99, atol=0.01)
    np.testing.assert_allclose(a["mean"], x.mean(0))  # moments stay exact


@pytest.mark.parametrize("mode", ["mean_std", "bounds", "none"])
def test_denormalize_inverts_normalize(mode):
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (1000, 3)).astype(np.float32)
    s = _accumulate([x], 3)
    inside = np.clip(x, np.asarray(s["q01"]), np.asarray(s["q99"]))  # "bounds" clips outside
    y = normalize(inside, s, mode)
    assert y.dtype == np.float32
    np.testing.assert_allclose(denormalize(y, s, mode), inside, atol=1e-5)
    if mode == "bounds":
        assert np.abs(normalize(x, s, mode)).max() <= 1.0


def test_constant_dimension_is_centred_not_blown_up():
    s = _accumulate([np.full((10, 1), 5.0)], 1)
    assert normalize(np.array([[5.0]]), s, "mean_std")[0, 0] == 0.0
    assert normalize(np.array([[5.1]]), s, "mean_std")[0, 0] == pytest.approx(0.1 / STD_FLOOR)


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="unknown normalisation mode"):
        normalize(np.zeros(2), {"mean": [0, 0], "std": [1, 1]}, "zscore")
