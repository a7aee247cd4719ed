"""`report_to`: each tracker writes its own offline files, resumed runs continue the same
tracker runs, and a tracker that is not installed is named with its extra."""

import json

import pytest

from mocoim_hub.extras import MissingExtraError
from mocoim_hub.pretraining import Callback, PretrainingInterrupted, pretrain
from mocoim_hub.pretraining import trackers as tracker_module

TINY = dict(batch_size=32, queue_size=64, barlow_dim=64, num_workers=0, precision="fp32",
            log_every=1, checkpoint_every=2, knn_every=0, max_steps=2)  # fmt: skip


class StopAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, trainer, step, metrics):
        if step == self.step:
            trainer.request_stop()


def test_every_tracker_writes_offline_and_a_resumed_run_continues_its_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = tmp_path / "run"
    with pytest.raises(PretrainingInterrupted):
        pretrain("demo", run, report_to=["tensorboard,wandb", "mlflow"], callbacks=[StopAt(1)],
                 **TINY)  # fmt: skip
    first = json.loads((run / "trackers.json").read_text())
    pretrain("demo", run, resume=True, report_to=["tensorboard", "wandb", "mlflow"], **TINY)
    assert json.loads((run / "trackers.json").read_text()) == first  # the same W&B and MLflow runs

    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    # offline, W&B keeps one folder per invocation, both of the same run (synced as one)
    invocations = list((run / "wandb").glob(f"offline-run-*-{first['wandb']}"))
    assert len(invocations) == 2 and all(list(folder.glob("*.wandb")) for folder in invocations)

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{(run / 'mlflow.db').resolve()}")
    history = mlflow.MlflowClient().get_metric_history(first["mlflow"], "loss")
    assert [m.step for m in history] == [1, 2]  # one value per step, from both invocations
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m.value for m in history] == pytest.approx([r["loss"] for r in logged])
    params = mlflow.MlflowClient().get_run(first["mlflow"]).data.params
    assert json.loads(params["batch_size"]) == 32


def test_a_missing_tracker_is_named_with_its_extra(tmp_path, monkeypatch):
    real = tracker_module.require

    def without_wandb(feature, *modules):
        if "wandb" in modules:
            raise MissingExtraError(f"{feature} needs wandb, which is not installed: pip install "
                                    "'mocoim_hub[trackers]'")  # fmt: skip
        real(feature, *modules)

    monkeypatch.setattr(tracker_module, "require", without_wandb)
    with pytest.raises(MissingExtraError, match=r"mocoim_hub\[trackers\]"):
        pretrain("demo", tmp_path / "run", report_to=["wandb"], **TINY)
