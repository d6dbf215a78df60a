"""The run report: every stage's figures gathered into summary.json, report.md and a
self-contained report.html, each result beside the published one it reproduces.

The report only reads the files the stages wrote (config, training log, eval.json, probe
and intervention metrics, figures); it computes nothing new, so what it states is exactly
what the stages measured. The "checks" are the headline claims of Li et al. and Nanda et
al., each with the published figure, ours, and whether ours meets the target set for it.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
from dataclasses import dataclass, fields
from pathlib import Path

from othello.atomic import write_text
from probes.interventions.sweep import TUNE
from probes.kinds import KINDS
from probes.report.checks import run_checks
from probes.report.published import LI_INTERVENTIONS, NANDA_PROBE_ACCURACY

REPORTED = ("natural", "unnatural")  # case sets the report tabulates (tune only chooses)


@dataclass
class ReportInputs:
    """Where each stage wrote what the report reads; nothing is looked up by convention."""

    run: Path  # config.json and, for a run trained here, metrics.jsonl
    eval_dir: Path  # eval.json and accuracy_by_move.png
    probes: Path  # fit_probes.py output: metrics.json
    control_probes: Path  # the same for the random-init control
    probe_figures: Path  # probe_report.py output
    interventions: Path  # intervene.py output
    sae: Path | None = None  # train_sae.py --sweep output, if any

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            setattr(self, f.name, Path(value) if value is not None else None)


def _read_json(path: Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run the stage that writes it first")
    return json.loads(path.read_text())


def _training(run_dir: Path) -> dict | None:
    """Steps, time and last validation figure of a run trained here (None if imported)."""
    log = run_dir / "metrics.jsonl"
    if not log.exists():
        return None
    lines = [json.loads(x) for x in log.read_text().splitlines() if x]
    last_eval = next((x for x in reversed(lines) if "val_top1_legal_accuracy" in x), {})
    last_log = next((x for x in reversed(lines) if "tokens_per_s" in x), {})
    return {
        "steps": max((x.get("step", 0) for x in lines), default=0),
        "seconds": max((x.get("elapsed_s", 0.0) for x in lines), default=0.0),
        "val_top1_legal_accuracy": last_eval.get("val_top1_legal_accuracy"),
        "tokens_per_s": last_log.get("tokens_per_s"),
    }


def _probe_table(metrics: dict, schemes) -> dict:
    return {
        scheme: {k: metrics[scheme][k] for k in KINDS if k in metrics[scheme]}
        for scheme in schemes
        if scheme in metrics
    }


def build_summary(inputs: ReportInputs) -> dict:
    """The figures of every stage, read from their outputs, plus the reproduction checks."""
    config = _read_json(inputs.run / "config.json")
    evaluation = _read_json(inputs.eval_dir / "eval.json")
    probes = _read_json(inputs.probes / "metrics.json")
    control = _read_json(inputs.control_probes / "metrics.json")
    interventions = _read_json(inputs.interventions / "metrics.json")
    details = _read_json(inputs.interventions / "details.json")
    table = _probe_table(probes, ("mine_theirs", "black_white", "flipped", "legal"))
    summary = {
        "run": str(inputs.run),
        "config": config.get("config", config),
        "imported": config.get("imported"),
        "training": _training(inputs.run),
        "eval": {k: v for k, v in evaluation.items() if not isinstance(v, list)},
        "probes": {
            "layers": list(probes["layers"]),
            "accuracy": table,
            "val_accuracy": _probe_table(probes["val"], table),
            "best": probes["best"],
            "baselines": probes["baselines"],
            "control": _probe_table(control, table),
            "control_best": control["best"],
            **{k: probes[k] for k in ("train_games", "val_games", "test_games", "warnings")},
        },
        "interventions": {
            "metrics": {k: v for k, v in interventions.items() if k != "sets"},
            "sets": {k: v for k, v in interventions["sets"].items() if k != TUNE},
            "sizes": details["sets"],
            "null": details["null"],
            "choice": details["choice"],
            "warnings": details["warnings"],
        },
    }
    if inputs.sae is not None:
        summary["sae"] = _read_json(inputs.sae / "sweep.json")
    summary["checks"] = [c.to_dict() for c in run_checks(summary)]
    return summary


def _mark(value: bool) -> str:
    return "yes" if value else "no"


def _run_lines(summary: dict) -> list[str]:
    cfg, ev, train = summary["config"], summary["eval"], summary["training"]
    model = cfg["model"]
    shape = (
        f"- model: {model['n_layers']} layers, d_model {model['d_model']}, {model['n_heads']} heads"
    )
    if summary["imported"]:
        imp = summary["imported"]
        lines = [
            f"{shape}; imported from `{imp['path']}` ({imp['format']} format, sha256 "
            f"{imp['sha256'][:12]}...), not trained here"
        ]
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
    return lines + [
        f"- held-out evaluation ({ev['games']:,} games, {ev['positions']:,} positions): top-1 "
        f"legal {100 * ev['top1_legal_accuracy']:.2f}%, top-N set errors "
        f"{ev['topn_set_errors']:.2f}, exact legal set {100 * ev['topn_exact_match']:.1f}%"
    ]


def _probe_lines(probes: dict, n_layers: int) -> list[str]:
    layers = probes["layers"]
    lines = [
        f"## Probes (test accuracy per square; {probes['train_games']:,} training, "
        f"{probes['val_games']:,} validation and {probes['test_games']:,} test games)",
        "",
        "Each probe's best layer (**bold**) is chosen on the validation games; its test "
        "accuracy is what the checks use.",
        "",
        "| scheme | kind | " + " | ".join(f"layer {x}" for x in layers) + " | control (layer) |",
        "|---|---|" + "---|" * (len(layers) + 1),
    ]
    for scheme, kinds in probes["accuracy"].items():
        for kind, by_layer in kinds.items():
            best = probes["best"][f"{scheme}/{kind}"]["layer"]
            control = probes["control_best"].get(f"{scheme}/{kind}")
            control_text = (
                f"{100 * control['accuracy']:.2f} ({control['layer']})" if control else "-"
            )
            values = " | ".join(
                f"**{100 * by_layer[x]:.2f}**" if x == best else f"{100 * by_layer[x]:.2f}"
                for x in layers
            )
            lines.append(f"| {scheme} | {kind} | {values} | {control_text} |")
            published = NANDA_PROBE_ACCURACY.values.get(f"{scheme}/{kind}")
            if published and n_layers == len(published):  # their layer k is our layer k
                cells = " | ".join(["-", *(f"{v:.1f}" for v in published)])
                lines.append(f"| {scheme} | {kind}, Nanda et al. | {cells} | - |")
    base = probes["baselines"]["mine_theirs"]
    lines += [
        "",
        "Baselines (mine/theirs): chance {:.1f}%, majority {:.2f}%, majority by move "
        "{:.2f}%.".format(*(100 * base[k] for k in ("chance", "majority", "majority_by_move")))
        + (
            " Placed-by rule (each disc the colour of whoever played it, no flips tracked): "
            f"{100 * base['placed_by']:.2f}%."
            if "placed_by" in base
            else ""
        ),
        f"Published rows: {NANDA_PROBE_ACCURACY.source}; {NANDA_PROBE_ACCURACY.meaning}.",
    ]
    return lines + [f"- WARNING: {w}" for w in probes["warnings"]]


def _intervention_lines(inter: dict) -> list[str]:
    null = inter["null"]
    headline = inter["choice"]["headline"]
    lines = [
        "## Interventions (mean top-N errors vs the edited board)",
        "",
        "Unedited model: "
        + ", ".join(
            f"{kind} {null[kind]['errors_vs_edited']:.2f} vs edited board / "
            f"{null[kind]['errors_vs_original']:.2f} vs original"
            for kind in REPORTED
            if kind in null
        )
        + ". Settings, start layers and the headline method "
        f"({headline['method']} from layer {headline['start_layer']}) are chosen on "
        f"{inter['sizes'][TUNE]} tuning cases from validation games; the chosen start layer "
        "is **bold**.",
        "",
        "| method | start layer | setting | "
        + " | ".join(f"{kind} vs edited" for kind in REPORTED if kind in inter["sets"])
        + " | natural vs original | natural F1 | natural exact | probe reads target | other "
        "squares changed |",
        "|---|---|---|" + "---|" * (5 + len([k for k in REPORTED if k in inter["sets"]])),
    ]
    for method, by_layer in inter["metrics"].items():
        chosen = inter["choice"]["by_method"][method]["start_layer"]
        for layer, e in by_layer.items():
            cells = " | ".join(
                f"{inter['sets'][kind][method][layer]['errors_vs_edited']:.2f}"
                for kind in REPORTED
                if kind in inter["sets"]
            )
            name = f"**{layer}**" if layer == chosen else layer
            lines.append(
                f"| {method} | {name} | {e['setting']} | {cells} | "
                f"{e['errors_vs_original']:.2f} | {e['f1_vs_edited']:.3f} | "
                f"{100 * e['success_rate']:.1f}% | {100 * e['probe_target_reached']:.1f}% | "
                f"{100 * e['probe_others_changed']:.2f}% |"
            )
    lines += [
        "",
        "The last two columns: at the start layer, the share of cases whose edited square the "
        "followed probe now reads as the target, and the share of the other 63 squares whose "
        "reading the edit changed.",
        "",
        f"Published: {LI_INTERVENTIONS.source}; {LI_INTERVENTIONS.meaning}.",
    ]
    return lines + [f"- WARNING: {w}" for w in inter["warnings"]]


def _sae_lines(sweep: dict) -> list[str]:
    """The SAE sweep's table (probes.sae.stage.sweep_table) and what its columns mean."""
    from probes.sae.stage import sweep_table

    return [
        "## Sparse autoencoders (test games of the cache)",
        "",
        "Coverage: the mean test F1 of the best single feature per board property (chosen on "
        "training games); board reconstruction: the accuracy of the board those features "
        "predict (Karvonen et al. 2024's metrics); beside the linear probe of the same layer "
        "and an SAE of the first setting on the random-init control.",
        "",
        sweep_table(sweep).rstrip(),
        "",
    ]


def render_markdown(summary: dict, figures: dict[str, str]) -> str:
    """report.md; ``figures`` maps a caption to an image path relative to the report."""
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
        *_probe_lines(summary["probes"], summary["config"]["model"]["n_layers"]),
        "",
        *_intervention_lines(summary["interventions"]),
        "",
        *(_sae_lines(summary["sae"]) if "sae" in summary else []),
        "## Figures",
        "",
    ]
    for caption, path in figures.items():
        lines += [f"### {caption}", "", f"![{caption}]({path})", ""]
    return "\n".join(lines) + "\n"


def render_html(markdown: str, base: Path) -> str:
    """A self-contained page from report.md: tables, headings, lists and images inlined as
    base64, so the one file can be mailed or attached without its folder."""
    body: list[str] = []
    rows: list[list[str]] = []

    def inline(text: str) -> str:
        text = html.escape(text)
        text = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)

    def flush_table() -> None:
        if rows:
            head, *rest = rows
            body.append(
                "<table><tr>"
                + "".join(f"<th>{inline(c)}</th>" for c in head)
                + "</tr>"
                + "".join(
                    "<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>" for row in rest
                )
                + "</table>"
            )
            rows.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not all(set(c) <= {"-"} for c in cells):
                rows.append(cells)
            continue
        flush_table()
        image = re.match(r"!\[(.*)\]\((.*)\)", line)
        if image:
            data = base64.b64encode((base / image.group(2)).read_bytes()).decode()
            alt = html.escape(image.group(1))
            body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{alt}"></figure>')
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{inline(line[level:].strip())}</h{level}>")
        elif line.startswith("- "):
            body.append(f"<ul><li>{inline(line[2:])}</li></ul>")
        elif line.strip():
            body.append(f"<p>{inline(line)}</p>")
    flush_table()
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;font-size:13px;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}"
        "img{max-width:100%}"
    )
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Othello-GPT report</title>'
        f"<style>{style}</style></head><body>" + "\n".join(body) + "</body></html>\n"
    )


def write_report(inputs: ReportInputs, out: str | os.PathLike) -> dict:
    """Write summary.json, report.md and report.html under ``out``; returns the summary."""
    out = Path(out)
    summary = build_summary(inputs)
    probe_figures = {
        "Probe accuracy by layer (Nanda et al.: mine/theirs linear; Li et al.: black/white)": (
            "accuracy_by_layer.png"
        ),
        "Per-square accuracy, best layer": "square_heatmaps.png",
        "Probe accuracy by move number": "accuracy_by_move.png",
        "Confusion per class": "confusion.png",
        "Cosine of probe directions across layers": "direction_cosines.png",
    }
    intervention_figures = {
        "Intervention errors by start layer (Li et al.: {edited} edited vs {null} unedited)".format(
            **LI_INTERVENTIONS.values["natural"]
        ): "errors_by_layer.png",
        "Editor settings tried on the tuning cases": "tuning.png",
        "Intervention gallery (headline edit)": "gallery.png",
        "Latent saliency maps (Li et al.'s attribution method)": "saliency.png",
    }
    out.mkdir(parents=True, exist_ok=True)
    eval_figure = inputs.eval_dir / "accuracy_by_move.png"
    if eval_figure.exists():  # copied so the report folder stands alone
        shutil.copyfile(eval_figure, out / "legal_accuracy_by_move.png")
    candidates = {
        "Legal-move accuracy by move number": out / "legal_accuracy_by_move.png",
        **{caption: inputs.probe_figures / name for caption, name in probe_figures.items()},
        **{caption: inputs.interventions / name for caption, name in intervention_figures.items()},
    }
    if inputs.sae is not None:
        first = next(iter(summary["sae"]))
        candidates[f"SAE feature pages ({first})"] = inputs.sae / first / "feature_pages.png"
    figures = {
        caption: os.path.relpath(path, out) for caption, path in candidates.items() if path.exists()
    }
    markdown = render_markdown(summary, figures)
    for name, text in (  # summary.json last: its presence means the report is complete
        ("report.md", markdown),
        ("report.html", render_html(markdown, out)),
        ("summary.json", json.dumps(summary, indent=1) + "\n"),
    ):
        write_text(out / name, text)
    return summary
