"""Transcoders: sparse stand-ins for the MLPs (Dunefsky et al. 2024; the per-layer
transcoders of Ameisen et al. 2025's replacement model), one per MLP layer, each reading the
MLP's normalised input (``blocks.{l}.ln2.hook_normalized``) and reconstructing its output
(``blocks.{l}.hook_mlp_out``): an architecture of the SAE room
(:mod:`probes.sae.architectures`: ``jumprelu_transcoder``, ``topk_transcoder`` and their
``skip`` forms), trained and scored by the ``transcoders`` stage (:mod:`.spec`).

What other rooms use (the attribution graphs read the transcoders through it):

* :func:`load_transcoders` ``(folder, control=False, model_sha256=None) -> {layer:
  SparseAutoencoder}``: a finished stage folder's transcoders (``control``: the random-init
  model's); each module has ``W_enc`` [d_model, d_transcoder], ``b_enc``, ``W_dec``
  [d_transcoder, d_model], ``b_dec``, ``threshold`` [d_transcoder] (JumpReLU; None for
  TopK, whose ``k`` is set), ``W_skip`` [d_model, d_model] (``x @ W_skip.T``; None without
  a skip), ``encode(x)`` (features of the normalised MLP input ``x``) and ``decode(f, x)``
  (the MLP output; ``x`` only for a skip);
* :class:`TranscoderResult` (``stage("transcoders").measure(...)`` in memory, or
  ``.load(folder)``): ``transcoders``, ``control``, ``labels`` and ``control_labels``
  (``{layer: FeatureLabels}``: each feature's best board label ``kind`` (empty, mine,
  theirs, flipped, legal) and ``square``, with its test precision, recall and F1) and
  ``metrics`` (metrics.json);
* :func:`circuit_tracer_config` ``(folder/"circuit_tracer")``: the exported set's config
  with full paths, for ``circuit_tracer.utils.hf_utils.load_transcoders(config)``.
"""

from probes.transcoders.circuit_tracer import circuit_tracer_config
from probes.transcoders.labels import FeatureLabels
from probes.transcoders.result import TranscoderResult
from probes.transcoders.store import load_transcoders

__all__ = ["FeatureLabels", "TranscoderResult", "circuit_tracer_config", "load_transcoders"]
