"""docs/tutorial.ipynb runs top to bottom on the tiny model (train or load, probe, edit a
disc, read a neuron's rule, patch a head) through the public API in at most five import
lines, every cell that draws shows its figure, and it is stored without outputs. It runs where the
notebook extra is installed (``pip install -e ".[notebook]"``) and skips, saying so, without."""

from __future__ import annotations

import importlib.util
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


def test_the_tutorial_imports_in_five_lines():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [line for c in notebook.cells if c.cell_type == "code" for line in c.source.splitlines()]
    lines = [line for line in code if line.startswith(("import ", "from "))]
    assert len(lines) <= 5 and "import othello, probes" in lines, lines


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
    assert "squares read right on test games" in text and "test R^2" in text, text
    assert "legal after:" in text and "block 1: H0" in text, text
    tools = ("transformers", "nnsight", "transformer_lens")
    if all(importlib.util.find_spec(name) for name in tools):  # the hf and tl extras
        line = next(x for x in text.splitlines() if x.startswith("largest difference"))
        assert all(float(x.rstrip(",")) < 1e-4 for x in line.split() if "e-" in x), line
    else:
        assert "skipped:" in text and "is not installed" in text, text
    drawing = [c for c in notebook.cells if c.cell_type == "code" and "plt.show()" in c.source]
    assert len(drawing) >= 2
    for cell in drawing:  # the inline backend showed a picture: no backend was forced
        kinds = [k for o in cell.outputs for k in o.get("data", {})]
        assert "image/png" in kinds, cell.source
