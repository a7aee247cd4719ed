"""Datasets, augmentations and few-label splits."""
