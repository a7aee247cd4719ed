"""`training/pretrain.py --push-to-hub` against the local Hub server, and loading the result back
from the Hub in fresh processes, as a user of the published model does."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from hub_server import HUB_TOKEN
from huggingface_hub import ModelCard
from test_pretrain import TINY, cli

EMBED = """
    import json, sys, torch
    {prelude}
    model = {loader}.from_pretrained({source!r}, **{kwargs!r}).eval()
    pixels = torch.linspace(-2, 2, 2 * 32 * 32).reshape(2, 1, 32, 32)
    with torch.inference_mode():
        pooled = model(pixels).pooler_output
    print(json.dumps({{"module": type(model).__module__, "package": sys.modules.get("mocoim_hub") is not None,
                      "pooled": pooled.flatten().tolist()}}))
"""
WITH_PACKAGE = "from mocoim_hub import MocoImModel"
WITHOUT_PACKAGE = "sys.modules['mocoim_hub'] = None  # importing it is impossible\nfrom transformers import AutoModel"


def embed(source: str, prelude: str, loader: str, **kwargs) -> dict:
    code = textwrap.dedent(EMBED).format(
        prelude=prelude, loader=loader, source=source, kwargs=kwargs
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_pretrain_push_then_load_from_the_hub_online_and_offline(tmp_path, hub, monkeypatch):
    run = tmp_path / "run"
    result = cli(run, "--max-steps", "2", "--push-to-hub", "--hub-model-id", "org/mocoim-tiny")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        f"pushed {run / 'model'}" in result.stdout
        and HUB_TOKEN not in result.stdout + result.stderr
    )

    files = {p.name for p in (run / "model").iterdir()} - {".mocoim-manifest.json"}  # kept local
    assert {"README.md", "loss_curves.png", "config.json", "model.safetensors"} <= files
    assert files <= set(hub.repos["model", "org/mocoim-tiny"].files("main"))
    card = ModelCard.load(run / "model" / "README.md")
    assert (
        'from_pretrained("org/mocoim-tiny")' in card.text and "| `max_steps` | `2` |" in card.text
    )

    local = embed(str(run / "model"), WITH_PACKAGE, "MocoImModel")
    sha = hub.repos["model", "org/mocoim-tiny"].refs["main"]
    from_hub = embed("org/mocoim-tiny", WITH_PACKAGE, "MocoImModel", revision=sha)
    remote_code = embed("org/mocoim-tiny", WITHOUT_PACKAGE, "AutoModel", trust_remote_code=True)
    assert remote_code["module"].startswith("transformers_modules.") and not remote_code["package"]
    assert from_hub["pooled"] == pytest.approx(local["pooled"], abs=1e-5)
    assert remote_code["pooled"] == pytest.approx(local["pooled"], abs=1e-5)

    hub.stop()  # the Hub is gone: the cache serves the model in offline mode
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = embed("org/mocoim-tiny", WITH_PACKAGE, "MocoImModel")
    assert offline["pooled"] == pytest.approx(local["pooled"], abs=1e-5)


def test_failed_push_keeps_the_trained_model_and_prints_the_retry_command(
    tmp_path, hub, monkeypatch, capsys
):
    import mocoim_hub.hub
    from mocoim_hub.commands.pretrain import main

    monkeypatch.setattr(mocoim_hub.hub.time, "sleep", lambda seconds: None)  # retries at once
    hub.fail("/api/repos/create", status=500)
    run = tmp_path / "run"
    with pytest.raises(SystemExit) as failed:
        main(["--output-dir", str(run), *TINY, "--max-steps", "1", "--push-to-hub",
              "--hub-model-id", "org/x"])  # fmt: skip
    message = str(failed.value.code)
    assert f"mocoim-hub push {run / 'model'} org/x" in message
    assert f"The saved model is in {run / 'model'}" in message
    assert "after 4 attempts" in message and HUB_TOKEN not in message + capsys.readouterr().err
    assert {"README.md", "model.safetensors"} <= {p.name for p in (run / "model").iterdir()}
    assert (run / "checkpoint.pt").exists()
