"""Few-label evaluation of encoders: cached feature extraction, linear probing, end-to-end
fine-tuning with best-validation checkpoint selection, metrics with bootstrap intervals, and
sweeps over label fractions × seeds × modes × encoders."""

from ..extras import require

require("Few-label evaluation (mocoim_hub.finetune)", "scipy", "matplotlib")

from ..features import extract_features
from .classifier import save_classifier, test_evaluations
from .full import FineTuneResult, classifier_from_encoder, fine_tune, predict
from .linear import LinearProbe, linear_probe
from .metrics import PRIMARY_METRIC, Score, bootstrap, evaluate, task_of
from .report import (
    baseline_evaluations,
    card_evaluations,
    markdown_table,
    plot_results,
    read_results,
    with_reference,
    write_results,
)
from .sweep import Encoder, Run, SweepResults, labelled_subsets, run_sweep

__all__ = [
    "PRIMARY_METRIC", "Encoder", "FineTuneResult", "LinearProbe", "Run", "Score",
    "SweepResults", "baseline_evaluations", "bootstrap", "card_evaluations",
    "classifier_from_encoder", "evaluate", "extract_features", "fine_tune", "labelled_subsets",
    "linear_probe", "markdown_table", "plot_results", "predict", "read_results", "run_sweep",
    "save_classifier", "task_of", "test_evaluations", "with_reference", "write_results",
]  # fmt: skip
