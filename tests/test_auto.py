"""The standard transformers entry points, each in a fresh Python process as a user would run them."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from mocoim_hub import MocoImConfig, MocoImForImageClassification, MocoImImageProcessor


def run_python(code: str) -> dict:
    """Run `code` in a fresh interpreter (offline, from a temp dir); it prints one JSON line."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
        timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


RETINA_EMBEDDING = """
    import json, sys, torch
    from PIL import Image
    from skimage.data import retina
    from transformers import AutoImageProcessor, AutoModel, pipeline

    image = Image.fromarray(retina())
    model = AutoModel.from_pretrained(FOLDER, **KW).eval()
    processor = AutoImageProcessor.from_pretrained(FOLDER, **KW)
    with torch.inference_mode():
        direct = model(**processor(image)).pooler_output[0]
    piped = torch.tensor(pipeline("image-feature-extraction", model=FOLDER, **KW)(image, pool=True))
    print(json.dumps({
        "model": type(model).__module__, "processor": type(processor).__name__,
        "imported_package": "mocoim_hub" in sys.modules,
        "max_diff": (piped.flatten() - direct).abs().max().item(), "dim": direct.numel(),
        "embedding": direct[:8].tolist(),
    }))
"""


@pytest.mark.slow
def test_auto_classes_and_pipeline_after_import(saved_model_dir):
    code = f"import mocoim_hub\nFOLDER, KW = {saved_model_dir!r}, {{}}\n" + textwrap.dedent(
        RETINA_EMBEDDING
    )
    result = run_python(code)
    assert result["model"] == "mocoim_hub.modeling_mocoim"
    assert result["processor"] == "MocoImImageProcessor"
    assert result["dim"] == 512 and result["max_diff"] < 1e-5


@pytest.mark.slow
def test_trust_remote_code_without_the_package(saved_model_dir):
    imported = run_python(
        f"import mocoim_hub\nFOLDER, KW = {saved_model_dir!r}, {{}}\n"
        + textwrap.dedent(RETINA_EMBEDDING)
    )
    remote = run_python(
        "import sys; sys.modules['mocoim_hub'] = None  # make importing it impossible\n"
        f"FOLDER, KW = {saved_model_dir!r}, {{'trust_remote_code': True}}\n"
        + textwrap.dedent(RETINA_EMBEDDING)
    )
    assert remote["model"].startswith("transformers_modules.")
    assert remote["max_diff"] < 1e-5
    assert remote["embedding"] == pytest.approx(imported["embedding"], abs=1e-5)


@pytest.mark.slow
def test_image_classification_pipeline(tmp_path):
    labels = ["Atelectasis", "Effusion", "Pneumothorax"]
    config = MocoImConfig(
        backbone="resnet18", image_size=32, problem_type="multi_label_classification",
        id2label=dict(enumerate(labels)), label2id={name: i for i, name in enumerate(labels)},
    )  # fmt: skip
    torch.manual_seed(0)
    MocoImForImageClassification(config).save_pretrained(tmp_path)
    MocoImImageProcessor.from_model_config(config).save_pretrained(tmp_path)
    result = run_python(f"""
        import json, mocoim_hub
        from skimage.data import retina
        from PIL import Image
        from transformers import pipeline
        classify = pipeline("image-classification", model={str(tmp_path)!r})
        print(json.dumps(classify(Image.fromarray(retina()), top_k=3)))
    """)
    assert sorted(r["label"] for r in result) == sorted(labels)
    scores = [r["score"] for r in result]
    assert all(0 < s < 1 for s in scores) and sum(scores) != pytest.approx(1.0)  # sigmoid


def test_save_pretrained_writes_code_and_auto_map(saved_model_dir):
    files = set(os.listdir(saved_model_dir))
    assert {"model.safetensors", "config.json", "preprocessor_config.json"} <= files
    assert {"modeling_mocoim.py", "configuration_mocoim.py", "image_processing_mocoim.py"} <= files
    config = json.load(open(os.path.join(saved_model_dir, "config.json")))
    assert config["auto_map"]["AutoModel"] == "modeling_mocoim.MocoImModel"
    processor = json.load(open(os.path.join(saved_model_dir, "preprocessor_config.json")))
    assert (
        processor["auto_map"]["AutoImageProcessor"]
        == "image_processing_mocoim.MocoImImageProcessor"
    )
    assert not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)
