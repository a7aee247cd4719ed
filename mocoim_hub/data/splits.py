"""Few-label subsets and patient-disjoint splits: seeded, stratified, grouped by patient.

The paper evaluates encoders with 1 %, 10 % and 100 % of the training labels. Its code drew those
subsets unseeded and unstratified; here the same seed always gives the same subset, class
proportions are kept (exactly, within one image per class, for single-label data; by iterative
stratification (Sechidis et al., ECML 2011) for multi-label data such as the 14 NIH findings), a
patient's images are taken or left together, and every class gets at least one positive when that
is possible at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def few_label_subset(
    labels: Sequence | np.ndarray,
    fraction: float | None = None,
    per_class: int | None = None,
    seed: int = 0,
    groups: Sequence | np.ndarray | None = None,
    label_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Sorted indices of a labelled subset of a training set.

    Args:
        labels: class indices `(n,)` (single-label) or a 0/1 matrix `(n, num_labels)` (multi-label).
        fraction: share of the images to keep, in (0, 1]; or
        per_class: images to keep per class (single-label) / positives per label (multi-label).
        seed: the same seed gives the same subset.
        groups: patient ids `(n,)`; a patient's images are all in or all out.
        label_names: names used in error messages.
    """
    labels = np.asarray(labels)
    multi_hot = _as_multi_hot(labels)
    n = len(multi_hot)
    if (fraction is None) == (per_class is None):
        raise ValueError("Give exactly one of fraction (in (0, 1]) or per_class (>= 1).")
    if fraction is not None and not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}.")
    if per_class is not None and per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}.")
    names = (
        list(label_names)
        if label_names is not None
        else [str(i) for i in range(multi_hot.shape[1])]
    )
    _check_every_label_present(multi_hot, names)
    if fraction == 1:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if labels.ndim == 1 and groups is None:
        return _stratified_single_label(labels, fraction, per_class, rng, names)
    unit_of = _units(n, groups)
    unit_counts = np.zeros((unit_of.max() + 1, multi_hot.shape[1]), dtype=np.int64)
    np.add.at(unit_counts, unit_of, multi_hot)
    unit_sizes = np.bincount(unit_of)
    if per_class is not None:
        desired = np.minimum(per_class, multi_hot.sum(axis=0)).astype(float)
        target_size = None
    else:
        desired = fraction * multi_hot.sum(axis=0)
        target_size = max(1, round(fraction * n))
    chosen = _iterative_stratification(unit_counts, unit_sizes, desired, target_size, rng)
    return np.flatnonzero(np.isin(unit_of, np.flatnonzero(chosen)))


def patient_disjoint_split(
    groups: Sequence | np.ndarray,
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    seed: int = 0,
) -> list[np.ndarray]:
    """Split image indices into parts (e.g. train/validation/test) with no patient in two parts;
    part sizes follow `fractions` as closely as whole patients allow."""
    fractions = np.asarray(fractions, dtype=float)
    if fractions.ndim != 1 or (fractions <= 0).any() or not np.isclose(fractions.sum(), 1):
        raise ValueError(f"fractions must be positive and sum to 1, got {list(fractions)}.")
    unit_of = _units(len(groups), groups)
    sizes = np.bincount(unit_of)
    order = np.random.default_rng(seed).permutation(len(sizes))
    cumulative = np.cumsum(sizes[order]) / sizes.sum()
    part_of_unit = np.empty(len(sizes), dtype=np.int64)
    part_of_unit[order] = np.searchsorted(
        np.cumsum(fractions)[:-1], cumulative - 1e-12, side="right"
    )
    part_of_image = part_of_unit[unit_of]
    return [np.flatnonzero(part_of_image == part) for part in range(len(fractions))]


def _as_multi_hot(labels: np.ndarray) -> np.ndarray:
    if labels.ndim == 1:
        if len(labels) == 0 or labels.dtype.kind not in "iu" or labels.min() < 0:
            raise ValueError(
                "Expected non-negative integer class labels of shape (n,), at least one."
            )
        return np.eye(labels.max() + 1, dtype=np.int64)[labels]
    if labels.ndim == 2 and len(labels) and np.isin(labels, (0, 1)).all():
        return labels.astype(np.int64)
    raise ValueError(
        f"Expected class indices (n,) or a 0/1 multi-label matrix (n, num_labels), got shape "
        f"{labels.shape} of {labels.dtype}."
    )


def _check_every_label_present(multi_hot: np.ndarray, names: list[str]) -> None:
    absent = [names[i] for i in np.flatnonzero(multi_hot.sum(axis=0) == 0)]
    if absent:
        raise ValueError(
            f"No positive example of {', '.join(absent)} in the data, so no subset can cover "
            "every class; drop those labels or use more data."
        )


def _units(n: int, groups: Sequence | np.ndarray | None) -> np.ndarray:
    """Unit (patient) number of each image; every image is its own unit without groups."""
    if groups is None:
        return np.arange(n)
    groups = np.asarray(groups)
    if len(groups) != n:
        raise ValueError(f"Expected one group id per image ({n}) but got {len(groups)}.")
    return np.unique(groups, return_inverse=True)[1].ravel()


def _stratified_single_label(labels, fraction, per_class, rng, names) -> np.ndarray:
    picks = []
    for label in range(labels.max() + 1):
        members = np.flatnonzero(labels == label)
        if len(members) == 0:
            continue
        count = per_class if per_class is not None else max(1, round(fraction * len(members)))
        if count > len(members):
            raise ValueError(
                f"Class {names[label]} has {len(members)} images, fewer than per_class={count}."
            )
        picks.append(rng.choice(members, size=count, replace=False))
    return np.sort(np.concatenate(picks))


def _fits(counts: np.ndarray, remaining: np.ndarray) -> bool:
    """Adding a unit with these label counts overshoots no label by more than half of them."""
    return bool(((counts == 0) | (remaining >= counts / 2)).all())


def _iterative_stratification(unit_counts, unit_sizes, desired, target_size, rng) -> np.ndarray:
    """Choose units so that each label's positives approach `desired`, rarest labels first; then
    fill up to `target_size` images with label-free or remaining units, at random."""
    chosen = np.zeros(len(unit_counts), dtype=bool)
    remaining = desired.copy()
    available = unit_counts.sum(axis=0).astype(float)
    for label in np.argsort(available, kind="stable"):
        candidates = rng.permutation(np.flatnonzero(unit_counts[:, label] > 0))
        for unit in candidates:
            if chosen[unit]:
                continue
            # One positive per label at any cost; beyond that, no label may be overshot.
            covering = unit_counts[chosen, label].sum() == 0
            too_big = (
                target_size is not None
                and unit_sizes[chosen].sum() + unit_sizes[unit] > target_size
            )
            if not covering and (too_big or not _fits(unit_counts[unit], remaining)):
                continue
            chosen[unit] = True
            remaining -= unit_counts[unit]
    if target_size is not None:
        for unit in rng.permutation(np.flatnonzero(~chosen)):
            if unit_sizes[chosen].sum() >= target_size:
                break
            if unit_sizes[chosen].sum() + unit_sizes[unit] <= target_size and _fits(
                unit_counts[unit], remaining
            ):
                chosen[unit] = True
                remaining -= unit_counts[unit]
    return chosen
