"""Embedding archives into shards: rows equal to a plain batched forward, bad files recorded,
memory-mapped shards, a killed run resumed to the same rows, torchrun ranks sharing the work,
and folders that hold something else left alone."""

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from mocoim_hub import MocoImImageProcessor, MocoImModel
from mocoim_hub.archive import Embeddings, embed_archive
from mocoim_hub.commands import extract
from mocoim_hub.data.files import image_files
from mocoim_hub.features import embed_images


@pytest.fixture(scope="module")
def archive_paths(example_archive):
    return image_files([str(example_archive)], "image")[0]


@pytest.fixture(scope="module")
def encoder(saved_model_dir):
    return MocoImModel.from_pretrained(saved_model_dir), MocoImImageProcessor.from_pretrained(
        saved_model_dir
    )


def test_shards_hold_the_rows_of_a_plain_forward_in_input_order(tmp_path, archive_paths, encoder):
    model, processor = encoder
    embeddings = embed_archive(model, processor, archive_paths, tmp_path / "out",
                               layers=["layer2", "layer4"], batch_size=16, shard_size=64,
                               num_workers=2, on_bad_image="skip", progress=False)  # fmt: skip
    expected = embed_images(model, processor, archive_paths, layers=["layer2", "layer4"],
                            on_bad_image="skip", progress=False)  # fmt: skip
    assert embeddings.paths == [str(p) for p in archive_paths]
    for layer in ("layer2", "layer4"):
        shards = list(embeddings.shards(layer))
        assert [len(s) for s in shards] == [64, 64, 64, len(archive_paths) - 192]
        assert isinstance(shards[0], np.memmap)
        np.testing.assert_allclose(embeddings.layer(layer), expected[layer], atol=1e-5)
    broken = embeddings.paths.index(next(p for p in embeddings.paths if p.endswith("broken.png")))
    assert embeddings.status[broken] == "skipped" and "truncated" in embeddings.reasons[broken]
    assert np.isnan(embeddings.layer()[broken]).all() and embeddings.ok.sum() == len(embeddings) - 1
    with pytest.raises(KeyError, match="holds \\['layer2', 'layer4'\\]"):
        embeddings.layer("layer1")


def test_a_bad_file_stops_the_run_keeping_finished_shards_for_resume(
    tmp_path, archive_paths, encoder
):
    model, processor = encoder
    bad = archive_paths.index(next(p for p in archive_paths if p.name == "broken.png"))
    images = archive_paths[bad - 5 :] + archive_paths[: bad - 5]  # the bad file in shard 1
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="Bad image .*broken.png .*truncated.*on_bad_image='skip'"):
        embed_archive(model, processor, images, out, shard_size=4, num_workers=0, progress=False)
    assert (out / "shards" / "00000.csv").exists() and not (out / "shards" / "00001.csv").exists()
    with pytest.raises(FileExistsError, match="pass --resume"):
        embed_archive(model, processor, images, out, shard_size=4, progress=False)
    with pytest.raises(ValueError, match="differs in layers"):
        embed_archive(model, processor, images, out, layers="layer3", shard_size=4, resume=True,
                      progress=False)  # fmt: skip
    finished = embed_archive(model, processor, images, out, shard_size=4, resume=True,
                             on_bad_image="skip", num_workers=0, progress=False)  # fmt: skip
    assert finished.status[5] == "skipped" and finished.status.count("skipped") == 1


def test_a_folder_holding_other_files_is_left_alone(tmp_path, archive_paths, encoder):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    with pytest.raises(FileExistsError, match="did not write \\(notes.txt\\)"):
        embed_archive(*encoder, archive_paths[:3], out, resume=True, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    with pytest.raises(FileNotFoundError, match="holds no finished embeddings"):
        Embeddings(out)


def test_bf16_rows_are_close_to_fp32(tmp_path, archive_paths, encoder):
    images = [p for p in archive_paths if "photos" in p.parts][:8]
    full, half = (
        embed_archive(*encoder, images, tmp_path / precision, precision=precision,
                      device="cpu", num_workers=0, progress=False).layer()
        for precision in ("fp32", "bf16")
    )  # fmt: skip
    cosine = (full * half).sum(1) / np.linalg.norm(full, axis=1) / np.linalg.norm(half, axis=1)
    assert cosine.min() > 0.99 and not np.array_equal(full, half)


def test_the_command_writes_a_folder_and_similarities_on_request(
    tmp_path, example_archive, saved_model_dir, capsys
):
    out, similarity = tmp_path / "embeddings", tmp_path / "similarity.csv"
    extract.main(["--model", saved_model_dir, str(example_archive / "photos"), "--output", str(out),
                  "--similarity", str(similarity), "--layers", "layer3", "layer4"])  # fmt: skip
    printed = capsys.readouterr().out
    assert "embedded 80 of 80 images into" in printed and "layer4 (80, 512)" in printed
    matrix = np.loadtxt(similarity, delimiter=",", skiprows=1, usecols=range(1, 81))
    np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-3)
    with pytest.raises(SystemExit) as stopped:
        extract.main(["--model", saved_model_dir, "--output", str(tmp_path / "f.npz")])
    assert stopped.value.code == 2 and "--output names a folder" in capsys.readouterr().err


@pytest.mark.faults
def test_a_killed_extraction_resumes_to_the_rows_of_an_uninterrupted_run(
    tmp_path, example_archive, saved_model_dir
):
    command = [sys.executable, "-m", "mocoim_hub.commands.extract", "--model", saved_model_dir,
               str(example_archive), "--skip-bad-images", "--batch-size", "4", "--shard-size",
               "8", "--num-workers", "0"]  # fmt: skip
    killed = tmp_path / "killed"
    process = subprocess.Popen([*command, "--output", str(killed)], stderr=subprocess.DEVNULL)
    while not (killed / "shards" / "00002.csv").exists():
        assert process.poll() is None, "the extraction ended before it could be killed"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "index.csv").exists()
    subprocess.run([*command, "--output", str(killed), "--resume"], check=True, timeout=300)
    subprocess.run([*command, "--output", str(tmp_path / "whole")], check=True, timeout=300)
    resumed, whole = Embeddings(killed), Embeddings(tmp_path / "whole")
    assert resumed.paths == whole.paths and resumed.status == whole.status
    np.testing.assert_allclose(resumed.layer(), whole.layer(), atol=1e-5)


@pytest.mark.multiprocess
def test_two_torchrun_processes_give_the_rows_of_one(tmp_path, example_archive, saved_model_dir):
    common = ["-m", "mocoim_hub.commands.extract", "--model", saved_model_dir, str(example_archive),
              "--skip-bad-images", "--shard-size", "32", "--device", "cpu"]  # fmt: skip
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
    ]
    subprocess.run([*torchrun, *common, "--output", str(tmp_path / "two")], check=True, timeout=600)
    subprocess.run([sys.executable, *common, "--output", str(tmp_path / "one")], check=True,
                   timeout=600)  # fmt: skip
    two, one = Embeddings(tmp_path / "two"), Embeddings(tmp_path / "one")
    assert two.paths == one.paths and two.status == one.status
    np.testing.assert_allclose(two.layer(), one.layer(), atol=1e-5)
