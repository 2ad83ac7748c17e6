"""Config files and command-line overrides.

`load_config("configs/rearrange_hard.py:small", ["data.episodes=10"])` imports the file, calls
its `get_config(variant)` and applies each `KEY=VALUE` override. A key that does not exist and
a value of the wrong type are errors that name the key, list the valid ones / the expected type.
Overrides may also be written `config.data.episodes=10` or `--config.data.episodes=10`.
"""

from __future__ import annotations

import ast
import importlib.util
import os

import ml_collections


class ConfigError(ValueError):
    """A config file, variant or override that cannot be applied."""


def load_config(spec: str, overrides: list[str] | tuple[str, ...] = ()
                ) -> ml_collections.ConfigDict:
    path, _, variant = spec.partition(":")
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path!r} not found (expected e.g. "
                          "'configs/rearrange_hard.py' or 'configs/rearrange_hard.py:small')")
    name = "config_" + os.path.splitext(os.path.basename(path))[0]
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ConfigError(f"{path} has no get_config(variant) function")
    try:
        config = module.get_config(variant)
    except ValueError as e:
        raise ConfigError(f"{path}: {e}") from e
    for item in overrides:
        apply_override(config, item)
    return config


def apply_override(config: ml_collections.ConfigDict, item: str) -> None:
    """Applies one `a.b.c=value` override in place; the value is a Python literal or a word."""
    key, sep, text = item.partition("=")
    if not sep:
        raise ConfigError(f"override {item!r} must look like KEY=VALUE (e.g. data.episodes=10)")
    key = key.strip().removeprefix("--").removeprefix("config.")
    *parents, leaf = key.split(".")
    node, where = config, "the config"
    for p in parents:
        node = _child(node, p, key, where)
        if not isinstance(node, ml_collections.ConfigDict):
            raise ConfigError(f"config key {key!r}: {p!r} is a value, not a section")
        where = f"section {p!r}"
    current = _child(node, leaf, key, where)
    if isinstance(current, ml_collections.ConfigDict):
        raise ConfigError(f"config key {key!r} is a section; set one of its keys: "
                          f"{', '.join(sorted(current.keys()))}")
    node[leaf] = coerce(key, current, text.strip())


def _child(node, name: str, key: str, where: str):
    if name not in node:
        raise ConfigError(f"unknown config key {key!r}: {where} has no {name!r}; valid keys: "
                          f"{', '.join(sorted(node.keys()))}")
    return node[name]


def coerce(key: str, current, text: str):
    """The override's value, converted to the type of the value it replaces."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text  # a bare word: a string
    expected = type(current)
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    elif isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(current, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(current, str):
        return text if not isinstance(value, str) else value
    elif isinstance(current, (tuple, list)):
        if isinstance(value, str):  # "depth,rgb" or "" for an empty tuple
            value = tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, (tuple, list)):
            return expected(value)
    elif current is None:
        return value
    raise ConfigError(f"config key {key!r} expects {expected.__name__} "
                      f"(current value {current!r}), got {text!r}")
