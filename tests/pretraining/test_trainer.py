"""`pretrain()` and the `Pretrainer` in this process, as a notebook uses them: outputs, exact
resume after a requested stop, failures as exceptions, data given from Python, fp16."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mocoim_hub import MocoImModel
from mocoim_hub.data.adapters import ImageDataset
from mocoim_hub.pretraining import (
    Callback,
    MetricsLogger,
    NonFiniteLossError,
    Pretrainer,
    PretrainingInterrupted,
    RunExistsError,
    pretrain,
)
from mocoim_hub.pretraining.metrics import read_metrics

TINY = dict(batch_size=32, queue_size=64, barlow_dim=64, num_workers=0, precision="fp32",
            log_every=1, checkpoint_every=2, knn_every=0, report_to=[])  # fmt: skip


class StopAt(Callback):
    """Asks the run to stop after `step`, as a SIGTERM handler or a notebook user would."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, trainer, step, metrics):
        if step == self.step:
            trainer.request_stop()


def weights(folder) -> dict[str, torch.Tensor]:
    return load_file(folder / "model" / "model.safetensors")


def assert_same_weights(a: dict, b: dict, atol: float = 1e-6) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=atol), name


def records(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_a_run_writes_its_folder_and_returns_the_trained_encoder(tmp_path):
    run = tmp_path / "run"
    result = pretrain("demo", run, **{**TINY, "max_steps": 3, "grad_accumulation": 2,
                                      "knn_every": 2, "log_every": 3, "snapshot_every": 2})  # fmt: skip
    assert {"checkpoint.pt", "metrics.jsonl", "loss_curves.png", "recipe.json", "model"} <= {
        p.name for p in run.iterdir()
    }
    logged = records(run)
    # kNN at step 0 (the initialisation), every 2nd step and the last; losses every 3rd step
    assert [(r["step"], "knn_top1" in r, "loss" in r) for r in logged] == [
        (0, True, False), (2, True, False), (3, True, True)
    ]  # fmt: skip
    assert all(0 < r["knn_top1"] <= 1 for r in logged)
    assert 0 < logged[1]["training_s"] < logged[2]["training_s"]
    assert logged[2]["loss"] == pytest.approx(
        logged[2]["infonce"] + logged[2]["intermediate"], rel=1e-2
    )
    assert {"layer1", "layer4", "lr", "images_per_s"} <= set(logged[2])
    (snapshot,) = (run / "snapshots").iterdir()  # the encoder after step 2, as a model folder
    assert snapshot.name == "step-000002"
    assert json.loads((snapshot / "snapshot.json").read_text())["training_s"] > 0
    assert torch.load(run / "checkpoint.pt", weights_only=True)["batch"] == 6  # 3 steps x 2

    assert result.model_dir == run / "model" and result.steps == 3 and result.skipped_steps == 0
    assert result.metrics == logged[-1]
    loaded = MocoImModel.from_pretrained(result.model_dir)
    assert loaded.config.pretraining_hparams["grad_accumulation"] == 2
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, result.encoder.state_dict()[name]), name

    with pytest.raises(RunExistsError, match="pass --resume"):
        pretrain("demo", run, **TINY)


def test_stopped_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    straight = pretrain("demo", tmp_path / "straight", max_steps=5, **TINY)
    stopped = tmp_path / "stopped"
    with pytest.raises(PretrainingInterrupted) as interrupted:
        pretrain("demo", stopped, max_steps=5, callbacks=[StopAt(3)], **TINY)
    assert interrupted.value.step == 3 and "--resume" in str(interrupted.value)
    assert torch.load(stopped / "checkpoint.pt", weights_only=True)["batch"] == 3
    assert not (stopped / "model").exists()
    resumed = pretrain("demo", stopped, max_steps=5, resume=True, **TINY)
    assert_same_weights(weights(tmp_path / "straight"), weights(stopped))
    assert [r["step"] for r in records(stopped)] == [1, 2, 3, 4, 5]
    assert resumed.metrics["loss"] == pytest.approx(straight.metrics["loss"], rel=1e-5)


def test_fp16_losses_are_finite_and_its_run_resumes_exactly(tmp_path):
    fp16 = {**TINY, "precision": "fp16", "max_steps": 4, "batch_size": 16}  # fp16 is slow on CPU
    straight = pretrain("demo", tmp_path / "straight", **fp16)
    logged = records(tmp_path / "straight")
    assert all(np.isfinite(r["loss"]) for r in logged)
    # the scaler starts at 2^16 and backs off on overflow: those steps are counted and logged
    assert logged[-1]["skipped_steps"] == straight.skipped_steps >= 1
    with pytest.raises(PretrainingInterrupted):
        pretrain("demo", tmp_path / "stopped", callbacks=[StopAt(2)], **fp16)
    pretrain("demo", tmp_path / "stopped", resume=True, **fp16)
    assert_same_weights(weights(tmp_path / "straight"), weights(tmp_path / "stopped"))
    state = torch.load(tmp_path / "stopped" / "checkpoint.pt", weights_only=True)
    assert state["precision"]["skipped_steps"] == straight.skipped_steps


def test_non_finite_loss_raises_and_keeps_the_last_good_checkpoint(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match="non-finite at step") as error:
        pretrain("demo", run, **{**TINY, "max_steps": 8, "lr": 1e9, "warmup_steps": 0,
                                 "checkpoint_every": 1})  # fmt: skip
    assert "--resume" in str(error.value)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert 0 < state["batch"] < 8
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert not (run / "model").exists()


def test_bad_recipes_raise_value_errors_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="Unknown intermediate_loss 'nope'"):
        pretrain("demo", tmp_path / "a", intermediate_loss="nope")
    with pytest.raises(ValueError, match="Unknown recipe field"):
        pretrain({"epochs": 1, "no_such_field": 3}, tmp_path / "b")
    with pytest.raises(ValueError, match="Unknown report_to"):
        pretrain("demo", tmp_path / "c", report_to=["tensorbored"])
    with pytest.raises(FileNotFoundError, match="no .*checkpoint.pt"):
        pretrain("demo", tmp_path / "d", resume=True)
    assert not any(tmp_path.iterdir())


def test_data_from_python_is_recorded_as_such(tmp_path, small_splits, capsys):
    """Splits, one dataset or a torch Dataset of images: trained on as given; the recipe says
    the images came from Python."""
    unlabelled = torch.utils.data.TensorDataset(torch.rand(64, 1, 28, 28))
    for name, data in (("splits", small_splits), ("one", small_splits["train"]),
                       ("torch", unlabelled)):  # fmt: skip
        result = pretrain("demo", tmp_path / name, data=data, max_steps=1, **TINY)
        assert result.recipe.dataset == "python" and result.steps == 1
        saved = json.loads((tmp_path / name / "recipe.json").read_text())
        assert saved["dataset"] == "python" and saved["data_path"] is None
    # without labels, or without a validation split, the monitor logs the label-free rank alone
    for name, data in (("knn", unlabelled), ("v", small_splits["train"])):
        pretrain("demo", tmp_path / name, data=data, max_steps=1, **{**TINY, "knn_every": 1})
        logged = read_metrics(tmp_path / name / "metrics.jsonl")
        assert [r["step"] for r in logged if "embedding_rank" in r] == [0, 1]
        assert not any("knn_top1" in r for r in logged)
    assert "the monitor logs embedding_rank alone" in capsys.readouterr().out
    with pytest.raises(ValueError, match="64 training images make no full optimizer step"):
        pretrain(
            "demo",
            tmp_path / "few",
            data=unlabelled,
            **{**TINY, "batch_size": 128, "queue_size": 128},
        )
    with pytest.raises(TypeError, match="Expected images as"):
        pretrain("demo", tmp_path / "bad", data=42, **TINY)


def test_a_folder_path_is_opened_as_an_image_folder_and_named_in_the_recipe(tmp_path, small_splits):
    train = small_splits["train"]
    for i in range(60):
        path = tmp_path / "images" / f"class{train.labels[i]}" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        train[i]["image"].save(path)
    result = pretrain("demo", tmp_path / "run", data=tmp_path / "images", max_steps=1,
                      **{**TINY, "batch_size": 16})  # fmt: skip
    assert (result.recipe.dataset, result.recipe.data_path) == (
        "image_folder",
        str(tmp_path / "images"),
    )


def test_user_callbacks_replace_defaults_of_their_class_and_see_every_step(tmp_path):
    seen = []

    class Recorder(Callback):
        def on_train_start(self, trainer):
            seen.append(("start", trainer.steps_done))

        def on_step_end(self, trainer, step, metrics):
            metrics["my_metric"] = float(step)  # logged: user callbacks run before the log
            seen.append(("step", step))

        def on_train_end(self, trainer, outcome):
            seen.append(("end", outcome))

    class Silent(MetricsLogger):
        def on_step_end(self, trainer, step, metrics):
            pass

    trainer = Pretrainer("demo", tmp_path / "a", callbacks=[Recorder()], max_steps=2, **TINY)
    assert [type(c).__name__ for c in trainer.callbacks] == [
        "Recorder",
        "MetricsLogger",
        "Checkpointer",
    ]
    trainer.fit()
    # step 0: the initialisation, before the first step of a new run
    assert seen == [("start", 0), ("step", 0), ("step", 1), ("step", 2), ("end", "completed")]
    assert [r["my_metric"] for r in records(tmp_path / "a")] == [0.0, 1.0, 2.0]
    pretrain("demo", tmp_path / "b", callbacks=[Silent()], max_steps=1, **TINY)
    assert not (tmp_path / "b" / "metrics.jsonl").exists()


def test_step_can_be_driven_by_hand(tmp_path):
    """`setup` then `step` on micro-batches the caller makes: the loss parts come back."""
    trainer = Pretrainer("demo", tmp_path / "run", max_steps=1, **TINY).setup()
    images = torch.rand(32, 1, 32, 32)
    out = trainer.step([{"image": images, "seed": torch.arange(32)}])
    assert set(out) >= {"loss", "infonce", "intermediate", "lr", "images"} and out["images"] == 32
    assert np.isfinite(out["loss"]) and trainer.steps_done == 1


def test_unlabelled_image_dataset_is_accepted(small_splits):
    train = small_splits["train"]
    unlabelled = ImageDataset(train.images, None, [], rows=train.rows)
    assert not unlabelled.labelled and unlabelled[0]["labels"].item() == -1
