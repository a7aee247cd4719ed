"""The README, CONTRIBUTING.md and the guides run as written. Each Python block runs in a fresh
interpreter, in a folder holding what the README's commands make (command 1's `runs/demo`, the
classifier of `--save-model`, its ONNX export), with a local Hub for its push; each console command
of the bash blocks exists and takes every flag the document gives it."""

import importlib
import json
import os
import re
import shlex
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[1]
DOCUMENTS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
SUBCOMMANDS = {"mocoim-hub", "mocoim-space"}


def code_blocks(language: str) -> list[tuple[str, str]]:
    """("document:line", code) of each block of `language` in the documents."""
    blocks = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        blocks += [
            (f"{document.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}", m.group(2))
            for m in BLOCK.finditer(text)
            if m.group(1) == language
        ]
    return blocks


def run(command: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{shlex.join(command)}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder where command 1 ran (two steps instead of the recipe's 312), a classifier was
    kept and the encoder exported to ONNX, by the README's own commands."""
    folder = tmp_path_factory.mktemp("readme")
    run(["mocoim-pretrain", "--recipe", "demo", "--max-steps", "2", "--output-dir", "runs/demo"], folder)  # fmt: skip
    run(["mocoim-finetune", "--models", "runs/demo/model", "--modes", "full", "--fractions", "0.01",
         "--seeds", "0", "--epochs", "1", "--bootstrap", "20", "--output-dir", "runs/demo/fine-tune",
         "--save-model", "runs/demo/classifier"], folder)  # fmt: skip
    run(["mocoim-export", "runs/demo/model", "runs/demo/onnx"], folder)
    return folder


def first_of_each(blocks: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The same code shown in two documents (the README's snippet in the Quickstart) runs once."""
    where_of: dict[str, str] = {}
    for where, code in blocks:
        where_of.setdefault(code, where)
    return [(where, code) for code, where in where_of.items()]


PYTHON_BLOCKS = first_of_each(code_blocks("python"))


@pytest.mark.parametrize(("where", "code"), PYTHON_BLOCKS, ids=[w for w, _ in PYTHON_BLOCKS])
def test_python_block_runs(where, code, workdir, hub):
    result = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=os.environ,
                            capture_output=True, text=True, timeout=900)  # fmt: skip
    assert result.returncode == 0, f"{where}:\n{code}\n{result.stderr[-3000:]}"


def console_commands() -> list[tuple[str, list[str], list[str]]]:
    """(program, subcommand, flags) of every `mocoim-*` command, `torchrun`/`accelerate launch`
    `-m` and `python app.py` in the bash blocks; `[--flag]` optional parts count too."""
    commands = []
    for where, code in code_blocks("bash"):
        for line in code.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                words = [w for w in shlex.split(part, comments=True) if "=" not in w or w.startswith("-")]  # fmt: skip
                if not words:
                    continue
                if words[0] == "srun":  # SLURM runs the launcher
                    words = words[1:]
                if words[0] in ("torchrun", "accelerate"):  # launcher flags come before `-m`
                    words = words[words.index("-m") :]
                    program = words[:2]
                elif words[0].startswith("mocoim-"):
                    program = [words[0]]
                elif words[:2] == ["python", "app.py"]:  # app.py runs mocoim_hub.app's main
                    program = ["-m", "mocoim_hub.app"]
                else:
                    continue
                if words[0] in SUBCOMMANDS:
                    program.append(words[1])
                flags = [
                    w.strip("[]").split("=")[0] for w in words if w.strip("[").startswith("--")
                ]
                commands.append((f"{where}: {part.strip()}", program, flags))
    return commands


def help_text(program: list[str], monkeypatch, capsys) -> str:
    """`--help` of a console script (through its installed entry point) or of `-m module`."""
    if program[0] == "-m":
        run_it = importlib.import_module(program[1]).main
        monkeypatch.setattr(sys, "argv", [program[1], "--help"])
    else:
        (entry,) = entry_points(group="console_scripts", name=program[0])
        run_it = entry.load()
        monkeypatch.setattr(sys, "argv", [*program, "--help"])
    with pytest.raises(SystemExit) as stopped:
        run_it()
    assert stopped.value.code in (0, None)
    return capsys.readouterr().out


def test_bash_commands_exist_with_the_flags_given(monkeypatch, capsys):
    helps: dict[tuple[str, ...], str] = {}
    for text, program, flags in console_commands():
        key = tuple(program)
        if key not in helps:
            helps[key] = help_text(program, monkeypatch, capsys)
        missing = [f for f in flags if not re.search(rf"{re.escape(f)}\b", helps[key])]
        assert not missing, f"command {text} uses {missing}, unknown to {' '.join(program)}"
    assert {"mocoim-pretrain", "mocoim-finetune", "mocoim-space"} <= {p[0] for p in helps}


def test_the_slurm_script_shown_is_the_one_shipped():
    script = (ROOT / "training" / "pretrain.sbatch").read_text()
    assert any(code == script for _, code in code_blocks("bash"))
    assert subprocess.run(["bash", "-n", "-c", script]).returncode == 0


def test_the_your_own_images_commands_run_as_written(tmp_path):
    """The bash block of "Your own images", run whole in an empty folder: it makes its archive,
    pretrains on it, fine-tunes from its CSV, keeps a classifier, embeds it, continues from it."""
    (block,) = [code for _, code in code_blocks("bash") if code.startswith("# your own images")]
    run(["bash", "-euo", "pipefail", "-c", block], tmp_path, timeout=900)
    mine = tmp_path / "runs" / "mine"
    summary = json.loads((mine / "data.json").read_text())
    assert summary["images"] == {"train": 201} and summary["dicom"] == 60
    assert (mine / "few-label" / "splits.csv").is_file()
    assert (mine / "classifier" / "config.json").is_file()
    assert (mine / "embeddings" / "index.csv").is_file()
    card = (tmp_path / "runs" / "mine-scans" / "model" / "README.md").read_text()
    assert "started from `runs/mine/model`" in card and "60 images (60 DICOM)" in card
