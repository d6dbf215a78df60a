"""The analysis of a model's activations, in rooms (acts, interventions, sae, circuits,
explorer, report; probe fitting at the top).

What a notebook imports (each one call, in memory, nothing written)::

    import othello, probes

    source = probes.cache_activations(model, "data/games-cpu-seed0.h5", n_games=500)
    fitted = probes.fit_probe(source)                       # mine/theirs, linear, every layer
    board = probes.read_board(fitted, acts, hook)            # 0 empty, 1 mine, 2 theirs
    d = probes.probe_direction(fitted, hook, square=19)      # [d_model]
    flip = probes.flip_disc(model, fitted, game, ply, square)  # logits and legal sets, tensors
    rule = probes.neuron_rule(model, "data/games-cpu-seed0.h5", layer=1, neuron=42)

Is it a world model? (each on held-out games, with what its one choice was made on)::

    probes.myhill_nerode(model, games, target="legal_set")  # compression, distinction
    probes.inductive_bias(model, games)                     # R-IB, D-IB
    probes.neuron_simulation(model, games)                  # trees in place of neurons
    probes.attribution_patching(model, games)               # gradient vs exact patching
    probes.whole_board_table("data/runs/cpu/probes")        # every square right, by layer

When does the world model form? Every measure at every snapshot of a run, and its phases::

    probes.dynamics("data/runs/cpu", games)                # dynamics.json's content, in memory

How does it compute a move? One attribution graph through a transcoder stage's transcoders,
graded by the rules (circuit-tracer's JSON: ``probes.graphs.export.graph_json(result, name)``)::

    probes.attribution_graph(model, "reports/cpu/transcoders", moves, ply, "C4")

Where does it fail, and is its board to blame? Adversarial search and the board behind every
error::

    probes.soundness("data/runs/cpu", games, "data/runs/cpu/probes")   # .metrics, .errors

Every stage, one registry (each with ``measure`` in memory and ``run`` on a run's files)::

    probes.stages.names()                   # probes, interventions, sae, circuits, worldmodel
    probes.stages.stage("circuits").measure(model, games, {"probes": fitted}, cfg)

Names are loaded on first use.
"""

from __future__ import annotations

from othello.common.exports import lazy_exports

_EXPORTS = {
    "cache_activations": "probes.acts.memory",
    "fit_probe": "probes.read",
    "read_board": "probes.read",
    "probe_direction": "probes.read",
    "flip_disc": "probes.interventions.flip",
    "FlipResult": "probes.interventions.flip",
    "neuron_rule": "probes.circuits.rule",
    "NeuronRule": "probes.circuits.rule",
    "load_probes": "probes.store",
    "ProbeKey": "probes.common",
    "FitConfig": "probes.fit",
    "myhill_nerode": "probes.worldmodel.api",
    "inductive_bias": "probes.worldmodel.api",
    "neuron_simulation": "probes.worldmodel.api",
    "attribution_patching": "probes.worldmodel.api",
    "whole_board_table": "probes.probe_metrics",
    "stages": "probes.stages",
    "dynamics": "probes.formation.spec",
    "attribution_graph": "probes.graphs.api",
    "soundness": "probes.failures.spec",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
