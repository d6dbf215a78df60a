"""Cross-check of the batched torch probe against scikit-learn on a small slice.

scikit-learn's ``LogisticRegression`` (L-BFGS, multinomial) is the reference researchers trust;
fitting it per square is far too slow for a whole cache, so it is run on a slice and the torch
fit on exactly the same slice must reach the same held-out accuracy.
"""

from __future__ import annotations

import numpy as np

from probes.acts.arrays import ArraySource
from probes.acts.reader import flat_positions
from probes.common import ProbeKey
from probes.fit import FitConfig, fit_probes
from probes.metrics import evaluate_probes
from probes.schemes import scheme


def take_slice(
    source, hooks: str | list[str], label: str, n_train: int, n_test: int
) -> ArraySource:
    """The first ``n_train`` training games and ``n_test`` test games as an in-memory source."""
    hooks = [hooks] if isinstance(hooks, str) else list(hooks)
    parts = {"train": [], "test": []}
    for split, n in (("train", n_train), ("test", n_test)):
        taken = 0
        for chunk in source.iter_chunks(split, hooks, [label], chunk_games=min(n, 256)):
            keep = min(n - taken, len(chunk["valid"]))
            parts[split].append({k: v[:keep] for k, v in chunk.items()})
            taken += keep
            if taken >= n:
                break
    chunks = parts["train"] + parts["test"]
    sizes = [sum(len(c["valid"]) for c in parts[s]) for s in ("train", "test")]
    return ArraySource(
        {hook: np.concatenate([c[hook] for c in chunks]) for hook in hooks},
        {label: np.concatenate([c[label] for c in chunks])},
        np.concatenate([c["valid"] for c in chunks]),
        np.repeat(np.array([0, 2], np.int8), sizes),
    )


def sklearn_accuracy(
    data: ArraySource, hook: str, label: str, squares: list[int], max_iter: int = 500
) -> np.ndarray:
    """Held-out accuracy of one scikit-learn regression per square in ``squares``."""
    from sklearn.linear_model import LogisticRegression  # seconds to import: only when used
    from sklearn.preprocessing import StandardScaler

    train = next(data.iter_chunks("train", [hook], [label], chunk_games=1 << 30))
    test = next(data.iter_chunks("test", [hook], [label], chunk_games=1 << 30))
    scaler = StandardScaler().fit(flat_positions(train, hook))
    x_train = scaler.transform(flat_positions(train, hook))
    x_test = scaler.transform(flat_positions(test, hook))
    y_train, y_test = flat_positions(train, label), flat_positions(test, label)
    accuracy = []
    for square in squares:
        model = LogisticRegression(max_iter=max_iter)
        model.fit(x_train, y_train[:, square])
        accuracy.append(float((model.predict(x_test) == y_test[:, square]).mean()))
    return np.array(accuracy)


def torch_accuracy(
    data: ArraySource, hook: str, scheme_name: str, squares: list[int], epochs: int = 30
) -> np.ndarray:
    """Held-out accuracy of the batched torch probe, fitted on the same slice."""
    cfg = FitConfig(
        probes=(f"{scheme_name}/linear",),
        hooks=[hook],
        epochs=epochs,
        batch_positions=2048,
        chunk_games=1 << 30,
    )
    probes = fit_probes(data, cfg, progress=False)
    counts = evaluate_probes(data, probes, "test", chunk_games=1 << 30)
    c = counts[ProbeKey(scheme_name, "linear", hook)]
    return c.correct.sum(0)[squares] / c.positions.sum()


def crosscheck(
    source, hook: str, scheme_name: str, squares: list[int], n_train: int = 300, n_test: int = 100
) -> dict:
    label = scheme(scheme_name).label
    data = take_slice(source, hook, label, n_train, n_test)
    ours = torch_accuracy(data, hook, scheme_name, squares)
    theirs = sklearn_accuracy(data, hook, label, squares)
    return {
        "hook": hook,
        "scheme": scheme_name,
        "squares": list(squares),
        "torch": ours.round(6).tolist(),
        "sklearn": theirs.round(6).tolist(),
        "max_abs_difference": float(np.abs(ours - theirs).max()),
    }
