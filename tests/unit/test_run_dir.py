"""One config.json schema for every run directory: trained, imported and joined runs write
the same keys (the model's config in one place), and files of the older schema still read."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from othello.common.errors import UserError
from othello.interop.bundle import join_bundle, make_bundle
from othello.interop.formats import import_run
from othello.model.checkpoint import load_model_file
from othello.model.run_dir import CONFIG, MODEL, RunRecord, read_record
from probes.report.write import SUMMARY

KEYS = sorted(f.name for f in fields(RunRecord))


def _saved(run_dir) -> dict:
    return json.loads((run_dir / CONFIG).read_text())


def test_trained_imported_and_joined_runs_write_one_schema(tiny_run, tmp_path):
    model = load_model_file(tiny_run).cfg.to_dict()
    trained = _saved(tiny_run)
    assert sorted(trained) == KEYS and trained["kind"] == "trained"
    assert len(trained["games_sha256"]) == 64 and trained["code_version"]

    import_run(tiny_run / MODEL, "othello_gpt", tmp_path / "imported")
    imported = _saved(tmp_path / "imported")
    assert sorted(imported) == KEYS and imported["kind"] == "imported"
    assert imported["imported"]["format"] == "othello_gpt" and imported["games"] is None

    report = tmp_path / "report"
    report.mkdir()
    (report / SUMMARY).write_text("{}\n")
    make_bundle(tiny_run, report, tmp_path / "bundle", summary=SUMMARY)
    join_bundle(tmp_path / "bundle", tmp_path / "joined")
    joined = _saved(tmp_path / "joined")
    assert sorted(joined) == KEYS and joined["kind"] == "joined"
    assert joined["joined"]["dtype"] == "bfloat16" and joined["joined"]["step"] == 200
    assert joined["games_sha256"] == trained["games_sha256"]  # the bundled run's record
    for saved in (trained, imported, joined):
        assert saved["config"]["model"] == model


def test_an_old_schema_config_still_reads(tmp_path):
    """Files written before ``kind``: a trained run's, an imported run's (no versions), and the
    first runs' bare training config."""
    model = {"n_layers": 2, "d_model": 64}
    old = {
        "trained": {"config": {"model": model, "lr": 1e-3}, "games": "g.h5",
                    "games_sha256": "a" * 64, "games_attrs": {}, "code_version": "0.1",
                    "torch": "2.0"},
        "imported": {"config": {"model": model}, "imported": {"format": "transformer_lens"}},
        "bare": {"model": model, "lr": 1e-3},
    }  # fmt: skip
    kinds = {}
    for name, data in old.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / CONFIG).write_text(json.dumps(data))
        record = read_record(tmp_path / name)
        assert record.model == model
        kinds[name] = record.kind
    assert kinds == {"trained": "trained", "imported": "imported", "bare": "trained"}
    assert read_record(tmp_path / "imported").code_version is None  # not made up
    assert read_record(tmp_path / "trained").games_sha256 == "a" * 64


def test_a_config_that_is_not_a_run_record_is_refused(tmp_path):
    (tmp_path / CONFIG).write_text(json.dumps({"lr": 1e-3}))
    with pytest.raises(UserError, match="config.model"):
        read_record(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        read_record(tmp_path / "nowhere")
