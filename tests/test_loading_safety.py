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
