"""The paper's analyses: CKA similarity between layers of two encoders, layer-wise linear probing
against a random-init control, and KS distance between output-probability distributions."""

from ..extras import require

require("The analyses (mocoim_hub.analysis)", "scipy", "matplotlib")

from .cka import batched, cka_matrix, linear_cka, minibatch_cka, rbf_cka
from .ks import KsDistance, ks_distance
from .plots import plot_cka, plot_probing
from .probing import layerwise_probing, probing_rows, probing_table

__all__ = [
    "KsDistance", "batched", "cka_matrix", "ks_distance", "layerwise_probing",
    "linear_cka", "minibatch_cka", "plot_cka", "plot_probing", "probing_rows", "probing_table",
    "rbf_cka",
]  # fmt: skip
