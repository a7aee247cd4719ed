"""mocoim_hub: MoCo with intermediate-layer losses (Kaku et al., NeurIPS 2021) as transformers models.

Importing the package registers the `mocoim` model type with transformers' Auto classes, so
`AutoModel`, `AutoModelForImageClassification`, `AutoImageProcessor` and pipelines load MoCo-IM
folders and Hub repos without `trust_remote_code`, and makes the image pipelines read MoCo-IM
inputs as the processor does (DICOM, 16-bit, arrays; see `mocoim_hub.pipelines`).
"""

from transformers import (
    AutoBackbone,
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
)
from transformers.models.auto.video_processing_auto import VIDEO_PROCESSOR_MAPPING

from .configuration_mocoim import MocoImConfig
from .image_processing_mocoim import MocoImImageProcessor
from .imaging import load_image, read_dicom
from .modeling_mocoim import (
    MocoImBackbone,
    MocoImForImageClassification,
    MocoImModel,
    MocoImPreTrainedModel,
    resolve_layers,
)
from .pipelines import register_pipelines
from .sources import ModelNotFoundError

__version__ = "0.1.0"  # the one version source (pyproject reads it)

AutoConfig.register(MocoImConfig.model_type, MocoImConfig, exist_ok=True)
AutoModel.register(MocoImConfig, MocoImModel, exist_ok=True)
AutoModelForImageClassification.register(MocoImConfig, MocoImForImageClassification, exist_ok=True)
AutoBackbone.register(MocoImConfig, MocoImBackbone, exist_ok=True)
# Our processor works on torch tensors, which transformers calls the "torchvision" backend.
AutoImageProcessor.register(
    MocoImConfig, image_processor_classes={"torchvision": MocoImImageProcessor}, exist_ok=True
)
# Pipelines also look for a video processor and, seeing our image processor's auto_map, would
# prompt for trust_remote_code; declaring that mocoim has none keeps loading silent.
VIDEO_PROCESSOR_MAPPING.register(MocoImConfig, None, exist_ok=True)

# save_pretrained then also writes our code and an `auto_map`, so users without this package
# can load saved models with trust_remote_code=True.
MocoImConfig.register_for_auto_class()
MocoImModel.register_for_auto_class("AutoModel")
MocoImForImageClassification.register_for_auto_class("AutoModelForImageClassification")
MocoImBackbone.register_for_auto_class("AutoBackbone")
MocoImImageProcessor.register_for_auto_class("AutoImageProcessor")
register_pipelines()

__all__ = [
    "MocoImBackbone",
    "MocoImConfig",
    "MocoImForImageClassification",
    "MocoImImageProcessor",
    "MocoImModel",
    "MocoImPreTrainedModel",
    "ModelNotFoundError",
    "load_image",
    "read_dicom",
    "resolve_layers",
]
