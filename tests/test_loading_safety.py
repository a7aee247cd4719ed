import json
import os
import shutil

import pytest
import torch
from transformers import AutoModel

from mocoim_hub import MocoImModel


def test_pickle_only_folder_points_at_the_converter(saved_model_dir, tmp_path):
    folder = tmp_path / "pickled"
    shutil.copytree(saved_model_dir, folder)
    state = MocoImModel.from_pretrained(folder).state_dict()
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    for loader in (MocoImModel.from_pretrained, AutoModel.from_pretrained):
        with pytest.raises(OSError, match=r"mocoim-convert"):
            loader(folder)


def test_safetensors_win_over_a_pickle_next_to_them(saved_model_dir, tmp_path, monkeypatch):
    folder = tmp_path / "both"
    shutil.copytree(saved_model_dir, folder)
    torch.save({"not": torch.zeros(1)}, folder / "pytorch_model.bin")

    def refuse(*args, **kwargs):
        raise AssertionError("torch.load was called: a pickle would have been read")

    monkeypatch.setattr(torch, "load", refuse)
    model = MocoImModel.from_pretrained(folder)
    assert model.config.backbone == "resnet18"


def test_use_safetensors_false_is_refused(saved_model_dir):
    with pytest.raises(ValueError, match="safetensors only"):
        MocoImModel.from_pretrained(saved_model_dir, use_safetensors=False)


def _sharded_copy(saved_model_dir, folder):
    """The model saved in shards, as `save_pretrained(max_shard_size=...)` writes it."""
    MocoImModel.from_pretrained(saved_model_dir).save_pretrained(folder, max_shard_size="20MB")
    assert (folder / "model.safetensors.index.json").is_file()
    return folder


def _point_index_at(folder, shard_name):
    index_file = folder / "model.safetensors.index.json"
    index = json.loads(index_file.read_text())
    index["weight_map"] = {key: shard_name for key in index["weight_map"]}
    index_file.write_text(json.dumps(index))


def test_sharded_safetensors_load(saved_model_dir, tmp_path):
    folder = _sharded_copy(saved_model_dir, tmp_path / "sharded")
    expected = MocoImModel.from_pretrained(saved_model_dir).state_dict()
    loaded = MocoImModel.from_pretrained(folder).state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in expected.items())


def test_shard_index_pointing_at_a_pickle_is_refused(saved_model_dir, tmp_path, monkeypatch):
    folder = _sharded_copy(saved_model_dir, tmp_path / "decoy")
    state = MocoImModel.from_pretrained(saved_model_dir).state_dict()
    torch.save(state, folder / "pytorch_model-00001-of-00001.bin")
    _point_index_at(folder, "pytorch_model-00001-of-00001.bin")
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("a pickle was read"))
    for loader in (MocoImModel.from_pretrained, AutoModel.from_pretrained):
        with pytest.raises(
            ValueError, match=r"pytorch_model-00001-of-00001\.bin.*only \.safetensors"
        ):
            loader(folder)


def test_shard_index_pointing_outside_the_folder_is_refused(saved_model_dir, tmp_path):
    folder = _sharded_copy(saved_model_dir, tmp_path / "inside")
    MocoImModel.from_pretrained(saved_model_dir).save_pretrained(tmp_path / "outside")
    shutil.move(tmp_path / "outside" / "model.safetensors", tmp_path / "outside.safetensors")
    _point_index_at(folder, "../outside.safetensors")
    with pytest.raises(ValueError, match=r"\.\./outside\.safetensors.*inside the model folder"):
        MocoImModel.from_pretrained(folder)


def test_malformed_shard_index_is_a_value_error(saved_model_dir, tmp_path):
    folder = _sharded_copy(saved_model_dir, tmp_path / "broken")
    (folder / "model.safetensors.index.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a shard index"):
        MocoImModel.from_pretrained(folder)


def test_a_weights_file_linked_from_outside_the_folder_is_refused(saved_model_dir, tmp_path):
    """`model.safetensors` as a link to a file elsewhere: refused by every model loader (the
    pipeline's included), naming the link and where it points."""
    from transformers import pipeline

    from mocoim_hub.sources import OpenModelFolderError

    outside = tmp_path / "elsewhere.safetensors"
    shutil.copy(f"{saved_model_dir}/model.safetensors", outside)
    folder = tmp_path / "linked"
    shutil.copytree(saved_model_dir, folder)
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").symlink_to(outside)
    refusal = "model.safetensors links to .*elsewhere.safetensors, outside the model folder"
    for loader in (MocoImModel.from_pretrained, AutoModel.from_pretrained):
        with pytest.raises(OpenModelFolderError, match=refusal):
            loader(str(folder))
    with pytest.raises(ValueError, match=refusal):
        pipeline("image-feature-extraction", model=str(folder))


def test_a_hub_cache_snapshot_linking_into_its_blobs_loads(saved_model_dir, tmp_path):
    """The layout huggingface_hub makes: snapshots/<revision>/<file> -> ../../blobs/<hash>."""
    repo = tmp_path / "hub" / "models--org--name"
    snapshot = repo / "snapshots" / "0123abc"
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for index, file in enumerate(sorted(os.listdir(saved_model_dir))):
        shutil.copy(f"{saved_model_dir}/{file}", repo / "blobs" / f"blob{index}")
        (snapshot / file).symlink_to(f"../../blobs/blob{index}")
    assert MocoImModel.from_pretrained(str(snapshot)).config.backbone == "resnet18"
