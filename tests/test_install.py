"""The built wheel installed in a fresh virtual environment, used from outside the checkout: the
base install serves inference, `[dicom]` reads DICOM, `[train]` pretrains a recipe by name, and
the console scripts run."""

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SMOKE = Path(__file__).parent / "install" / "inference_smoke.py"
SOURCES = ["pyproject.toml", "README.md", "LICENSE", "mocoim_hub", "model_cards"]
pytestmark = [pytest.mark.slow, pytest.mark.install]


def run(command: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env |= {"HF_HUB_OFFLINE": "1", "HF_HOME": str(cwd / "hf-home")}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the sources (setuptools' build/ in a checkout can hold
    files that were deleted since)."""
    folder, source = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy(ROOT / name, source / name)
    built = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(source)],
        folder,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    return next(folder.glob("mocoim_hub-*.whl"))


@pytest.fixture(scope="module")
def environment(wheel, tmp_path_factory) -> Path:
    """A fresh venv (no system packages) with the wheel and its base dependencies only."""
    folder = tmp_path_factory.mktemp("venv")
    venv.create(folder / "venv", with_pip=True)
    installed = run([str(folder / "venv" / "bin" / "pip"), "install", "-q", str(wheel)], folder)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return folder


def test_wheel_ships_recipes_templates_licence_and_types(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    expected = ["mocoim_hub/pretraining/recipes/demo.json", "mocoim_hub/model_cards/mocoim.md.j2",
                "mocoim_hub/py.typed", "mocoim_hub/data/default/train.parquet", "mocoim_hub/app.py"]  # fmt: skip
    assert all(name in names for name in expected), sorted(set(expected) - set(names))
    assert any(name.endswith("licenses/LICENSE") for name in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    for command in (
        "pretrain",
        "finetune",
        "analyze",
        "extract",
        "export",
        "hub",
        "convert",
        "space",
    ):
        assert f"mocoim-{command} = mocoim_hub.commands.console:{command}" in scripts
    # the studies are research code beside their results, not part of what users install
    assert "reproduce" not in scripts and "curve" not in scripts
    assert not [name for name in names if "studies" in name or "reproduction" in name]


def test_base_install_serves_inference_and_names_missing_extras(environment):
    bin_dir = environment / "venv" / "bin"
    smoke = run([str(bin_dir / "python"), str(SMOKE)], environment)
    assert smoke.returncode == 0, smoke.stdout[-2000:] + smoke.stderr[-3000:]
    pretrain = run([str(bin_dir / "mocoim-pretrain"), "--output-dir", "run"], environment)
    assert pretrain.returncode == 1 and not (environment / "run").exists()
    assert pretrain.stderr.strip().count("\n") == 0, pretrain.stderr  # one line, no traceback
    assert "pip install 'mocoim_hub[train]'" in pretrain.stderr


def test_extras_add_dicom_and_pretraining_by_recipe_name_outside_the_checkout(environment, wheel):
    bin_dir = environment / "venv" / "bin"
    installed = run([str(bin_dir / "pip"), "install", "-q", f"{wheel}[train,dicom]"], environment)
    assert installed.returncode == 0, installed.stderr[-3000:]
    dicom = ("from pydicom.data import get_testdata_file; from mocoim_hub import load_image; "
             "print(load_image(get_testdata_file('CT_small.dcm')).shape)")  # fmt: skip
    read = run([str(bin_dir / "python"), "-c", dicom], environment)
    assert read.returncode == 0 and read.stdout.strip() == "(128, 128)", read.stderr[-3000:]
    trained = run([str(bin_dir / "mocoim-pretrain"), "--recipe", "demo", "--max-steps", "2",
                   "--output-dir", "run", "--num-workers", "0"], environment)  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert (environment / "run" / "model" / "model.safetensors").exists()
    assert "your-org/run" in (environment / "run" / "model" / "README.md").read_text()  # its folder
