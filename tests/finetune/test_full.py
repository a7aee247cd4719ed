"""End-to-end fine-tuning: the weights returned are those of the best validation epoch."""

import numpy as np
import pytest
import torch

from mocoim_hub.finetune import classifier_from_encoder, evaluate, fine_tune, full, predict


@pytest.mark.slow
def test_best_validation_epoch_is_the_one_returned_and_evaluated(
    encoder, small_splits, monkeypatch
):
    """Validation accuracy is scripted to peak at epoch 2 of 4: the weights of that epoch come back."""
    snapshots, scripted = [], iter([0.2, 0.9, 0.3, 0.1])

    def recording_predict(model, *args, **kwargs):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return predict(model, *args, **kwargs)

    def scripted_evaluate(*args, **kwargs):
        return {**evaluate(*args, **kwargs), "accuracy": next(scripted)}

    monkeypatch.setattr(full, "predict", recording_predict)
    monkeypatch.setattr(full, "evaluate", scripted_evaluate)
    result = fine_tune(encoder.model, encoder.processor, small_splits["train"], small_splits["validation"],
                       "multi-class", epochs=4, patience=10, batch_size=64, num_workers=0,
                       progress=False)  # fmt: skip
    assert len(result.history) == 4 and result.best_epoch == 2
    returned = result.model.state_dict()
    assert all(torch.equal(returned[k], v) for k, v in snapshots[1].items())
    assert not all(torch.equal(returned[k], v) for k, v in snapshots[3].items())
    assert result.model.config.id2label[3] == small_splits["train"].label_names[3]


def test_early_stopping_stops_after_patience(encoder, small_splits):
    tiny = small_splits["train"].subset(np.arange(40))
    result = fine_tune(encoder.model, encoder.processor, tiny, small_splits["validation"].subset(np.arange(30)),
                       "multi-class", epochs=50, patience=1, lr=0.5, batch_size=40, num_workers=0,
                       progress=False)  # fmt: skip
    assert len(result.history) < 50 and len(result.history) - result.best_epoch == 1


def test_classifier_starts_from_the_encoder_weights(encoder, small_splits):
    model = classifier_from_encoder(encoder.model, small_splits["train"].label_names, "multi-label")
    assert (
        model.config.problem_type == "multi_label_classification" and model.config.num_labels == 10
    )
    for name, value in encoder.model.state_dict().items():
        assert torch.equal(model.mocoim.state_dict()[name], value), name
