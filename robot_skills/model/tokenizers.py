"""Observation tokenizer: one state token per time step from the vector observation (MLP) and,
when the config names head-camera streams, a small CNN over depth / RGB whose features are
added before the final projection."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from robot_skills.model.transformer import MLP
from sim.observation import layout_of, state_slices

DEPTH_SCALE = 1.0 / 4.0  # metres -> ~[0, 1] inside a room (depth is clipped at 10 m by the sim)


class ImageEncoder(nnx.Module):
    """Stride-2 3x3 convolutions, ReLU, global mean pooling: (N, H, W, C) -> (N, channels[-1])."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], *, dtype, rngs: nnx.Rngs):
        chans = (in_channels,) + tuple(channels)
        self.convs = nnx.List([nnx.Conv(a, b, (3, 3), strides=2, dtype=dtype, rngs=rngs)
                               for a, b in zip(chans[:-1], chans[1:])])

    def __call__(self, x):
        for conv in self.convs:
            x = jax.nn.relu(conv(x))
        return x.mean(axis=(1, 2))


def image_input(key: str, x):
    """A camera stream as float in ~[0, 1]: rgb uint8 / 255, depth metres * DEPTH_SCALE."""
    x = jnp.asarray(x)
    return x.astype(jnp.float32) / 255.0 if key == "rgb" else x.astype(jnp.float32) * DEPTH_SCALE


class StateTokenizer(nnx.Module):
    """observation {"state": (B, T, D), ["depth": (B, T, H, W, 1)], ["rgb": (B, T, H, W, 3)]}
    -> (B, T, d_model)."""

    def __init__(self, config, *, rngs: nnx.Rngs):
        dt = config.compute_dtype
        self.image_keys = tuple(config.image_keys)
        self.dtype = dt
        keep = None  # (D,) 1 = read, 0 = dropped (config.drop_state); None: read all
        if config.drop_state:
            keep = np.ones(config.state_dim, np.float32)
            slices = state_slices(*layout_of(config.state_dim))
            for name in config.drop_state:
                keep[slices[name]] = 0.0
            keep = nnx.Variable(jnp.asarray(keep))  # a constant, not a parameter
        self.state_keep = keep
        self.state_mlp = MLP(config.state_dim, config.state_hidden, config.d_model, dtype=dt,
                             rngs=rngs)
        self.cnns = nnx.Dict({k: ImageEncoder(1 if k == "depth" else 3, config.cnn_channels,
                                              dtype=dt, rngs=rngs)
                              for k in self.image_keys})
        self.image_proj = (nnx.Linear(len(self.image_keys) * config.cnn_channels[-1],
                                      config.d_model, dtype=dt, rngs=rngs)
                           if self.image_keys else None)

    def __call__(self, observation: dict):
        state = jnp.asarray(observation["state"])
        lead = state.shape[:-1]  # (B, T) or (B,)
        if self.state_keep is not None:
            state = state * self.state_keep[...]
        tok = self.state_mlp(state.astype(self.dtype))  # (..., d)
        if self.image_keys:
            feats = []
            for k in self.image_keys:
                if k not in observation:
                    raise KeyError(f"the model reads observation[{k!r}] (config image_keys="
                                   f"{self.image_keys}) but the observation has "
                                   f"{sorted(observation)}")
                img = image_input(k, observation[k])
                img = img.reshape((-1,) + img.shape[len(lead):]).astype(self.dtype)  # (N, H, W, C)
                feats.append(self.cnns[k](img))  # (N, c)
            f = jnp.concatenate(feats, axis=-1).reshape(lead + (-1,))  # (..., K * c)
            tok = tok + self.image_proj(f)
        return tok
