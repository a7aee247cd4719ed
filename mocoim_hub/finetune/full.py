"""End-to-end fine-tuning of a MoCo-IM encoder with a linear head, with the modality's
augmentations, early stopping on the validation split, and the best-validation weights restored
before anything is evaluated (the paper's code evaluated the last epoch instead)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.adapters import ImageDataset
from ..data.augment import view_transform
from ..data.loading import make_loader
from ..features import ProcessedImages
from ..image_processing_mocoim import MocoImImageProcessor
from ..modeling_mocoim import MocoImForImageClassification, MocoImModel
from .metrics import PRIMARY_METRIC, Task, evaluate

PROBLEM_TYPES = {
    "multi-label": "multi_label_classification",
    "binary": "single_label_classification",
    "multi-class": "single_label_classification",
}


@dataclass
class FineTuneResult:
    """The classifier holding its best-validation weights, and how training went."""

    model: MocoImForImageClassification
    best_epoch: int  # 1-based epoch whose weights `model` holds
    history: list[dict[str, float]] = field(
        default_factory=list
    )  # per epoch: loss + validation metrics


def classifier_from_encoder(
    encoder: MocoImModel, label_names: list[str], task: Task
) -> MocoImForImageClassification:
    """A classifier whose encoder starts from `encoder`'s weights and a fresh linear head."""
    config = copy.deepcopy(encoder.config)
    config.id2label = dict(enumerate(label_names))
    config.label2id = {name: i for i, name in enumerate(label_names)}
    config.problem_type = PROBLEM_TYPES[task]
    config.architectures = [MocoImForImageClassification.__name__]
    model = MocoImForImageClassification(config)
    model.mocoim.load_state_dict(encoder.state_dict())
    return model


@torch.inference_mode()
def predict(
    model: MocoImForImageClassification,
    processor: MocoImImageProcessor,
    dataset: ImageDataset,
    task: Task,
    batch_size: int = 128,
    num_workers: int | None = None,
) -> np.ndarray:
    """Probabilities for every image of `dataset`, as `metrics.evaluate` expects them."""
    model.eval()
    parameter = next(model.parameters())
    scores = np.full((len(dataset), model.config.num_labels), np.nan, np.float32)
    for batch in make_loader(ProcessedImages(dataset, processor), batch_size, num_workers=num_workers,
                             device=parameter.device):  # fmt: skip
        if "image" not in batch:
            continue
        logits = model(batch["image"].to(parameter.device, parameter.dtype)).logits.float()
        probabilities = logits.sigmoid() if task == "multi-label" else logits.softmax(1)
        scores[batch["index"].numpy()] = probabilities.cpu().numpy()
    return scores[:, 1] if task == "binary" else scores


def fine_tune(
    encoder: MocoImModel,
    processor: MocoImImageProcessor,
    train: ImageDataset,
    validation: ImageDataset,
    task: Task,
    augmentation: str = "xray",
    epochs: int = 20,
    lr: float = 1e-3,
    batch_size: int = 64,
    patience: int = 5,
    max_images: int | None = None,
    ordinal: bool = False,
    seed: int = 0,
    num_workers: int | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> FineTuneResult:
    """Fine-tune all weights with Adam (`lr`, the paper's 1e-3), evaluate on `validation` after
    every epoch, stop after `patience` epochs without improvement of the primary metric, and
    return the classifier with the weights of its best epoch. `max_images` caps the training
    images seen (whole epochs, at least one), which gives every label fraction the same budget."""
    if max_images is not None:
        epochs = min(epochs, max(1, math.ceil(max_images / len(train))))
    torch.manual_seed(seed)
    model = classifier_from_encoder(encoder, train.label_names, task).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    augmented = train.subset(np.arange(len(train)))
    config = model.config
    augmented.transform = view_transform(augmentation, config.image_size, config.num_channels,
                                         processor.image_mean, processor.image_std)  # fmt: skip
    loader = make_loader(augmented, min(batch_size, len(train)), shuffle=True,
                         num_workers=num_workers, device=device, seed=seed)  # fmt: skip
    primary = PRIMARY_METRIC[task]
    history, best_state, best_epoch = [], None, 0
    for epoch in tqdm(range(1, epochs + 1), desc="fine-tuning", unit="epoch", disable=not progress):
        model.train()
        losses = []
        for batch in loader:
            if "image" not in batch:
                continue
            labels = batch["labels"].to(device)
            loss = model(batch["image"].to(device), labels=labels).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scores = predict(model, processor, validation, task, num_workers=num_workers)
        metrics = evaluate(task, validation.labels, scores, ordinal)
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), **metrics})
        if best_state is None or metrics[primary] > history[best_epoch - 1][primary]:
            best_state, best_epoch = copy.deepcopy(model.state_dict()), epoch
        elif epoch - best_epoch >= patience:
            break
    model.load_state_dict(best_state)
    return FineTuneResult(model.eval(), best_epoch, history)
