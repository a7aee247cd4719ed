import numpy as np
import pytest

from mocoim_hub.analysis import layerwise_probing, probing_table
from mocoim_hub.finetune import Encoder


@pytest.mark.slow
def test_trained_encoder_beats_zero_init_control_at_every_deep_layer(encoder, small_splits):
    """On real images, a torchvision-initialised encoder's features carry signal that a network
    with zero-initialised residual branches (nearly constant deep features) lacks."""
    from mocoim_hub import MocoImModel

    control = Encoder("zero-init", MocoImModel(encoder.model.config.__class__(
        backbone="resnet18", image_size=32, zero_init_residual=True)), encoder.processor)  # fmt: skip
    results = layerwise_probing([encoder, control], small_splits, layers=["layer1", "layer4"],
                                fractions=[1.0], seeds=[0], n_resamples=50, progress=False)  # fmt: skip
    score = {(r.model, r.layer): r.value for r in results}
    assert score["random", "layer4"] > score["zero-init", "layer4"] + 0.1
    assert all(0 <= r.ci_low <= r.value <= r.ci_high <= 1 for r in results)
    assert "| random | 100 % |" in probing_table(results)
    assert np.isfinite([r.value for r in results]).all()
