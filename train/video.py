"""Writing rollout videos (mp4) and frame grids (PNG), with text written on the frames."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from PIL import Image, ImageDraw


def caption(frame: np.ndarray, text: str) -> np.ndarray:
    """Frame with `text` on a dark band at the top."""
    img = Image.fromarray(frame)
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, img.width, 18], fill=(0, 0, 0))
    draw.text((6, 3), text, fill=(255, 255, 255))
    return np.asarray(img)


def write_video(path: str | os.PathLike, frames: list[np.ndarray], fps: int = 10) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not frames:
        raise ValueError(f"no frames to write to {path}")
    with warnings.catch_warnings():
        # imageio-ffmpeg starts ffmpeg with subprocess (fork and exec in C, no Python between),
        # which trips JAX's at-fork warning about deadlocks in a process that has run JAX; the
        # warning is about a child that keeps running Python, not an exec'd one.
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called",
                                category=RuntimeWarning)
        imageio.mimwrite(path, frames, fps=fps, macro_block_size=16)
    return path


def write_grid(path: str | os.PathLike, images: list[np.ndarray], cols: int = 2) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = images[0].shape[:2]
    rows = (len(images) + cols - 1) // cols
    canvas = np.full((rows * h, cols * w, 3), 255, dtype=np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = im
    imageio.imwrite(path, canvas)
    return path
