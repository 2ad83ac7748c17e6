"""Demonstration datasets: expert episodes written as RLDS (tensorflow-datasets, array_record,
no TensorFlow) and read back as normalised training windows.

  features.py       the RLDS schema (DataSpec, tfds features, feature check, episode -> example)
  episodes.py       EpisodeRecord: one expert episode as stacked arrays (what workers produce)
  normalization.py  per-field statistics (mean/std/quantiles), normalize / denormalize
  rlds_writer.py    the tfds builder and write_dataset (+ normalization.json, episode_index.json)
  dataset.py        EpisodeDataset: open + validate a directory, random access to episodes
  sampling.py       train/val split, uniform (episode, t) positions, padded windows (pure)
  loader.py         WindowLoader: batch(step), iterate(start_step) with thread prefetch
  roles.py          skill roles (none / source / goal) derived from an episode's labels and state
"""

from robot_skills.data.errors import DatasetError

__all__ = ["DatasetError"]
