"""Broken datasets fail loudly: each case is made on purpose and must raise a DatasetError that
names the file or field at fault and what was expected. Nothing is skipped."""

from __future__ import annotations

import os
import shutil

import pytest

from robot_skills.data.dataset import EpisodeDataset
from robot_skills.data.errors import DatasetError
from robot_skills.data.features import DataSpec
from robot_skills.data.loader import WindowLoader
from train.config import load_config
from train.generate_job import generate_dataset

PICK = ["task.name=pick", "data.batch_size=8", "data.window=4"]


def pick_config(*overrides):
    return load_config("configs/rearrange_easy.py:small", PICK + list(overrides))


@pytest.fixture(scope="module")
def good_dataset(write_dataset):
    import pathlib
    return pathlib.Path(write_dataset("bad_input", pick_config(), 3))


@pytest.fixture
def copy(good_dataset, tmp_path):
    d = tmp_path / "ds"
    shutil.copytree(good_dataset, d)
    return d


def shard_of(d) -> str:
    (name,) = [n for n in os.listdir(d) if ".array_record-" in n]
    return os.path.join(d, name)


def open_and_read_all(d, config=None):
    spec = DataSpec.from_config(config or pick_config())
    ds = EpisodeDataset(str(d), spec)
    return ds.episodes(range(len(ds)))


def test_the_good_dataset_opens(good_dataset):
    assert len(open_and_read_all(good_dataset)) == 3


def test_missing_directory(tmp_path):
    with pytest.raises(DatasetError, match=r"nowhere is missing.*robot-skills generate"):
        open_and_read_all(tmp_path / "nowhere")


def test_missing_dataset_info_json(copy):
    os.remove(copy / "dataset_info.json")
    with pytest.raises(DatasetError, match=r"dataset_info\.json is missing"):
        open_and_read_all(copy)


def test_truncated_shard_names_the_file_and_the_expected_count(copy):
    path = shard_of(copy)
    for size in (os.path.getsize(path) // 2, 5000):
        with open(path, "r+b") as f:
            f.truncate(size)
        with pytest.raises(DatasetError, match=rf"{os.path.basename(path)}: .*dataset_info\.json "
                                               r"lists 3 episodes.*truncated or corrupt"):
            open_and_read_all(copy)


def test_missing_shard(copy):
    os.remove(shard_of(copy))
    with pytest.raises(DatasetError, match=r"array_record-00000-of-00001 is missing"):
        open_and_read_all(copy)


def test_corrupt_record_names_the_shard_and_the_record(copy):
    path = shard_of(copy)
    data = bytearray(open(path, "rb").read())
    for k in range(1000, 1016):  # inside the first episode's chunk
        data[k] ^= 0xFF
    open(path, "wb").write(bytes(data))
    with pytest.raises(DatasetError, match=rf"{os.path.basename(path)}: episode record 0 cannot be "
                                           r"read.*corrupt"):
        open_and_read_all(copy)
    loader = WindowLoader.from_config(pick_config("data.val_fraction=0.0"), data_dir=str(copy))
    with pytest.raises(DatasetError, match="cannot be read"):  # the loader does not skip it
        for step in range(20):
            loader.batch(step)


def test_features_that_do_not_match_the_config(good_dataset):
    with pytest.raises(DatasetError, match=r"steps/observation/depth: missing; the config expects "
                                           r"Tensor\(shape=\(64, 64, 1\), dtype=uint16\)"):
        open_and_read_all(good_dataset, pick_config("env.cameras=depth"))
    spec = DataSpec.from_config(pick_config())
    wider = DataSpec(**{**spec.__dict__, "state_dim": spec.state_dim + 1})
    with pytest.raises(DatasetError, match=rf"steps/observation/state: dataset has "
                                           rf"Tensor\(shape=\({spec.state_dim},\).*expects "
                                           rf"Tensor\(shape=\({spec.state_dim + 1},\)"):
        EpisodeDataset(str(good_dataset), wider)
    fewer = DataSpec(**{**spec.__dict__, "skill_names": spec.skill_names[:-1]})
    with pytest.raises(DatasetError, match=r"steps/skill: dataset has ClassLabel"):
        EpisodeDataset(str(good_dataset), fewer)


def test_episodes_of_another_task(good_dataset):
    with pytest.raises(DatasetError, match=r"holds task 'pick' episodes, the config expects "
                                           r"'rearrange_easy'"):
        open_and_read_all(good_dataset, load_config("configs/rearrange_easy.py"))


@pytest.mark.parametrize("name", ["episode_index.json", "normalization.json"])
def test_missing_sidecar_files(copy, name):
    os.remove(copy / name)
    with pytest.raises(DatasetError, match=rf"{name} is missing"):
        open_and_read_all(copy)


def test_index_that_disagrees_with_the_shards(copy):
    import json
    index = json.loads((copy / "episode_index.json").read_text())
    index["lengths"] = index["lengths"][:-1]
    (copy / "episode_index.json").write_text(json.dumps(index))
    with pytest.raises(DatasetError, match=r"episode_index\.json: 'lengths' lists 2 episodes, the "
                                           r"shards hold 3"):
        open_and_read_all(copy)


def test_generate_refuses_to_overwrite(good_dataset):
    with pytest.raises(FileExistsError, match="already exists"):
        generate_dataset(pick_config(), out=str(good_dataset), episodes=1, workers=1,
                         progress=False)


def test_ensure_dataset_never_overwrites_a_directory_it_cannot_read(tmp_path):
    """demo/compare reuse data.dir: a corrupt or foreign directory there is an error that names
    the fix, and its files are left alone."""
    from train.generate_job import ensure_dataset
    out = tmp_path / "data"
    out.mkdir()
    (out / "notes.txt").write_text("not a dataset")
    with pytest.raises(RuntimeError, match="not a usable dataset.*--overwrite"):
        ensure_dataset(pick_config(), str(out), progress=False, say=lambda *_: None)
    assert (out / "notes.txt").read_text() == "not a dataset"
