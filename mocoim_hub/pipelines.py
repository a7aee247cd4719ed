"""transformers' image pipelines, reading MoCo-IM inputs the way the processor does.

transformers' pipelines open every input with their own `load_image`, which takes only paths,
URLs and PIL images and converts them to 8-bit RGB: a DICOM path fails, a numpy array fails in
feature extraction, and a 16-bit X-ray loses its low 8 bits. For a MoCo-IM model these
subclasses hand the input to `MocoImImageProcessor` as it is (PIL, numpy, torch, 16-bit PNG,
DICOM paths and pydicom datasets); for any other model they change nothing. Importing
`mocoim_hub` makes them the implementations of `pipeline("image-classification")` and
`pipeline("image-feature-extraction")`.
"""

from __future__ import annotations

from transformers.image_utils import load_image as load_remote_image
from transformers.pipelines import (
    PIPELINE_REGISTRY,
    ImageClassificationPipeline,
    ImageFeatureExtractionPipeline,
)

from .configuration_mocoim import MocoImConfig
from .image_processing_mocoim import MocoImImageProcessor


class _ReadsMedicalImages:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        processor = getattr(self, "image_processor", None)
        if isinstance(self.model.config, MocoImConfig) and not isinstance(
            processor, MocoImImageProcessor
        ):
            found = type(processor).__name__ if processor is not None else "none"
            raise ValueError(
                f"This MoCo-IM model's image processor is {found}, but MoCo-IM encoders read "
                "images with MocoImImageProcessor (16-bit and DICOM input, the model's channels "
                "and normalisation); another processor feeds them pixels they were not trained "
                'on. Set "image_processor_type": "MocoImImageProcessor" in the model\'s '
                "preprocessor_config.json, or pass "
                "image_processor=MocoImImageProcessor.from_model_config(model.config)."
            )

    def preprocess(self, image, timeout=None, **processor_options):
        if not isinstance(self.model.config, MocoImConfig):
            return super().preprocess(image, timeout=timeout, **processor_options)
        if isinstance(image, str) and image.startswith(("http://", "https://")):
            image = load_remote_image(image, timeout=timeout)
        inputs = self.image_processor(image, return_tensors="pt", **processor_options)
        return inputs.to(self.dtype)


class MocoImImageClassificationPipeline(_ReadsMedicalImages, ImageClassificationPipeline):
    """`pipeline("image-classification")`; sigmoid scores for multi-label heads."""


class MocoImImageFeatureExtractionPipeline(_ReadsMedicalImages, ImageFeatureExtractionPipeline):
    """`pipeline("image-feature-extraction")`; `pool=True` gives the pooled embedding."""


def register_pipelines() -> None:
    """Make these classes what `pipeline(task)` builds (the task's models and defaults kept)."""
    for task, pipeline_class in (
        ("image-classification", MocoImImageClassificationPipeline),
        ("image-feature-extraction", MocoImImageFeatureExtractionPipeline),
    ):
        PIPELINE_REGISTRY.supported_tasks[task]["impl"] = pipeline_class
