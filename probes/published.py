"""The published figures this project reproduces, quoted once, each with its source and what
its numbers mean. The report, the intervention figures and the scripts import them from here.

Li et al., Nanda et al. and Hazineh et al. study the same synthetic-data Othello-GPT shape:
8 layers, d_model 512, 8 heads, trained on uniformly random legal games. Layer ``k`` in
their per-layer tables is the residual stream after block ``k`` (our layer ``k``:
``blocks.{k-1}.hook_resid_post``). Only figures stated in a paper's, report's or README's
text or tables are written here; none is derived or read off a plot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NANDA = (
    "Nanda, Lee & Wattenberg (2023), 'Emergent Linear Representations in World Models of "
    "Self-Supervised Sequence Models', BlackboxNLP"
)
LI = (
    "Li, Hopkins, Bau, Viégas, Pfister & Wattenberg (2023), 'Emergent World Representations: "
    "Exploring a Sequence Model Trained on a Synthetic Task', ICLR"
)

HAZINEH_REPORT = (
    "Chiu, Hazineh & Zhang, 'Probing Emergent World Representations in Transformer Networks: "
    "Sequential Models Trained to Play Othello', the authors' report in "
    "github.com/DeanHazineh/Emergent-World-Representations-Othello (Documents/"
    "Probing_Emergent_World_Representations_in_Transformer_Networks.pdf, commit e52217b4b756)"
)
TORRES = (
    "Torres (2024), 'Othello Mamba: Evaluating the Mamba architecture on the OthelloGPT "
    "experiment', github.com/alxndrTL/othello_mamba, README 'Results' (commit 29cf393c4d11)"
)


@dataclass(frozen=True)
class Published:
    """One published table or figure: where it is from, what its numbers are, the numbers."""

    source: str
    meaning: str
    values: dict = field(default_factory=dict)


NANDA_PROBE_ACCURACY = Published(
    source=f"{NANDA}, Table 1",
    meaning="probe accuracy (%) over the 64 squares on held-out synthetic games, one value "
    "per layer 1..8 (the residual stream after each block); mine/theirs is the board from "
    "the view of the player to move, black/white the absolute colours",
    values={
        "mine_theirs/linear": (90.9, 94.8, 97.2, 98.3, 99.0, 99.4, 99.6, 99.5),
        "black_white/linear": (62.2, 74.8, 74.9, 75.0, 75.0, 74.9, 74.8, 74.4),
        "black_white/mlp": (63.4, 88.6, 93.3, 96.3, 97.5, 98.3, 98.7, 98.3),
    },
)

NANDA_INTERVENTIONS = Published(
    source=f"{NANDA}, intervention table (flipping one disc)",
    meaning="mean top-N errors against the edited board's legal moves (N = its number of "
    "legal moves; false positives plus false negatives), unedited model ('null') vs edits "
    "along the linear probe and along Li et al.'s nonlinear probe",
    values={"null": 2.723, "linear": 0.10, "nonlinear": 0.12},
)

LI_INTERVENTIONS = Published(
    source=f"{LI}, intervention experiments",
    meaning="mean top-N errors against the edited board's legal moves after a gradient edit "
    "along the nonlinear (MLP) probe, vs the unedited model ('null'), on 1,000 natural cases "
    "(positions from synthetic games) and 1,000 unnatural ones (boards random play does "
    "not reach)",
    values={
        "natural": {"edited": 0.12, "null": 2.68},
        "unnatural": {"edited": 0.06, "null": 2.59},
    },
)

LI_PROBES = Published(
    source=f"{LI}, probing experiments",
    meaning="error rate (%) of the nonlinear (2-layer MLP) black/white board probe at its best "
    "layer, on the trained Othello-GPT and on the same architecture at random initialisation",
    values={"black_white/mlp trained": 1.7, "black_white/mlp random init": 26.2},
)

LI_LEGAL = Published(
    source=f"{LI}, section 2.3",
    meaning="top-1 error rate (%): how often the model's most likely move is illegal, at every "
    "step of held-out games, for the model trained on synthetic games and the one trained on "
    "championship games (each on its own kind of games)",
    values={"top1_error": 0.01, "championship top1_error": 5.17},
)

LI_PROBE_TABLES = Published(
    source=f"{LI}, Table 1 (linear probes) and Table 2 (nonlinear probes)",
    meaning="probe error rate (%) of the board in absolute colours (black / white / empty per "
    "square) on a held-out 20% of the probing data, one value per layer 1..8 (the output of "
    "block k: our layer k), for the models trained on synthetic and on championship games and "
    "a randomly initialised one",
    values={
        "synthetic": {
            "black_white/linear": (21.9, 20.5, 20.4, 20.6, 21.1, 21.6, 22.2, 23.1),
            "black_white/mlp": (11.3, 7.5, 4.8, 3.4, 2.4, 1.8, 1.7, 4.6),
        },
        "championship": {
            "black_white/linear": (24.2, 23.8, 23.7, 23.6, 23.6, 23.7, 23.8, 24.3),
            "black_white/mlp": (12.8, 10.3, 9.5, 9.4, 9.8, 10.5, 11.4, 12.4),
        },
        "randomized": {
            "black_white/linear": (26.7, 27.1, 27.6, 28.0, 28.3, 28.5, 28.7, 28.9),
            "black_white/mlp": (25.5, 25.4, 25.5, 25.8, 26.0, 26.2, 26.2, 26.4),
        },
    },
)

HAZINEH_PROBE_ACCURACY = Published(
    source=f"{HAZINEH_REPORT}, Table 1 ('Classification Accuracy for Linear Probes Mapping "
    "I -> B')",
    meaning="linear probe accuracy (%) on a withheld set, one value per layer 1..8, of the "
    "authors' own 8-layer, 8-head model trained on Li et al.'s synthetic games: their 'new' "
    "board (my piece / your piece / empty: our mine_theirs) and 'old' board (black / white / "
    "empty: our black_white). Read from the report in the authors' repository, the work their "
    "arXiv paper 2310.07582 (Hazineh, Zhang & Chiu 2023) presents; the arXiv text itself could "
    "not be read here, so these figures are not checked against it",
    values={
        "mine_theirs/linear": (90.8, 94.8, 97.1, 98.3, 99.1, 99.5, 99.5, 99.5),
        "black_white/linear": (75.7, 75.8, 75.7, 75.7, 75.6, 75.4, 74.9, 74.9),
    },
)

TORRES_BOARD_ACCURACY = Published(
    source=f"{TORRES}, Table 1 ('Comparison of model performances', assets/table.png)",
    meaning="linear mine / yours / empty probe accuracy (%) per cell and per whole board (the "
    "share of boards whose 64 squares are all classified right), for models trained on Li et "
    "al.'s synthetic games",
    values={
        "Mamba 9M": {"cell": 98.77, "board": 67},
        "Mamba 17M": {"cell": 98.97, "board": 71},
        "Transformer 11M": {"cell": 97.15, "board": 57},
        "Transformer 21M": {"cell": 97.10, "board": 55},
        "Jamba 9.5M": {"cell": 97.50, "board": 50},
    },
)

VAFA_2024 = (
    "Vafa, Chen, Kleinberg, Mullainathan & Rambachan (2024), 'Evaluating the World Model "
    "Implicit in a Generative Model', NeurIPS"
)
VAFA_2025 = (
    "Vafa, Chang, Rambachan & Mullainathan (2025), 'What Has a Foundation Model Found? Using "
    "Inductive Bias to Probe for World Models', ICML"
)
VAFA_INDUCTIVE_BIAS = Published(
    source=f"{VAFA_2025}, Table 2 (Othello columns; arXiv 2507.06952v3, read from a plain-text "
    "copy of its PDF; the v4 HTML's Transformer cells agree)",
    meaning="R-IB and D-IB (1 perfect, 0 an uninformative model), mean and standard error over "
    "100 random-label tasks, for models trained on the tasks from scratch ('untrained') and "
    "fine-tuned after next-token pretraining",
    values={
        # model: {"scratch": (R-IB, se, D-IB, se), "pretrained": (R-IB, se, D-IB, se)}
        "RNN": {
            "scratch": (0.228, 0.016, 0.990, 0.002),
            "pretrained": (0.632, 0.023, 0.797, 0.023),
        },
        "LSTM": {
            "scratch": (0.438, 0.030, 0.681, 0.031),
            "pretrained": (0.563, 0.030, 0.610, 0.034),
        },
        "Transformer": {
            "scratch": (0.708, 0.022, 0.843, 0.021),
            "pretrained": (0.703, 0.025, 0.624, 0.033),
        },
        "Mamba": {
            "scratch": (0.303, 0.016, 0.929, 0.009),
            "pretrained": (0.682, 0.021, 0.728, 0.027),
        },
        "Mamba-2": {
            "scratch": (0.468, 0.019, 0.896, 0.016),
            "pretrained": (0.653, 0.022, 0.694, 0.029),
        },
    },
)
# their setting (the paper's Appendices A, B.2 and E, and their code at keyonvafa/inductive-bias-
# probes 69d294f), to read beside ours (probes/worldmodel/inductive.py)
VAFA_INDUCTIVE_SETTING = (
    "theirs: 20M synthetic training games; transformer 12 layers x 768 (12 heads), RNN and LSTM "
    "6 x 768, Mamba and Mamba-2 24 x 768; 100 tasks of 100 examples, a random bit per board "
    "(the 8x8 board alone is the state), 100 fine-tuning steps of Adam at 6e-4 on the whole "
    "model with a new two-way head; R-IB and D-IB over pairs of prefixes of 6 to 10 moves of "
    "the 210 orderings of one depth-10 opening board; standard errors over the 100 tasks"
)
# Figures searched for and not found in a source this project could read: the report says so
# rather than leaving a blank (and quotes nothing from memory or from third-party summaries).
NOT_FOUND = {
    "myhill_nerode": f"{VAFA_2024}: their Othello compression and distinction figures (Table 3, "
    "Appendix D; Li et al.'s championship and synthetic models, 1,000 trials each) could not be "
    "found here: no copy of the table could be read, so none is set beside ours",
}
