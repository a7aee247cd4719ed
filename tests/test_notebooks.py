"""The notebooks in docs/notebooks run top to bottom as written (at a tiny budget), in a fresh
kernel in an empty folder, as a user opening them would run them."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "docs" / "notebooks").glob("*.ipynb"))
assert NOTEBOOKS, "no notebooks found in docs/notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MOCOIM_NOTEBOOK_STEPS", "2")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    outputs = "".join(
        output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", [])
    )
    assert "Traceback" not in outputs
    if path.stem == "pretrain_on_a_folder":
        assert "2 steps in" in outputs and "nearest neighbour of the same class" in outputs
        assert "| pretrained | linear | 100 % |" in outputs and "| random |" in outputs
        assert (tmp_path / "runs" / "notebook" / "run-2-steps" / "model" / "config.json").exists()
    if path.stem == "embed_an_archive":
        assert "201 image files (60 DICOM" in outputs and "201 rows; 200 embedded" in outputs
        assert "not embedded: broken.png" in outputs and "same part of the archive" in outputs
        assert (tmp_path / "runs" / "archive-notebook" / "embeddings" / "index.csv").is_file()
