"""Load the published Othello-GPT checkpoints into our GPT, and export ours: one module per
format around one table of our parameters (:mod:`.table`).

Out and back in as a Hugging Face GPT-2 folder (:mod:`.hf`, its model card :mod:`.hf_card`).
Two published models, in every form they come in: Li et al.'s ``othello_world`` (minGPT,
:mod:`.othello_world`) and TransformerLens ``HookedTransformer`` state dicts (Nanda's
Othello-GPT, :mod:`.transformer_lens`). The shape (layers, width, heads, MLP width, context)
is read from the tensors, so checkpoints of other sizes load too. :mod:`.files` reads a file of
any format (ours too), :mod:`.runs` makes a run directory of a published file and exports a
run. A new format is one module with its layout and one entry in ``files.READERS``.
"""

from othello.interop.formats.files import FORMATS, load_external
from othello.interop.formats.othello_world import LI_ET_AL_HEADS, from_othello_world
from othello.interop.formats.runs import GAME_CONTEXT, export_hf_run, export_run, import_run
from othello.interop.formats.table import CheckpointFormatError
from othello.interop.formats.transformer_lens import (
    LN_EPS,
    from_transformer_lens,
    to_transformer_lens,
)

__all__ = [
    "FORMATS",
    "GAME_CONTEXT",
    "LI_ET_AL_HEADS",
    "LN_EPS",
    "CheckpointFormatError",
    "export_hf_run",
    "export_run",
    "from_othello_world",
    "from_transformer_lens",
    "import_run",
    "load_external",
    "to_transformer_lens",
]
