"""A researcher's own images through every command: a mixed archive (nested DICOM series without
suffixes, MONOCHROME1, class folders of 16-bit PNGs, a flat folder with a truncated file, a CSV
with `A|B` findings and patients) pretrained on, fine-tuned from, kept as a classifier that reads
a DICOM, embedded; and a run continued from existing weights."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mocoim_hub import MocoImModel
from mocoim_hub.archive import Embeddings
from mocoim_hub.commands import extract, finetune
from mocoim_hub.commands.pretrain import main as pretrain_main
from mocoim_hub.hub import push_to_hub
from mocoim_hub.model_card import load_evaluations
from mocoim_hub.pretraining.metrics import read_metrics

TINY = ["--recipe", "demo", "--barlow-dim", "64", "--num-workers", "0", "--precision", "fp32",
        "--log-every", "1", "--knn-every", "0", "--report-to", "none"]  # fmt: skip
FINDINGS = ["--label-column", "findings", "--patient-column", "patient", "--label-separator", "|"]
FAST_EVAL = ["--seeds", "0", "--bootstrap", "20"]


def pretrain(run: Path, *flags: str) -> None:
    assert pretrain_main(["--output-dir", str(run), *TINY, *flags]) == 0


def test_pretraining_on_a_whole_archive_uses_every_readable_image(
    tmp_path, example_archive, capsys
):
    run = tmp_path / "chest-ssl"
    # 201 files = 3 batches of 67: one epoch sees every image, the truncated one included
    pretrain(run, "--data-path", str(example_archive), "--batch-size", "67", "--queue-size", "134",
             "--max-steps", "3", "--on-bad-image", "skip", "--knn-every", "3")  # fmt: skip
    out = capsys.readouterr().out
    assert "read 201 images" in out and "DICOM: 60" in out and "2 other file(s) ignored" in out
    assert "labels: none (unlabelled)" in out and "pretraining on 201 images" in out
    recipe = json.loads((run / "recipe.json").read_text())
    assert recipe["dataset"] == "images" and recipe["data_path"] == str(example_archive)
    assert json.loads((run / "data.json").read_text())["pretraining_images"] == 201
    logged = read_metrics(run / "metrics.jsonl")
    assert logged[-1]["skipped_images"] == 1  # the truncated file, counted, training went on
    ranks = [r["embedding_rank"] for r in logged if "embedding_rank" in r]
    assert len(ranks) == 2 and all(1 <= r <= 201 for r in ranks)  # the label-free monitor
    card = (run / "model" / "README.md").read_text()
    assert card.startswith("---") and "\n# chest-ssl\n" in card
    assert "my_images" in card and "201 images (60 DICOM)" in card
    assert "1 unreadable file(s) skipped" in card
    assert not any(word in card for word in ("Fashion", "clothing", "mocoim-demo"))


def test_a_data_path_is_never_read_as_the_embedded_set(tmp_path, example_archive, capsys):
    photos = example_archive / "photos"
    with pytest.raises(SystemExit) as named_default:
        pretrain(tmp_path / "a", "--dataset", "default", "--data-path", str(photos))
    assert named_default.value.code == 2
    assert "'default' reads no path" in capsys.readouterr().err
    with pytest.raises(SystemExit) as missing:
        pretrain(tmp_path / "b", "--data-path", str(tmp_path / "typo"))
    assert missing.value.code == 2 and "No folder or file at" in capsys.readouterr().err
    # class folders: inferred labelled, so the kNN monitor scores on the held-out validation split
    run = tmp_path / "photos-run"
    pretrain(run, "--data-path", str(photos), "--batch-size", "16", "--queue-size", "64",
             "--max-steps", "2", "--knn-every", "2", "--pretrain-on", "all")  # fmt: skip
    out = capsys.readouterr().out
    assert "(image_folder)" in out and "labels (classes): fundus (40), histology (40)" in out
    assert "pretraining on 72 images: train + test (pretrain_on=all)" in out  # validation held out
    logged = read_metrics(run / "metrics.jsonl")
    assert {"knn_top1", "embedding_rank"} <= set(logged[-1])
    assert json.loads((run / "recipe.json").read_text())["dataset"] == "image_folder"


def test_a_multi_label_run_logs_the_mean_knn_auroc(tmp_path, example_archive):
    run = tmp_path / "multi"
    pretrain(run, "--data-path", str(example_archive / "labels.csv"), *FINDINGS, "--batch-size",
             "32", "--queue-size", "64", "--max-steps", "1", "--knn-every", "1")  # fmt: skip
    logged = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in logged if "knn_auroc" in r] == [0, 1]
    assert all(0 <= r["knn_auroc"] <= 1 for r in logged if "knn_auroc" in r)
    splits = (run / "splits.csv").read_text().splitlines()
    assert len(splits) == 201 and splits[0] == "path,split,patient_id"


def test_fine_tuning_from_a_csv_keeps_a_classifier_that_reads_dicom(
    tmp_path, example_archive, saved_model_dir, capsys
):
    from transformers import pipeline

    out, kept = tmp_path / "few-label", tmp_path / "classifier"
    finetune.main(["--models", saved_model_dir, "--data-path", str(example_archive / "labels.csv"),
                   *FINDINGS, "--labels", "CT,MR,Fundus", "--modes", "full", "--fractions", "1",
                   "--epochs", "1", *FAST_EVAL, "--output-dir", str(out), "--save-model",
                   str(kept)])  # fmt: skip
    printed = capsys.readouterr().out
    assert "labels (multi-label): CT (30), MR (30), Fundus (70)" in printed
    assert "label values not chosen (ignored): Zoomed (52), Histology (70)" in printed
    assert "--data-path" in printed.split("Next:")[1]  # the next command reads the same images
    assert (out / "splits.csv").is_file() and json.loads((out / "data.json").read_text())["dicom"]
    config = json.loads((kept / "config.json").read_text())
    assert list(config["id2label"].values()) == ["CT", "MR", "Fundus"]
    classify = pipeline("image-classification", model=str(kept), top_k=None)
    scores = classify(str(example_archive / "scans/P001/study1/series1/IM0002"))  # MONOCHROME1
    assert {s["label"] for s in scores} == {"CT", "MR", "Fundus"}


def test_two_finetune_runs_leave_both_evaluations_on_the_card(
    tmp_path, example_archive, saved_model_dir, capsys
):
    model = shutil.copytree(saved_model_dir, tmp_path / "model")
    data = ["--data-path", str(example_archive / "labels.csv"), *FINDINGS]
    for fraction, seed in (("0.5", "0"), ("1", "0"), ("0.5", "1")):
        finetune.main(["--models", str(model), *data, "--fractions", fraction, "--seeds", seed,
                       "--bootstrap", "20", "--output-dir", str(tmp_path / fraction)])  # fmt: skip
    rows = load_evaluations(model)
    assert sorted({r.label_fraction for r in rows}) == [0.5, 1.0]  # the first run's rows kept
    assert "replaced the earlier result on the card" in capsys.readouterr().out  # 0.5 rerun
    card = (model / "README.md").read_text()
    assert "| 50 % | this model |" in card and "| 100 % | this model |" in card


def test_extraction_of_the_whole_tree(tmp_path, example_archive, saved_model_dir, capsys):
    output = tmp_path / "embeddings"
    extract.main(["--model", saved_model_dir, str(example_archive), "--skip-bad-images",
                  "--output", str(output)])  # fmt: skip
    assert "read 201 images (60 DICOM)" in capsys.readouterr().out
    saved = Embeddings(output)
    assert saved.layer().shape == (201, 512) and len(saved.paths) == 201
    assert np.isnan(saved.layer()).any(axis=1).sum() == 1  # the truncated file


def test_a_run_starts_from_given_weights_and_its_card_names_them(
    tmp_path, example_archive, saved_model_dir, hub, capsys
):
    push_to_hub(saved_model_dir, "org/start")
    run = tmp_path / "continued"
    data = [
        "--data-path",
        str(example_archive / "photos"),
        "--batch-size",
        "16",
        "--queue-size",
        "64",
    ]
    pretrain(run, *data, "--max-steps", "2", "--init-from", "org/start", "--snapshot-every", "2",
             "--num-channels", "1")  # fmt: skip
    source = MocoImModel.from_pretrained(saved_model_dir).state_dict()
    first = MocoImModel.from_pretrained(run / "snapshots" / "step-000000").state_dict()
    assert all(torch.equal(source[k], first[k]) for k in source)  # step 0 is the source
    trained = MocoImModel.from_pretrained(run / "model").state_dict()
    assert not all(torch.equal(source[k], trained[k]) for k in source)
    card = (run / "model" / "README.md").read_text()
    assert "base_model: org/start" in card and "started from `org/start`" in card
    # --resume continues the run's own recipe from its checkpoint: the source is not needed
    del hub.repos["model", "org/start"]
    assert pretrain_main(["--output-dir", str(run), "--resume", "--max-steps", "3"]) == 0
    with pytest.raises(SystemExit) as changed:  # another source would make the card wrong
        pretrain_main(["--output-dir", str(run), "--resume", "--init-from", str(tmp_path / "gone")])
    assert "init_from (run: 'org/start', now: " in str(changed.value.code)
    with pytest.raises(SystemExit) as mismatch:
        pretrain(tmp_path / "rgb", *data, "--max-steps", "1", "--init-from", saved_model_dir,
                 "--num-channels", "3")  # fmt: skip
    assert "num_channels 1 there, 3 in the recipe" in str(mismatch.value.code)
