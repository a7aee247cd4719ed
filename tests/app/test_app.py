"""Every endpoint of the served demo through gradio_client, with real images and bad uploads."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
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


def test_embed_returns_view_embedding_download_and_layer_maps(client, served, files):
    seen, summary, download, maps = client.predict(
        served[1], handle_file(files["ct"]), api_name="/embed"
    )
    assert summary["dimensions"] == 512 and len(summary["first values"]) == 8
    embedding = np.load(download)
    assert embedding.shape == (512,) and summary["L2 norm"] == pytest.approx(
        np.linalg.norm(embedding), abs=1e-3
    )
    assert [m["caption"].split(":")[0] for m in maps] == ["layer1", "layer2", "layer3", "layer4"]
    assert seen.endswith((".webp", ".png"))


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


def test_classify_with_and_without_a_head(client, served, files, classifier_dir):
    with pytest.raises(AppError, match="without a classification head"):
        client.predict(served[1], handle_file(files["retina"]), api_name="/classify")
    result = client.predict(classifier_dir, handle_file(files["retina"]), api_name="/classify")
    scores = [c["confidence"] for c in result["confidences"]]
    assert len(scores) == 3 and sum(scores) != pytest.approx(1.0)  # independent sigmoids


@pytest.mark.parametrize("content", [b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
                                     b"\x00" * 128 + b"DICM" + b"\x02\x00" * 8], ids=["text", "truncated-png", "bad-dicom"])  # fmt: skip
def test_bad_uploads_get_a_message_and_the_server_keeps_answering(
    client, served, files, tmp_path, content
):
    bad = tmp_path / "upload.dcm"
    bad.write_bytes(content)
    with pytest.raises(AppError, match="Could not read upload.dcm"):
        client.predict(served[1], handle_file(str(bad)), api_name="/embed")
    assert (
        client.predict(served[1], handle_file(files["retina"]), api_name="/embed")[1]["dimensions"]
        == 512
    )


def test_unknown_model_is_explained(client, files):
    with pytest.raises(AppError, match="neither a folder nor a Hub id"):
        client.predict("no-such-model", handle_file(files["retina"]), api_name="/embed")


def test_sixteen_concurrent_requests_are_all_answered(served, files):
    """Sixteen users, each with their own client, upload at once."""

    def one_user(_) -> dict:
        user = Client(served[0], verbose=False)
        return user.predict(
            served[1], handle_file(files["immunohistochemistry"]), api_name="/embed"
        )[1]

    with ThreadPoolExecutor(16) as pool:
        summaries = list(pool.map(one_user, range(16), timeout=300))
    assert len(summaries) == 16 and len({s["L2 norm"] for s in summaries}) == 1
