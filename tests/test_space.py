"""Space packaging: the written folder runs as an app and pushes to the (local) Hub as a Space."""

import subprocess
import sys

import pytest
import yaml

from mocoim_hub.commands.space import main
from mocoim_hub.space import write_space


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
    assert "build_demo(['org/mocoim-demo'])" in (folder / "app.py").read_text()
    assert (folder / "mocoim_hub" / "model_cards" / "mocoim.md.j2").exists()
    assert (folder / "mocoim_hub" / "data" / "default" / "test.parquet").exists()
    assert "gradio" not in (folder / "requirements.txt").read_text()  # the Space's SDK brings it


@pytest.mark.slow
def test_written_space_imports_its_own_package_copy(tmp_path):
    folder = write_space(tmp_path / "space", "org/mocoim-demo")
    code = "import app, mocoim_hub; print(mocoim_hub.__file__); print(type(app.demo).__name__)"
    # offline, the Hub model does not load: the app starts and says so, serving none
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


def test_non_empty_folder_is_kept_unless_forced(tmp_path, capsys):
    folder = tmp_path / "space"
    folder.mkdir()
    (folder / "README.md").write_text("my notes")
    assert main(["write", str(folder), "--model", "org/mocoim-demo"]) == 2
    assert (
        "not empty" in capsys.readouterr().err and (folder / "README.md").read_text() == "my notes"
    )
    assert main(["write", str(folder), "--model", "org/mocoim-demo", "--force"]) == 0
    assert (folder / "app.py").exists()


def test_a_file_in_the_way_is_one_line_and_kept(tmp_path, capsys):
    path = tmp_path / "space"
    path.write_text("my notes")
    for force in ([], ["--force"]):
        assert main(["write", str(path), "--model", "org/mocoim-demo", *force]) == 2
        assert f"{path} is a file, not a folder" in capsys.readouterr().err
    assert path.read_text() == "my notes"


def test_the_checkout_it_copies_from_is_never_written(tmp_path, capsys):
    from mocoim_hub.space import PACKAGE

    before = {p: p.stat().st_mtime_ns for p in PACKAGE.parent.glob("*.py")}
    for target in (PACKAGE.parent, PACKAGE, PACKAGE / "data"):
        assert main(["write", str(target), "--model", "org/mocoim-demo", "--force"]) == 2
        assert "the mocoim_hub package the Space copies" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in PACKAGE.parent.glob("*.py")} == before


@pytest.mark.parametrize("model_id", ["org/x\nsdk: docker", "../etc", "a/b/c", ""])
def test_model_id_is_validated(tmp_path, capsys, model_id):
    assert main(["write", str(tmp_path / "space"), "--model", model_id]) == 2
    assert "--model must be the Hub id" in capsys.readouterr().err
    assert not (tmp_path / "space").exists()


def test_titles_with_yaml_syntax_stay_one_value(tmp_path):
    title = "MoCo-IM: chest X-ray explorer # 2 - [beta]"
    folder = write_space(tmp_path / "space", "org/mocoim-demo", title=title)
    meta = yaml.safe_load((folder / "README.md").read_text().split("---")[1])
    assert meta["title"] == title and meta["sdk"] == "gradio"
