"""Publishing against a local Hub-protocol server, through the real huggingface_hub client."""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from hub_server import HUB_TOKEN
from huggingface_hub import ModelCard

from mocoim_hub import MocoImImageProcessor, MocoImModel
from mocoim_hub.hub import PushError, push_to_hub, save_for_hub
from mocoim_hub.manifest import MANIFEST_FILE
from mocoim_hub.results import Estimate

FAST = {"attempts": 3, "backoff_s": 0.01}


@pytest.fixture
def model_folder(tmp_path, tiny_config) -> Path:
    curve = tmp_path / "curve.png"
    curve.write_bytes(b"\x89PNG fake curve")
    return save_for_hub(
        MocoImModel(tiny_config), MocoImImageProcessor.from_model_config(tiny_config),
        tmp_path / "model", "org/tiny", loss_curve=curve,
        evaluations=[Estimate("tiny", "linear", 0.01, "accuracy", 0.5, 0.4, 0.6, dataset="default")],
    )  # fmt: skip


def snapshot(folder: Path) -> dict[str, str]:
    """What a push uploads: the folder's files but the local manifest of what was written."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.name != MANIFEST_FILE}  # fmt: skip


def test_save_for_hub_writes_a_complete_repo_folder(model_folder):
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "modeling_mocoim.py",
            "README.md", "loss_curves.png", "eval_results.json"} <= set(snapshot(model_folder))  # fmt: skip
    assert ModelCard.load(model_folder / "README.md").data.eval_results[0].metric_value == 0.5


def test_push_uploads_every_file_in_one_commit(hub, model_folder):
    commit = push_to_hub(model_folder, "org/tiny", private=True)
    repo = hub.repos["model", "org/tiny"]
    assert repo.private and commit.oid == repo.refs["main"]
    for name in snapshot(model_folder):
        assert hub.file("org/tiny", name) == (model_folder / name).read_bytes(), name
    assert all(auth == f"Bearer {HUB_TOKEN}" for auth in hub.authorizations)
    assert (
        "PUT",
        f"/lfs-upload/{hashlib.sha256((model_folder / 'model.safetensors').read_bytes()).hexdigest()}",
    ) in hub.requests


def test_push_to_a_branch_and_as_a_pull_request(hub, model_folder):
    push_to_hub(model_folder, "org/tiny", revision="v1")
    (model_folder / "config.json").write_text((model_folder / "config.json").read_text() + " ")
    pr = push_to_hub(model_folder, "org/tiny", create_pr=True, commit_message="retrained")
    refs = hub.repos["model", "org/tiny"].refs
    assert "v1" in refs and "refs/pr/1" in refs and pr.pr_url.endswith("/discussions/1")
    assert refs["main"] != refs["refs/pr/1"]  # main untouched by the PR
    assert hub.file("org/tiny", "config.json", revision="refs/pr/1").endswith(b" ")


def test_a_card_edited_on_the_hub_is_kept_unless_asked(hub, model_folder):
    push_to_hub(model_folder, "org/tiny")
    generated = hub.file("org/tiny", "README.md")
    push_to_hub(model_folder, "org/tiny")  # an unedited generated card may be replaced
    edited = generated.replace(b"## Intended use", b"## Intended use\n\nNotes from the authors.")
    hub.edit("org/tiny", "README.md", edited)

    (model_folder / "config.json").write_text((model_folder / "config.json").read_text() + " ")
    push_to_hub(model_folder, "org/tiny")
    assert hub.file("org/tiny", "README.md") == edited
    assert hub.file("org/tiny", "config.json").endswith(b" ")  # the rest was uploaded
    push_to_hub(model_folder, "org/tiny", overwrite_card=True)
    assert hub.file("org/tiny", "README.md") == generated


def test_transient_server_errors_are_retried(hub, model_folder, capsys):
    hub.fail("/commit/", status=503, times=1)
    hub.fail("/api/repos/create", status=None, times=1)  # connection dropped
    push_to_hub(model_folder, "org/tiny", **FAST)
    assert (
        hub.file("org/tiny", "model.safetensors")
        == (model_folder / "model.safetensors").read_bytes()
    )
    assert capsys.readouterr().err.count("retrying") == 2


@pytest.mark.parametrize("fault", [500, None], ids=["http-500", "connection-closed"])
def test_persistent_failure_keeps_local_files_and_says_how_to_retry(hub, model_folder, fault):
    before = snapshot(model_folder)
    hub.fail("/commit/", status=fault)
    with pytest.raises(PushError) as error:
        push_to_hub(model_folder, "org/tiny", private=True, **FAST)
    message = str(error.value)
    assert "after 3 attempts" in message and "Nothing local was changed" in message
    assert f"mocoim-hub push {model_folder} org/tiny --private" in message
    assert HUB_TOKEN not in message
    assert snapshot(model_folder) == before


def test_server_down(hub, model_folder):
    hub.stop()
    with pytest.raises(PushError, match="ConnectError"):
        push_to_hub(model_folder, "org/tiny", **FAST)


def test_bad_token_is_not_retried_and_not_printed(hub, model_folder, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_wrongtoken")
    with pytest.raises(PushError, match="hf auth login") as error:
        push_to_hub(model_folder, "org/tiny", **FAST)
    assert "after 1 attempt:" in str(error.value) and "hf_wrongtoken" not in str(error.value)


def test_not_a_model_folder(tmp_path):
    with pytest.raises(PushError, match="config.json, \\*.safetensors weights missing"):
        push_to_hub(tmp_path, "org/tiny")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mocoim_hub.commands.hub", *args], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_cli_push_and_its_failure_exit_code(hub, model_folder):
    ok = run_cli("push", str(model_folder), "org/cli")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().startswith(f"{hub.url}/org/cli/commit/")

    hub.fail("/api/repos/create", status=500)
    failed = run_cli("push", str(model_folder), "org/cli", "--attempts", "2")
    assert failed.returncode == 1 and "after 2 attempts" in failed.stderr
    assert "mocoim-hub push" in failed.stderr and "Nothing local was changed" in failed.stderr
    assert HUB_TOKEN not in failed.stderr + failed.stdout
