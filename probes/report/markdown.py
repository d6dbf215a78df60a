"""report.md: the summary written out for a reader, section by section: what reproduced, the
run, every registered stage's section (each stage writes its own, :meth:`Stage.section`), the
published tables beside ours, the figures."""

from __future__ import annotations

from pathlib import Path

from othello.common.machine import machine_line
from othello.model.kinds import config_from_dict, not_run_notes
from probes.stages.registry import ordered


def _mark(value: bool) -> str:
    return "yes" if value else "no"


def _hub_lines(hub: dict | None) -> list[str]:
    """Which published file the imported model is (``make published``), and the caveat a
    model trained on championship games carries when analysed on championship games."""
    if not hub:
        return []
    lines = [
        f"- published model: `{hub['filename']}` of `{hub['repo_id']}` on the Hugging Face hub, "
        f"commit `{hub['commit']}`, {hub['size']:,} bytes, sha256 `{hub['sha256']}`"
    ]
    if hub.get("corpus") == "championship":
        lines.append(
            "- caution: this model was trained on championship games, and some of the imported "
            "championship games analysed here may have been in its training set, so its "
            "held-out figures may be optimistic"
        )
    return lines


def _run_lines(summary: dict) -> list[str]:
    cfg, ev, train = summary["config"], summary["eval"], summary["training"]
    model = cfg["model"]
    shape = f"- model: {config_from_dict(model).describe()}"
    if summary["imported"]:
        imp = summary["imported"]
        lines = [
            f"{shape}; imported from `{imp['path']}` ({imp['format']} format, sha256 "
            f"{imp['sha256'][:12]}...), not trained here"
        ]
        lines += _hub_lines(imp.get("hub"))
    else:
        lines = [
            f"{shape}; target `{cfg['target']}`; batch {cfg['batch_size']} games, "
            f"{cfg['max_steps']:,} steps, lr {cfg['lr']:g}",
            f"- training: {train['steps']:,} steps in {train['seconds'] / 60:.1f} min"
            + (
                f"; validation top-1 legal {100 * train['val_top1_legal_accuracy']:.2f}%"
                if train["val_top1_legal_accuracy"] is not None
                else ""
            ),
        ]
    lines += [f"- {note}" for note in not_run_notes(config_from_dict(model).kind)]
    return lines + [
        f"- made on: {machine_line(summary['machine'])} (figures are bit-identical on one "
        "machine; another CPU's kernels change the last digits)",
        f"- held-out evaluation ({ev['games']:,} games, {ev['positions']:,} positions): top-1 "
        f"legal {100 * ev['top1_legal_accuracy']:.2f}%, top-N set errors "
        f"{ev['topn_set_errors']:.2f}, exact legal set {100 * ev['topn_exact_match']:.1f}%",
    ]


def _times(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.1f}x"


def _cell(value: float | None, scale: float = 100, digits: int = 1) -> str:
    return "-" if value is None else f"{scale * value:.{digits}f}"


def _reproduced(row: dict) -> str:
    if row["reproduced"] is None:
        return "not measured"
    if row["reproduced"]:
        return "yes"
    return f"**no** ({'above' if row['ours'] > row['published'] else 'below'})"


def _papers_probe_table(rows: list[dict]) -> list[str]:
    """One source's per-layer table: ours, published, reproduced, for each of its probes."""
    keys = list(dict.fromkeys(r["probe"] for r in rows))
    by = {(r["probe"], r["layer"]): r for r in rows}
    lines = [
        "| layer | " + " | ".join(f"{k}: ours | published | reproduced" for k in keys) + " |",
        "|---|" + "---|---|---|" * len(keys),
    ]
    for layer in sorted({r["layer"] for r in rows}):
        cells = []
        for key in keys:
            r = by[key, layer]
            cells += [_cell(r["ours"]), _cell(r["published"]), _reproduced(r)]
        lines.append(f"| {layer} | " + " | ".join(cells) + " |")
    return lines


def _papers_lines(papers: dict) -> list[str]:
    """Every layer's probe accuracy, the legal-move error and the flip intervention beside
    the published figures."""
    tol, legal = papers["tolerance"], papers["legal"]
    lines = [
        "## Beside the papers, layer by layer",
        "",
        f"Test accuracy (%) of each probe at each layer (the residual stream after block k) "
        f"beside the published tables; a row reproduces within {tol['probe_points']:g} points. "
        f"Top-1 legal error: ours {_cell(legal['ours'], 100, 2)}%, Li et al. "
        f"{_cell(legal['published'], 100, 2)}% for the {papers['corpus']} model "
        f"(reproduced within {tol['legal_points']:g} point: {_reproduced(legal)}).",
        "",
    ]
    for source in dict.fromkeys(r["source"] for r in papers["probes"]):
        lines += [f"**{source}**", ""]
        lines += _papers_probe_table([r for r in papers["probes"] if r["source"] == source])
        lines.append("")
    if papers["interventions"]:
        lines += [
            "Flipping one disc: mean top-N errors against the edited board (settings and "
            f"start layers chosen on the tuning cases); a row reproduces within "
            f"{tol['errors']:g} errors.",
            "",
            "| | cases | our setting | ours | published | source | reproduced |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in papers["interventions"]:
            lines.append(
                f"| {r['what']} | {r['cases']} | {r['setting']} | {_cell(r['ours'], 1, 2)} | "
                f"{r['published']:g} | {r['source']} | {_reproduced(r)} |"
            )
        lines.append("")
    sources = papers["sources"]
    hazineh = f"{sources['hazineh']}; " if "hazineh" in sources else ""
    return lines + [f"Sources: {sources['nanda']}; {hazineh}{sources['li']}.", ""]


def stage_lines(summary: dict, in_report: bool) -> list[str]:
    """Every registered stage's section whose part is in the summary: those the report
    needs (``in_report``) or the others, in report order."""
    lines = []
    for spec in ordered():
        if spec.in_report == in_report and spec.summary_key in summary:
            section = spec.section(summary[spec.summary_key])
            lines += section + ([""] if section and section[-1] else [])
    return lines


def render_markdown(summary: dict, figures: dict[str, str], missing: list[str]) -> str:
    """report.md; ``figures`` maps a caption to an image path relative to the report,
    ``missing`` names the expected figures that were not found."""
    lines = [
        f"# Othello-GPT report: {Path(summary['run']).name}",
        "",
        "## What reproduced",
        "",
        "| claim | published | ours | target | chosen on | comparable across sizes | reproduced |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {c['claim']} | {c['published']} | {c['ours']} | {c['target']} | "
            f"{c['chosen_on']} | {c['scale_free'] or '-'} | {_mark(c['reproduced'])} |"
            for c in summary["checks"]
        ),
        "",
        "## Run",
        "",
        *_run_lines(summary),
        "",
        *stage_lines(summary, in_report=True),
        *(_papers_lines(summary["papers"]) if "papers" in summary else []),
        *stage_lines(summary, in_report=False),
        "## Figures",
        "",
        *(f"- MISSING figure: {m}" for m in missing),
        *([""] if missing else []),
    ]
    for caption, path in figures.items():
        lines += [f"### {caption}", "", f"![{caption}]({path})", ""]
    return "\n".join(lines) + "\n"
