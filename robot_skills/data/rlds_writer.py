"""Writing expert episodes as an RLDS dataset: a tfds builder in the `array_record` file format
(no TensorFlow), plus two JSON files beside it:

  normalization.json   per-field statistics (robot_skills.data.normalization)
  episode_index.json   seed and length of every episode in record order (the loader's index)

Records are re-serialised with sorted map keys once tfds has written them: tfds serialises a
tf.Example's feature map in hash order, which differs between processes, and the dataset must be
byte-identical for the same config and seeds. The result is published atomically: everything is
written to a staging folder next to `out` and renamed into place at the end, so `out` is either a
complete dataset or absent. `out` opens with stock `tfds.builder_from_directory(out)`.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator

import tensorflow_datasets as tfds
from array_record.python import array_record_module
from tensorflow_datasets.proto import tf_example_pb2  # tf.Example without TensorFlow

from robot_skills.data.episodes import EpisodeRecord
from robot_skills.data.features import DataSpec, rlds_features, to_example
from robot_skills.data.normalization import FIELDS, STATS_FILE, StatsAccumulator, save_stats

INDEX_FILE = "episode_index.json"
DATASET_NAME = "rearrange_demonstrations"
SPLIT = "train"  # one tfds split; train/validation is chosen by episode in the loader


class RearrangeDemonstrations(tfds.core.GeneratorBasedBuilder):
    """Scripted-expert demonstrations; the features come from a DataSpec, the examples from any
    iterable of EpisodeRecords in ascending seed order (record order = seed order)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "RLDS steps with skill labels and language instructions."}

    def __init__(self, *, spec: DataSpec, records: Iterable[EpisodeRecord] = (), **kwargs):
        self._spec = spec
        self._records = records
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        # Built directly (not from config files): this builder is not in its own package.
        return tfds.core.DatasetInfo(
            builder=self, features=rlds_features(self._spec), disable_shuffling=True,
            description=f"Scripted-expert demonstrations of the {self._spec.task} task "
                        "(robot_skills), RLDS layout.")

    def _split_generators(self, dl_manager):
        return {SPLIT: self._generate_examples()}

    def _generate_examples(self):
        for record in self._records:
            # Keys are seeds: with shuffling disabled tfds writes records in key order.
            yield record.seed, to_example(record, self._spec.skill_names)

    def _log_download_bytes(self) -> None:  # the generate job prints its own progress
        pass

    def _log_download_done(self) -> None:
        pass


class _Tally:
    """Passes records through while accumulating statistics and the episode index."""

    def __init__(self, records: Iterable[EpisodeRecord], spec: DataSpec):
        self.records = records
        self.stats = {"state": StatsAccumulator(spec.state_dim),
                      "action": StatsAccumulator(spec.action_dim)}
        self.seeds: list[int] = []
        self.lengths: list[int] = []
        self.success: list[bool] = []

    def __iter__(self) -> Iterator[EpisodeRecord]:
        last = None
        for r in self.records:
            if last is not None and r.seed <= last:
                raise ValueError(f"episodes must come in ascending seed order ({r.seed} after "
                                 f"{last}): the record order of the dataset is the seed order")
            last = r.seed
            self.stats["state"].update(r.observation["state"])
            self.stats["action"].update(r.action)
            self.seeds.append(r.seed)
            self.lengths.append(r.length)
            self.success.append(r.success)
            yield r


def write_dataset(out: str, spec: DataSpec, records: Iterable[EpisodeRecord],
                  overwrite: bool = False, info: dict | None = None, quiet: bool = True) -> dict:
    """Writes `records` (ascending seeds) to the dataset directory `out`; returns the index.
    `quiet` turns tfds's own progress bars off (process-wide) so the caller's bar stays legible."""
    out = os.path.abspath(out)
    if quiet:
        tfds.disable_progress_bar()
    check_writable(out, overwrite)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    staging = os.path.join(parent, f".{os.path.basename(out)}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    tally = _Tally(records, spec)
    try:
        builder = RearrangeDemonstrations(spec=spec, records=tally, data_dir=staging,
                                          file_format="array_record")
        builder.download_and_prepare(download_dir=os.path.join(staging, "downloads"))
        if not tally.seeds:
            raise ValueError("no episodes to write (every expert episode failed?)")
        version_dir = os.fspath(builder.data_dir)
        for name in sorted(os.listdir(version_dir)):
            if ".array_record-" in name:
                canonicalize_shard(os.path.join(version_dir, name))
        stats = {f: tally.stats[f].result() for f in FIELDS}
        stats.update(num_episodes=len(tally.seeds), num_steps=int(sum(tally.lengths)))
        save_stats(os.path.join(version_dir, STATS_FILE), stats)
        index = {"task": spec.task, "cameras": list(spec.cameras), "camera_size": spec.camera_size,
                 "num_episodes": len(tally.seeds), "num_steps": int(sum(tally.lengths)),
                 "seeds": tally.seeds, "lengths": tally.lengths, "expert_success": tally.success,
                 "generation": info or {}}
        with open(os.path.join(version_dir, INDEX_FILE), "w") as f:
            json.dump(index, f)
        if overwrite and os.path.exists(out):
            shutil.rmtree(out)
        os.replace(version_dir, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return index


def canonicalize_shard(path: str) -> None:
    """Rewrites an array_record shard of tf.Examples with deterministic (key-sorted)
    serialisation, same records, same writer options."""
    reader = array_record_module.ArrayRecordReader(path)
    options = reader.writer_options_string() or "group_size:1"
    tmp = path + ".canonical"
    writer = array_record_module.ArrayRecordWriter(tmp, options)
    try:
        for i in range(reader.num_records()):
            example = tf_example_pb2.Example.FromString(reader.read([i])[0])
            writer.write(example.SerializeToString(deterministic=True))
    finally:
        reader.close()
        writer.close()
    os.replace(tmp, path)


def check_writable(out: str, overwrite: bool) -> None:
    """Fails before any work when `out` would be clobbered without `overwrite`."""
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)) and not overwrite:
        raise FileExistsError(f"{out} already exists; remove it, pass --overwrite, or choose "
                              "another --out")
