"""report.md: the summary written out for a reader, section by section (what reproduced,
the run, probes, interventions, SAEs, figures). A new report section is a function here that
turns its part of summary.json into lines, called from :func:`render_markdown`."""

from __future__ import annotations

from pathlib import Path

from othello.common.machine import machine_line
from othello.model.kinds import config_from_dict, not_run_notes
from probes.interventions.sweep import TUNE
from probes.published import LI_INTERVENTIONS, TORRES_BOARD_ACCURACY
from probes.report.summary import REPORTED
from probes.sae.stage import sweep_table
from probes.worldmodel.report import section_lines as world_model_lines


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


def _probe_lines(probes: dict) -> list[str]:
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
    ]
    return lines + _whole_board_lines(probes) + [f"- WARNING: {w}" for w in probes["warnings"]]


def _percent_se(mean: float | None, se: float | None) -> str:
    if mean is None:
        return "-"
    return f"{100 * mean:.1f}" + ("" if se is None else f" ± {100 * se:.1f}")


def _whole_board_lines(probes: dict) -> list[str]:
    """Whole-board accuracy by layer beside the per-square table: the share of test
    positions whose 64 squares the probe reads all right, and the control's at its layer."""
    table = probes.get("whole_board")
    if table is None:
        return ["", "Whole-board accuracy: not in these probes' metrics.json (fitted before it "
                "was counted); refit them to see it."]  # fmt: skip
    layers = probes["layers"]
    torres = TORRES_BOARD_ACCURACY.values["Transformer 11M"]
    lines = [
        "",
        "Whole-board accuracy (% of test positions whose 64 squares the probe reads all right; "
        "± standard error over games at the best layer and for the control): per-square "
        "accuracy hides how rarely the whole board is right. For scale, Torres's othello_mamba "
        f"reports {torres['board']}% of whole boards at {torres['cell']}% per cell for an 11M "
        "transformer.",
        "",
        "| scheme | kind | " + " | ".join(f"layer {x}" for x in layers) + " | control (layer) |",
        "|---|---|" + "---|" * (len(layers) + 1),
    ]
    for scheme, kinds in table.items():
        for kind, by_layer in kinds.items():
            best = probes["best"][f"{scheme}/{kind}"]["layer"]
            control = probes["control_best"].get(f"{scheme}/{kind}")
            control_text = (
                f"{_percent_se(control.get('whole_board'), control.get('whole_board_stderr'))} "
                f"({control['layer']})"
                if control
                else "-"
            )
            values = " | ".join(
                f"**{_percent_se(by_layer[x]['mean'], by_layer[x]['stderr'])}**"
                if x == best
                else _percent_se(by_layer[x]["mean"], None)
                for x in layers
            )
            lines.append(f"| {scheme} | {kind} | {values} | {control_text} |")
    return lines


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


def _circuits_lines(c: dict) -> list[str]:
    """The circuit laboratory (scripts/circuits.py): lens, attribution, heads, the neuron
    atlas beside its controls and the causal check, patching."""
    pct = lambda x: "-" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    lens, probe = c["logit_lens"], c["probe_mine_theirs_linear"]
    heads, ablation, patching = c["head_classes"], c["ablation"], c["patching"]
    key = next(k for k in next(iter(c["neuron_layers"].values())) if k.startswith("share_r2"))
    parts = ", ".join(f"{k} {v:+.3f}" for k, v in c["attribution_top_parts"].items())
    lines = [
        f"## Circuits ({c['games']['test']} test games for every figure; tree depths, head "
        "classes and the neurons ablated chosen on training and validation games)",
        "",
        "- logit lens, top-1 legal by layer: "
        + ", ".join(f"{k}: {pct(v)} (probe {pct(probe.get(k))})" for k, v in lens.items()),
        f"- direct logit attribution of the predicted move, largest mean parts: {parts} (parts "
        f"sum to the logit within {c['attribution_max_abs_sum_error']:.1e})",
        f"- heads: {heads['mine']} read the mover's own moves, {heads['theirs']} the "
        f"opponent's, {heads['mixed']} both",
        "",
        f"| MLP layer | neurons | test R^2 > {key.rsplit('_', 1)[1]} | random-init control | "
        "shuffled labels | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for layer, s in c["neuron_layers"].items():
        lines.append(
            f"| {layer} | {s['neurons']} | {pct(s[key])} | {pct(s['random_init'])} | "
            f"{pct(s['shuffled_labels'])} | {s['verdict']} |"
        )
    ratio = ablation["ratio"]
    lines += [
        "",
        f"Causal check ({c['ablation_groups']} groups of legality neurons, {ablation['mode']} "
        f"ablation): the square's predicted probability drops {_cell(ablation['drop_matching'])}"
        f" points where the rule holds vs {_cell(ablation['drop_control'])} elsewhere, ratio "
        f"{_times(ratio)}; against positions where the square is "
        f"legal but no rule holds, {_times(ablation['ratio_legal_control'])} "
        f"(published: {ablation['published_ratio']}"
        "; Singh et al. report R^2 > 0.7 for 913 of 2,048 layer-5 neurons of the published "
        "model).",
        "",
        *([f"- WARNING: {w}" for w in c["warnings"]] + [""] if c["warnings"] else []),
        "Best-explained neurons (ranked on validation R^2; test R^2 shown): "
        + "; ".join(
            f"L{n['layer']} N{n['neuron']} (R^2 {n['r2_test']:.2f}): {n['rule']}"
            for n in c["top_neurons"][:5]
        ),
        "",
    ]
    if patching["pairs"]:
        at_p = ", ".join(
            f"{k}: {row[0]:.2f}"
            for k, row in zip(patching["layers"], patching["resid"], strict=True)
        )
        lines += [
            f"Activation patching ({patching['pairs']} pairs; {patching['construction']}): "
            f"share restored by the residual stream at the differing move, by layer: {at_p}.",
            "",
        ]
    return lines


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
        *_probe_lines(summary["probes"]),
        "",
        *_intervention_lines(summary["interventions"]),
        "",
        *(_papers_lines(summary["papers"]) if "papers" in summary else []),
        *(_sae_lines(summary["sae"]) if "sae" in summary else []),
        *(_circuits_lines(summary["circuits"]) if "circuits" in summary else []),
        *(world_model_lines(summary["world_model"]) if "world_model" in summary else []),
        "## Figures",
        "",
        *(f"- MISSING figure: {m}" for m in missing),
        *([""] if missing else []),
    ]
    for caption, path in figures.items():
        lines += [f"### {caption}", "", f"![{caption}]({path})", ""]
    return "\n".join(lines) + "\n"
