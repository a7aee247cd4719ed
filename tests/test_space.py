"""Space packaging: the written folder runs as an app and pushes to the (local) Hub as a Space."""

import subprocess
import sys

import pytest
import yaml

from mocoim_hub.space import main, write_space


def test_written_space_has_front_matter_code_and_requirements(tmp_path):
    folder = write_space(tmp_path / "space", "org/mocoim-demo")
    text = (folder / "README.md").read_text()
    meta = yaml.safe_load(text.split("---")[1])
    assert (
        meta["sdk"] == "gradio"
        and meta["app_file"] == "app.py"
        and meta["models"] == ["org/mocoim-demo"]
    )
    assert meta["sdk_version"].count(".") == 2
    assert (
        "os.environ.setdefault(\"MOCOIM_MODEL\", 'org/mocoim-demo')"
        in (folder / "app.py").read_text()
    )
    assert (folder / "mocoim_hub" / "model_cards" / "mocoim.md.j2").exists()
    assert (folder / "mocoim_hub" / "data" / "default" / "test.parquet").exists()
    assert "gradio" not in (folder / "requirements.txt").read_text()  # the Space's SDK brings it


@pytest.mark.slow
def test_written_space_imports_its_own_package_copy(tmp_path):
    folder = write_space(tmp_path / "space", "org/mocoim-demo")
    code = "import app, mocoim_hub; print(mocoim_hub.__file__); print(type(app.demo).__name__)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    package_file, demo_type = result.stdout.split()[-2:]
    assert package_file.startswith(str(folder)) and demo_type == "Blocks"


def test_push_space_to_the_hub(tmp_path, hub, capsys):
    folder = write_space(tmp_path / "space", "org/mocoim-demo")
    assert main(["push", str(folder), "org/demo-space"]) == 0
    assert (
        hub.file("org/demo-space", "app.py", repo_type="space") == (folder / "app.py").read_bytes()
    )
    assert ("model", "org/demo-space") not in hub.repos
    hub.fail("/api/repos/create", status=500)
    assert main(["push", str(folder), "org/demo-space"]) == 1
    assert "mocoim-space push" in capsys.readouterr().err
