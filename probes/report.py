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
from pathlib import Path

from othello.atomic import write_text

# Published figures quoted in the report (synthetic-data Othello-GPT, 8 layers, d_model 512).
PUBLISHED = {
    "legal": "Li et al.: top-1 error rate 0.01% (99.99% legal) on held-out synthetic games",
    "mine_theirs": "Nanda et al.: linear mine/theirs probes read the board nearly perfectly in "
    "the middle layers",
    "black_white_linear": "Li et al.: linear black/white probes about 20% error",
    "black_white_mlp": "Li et al.: 2-layer MLP black/white probe 1.7% error (layer 7)",
    "control": "Li et al.: probes on a randomly initialised model stay near the baseline",
    "interventions": "Li et al.: 0.12 top-N errors after a gradient edit vs 2.68 unedited "
    "(natural benchmark, 1,000 cases)",
}
# Targets for the cpu preset (issues 4 and 5): what "reproduced" means at this scale.
BEST_MINE_THEIRS = 0.95
MARGIN_OVER_BLACK_WHITE = 0.05
CONTROL_WITHIN = 0.05
INTERVENTION_RATIO = 1 / 3


def _read_json(path: Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run the stage that writes it first")
    return json.loads(path.read_text())


def _training(run_dir: Path) -> dict:
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x]
    last_eval = next((x for x in reversed(lines) if "val_top1_legal_accuracy" in x), {})
    last_log = next((x for x in reversed(lines) if "tokens_per_s" in x), {})
    return {
        "steps": max((x.get("step", 0) for x in lines), default=0),
        "seconds": max((x.get("elapsed_s", 0.0) for x in lines), default=0.0),
        "val_top1_legal_accuracy": last_eval.get("val_top1_legal_accuracy"),
        "tokens_per_s": last_log.get("tokens_per_s"),
    }


def build_summary(run_dir: Path, intervention_dir: Path) -> dict:
    """The figures of every stage, read from their outputs, plus the reproduction checks."""
    config = _read_json(run_dir / "config.json")
    evaluation = _read_json(run_dir / "eval" / "eval.json")
    probes = _read_json(run_dir / "probes" / "metrics.json")
    control = _read_json(run_dir / "control" / "probes" / "metrics.json")
    interventions = _read_json(intervention_dir / "metrics.json")
    details = _read_json(intervention_dir / "details.json")
    layers = list(probes["layers"])
    table = {
        scheme: {kind: probes[scheme][kind] for kind in ("linear", "mlp") if kind in probes[scheme]}
        for scheme in ("mine_theirs", "black_white", "flipped", "legal")
        if scheme in probes
    }
    summary = {
        "run": str(run_dir),
        "config": config.get("config", config),
        "training": _training(run_dir),
        "eval": {k: v for k, v in evaluation.items() if not isinstance(v, list)},
        "probes": {
            "layers": layers,
            "accuracy": table,
            "best": probes["best"],
            "baselines": probes["baselines"],
            "control": {
                s: {k: control[s][k] for k in ("linear", "mlp") if k in control.get(s, {})}
                for s in table
            },
            "test_games": probes["test_games"],
        },
        "interventions": {
            "metrics": interventions,
            "best": details["best"],
            "null": {k: v for k, v in details["null"].items() if k != "tune"},
            "sets": details["sets"],
        },
    }
    summary["checks"] = checks(summary)
    return summary


def checks(summary: dict) -> list[dict]:
    """Headline claims, published figure, ours, and whether ours meets its target."""
    probes = summary["probes"]
    acc = probes["accuracy"]
    mt, bw = acc["mine_theirs"]["linear"], acc["black_white"]["linear"]
    middle = probes["layers"][1:-1] or probes["layers"]
    gap = max(mt[layer] - bw[layer] for layer in middle)
    best_mt = max(mt.values())
    out = [
        {
            "claim": "the model predicts legal moves",
            "published": PUBLISHED["legal"],
            "ours": f"top-1 legal {100 * summary['eval']['top1_legal_accuracy']:.2f}% on "
            f"{summary['eval']['games']:,} held-out games",
            "target": "reported (the cpu preset trades accuracy for a 20-minute run)",
            "reproduced": None,
        },
        {
            "claim": "mine/theirs is linear, black/white is not",
            "published": PUBLISHED["mine_theirs"] + "; " + PUBLISHED["black_white_linear"],
            "ours": f"mine/theirs linear beats black/white linear by up to "
            f"{100 * gap:.1f} points in the middle layers",
            "target": f">= {100 * MARGIN_OVER_BLACK_WHITE:.0f} points",
            "reproduced": gap >= MARGIN_OVER_BLACK_WHITE,
        },
        {
            "claim": "the board is (nearly) fully decodable",
            "published": PUBLISHED["mine_theirs"],
            "ours": f"best mine/theirs linear layer {100 * best_mt:.2f}%"
            + (
                f" (placed-by rule, no flips tracked: {100 * rule:.2f}%)"
                if (rule := probes["baselines"]["mine_theirs"].get("placed_by")) is not None
                else ""
            ),
            "target": f">= {100 * BEST_MINE_THEIRS:.0f}%",
            "reproduced": best_mt >= BEST_MINE_THEIRS,
        },
    ]
    if "mlp" in acc["black_white"]:
        best_bw_mlp, best_bw = max(acc["black_white"]["mlp"].values()), max(bw.values())
        out.append(
            {
                "claim": "a nonlinear probe recovers black/white",
                "published": PUBLISHED["black_white_mlp"],
                "ours": f"black/white MLP {100 * best_bw_mlp:.2f}% vs linear {100 * best_bw:.2f}%",
                "target": "MLP well above linear (>= 5 points)",
                "reproduced": best_bw_mlp - best_bw >= 0.05,
            }
        )
    control = probes["control"]["mine_theirs"]["linear"]
    majority = probes["baselines"]["mine_theirs"]["majority_by_move"]
    out.append(
        {
            "claim": "a random-init model's board is not decodable",
            "published": PUBLISHED["control"],
            "ours": f"control best {100 * max(control.values()):.2f}% vs majority-by-move "
            f"{100 * majority:.2f}%",
            "target": f"within {100 * CONTROL_WITHIN:.0f} points of the baseline",
            "reproduced": max(control.values()) - majority <= CONTROL_WITHIN,
        }
    )
    # An edit can at best make the model as right about the edited board as it is about real
    # boards, so its own errors on the unedited cases are a practical floor worth stating.
    floor = summary["interventions"]["null"]["natural"]["errors_vs_original"]
    for method, best in summary["interventions"]["best"].items():
        out.append(
            {
                "claim": f"editing the board ({method}) changes the predictions accordingly",
                "published": PUBLISHED["interventions"],
                "ours": f"{best['errors_vs_edited']:.2f} errors vs edited board, unedited "
                f"{best['null_errors_vs_edited']:.2f} (start layer {best['start_layer']}); "
                f"floor: the unedited model makes {floor:.2f} errors on the true boards",
                "target": "below a third of the unedited errors",
                "reproduced": best["ratio_to_null"] < INTERVENTION_RATIO,
            }
        )
    return out


def _mark(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "-"}[value]


def render_markdown(summary: dict, figures: dict[str, str]) -> str:
    """report.md; ``figures`` maps a caption to an image path relative to the report."""
    cfg = summary["config"]
    model = cfg["model"]
    train = summary["training"]
    ev = summary["eval"]
    probes = summary["probes"]
    layers = probes["layers"]
    lines = [
        f"# Othello-GPT report: {Path(summary['run']).name}",
        "",
        "## What reproduced",
        "",
        "| claim | published | ours | target | reproduced |",
        "|---|---|---|---|---|",
        *(
            f"| {c['claim']} | {c['published']} | {c['ours']} | {c['target']} | "
            f"{_mark(c['reproduced'])} |"
            for c in summary["checks"]
        ),
        "",
        "## Run",
        "",
        f"- model: {model['n_layers']} layers, d_model {model['d_model']}, {model['n_heads']} "
        f"heads; target `{cfg['target']}`; batch {cfg['batch_size']} games, "
        f"{cfg['max_steps']:,} steps, lr {cfg['lr']:g}",
        f"- training: {train['steps']:,} steps in {train['seconds'] / 60:.1f} min"
        + (
            f"; validation top-1 legal {100 * train['val_top1_legal_accuracy']:.2f}%"
            if train["val_top1_legal_accuracy"] is not None
            else ""
        ),
        f"- held-out evaluation ({ev['games']:,} games, {ev['positions']:,} positions): top-1 "
        f"legal {100 * ev['top1_legal_accuracy']:.2f}%, top-N set errors "
        f"{ev['topn_set_errors']:.2f}, exact legal set {100 * ev['topn_exact_match']:.1f}%",
        "",
        f"## Probes (held-out accuracy per square, {probes['test_games']:,} test games)",
        "",
        "| scheme | kind | " + " | ".join(f"layer {x}" for x in layers) + " | control best |",
        "|---|---|" + "---|" * (len(layers) + 1),
    ]
    for scheme, kinds in probes["accuracy"].items():
        for kind, by_layer in kinds.items():
            control = probes["control"].get(scheme, {}).get(kind)
            control_best = f"{100 * max(control.values()):.2f}" if control else "-"
            values = " | ".join(f"{100 * by_layer[x]:.2f}" for x in layers)
            lines.append(f"| {scheme} | {kind} | {values} | {control_best} |")
    base = probes["baselines"]
    lines += [
        "",
        "Baselines (mine/theirs): chance {:.1f}%, majority {:.2f}%, majority by move "
        "{:.2f}%.".format(
            *(100 * base["mine_theirs"][k] for k in ("chance", "majority", "majority_by_move"))
        )
        + (
            " Placed-by rule (each disc the colour of whoever played it, no flips tracked): "
            f"{100 * base['mine_theirs']['placed_by']:.2f}%."
            if "placed_by" in base["mine_theirs"]
            else ""
        ),
        "",
        "## Interventions (mean top-N errors; natural cases, unnatural in brackets)",
        "",
    ]
    inter = summary["interventions"]
    null = inter["null"]
    lines.append(
        "Unedited model: "
        + ", ".join(
            f"{kind} {v['errors_vs_edited']:.2f} vs edited board / "
            f"{v['errors_vs_original']:.2f} vs original"
            for kind, v in null.items()
        )
        + "."
    )
    lines += [
        "",
        "| method | start layer | setting | vs edited | vs original | F1 | exact |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, by_layer in inter["metrics"].items():
        for layer, e in by_layer.items():
            other = e.get("unnatural")
            setting = f"scale {e['scale']:g}" if "scale" in e else f"p>={e['confidence']:g}"
            lines.append(
                f"| {method} | {layer} | {setting} | {e['errors_vs_edited']:.2f}"
                + (f" ({other['errors_vs_edited']:.2f})" if other else "")
                + f" | {e['errors_vs_original']:.2f} | {e['f1_vs_edited']:.3f} | "
                f"{100 * e['success_rate']:.1f}% |"
            )
    lines += ["", "## Figures", ""]
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


def write_report(
    run_dir: str | os.PathLike,
    probe_report: str | os.PathLike,
    intervention_dir: str | os.PathLike,
    out: str | os.PathLike,
) -> dict:
    """Write summary.json, report.md and report.html under ``out``; returns the summary."""
    run_dir, probe_report, intervention_dir, out = map(
        Path, (run_dir, probe_report, intervention_dir, out)
    )
    summary = build_summary(run_dir, intervention_dir)
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
        "Intervention errors by start layer (Li et al.: 0.12 edited vs 2.68 unedited)": (
            "errors_by_layer.png"
        ),
        "Linear edit scale sweep": "scale_sweep.png",
        "Intervention gallery": "gallery.png",
        "Latent saliency maps (Li et al.'s attribution method)": "saliency.png",
    }
    out.mkdir(parents=True, exist_ok=True)
    eval_figure = run_dir / "eval" / "accuracy_by_move.png"
    if eval_figure.exists():  # copied so the report folder stands alone
        shutil.copyfile(eval_figure, out / "legal_accuracy_by_move.png")
    candidates = {
        "Legal-move accuracy by move number": out / "legal_accuracy_by_move.png",
        **{caption: probe_report / name for caption, name in probe_figures.items()},
        **{caption: intervention_dir / name for caption, name in intervention_figures.items()},
    }
    out.mkdir(parents=True, exist_ok=True)
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
