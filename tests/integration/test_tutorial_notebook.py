"""docs/tutorial.ipynb runs top to bottom on the tiny model (train or load, probe, edit a
disc, read a neuron's rule, patch a head) and is stored without outputs. It runs where the
notebook extra is installed (``pip install -e ".[notebook]"``) and skips, saying so, without."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "tutorial.ipynb"
HOW = 'the notebook extra is not installed: pip install -e ".[notebook]" to run the tutorial'
nbformat = pytest.importorskip("nbformat", reason=HOW)
nbclient = pytest.importorskip("nbclient", reason=HOW)
pytest.importorskip("ipykernel", reason=HOW)


def test_the_tutorial_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_the_tutorial_runs(tiny_run, tiny_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("TUTORIAL_RUN", str(tiny_run))
    monkeypatch.setenv("TUTORIAL_GAMES", str(tiny_corpus))
    monkeypatch.setenv("TUTORIAL_OUT", str(tmp_path))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    text = "\n".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    assert "rule:" in text and "pairs whose top moves differ" in text, text
    assert (tmp_path / "circuits" / "metrics.json").exists()
