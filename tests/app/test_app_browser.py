"""A real headless Chromium loads the page, uploads an image through the UI and sees the result."""

import shutil
from pathlib import Path

import pytest

from mocoim_hub.examples import example_files

CHROMIUM = shutil.which("chromium")
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
pytestmark = pytest.mark.browser


@pytest.mark.slow
@pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium; .ci/run does)"
)
def test_upload_in_the_browser_shows_the_embedding(served, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    retina = example_files(tmp_path)["retina"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])  # fmt: skip
        page = browser.new_page(viewport={"width": 1200, "height": 1400})
        page.goto(served[0])
        expect(page.get_by_text("MoCo-IM encoder explorer")).to_be_visible(timeout=30_000)
        page.locator("input[type=file]").first.set_input_files(str(retina))
        page.get_by_role("button", name="Embed", exact=True).click()
        expect(page.get_by_text('"dimensions"').first).to_be_visible(timeout=60_000)
        expect(page.get_by_text("layer4: 512 channels").first).to_be_attached(timeout=30_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "app_embed.png", full_page=True)
        browser.close()
    assert (ARTIFACTS / "app_embed.png").stat().st_size > 10_000
