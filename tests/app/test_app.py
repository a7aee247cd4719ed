"""Every endpoint of the served demo through gradio_client, with real images and bad uploads."""

import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio.utils import get_upload_folder
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from mocoim_hub.examples import example_files

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(served):
    return Client(served[0], verbose=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return {
        name: str(path) for name, path in example_files(tmp_path_factory.mktemp("examples")).items()
    }


def test_embed_returns_the_embedding_and_its_views_follow(client, served, files):
    summary = client.predict(served[1], handle_file(files["ct"]), api_name="/embed")
    assert summary["dimensions"] == 512 and len(summary["embedding"]) == 512
    assert summary["L2 norm"] == pytest.approx(np.linalg.norm(summary["embedding"]), abs=1e-3)
    seen, download, maps = client.predict(
        served[1], handle_file(files["ct"]), api_name="/embed_views"
    )
    np.testing.assert_allclose(np.load(download), summary["embedding"], atol=1e-6)
    assert [m["caption"].split(":")[0] for m in maps] == ["layer1", "layer2", "layer3", "layer4"]
    assert seen.endswith((".webp", ".png"))
    # without an Embed request first (nothing kept), the views are computed: the same outputs
    fresh = client.predict(served[1], handle_file(files["retina"]), api_name="/embed_views")
    assert [m["caption"].split(":")[0] for m in fresh[2]] == [
        "layer1",
        "layer2",
        "layer3",
        "layer4",
    ]


def test_compare_gives_one_similarity_per_layer(client, served, files):
    plot = client.predict(
        served[1], handle_file(files["retina"]), handle_file(files["retina"]), api_name="/compare"
    )
    rows = dict(plot["data"])
    assert list(rows) == ["layer1", "layer2", "layer3", "layer4"]
    assert all(v == pytest.approx(1.0, abs=1e-4) for v in rows.values())  # an image against itself


def test_retrieve_finds_the_gallery_image_itself_first(client, served, files):
    neighbours = client.predict(served[1], handle_file(files["gallery_0"]), api_name="/retrieve")
    assert len(neighbours) == 8 and "cosine distance 0.000" in neighbours[0]["caption"]


def test_classify_with_and_without_a_head(client, served, files):
    with pytest.raises(AppError, match="without a classification head"):
        client.predict(served[1], handle_file(files["retina"]), api_name="/classify")
    result = client.predict("chest classifier", handle_file(files["retina"]), api_name="/classify")
    scores = [c["confidence"] for c in result["confidences"]]
    assert len(scores) == 3 and sum(scores) != pytest.approx(1.0)  # independent sigmoids


@pytest.mark.parametrize("content", [b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
                                     b"\x00" * 128 + b"DICM" + b"\x02\x00" * 8], ids=["text", "truncated-png", "bad-dicom"])  # fmt: skip
def test_bad_uploads_get_a_message_and_the_server_keeps_answering(
    client, served, files, tmp_path, content
):
    bad = tmp_path / "upload.dcm"
    bad.write_bytes(content)
    with pytest.raises(AppError, match="Could not read the upload") as error:
        client.predict(served[1], handle_file(str(bad)), api_name="/embed")
    assert tempfile.gettempdir() not in str(error.value)  # no server path, the upload's own name
    assert (
        client.predict(served[1], handle_file(files["retina"]), api_name="/embed")["dimensions"]
        == 512
    )


@pytest.mark.parametrize("model", ["no-such-model", "/etc", "/no/such/folder", "org/any-hub-model"])
def test_only_the_models_the_server_was_started_with_are_served(client, files, served, model):
    """A client names a model; paths and Hub ids are just unknown names: nothing is loaded, and
    the answer is the same whether the path exists on the server or not."""
    with pytest.raises(AppError) as error:
        client.predict(model, handle_file(files["retina"]), api_name="/embed")
    expected = f"Value: {model} is not in the list of choices: ['{served[1]}', 'chest classifier']"
    assert str(error.value).strip() == expected  # Gradio's own check of the dropdown's choices


def test_the_interface_refuses_unknown_models_itself():
    """Behind the dropdown, in case a client reaches the function another way."""
    from gradio import Error

    from mocoim_hub.app import Serving, run_embed

    with pytest.raises(Error, match=r"Unknown model '/etc'; this app serves encoder, nothing else"):
        run_embed(Serving({"encoder": None, "nothing else": None}, 2**20), "/etc", None)


def test_uploads_over_the_size_limit_are_refused(client, served, tmp_path):
    from conftest import MAX_FILE_SIZE_MB

    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(MAX_FILE_SIZE_MB * 2**20 + 1))
    with pytest.raises(Exception, match="(?i)file.*(too large|exceeds|size)"):
        client.predict(served[1], handle_file(str(big)), api_name="/embed")


def test_request_outputs_are_a_bounded_cache(client, served, files):
    from mocoim_hub.app import KEPT_OUTPUTS, OUTPUTS

    for _ in range(3):
        client.predict(served[1], handle_file(files["retina"]), api_name="/embed_views")
    assert 0 < len(list((OUTPUTS / "requests").iterdir())) <= KEPT_OUTPUTS


def _upload(url: str, *paths: str) -> httpx.Response:
    sent = [("files", (f"{i}-{Path(p).name}", Path(p).read_bytes())) for i, p in enumerate(paths)]
    return httpx.post(f"{url.rstrip('/')}/gradio_api/upload", files=sent, timeout=60)


def _cached_files() -> set[Path]:
    return {p for p in Path(get_upload_folder()).rglob("*") if p.is_file()}


def test_an_upload_of_more_files_than_any_input_takes_is_refused(served, files):
    """Gradio's upload route alone takes 1000 files a request; no input here takes more than 2."""
    before = _cached_files()
    refused = _upload(served[0], *[files["retina"]] * 3)
    assert refused.status_code == 400 and "at most 2 are accepted" in refused.text
    assert _cached_files() == before  # what was stored of it is removed
    assert _upload(served[0], files["retina"], files["ct"]).status_code == 200


def test_clients_see_no_server_path_but_the_apps_own_cache(served, files, encoder_dir):
    """Gradio's file protocol names each file by its cache path; that cache is this process's own
    fresh folder, and nothing else of the server (model folders, examples, request folders) shows."""
    from mocoim_hub.app import OUTPUTS

    url = served[0].rstrip("/")
    (uploaded,) = _upload(url, files["ct"]).json()
    answers = [httpx.get(f"{url}/config", timeout=60).text]
    for api in ("embed_views", "retrieve", "classify"):
        data = {"data": [served[1], {"path": uploaded, "meta": {"_type": "gradio.FileData"}}]}
        event = httpx.post(f"{url}/gradio_api/call/{api}", json=data, timeout=60).json()
        answers.append(
            httpx.get(f"{url}/gradio_api/call/{api}/{event['event_id']}", timeout=120).text
        )
    cache = Path(get_upload_folder())
    assert cache.is_relative_to(OUTPUTS)
    absolute = {path for answer in answers for path in re.findall(r'(?:"|file=)(/[^"]+)', answer)}
    shown = {path for path in absolute if Path(*Path(path).parts[:2]).exists()}  # not "/gradio_api"
    assert len(shown) > 5 and all(Path(path).is_relative_to(cache) for path in shown), shown
    assert not any(encoder_dir in answer or "requests" in answer for answer in answers)


def test_sixteen_concurrent_requests_are_all_answered(served, files):
    """Sixteen users, each with their own client, upload at once."""

    def one_user(_) -> dict:
        user = Client(served[0], verbose=False)
        return user.predict(
            served[1], handle_file(files["immunohistochemistry"]), api_name="/embed"
        )

    with ThreadPoolExecutor(16) as pool:
        summaries = list(pool.map(one_user, range(16), timeout=300))
    assert len(summaries) == 16 and len({s["L2 norm"] for s in summaries}) == 1


def test_the_app_listens_where_told_and_says_where(encoder_dir, example_archive, tmp_path):
    """`python app.py --host --port` as a user starts it: the address is printed, the page and
    the API answer there; its examples are in its own folder, which SIGTERM removes; a gallery
    path that is not there fails at start, in one line."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "mocoim_hub.app", "--model", encoder_dir, "--host",
               "127.0.0.1", "--port", str(port), "--gallery", str(example_archive / "photos")]  # fmt: skip
    private_tmp = tmp_path / "tmp"  # where the app's own folders go, to see them removed
    private_tmp.mkdir()
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "TMPDIR": str(private_tmp)})  # fmt: skip
    try:
        lines = []
        deadline = time.time() + 120
        while time.time() < deadline and not any(f"127.0.0.1:{port}" in line for line in lines):
            lines.append(server.stdout.readline())
            assert server.poll() is None, "".join(lines)
        assert any(f"http://127.0.0.1:{port}" in line for line in lines), "".join(lines)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as page:
            assert page.status == 200 and b"MoCo-IM encoder explorer" in page.read()
        assert "read 80 images" in "".join(lines)  # the gallery, listed at start
        ours = sorted(p.name.split("-")[1] for p in private_tmp.glob("mocoim-*"))
        assert ours == ["demo", "examples"] or ours == ["demo"], ours
        assert (next(private_tmp.glob("mocoim-demo-*")) / "examples" / "retina.png").is_file()
    finally:
        server.terminate()  # SIGTERM, as a container or Space stops it
        server.wait(timeout=30)
    assert not list(private_tmp.glob("mocoim-*"))  # its folders went with it
    wrong = subprocess.run([*command[:-1], str(example_archive / "nowhere")], capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert wrong.returncode == 2 and "--gallery: No folder or file at" in wrong.stderr


def test_a_full_queue_answers_busy_and_the_app_keeps_serving(encoder_dir, files):
    """With room for one waiting request, a burst of twelve: some are told the queue is full,
    the others are answered, and the app answers again afterwards."""
    from mocoim_hub.app import build_demo, launch

    demo = build_demo([encoder_dir], max_queue=1)
    launch(demo, prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:

        def one_user(_) -> str:
            try:
                Client(demo.local_url, verbose=False).predict(
                    Path(encoder_dir).name, handle_file(files["retina"]), api_name="/embed"
                )
                return "answered"
            except Exception as error:  # noqa: BLE001 (the refusal's type is gradio_client's)
                return str(error)

        with ThreadPoolExecutor(12) as pool:
            outcomes = list(pool.map(one_user, range(12), timeout=300))
        busy = [o for o in outcomes if o != "answered"]
        assert busy and all("queue is full" in o.lower() for o in busy), outcomes
        assert "answered" in outcomes
        assert one_user(0) == "answered"
    finally:
        demo.close()
