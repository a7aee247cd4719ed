"""`python app.py` under load: 50 clients, each with its own gradio_client connection, call the
Embed, Compare, Classify and Retrieve endpoints with real images for 60 s
(MOCOIM_LOAD_CLIENTS, MOCOIM_LOAD_SECONDS). Every request must be answered without an error, and
the server's memory must level off rather than grow with the requests served, and so must its
temporary files."""

import itertools
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from gradio_client import Client, handle_file

from mocoim_hub import MocoImConfig, MocoImForImageClassification, MocoImImageProcessor
from mocoim_hub.app import KEPT_OUTPUTS
from mocoim_hub.examples import example_files

pytestmark = [pytest.mark.load, pytest.mark.reliability, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
CLIENTS = int(os.environ.get("MOCOIM_LOAD_CLIENTS", "50"))
SECONDS = float(os.environ.get("MOCOIM_LOAD_SECONDS", "60"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.fixture
def classifier_dir(tmp_path) -> str:
    """A resnet18 classifier at 32 px: every endpoint of the app has valid work to do."""
    labels = [f"class {i}" for i in range(10)]
    config = MocoImConfig(backbone="resnet18", image_size=32, id2label=dict(enumerate(labels)))
    config.architectures = [MocoImForImageClassification.__name__]
    torch.manual_seed(0)
    MocoImForImageClassification(config).save_pretrained(tmp_path / "model")
    MocoImImageProcessor.from_model_config(config).save_pretrained(tmp_path / "model")
    return str(tmp_path / "model")


@pytest.fixture
def app_server(tmp_path, classifier_dir):
    port = free_port()
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "MOCOIM_MODEL": classifier_dir, "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1", "MOCOIM_HUB_CACHE": str(tmp_path / "cache"),
           "TMPDIR": str(tmp_path / "tmp"), "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}  # fmt: skip
    log = open(tmp_path / "app.log", "w")
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=env, stdout=log,
                               stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while True:
        assert process.poll() is None, (tmp_path / "app.log").read_text()[-2000:]
        assert time.time() < deadline, "app.py did not start"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    yield url, process.pid, Path(classifier_dir).name, tmp_path
    process.terminate()
    process.wait(timeout=60)
    log.close()


def test_fifty_clients_for_a_minute(app_server):
    url, pid, model, folder = app_server
    files = {name: handle_file(str(path)) for name, path in example_files().items()}
    calls = [
        ("/embed", (model, files["ct"])),
        ("/compare", (model, files["retina"], files["immunohistochemistry"])),
        ("/retrieve", (model, files["gallery_0"])),
        ("/embed", (model, files["retina"])),
        ("/classify", (model, files["immunohistochemistry"])),
    ]
    results, errors, memory = [], [], []
    stop = threading.Event()

    def sample_memory() -> None:
        while not stop.is_set():
            memory.append((time.perf_counter(), resident_mb(pid)))
            time.sleep(0.25)

    def user(index: int) -> None:
        # One queue on 2 cores answers in seconds to tens of seconds under this load; httpx's
        # default 5 s timeout would count a slow upload as a failure of the server.
        client = Client(url, verbose=False, httpx_kwargs={"timeout": 300})
        for k in itertools.count():
            if time.perf_counter() > end:
                return
            endpoint, arguments = calls[(index + k) % len(calls)]
            began = time.perf_counter()
            try:
                output = client.predict(*arguments, api_name=endpoint)
            except Exception as error:  # every failure is collected and reported
                errors.append(f"{endpoint}: {type(error).__name__}: {error}")
                continue
            if endpoint == "/embed" and output["dimensions"] != 512:
                errors.append(f"/embed: wrong output {output}")
            results.append((endpoint, time.perf_counter() - began))

    start = time.perf_counter()
    end = start + SECONDS
    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    users = [threading.Thread(target=user, args=(i,)) for i in range(CLIENTS)]
    for thread in users:
        thread.start()
    for thread in users:
        thread.join(timeout=SECONDS + 600)
    stop.set()
    elapsed = time.perf_counter() - start
    latencies = sorted(t for _, t in results)
    first_half = max(m for t, m in memory if t < start + elapsed / 2)
    second_half = max(m for t, m in memory if t >= start + elapsed / 2)
    print(f"\napp under load: {CLIENTS} clients, {elapsed:.0f} s, {len(results)} answered "
          f"({len(results) / elapsed:.2f}/s), {len(errors)} errors; latency median {statistics.median(latencies):.2f} s, "
          f"p95 {latencies[int(0.95 * (len(latencies) - 1))]:.2f} s; resident memory peak "
          f"{max(m for _, m in memory):.0f} MB (first half {first_half:.0f} MB, second half "
          f"{second_half:.0f} MB)")  # fmt: skip
    request_folders = list((folder / "tmp").glob("mocoim-demo-*/requests/*"))
    gradio_files = [p for p in (folder / "gradio").rglob("*") if p.is_file()]
    print(
        f"temporary files: {len(request_folders)} request folders kept, {len(gradio_files)} "
        "files in Gradio's cache"
    )
    assert errors == [], errors[:5]
    assert len(request_folders) <= KEPT_OUTPUTS  # a bounded cache, not a folder per request
    assert len(gradio_files) < 100  # uploads and outputs of the same images are stored once
    assert len(results) >= CLIENTS  # every client was answered at least once
    assert second_half <= first_half * 1.15 + 50  # levels off: no growth per request
