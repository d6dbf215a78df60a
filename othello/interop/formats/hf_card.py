"""The model card (``README.md``) of an exported Hugging Face folder: what the model is, how it
was trained (the run's config), how well it plays (its evaluation, when the run has one) and
how to open it in each tool. The hub shows it as the repository's page."""

from __future__ import annotations

from othello.common.version import __version__
from othello.model.config import GPTConfig
from othello.world.squares import parse_square
from othello.world.tokens import encode

EXAMPLE = "F5 D6 C3"

FRONT_MATTER = """---
library_name: transformers
license: mit
pipeline_tag: text-generation
tags: [othello, othello-gpt, gpt2, world-model, interpretability]
---"""


def model_card(
    cfg: GPTConfig, record: dict | None = None, evaluation: dict | None = None, where: str = "DIR"
) -> str:
    """The card of a GPT of ``cfg``: ``record`` the run's ``config.json`` (training config,
    corpus; None: not from a run), ``evaluation`` its ``eval/eval.json`` (None: not evaluated),
    ``where`` the folder or hub repository the loading examples name."""
    parts = [
        FRONT_MATTER,
        f"# Othello-GPT: {cfg.describe()}",
        "A GPT that reads an Othello game's moves and predicts the next legal move, exported "
        f"by othello-gpt {__version__} as transformers' GPT-2. Tokens: `<pad>` is 0, then the 60 "
        "playable squares `A1` ... `H8` ascending in standard notation (letter = column), so "
        f'`tokenizer("{EXAMPLE}")` gives `{_example_ids()}`; a game is at most 59 moves read, '
        "padded on the right. GPT-2's head has no bias: ours moved into `ln_f`'s bias, exactly "
        "(the same logits up to float32 rounding).",
        "## Training",
        _table(_training_rows(record)),
        "## Evaluation",
        _table(_eval_rows(evaluation)),
        "## Loading it",
        _loading(where),
    ]
    return "\n\n".join(parts) + "\n"


def _example_ids() -> list[int]:
    return encode([parse_square(name) for name in EXAMPLE.split()]).tolist()


def _training_rows(record: dict | None) -> list[tuple[str, object]]:
    if not record:
        return [("training", "not recorded (exported from a model, not a run)")]
    config = dict(record.get("config") or {})
    rows = [(f"model.{k}", v) for k, v in (config.pop("model", None) or {}).items()]
    rows += [(k, v) for k, v in config.items() if not isinstance(v, dict | list)]
    for key in ("kind", "games", "games_sha256", "code_version", "torch"):
        if record.get(key) is not None:
            rows.append((f"run.{key}", record[key]))
    imported = record.get("imported") or {}
    if imported:
        rows.append(("run.imported_from", f"{imported.get('format')} {imported.get('path')}"))
    return rows


def _eval_rows(evaluation: dict | None) -> list[tuple[str, object]]:
    if not evaluation:
        return [("evaluation", "none recorded (make eval writes RUN/eval/eval.json)")]
    return [(k, v) for k, v in evaluation.items() if not isinstance(v, dict | list)]


def _table(rows: list[tuple[str, object]]) -> str:
    lines = ["| key | value |", "| --- | --- |"]
    for key, value in rows:
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"| {key} | `{shown}` |")
    return "\n".join(lines)


def _loading(where: str) -> str:
    return f"""```python
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained("{where}")
tokenizer = AutoTokenizer.from_pretrained("{where}")
logits = model(**tokenizer("F5 D6 C3", return_tensors="pt")).logits

from nnsight import LanguageModel  # activations: model.transformer.h[l].output
lm = LanguageModel("{where}")

from transformer_lens.model_bridge import TransformerBridge  # TransformerLens 4 hook names
bridge = TransformerBridge.boot_transformers("{where}")

import othello  # back into othello-gpt (pip install othello-gpt)
gpt = othello.load_model("{where}")  # a folder; a hub repository: othello.from_pretrained
```"""
