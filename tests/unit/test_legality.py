"""The one definition of "the model proposes an illegal move": each criterion on hand-made
logits with a known answer, and the stages that read it agree with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from othello.model.evaluate import score_logits
from othello.model.legality import (
    ACCEPT,
    TOP1,
    TOPN,
    AcceptRule,
    proposes_illegal,
    rank_legality,
    square_scores,
    topn_illegal,
)
from othello.world.labels import replay
from othello.world.policies import greedy_games
from othello.world.squares import N_POSITIONS, parse_square
from othello.world.tokens import encode
from probes.interventions.scoring import topn_errors
from probes.worldmodel.acceptors import ModelAcceptor


def logits_for(scores: dict[str, float], rest: float = -10.0) -> torch.Tensor:
    """Logits [61] with the named squares' tokens set, every other token at ``rest``."""
    logits = torch.full((61,), rest)
    for name, value in scores.items():
        logits[int(encode(np.array([parse_square(name)]))[0])] = value
    return logits


def bits(*names: str) -> int:
    return sum(1 << parse_square(n) for n in names)


# legal set {A1, B1} throughout; each row: logits, and the answer under TOP1, TOPN, ACCEPT
# (Vafa et al.'s epsilon rule)
CASES = [
    # C1 first, A1 second: the best is illegal; top-2 {C1, A1} holds C1; C1 is accepted
    ({"C1": 5.0, "A1": 4.0}, (True, True, True)),
    # A1, B1 best, the rest far below: no criterion finds an illegal proposal
    ({"A1": 5.0, "B1": 4.0}, (False, False, False)),
    # A1, B1 best but D1 keeps about 5% of the mass: only the accept rule sees it
    ({"A1": 5.0, "B1": 4.9, "D1": 2.5}, (False, False, True)),
    # A1 best, D1 second, B1 third: top-1 legal, top-2 {A1, D1} holds D1
    ({"A1": 5.0, "D1": 4.0, "B1": 3.0}, (False, True, True)),
]


@pytest.mark.parametrize(("scores", "answer"), CASES)
def test_each_criterion_on_hand_made_logits(scores, answer):
    logits = logits_for(scores)[None]
    legal = np.array([bits("A1", "B1")], np.uint64)
    got = tuple(bool(proposes_illegal(logits, legal, c)[0]) for c in (TOP1, TOPN, ACCEPT))
    assert got == answer


def test_the_accept_rule_follows_the_training_target():
    assert AcceptRule.kind_for("sampled") == AcceptRule.kind_for("legal") == "epsilon"
    assert AcceptRule.kind_for("legal_set") == "threshold"
    # a sigmoid per square: A1 at sigmoid(2) = 0.88, C1 at sigmoid(-1) = 0.27, the rest ~0
    logits = logits_for({"A1": 2.0, "C1": -1.0}, rest=-20.0)[None]
    legal = np.array([bits("A1")], np.uint64)
    for cut, illegal in ((0.5, False), (0.2, True)):
        rule = AcceptRule("threshold", cut)
        assert bool(proposes_illegal(logits, legal, ACCEPT, rule)[0]) == illegal
    accepted = AcceptRule("threshold", 0.2).accepts(AcceptRule("threshold", 0.2).scores(logits))
    assert np.flatnonzero(accepted[0]).tolist() == [parse_square("A1"), parse_square("C1")]
    with pytest.raises(ValueError, match="accept rule must be"):
        AcceptRule("softmax", 0.1)
    with pytest.raises(ValueError, match="criterion must be one of"):
        proposes_illegal(logits, legal, "top3")


def test_the_centre_squares_are_never_proposed():
    # the padding token and the centre squares cannot be moves, however high the logit
    logits = logits_for({"A1": 1.0})
    logits[0] = 50.0
    scores = square_scores(logits, -torch.inf)
    assert torch.isinf(scores[[27, 28, 35, 36]]).all()
    legal = np.array([bits("A1")], np.uint64)
    assert not bool(proposes_illegal(logits[None], legal, TOP1)[0])


def old_rank_legality(logits: torch.Tensor, legal: np.ndarray) -> torch.Tensor:
    """The ranking as othello/model/evaluate.py computed it before the one definition."""
    legal_bits = torch.as_tensor(legal.view(np.int64))
    ranked = square_scores(logits.float(), -torch.inf).argsort(dim=-1, descending=True)
    return (legal_bits.unsqueeze(-1) >> ranked[..., :60]) & 1 == 1


def test_the_stages_agree_with_the_one_definition():
    """On random logits over real positions: evaluation's counts, intervention scoring's
    errors and the world model's accepted sets are the criteria's, and the ranking is the
    one evaluation computed before."""
    moves, length = greedy_games(8, seed=3)
    legal = replay(moves, length).legal[:, :N_POSITIONS]
    scored = np.arange(N_POSITIONS)[None] < length[:, None].astype(np.int64) - 1
    logits = torch.randn(8, N_POSITIONS, 61, generator=torch.Generator().manual_seed(0)) * 3
    is_legal = rank_legality(logits, legal)
    assert torch.equal(is_legal, old_rank_legality(logits, legal))
    mask = torch.as_tensor(scored)
    counts = score_logits(logits, legal, scored)
    top1 = proposes_illegal(logits, legal, TOP1)
    assert counts.top1_legal.sum() == int((~top1 & mask).sum())
    assert counts.exact_sets.sum() == int((~proposes_illegal(logits, legal, TOPN) & mask).sum())
    assert counts.set_errors.sum() == 2 * int((topn_illegal(is_legal) * mask).sum())
    flat = logits[mask]
    assert (topn_errors(flat, legal[scored]) == 2 * topn_illegal(is_legal[mask]).numpy()).all()
    acceptor = ModelAcceptor(torch.nn.Linear(1, 1), "epsilon", 0.01)
    accepted = acceptor.weights_from_logits(flat) > 0
    rule = AcceptRule("epsilon", 0.01)
    assert torch.equal(accepted, rule.accepts(rule.scores(flat)))
    legal_squares = replay(moves, length).legal_squares()[:, :N_POSITIONS][scored]
    by_hand = (accepted & ~torch.as_tensor(legal_squares)).any(-1)
    assert torch.equal(proposes_illegal(flat, legal[scored], ACCEPT), by_hand)
