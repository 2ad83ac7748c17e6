"""Videos written after JAX has run: a real mp4, and no spurious fork warning in the output."""

from __future__ import annotations

import warnings

import imageio.v2 as imageio
import jax.numpy as jnp
import numpy as np
import pytest

from train.video import caption, write_video


# Reading the mp4 back starts ffmpeg too (the filter covers that read, not the write below).
@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")
def test_video_after_jax_is_written_without_the_fork_warning(tmp_path):
    float(jnp.ones(4).sum())  # JAX's backend (and its threads) are up, as in an eval worker
    frames = [caption(np.full((48, 64, 3), 40 * i, np.uint8), f"step {i}") for i in range(5)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = write_video(tmp_path / "v.mp4", frames, fps=5)
    assert not [w for w in caught if "os.fork()" in str(w.message)], caught
    read = imageio.mimread(path)
    assert len(read) == 5 and read[0].shape == (48, 64, 3)
    # The caption band is dark, the rest of the last frame bright: the frames are the ones written.
    assert read[-1][30:, :, :].mean() > 120 and read[-1][:18].mean() < read[-1][30:].mean()
