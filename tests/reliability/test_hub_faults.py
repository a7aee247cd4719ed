"""Publishing when the Hub misbehaves: every fault ends in a clear `PushError` (or a success after
retries), a bounded number of attempts, the local folder unchanged and the token in no output
and no file."""

import hashlib
import os
import time
from pathlib import Path

import pytest
from hub_server import HUB_TOKEN

from mocoim_hub import MocoImImageProcessor, MocoImModel
from mocoim_hub.hub import PushError, push_to_hub, save_for_hub

pytestmark = pytest.mark.reliability
FAST = {"attempts": 3, "backoff_s": 0.01, "timeout_s": 1.0}


@pytest.fixture
def folder(tmp_path, tiny_config) -> Path:
    return save_for_hub(MocoImModel(tiny_config), MocoImImageProcessor.from_model_config(tiny_config),
                        tmp_path / "model", "org/tiny")  # fmt: skip


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def files_containing(text: str, *roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*")
            if p.is_file() and text.encode() in p.read_bytes()]  # fmt: skip


def creates(hub) -> int:
    return sum(path == "/api/repos/create" for _, path in hub.requests)


FAULTS = {
    "http-500": lambda hub: hub.fail("/api/repos/create", status=500),
    "connection-dropped": lambda hub: hub.fail("/api/repos/create", status=None),
    "slow-past-timeout": lambda hub: hub.slow("/api/repos/create", delay_s=5.0),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_persistent_fault_fails_cleanly_after_bounded_retries(hub, folder, fault, capfd):
    before = snapshot(folder)
    FAULTS[fault](hub)
    started = time.perf_counter()
    with pytest.raises(PushError) as error:
        push_to_hub(folder, "org/tiny", **FAST)
    elapsed = time.perf_counter() - started
    assert "after 3 attempts" in str(error.value) and "To retry:" in str(error.value)
    assert creates(hub) == 3  # attempts are bounded: no hidden retry loop
    assert elapsed < 3 * (FAST["timeout_s"] + 1.5)  # a slow server is given up on, not waited for
    assert snapshot(folder) == before
    output = capfd.readouterr()
    assert HUB_TOKEN not in str(error.value) + output.out + output.err
    assert not files_containing(HUB_TOKEN, folder.parent, Path(os.environ["HF_HOME"]))


@pytest.mark.parametrize("fault", FAULTS)
def test_one_fault_is_retried_and_the_upload_lands(hub, folder, fault):
    FAULTS[fault](hub)
    hub.faults[-1].times = 1
    push_to_hub(folder, "org/tiny", **FAST)
    assert creates(hub) == 2
    assert hub.file("org/tiny", "model.safetensors") == (folder / "model.safetensors").read_bytes()


def test_wrong_token_is_refused_once_and_never_shown(hub, folder, monkeypatch, capfd):
    wrong = "hf_wrongtoken0123456789abcdef"
    monkeypatch.setenv("HF_TOKEN", wrong)
    before = snapshot(folder)
    with pytest.raises(PushError, match="refused the credentials") as error:
        push_to_hub(folder, "org/tiny", **FAST)
    assert "after 1 attempt:" in str(error.value)  # a 401 is not retried
    assert creates(hub) == 1
    output = capfd.readouterr()
    assert wrong not in str(error.value) + output.out + output.err
    assert not files_containing(wrong, folder.parent, Path(os.environ["HF_HOME"]))
    assert snapshot(folder) == before
