"""A dataset directory written by `robot-skills generate`, validated when opened, with random
access to whole episodes as stacked arrays.

Opening checks, and reports with the file or field at fault: the directory and its
dataset_info.json exist; the features match the config's DataSpec; every array_record shard
exists and holds the number of records dataset_info.json promises (a truncated shard opens with
fewer); the episode index and normalisation statistics are present and agree with the records.
Reading a record that fails its checksum or does not parse raises too; nothing is skipped.
"""

from __future__ import annotations

import bisect
import json
import os

import numpy as np
import tensorflow_datasets as tfds
from array_record.python import array_record_module

from robot_skills.data.errors import DatasetError
from robot_skills.data.features import DataSpec, EpisodeParser, check_features
from robot_skills.data.normalization import FIELDS, STATS_FILE
from robot_skills.data.rlds_writer import INDEX_FILE, SPLIT


class EpisodeDataset:
    """Random access to the episodes of one dataset directory."""

    def __init__(self, path: str, spec: DataSpec | None = None):
        self.path = os.path.abspath(path)
        _require(self.path, "dataset directory", is_dir=True)
        _require(os.path.join(self.path, "dataset_info.json"), "tfds dataset description")
        _require(os.path.join(self.path, "features.json"), "tfds feature description")
        try:
            self.builder = tfds.builder_from_directory(self.path)
            self.info = self.builder.info
        except Exception as e:  # noqa: BLE001 - re-raised with the directory named
            raise DatasetError(f"{self.path}: tfds cannot open the dataset description "
                               f"(dataset_info.json / features.json): {e}") from e
        if self.info.file_format is None or self.info.file_format.value != "array_record":
            raise DatasetError(f"{self.path}/dataset_info.json: file format is "
                               f"{self.info.file_format}, expected array_record")
        if SPLIT not in self.info.splits:
            raise DatasetError(f"{self.path}/dataset_info.json: no {SPLIT!r} split "
                               f"(found {list(self.info.splits)})")
        if spec is not None:
            check_features(self.info.features, spec, self.path)
        self.shards = self._check_shards()
        self._shard_ends = list(np.cumsum([n for _, n in self.shards]))
        self.index = self._load_index(spec)
        self.lengths = np.asarray(self.index["lengths"], np.int64)  # (N,)
        self.seeds = np.asarray(self.index["seeds"], np.int64)  # (N,)
        self.stats = self._load_stats()
        self._source = self.builder.as_data_source(
            split=SPLIT, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)
        self._parser = EpisodeParser(self.info.features)

    def __len__(self) -> int:
        return len(self.lengths)

    # ------------------------------------------------------------------ checks on open
    def _check_shards(self) -> list[tuple[str, int]]:
        shards = []
        for fi in self.info.splits[SPLIT].file_instructions:
            path = os.fspath(fi.filename)
            _require(path, f"array_record shard ({fi.examples_in_shard} episodes)")
            expected = (f"dataset_info.json lists {fi.examples_in_shard} episodes in it, "
                        f"{os.path.getsize(path)} bytes on disk")
            try:
                reader = array_record_module.ArrayRecordReader(path)
                found = reader.num_records()
                reader.close()
            except Exception as e:  # noqa: BLE001
                raise DatasetError(f"{path}: the array_record shard cannot be opened ({e!r}); "
                                   f"{expected}: it is truncated or corrupt. Regenerate the "
                                   "dataset.") from e
            if found != fi.examples_in_shard:
                raise DatasetError(f"{path}: the shard holds {found} readable episodes, "
                                   f"{expected}: it is truncated or corrupt. Regenerate the "
                                   "dataset.")
            shards.append((path, found))
        return shards

    def _load_index(self, spec: DataSpec | None) -> dict:
        index = _read_json(os.path.join(self.path, INDEX_FILE), "episode index")
        n = int(self._shard_ends[-1]) if self._shard_ends else 0
        for key in ("seeds", "lengths"):
            if len(index.get(key, ())) != n:
                raise DatasetError(f"{self.path}/{INDEX_FILE}: {key!r} lists "
                                   f"{len(index.get(key, ()))} episodes, the shards hold {n}")
        if spec is not None and index.get("task") != spec.task:
            raise DatasetError(f"{self.path}/{INDEX_FILE}: the dataset holds task "
                               f"{index.get('task')!r} episodes, the config expects {spec.task!r}")
        return index

    def _load_stats(self) -> dict:
        stats = _read_json(os.path.join(self.path, STATS_FILE), "normalisation statistics")
        for field in FIELDS:
            if field not in stats or "mean" not in stats[field]:
                raise DatasetError(f"{self.path}/{STATS_FILE}: no statistics for {field!r}")
        return stats

    # ------------------------------------------------------------------ reading
    def shard_of(self, i: int) -> str:
        return self.shards[bisect.bisect_right(self._shard_ends, i)][0]

    def episode(self, i: int) -> dict:
        """Episode record i, decoded: state (T, D), action (T, A), skill (T,), is_first (T,),
        [depth (T, H, W, 1) metres], [rgb (T, H, W, 3)], instruction, seed."""
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(f"episode {i} out of range: {self.path} has {len(self)} episodes")
        try:
            raw = self._source[i]
        except Exception as e:  # noqa: BLE001
            raise DatasetError(f"{self.shard_of(i)}: episode record {i} cannot be read "
                               f"({e}); the shard is corrupt. Regenerate the dataset.") from e
        return self._decode(i, raw)

    def episodes(self, indices) -> list[dict]:
        return [self.episode(i) for i in indices]

    def _decode(self, i: int, raw: bytes) -> dict:
        try:
            out = self._parser.parse(raw)
        except Exception as e:  # noqa: BLE001
            raise DatasetError(f"{self.shard_of(i)}: episode record {i} does not parse as a "
                               f"tf.Example of this dataset's features ({e})") from e
        T = len(out["action"])
        if T != self.lengths[i] or out["seed"] != self.seeds[i]:
            raise DatasetError(f"{self.shard_of(i)}: episode record {i} has seed {out['seed']} "
                               f"and {T} steps, {INDEX_FILE} says seed {self.seeds[i]} and "
                               f"{self.lengths[i]} steps")
        return out


class EpisodeDatasets:
    """Several dataset directories read as one (expert demonstrations + DAgger rounds):
    episodes in directory order. The normalisation statistics are the FIRST directory's, so
    aggregating data does not move the scale of a policy's inputs."""

    def __init__(self, paths, spec: DataSpec | None = None):
        self.parts = [EpisodeDataset(p, spec) for p in paths]
        self.path = ",".join(p.path for p in self.parts)
        self.lengths = np.concatenate([p.lengths for p in self.parts])  # (N,)
        self.seeds = np.concatenate([p.seeds for p in self.parts])  # (N,)
        self.stats = self.parts[0].stats
        self._ends = list(np.cumsum([len(p) for p in self.parts]))

    def __len__(self) -> int:
        return len(self.lengths)

    def episode(self, i: int) -> dict:
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(f"episode {i} out of range: {self.path} has {len(self)} episodes")
        k = bisect.bisect_right(self._ends, i)
        return self.parts[k].episode(i - (self._ends[k - 1] if k else 0))


def open_dataset(path, spec: DataSpec | None = None) -> EpisodeDataset | EpisodeDatasets:
    """One directory, or several given as a list or a comma-separated string (read as one)."""
    paths = [p.strip() for p in path.split(",")] if isinstance(path, str) else list(path)
    paths = [p for p in paths if p]
    if not paths:
        raise DatasetError("no dataset directory given; pass --data DIR[,DIR...] or set data.dir")
    return EpisodeDataset(paths[0], spec) if len(paths) == 1 else EpisodeDatasets(paths, spec)


def _require(path: str, what: str, is_dir: bool = False) -> None:
    ok = os.path.isdir(path) if is_dir else os.path.isfile(path)
    if not ok:
        raise DatasetError(f"{path} is missing (expected the {what} of a dataset written by "
                           "`robot-skills generate --out DIR`)")


def _read_json(path: str, what: str) -> dict:
    _require(path, what)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path}: cannot read the {what} ({e})") from e
