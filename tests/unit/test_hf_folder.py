"""The Hugging Face GPT-2 folder without the libraries that read it: the exported tensors checked
against GPT-2's forward pass written out here (Conv1D weights, no head bias), the bias moved
into ln_f exactly or refused, the tokenizer's vocabulary against our ids, the round trip back
into our GPT, and every bad folder refused in one line naming its file. The real
transformers, nnsight and TransformerLens: tests/integration/test_hf_format.py."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import run_in_process

import othello
from othello.interop.formats import CheckpointFormatError, load_external
from othello.interop.formats.hf import (
    CONFIG,
    TOKENIZER,
    WEIGHTS,
    fold_unembed_bias,
    read_folder,
    to_hf,
    vocab,
)
from othello.model.checkpoint import save_model
from othello.model.config import GPTConfig, LSTMConfig
from othello.model.gpt import GPT
from othello.model.kinds import build_model
from othello.world.squares import parse_square
from othello.world.tokens import PLAYABLE_SQUARES, encode


def random_gpt(seed: int = 0, d_model: int = 64, n_layers: int = 2) -> GPT:
    """Every parameter random, the unembedding bias far from 0 (LayerNorm scales near 1)."""
    g = torch.Generator().manual_seed(seed)
    model = GPT(GPTConfig(n_layers=n_layers, d_model=d_model, n_heads=4)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = name.endswith(".weight") and p.ndim == 1
            p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g) if scale else
                    0.1 * torch.randn(p.shape, generator=g))  # fmt: skip
        model.unembed.bias.mul_(20)
    return model


def tokens(batch: int = 3) -> torch.Tensor:
    return torch.randint(1, 61, (batch, 59), generator=torch.Generator().manual_seed(2))


def _ln(x, w, b):
    return F.layer_norm(x, x.shape[-1:], w, b, 1e-5)


def gpt2_forward(sd: dict, config: dict, toks: torch.Tensor) -> torch.Tensor:
    """transformers' GPT2LMHeadModel, written out: Conv1D is ``x @ W + b``, the head
    ``x @ lm_head.T`` without bias, GELU as ``activation_function`` names it."""
    assert config["activation_function"] == "gelu" and not config["tie_word_embeddings"]
    n_head, d = config["n_head"], config["n_embd"]
    batch, n = toks.shape
    x = sd["transformer.wte.weight"][toks] + sd["transformer.wpe.weight"][:n]
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    for layer in range(config["n_layer"]):
        p = f"transformer.h.{layer}."
        h = _ln(x, sd[p + "ln_1.weight"], sd[p + "ln_1.bias"])
        qkv = h @ sd[p + "attn.c_attn.weight"] + sd[p + "attn.c_attn.bias"]
        q, k, v = (t.reshape(batch, n, n_head, d // n_head) for t in qkv.split(d, -1))
        scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(d // n_head)
        pattern = scores.masked_fill(~causal, float("-inf")).softmax(-1)
        z = torch.einsum("bhqk,bkhe->bqhe", pattern, v).reshape(batch, n, d)
        x = x + z @ sd[p + "attn.c_proj.weight"] + sd[p + "attn.c_proj.bias"]
        h = _ln(x, sd[p + "ln_2.weight"], sd[p + "ln_2.bias"])
        h = F.gelu(h @ sd[p + "mlp.c_fc.weight"] + sd[p + "mlp.c_fc.bias"])
        x = x + h @ sd[p + "mlp.c_proj.weight"] + sd[p + "mlp.c_proj.bias"]
    x = _ln(x, sd["transformer.ln_f.weight"], sd["transformer.ln_f.bias"])
    return x @ sd["lm_head.weight"].T


def test_the_exported_tensors_compute_our_logits_as_gpt2():
    model = random_gpt()
    state, config = to_hf(model)
    assert "lm_head.bias" not in state and state["transformer.h.1.attn.c_attn.weight"].shape == (
        64,
        192,
    )  # fmt: skip  (Conv1D: [in, out])
    with torch.no_grad():
        ours = model(tokens())
        assert model.unembed.bias.abs().max() > 1  # the fold has a real bias to move
        assert (gpt2_forward(state, config, tokens()) - ours).abs().max() <= 1e-5
    assert (config["n_positions"], config["vocab_size"], config["n_inner"]) == (59, 61, 256)
    assert config["bos_token_id"] == config["eos_token_id"] == config["pad_token_id"] == 0


def test_the_bias_moves_into_ln_f_only_when_w_u_has_full_row_rank():
    narrow = random_gpt(d_model=32)  # W_U [61 x 32]: rank 32
    with pytest.raises(CheckpointFormatError, match="rank 32 < 61"):
        to_hf(narrow)
    with torch.no_grad():
        narrow.unembed.bias.zero_()  # nothing to move: exported as it is
    state, config = to_hf(narrow)
    with torch.no_grad():
        assert (gpt2_forward(state, config, tokens()) - narrow(tokens())).abs().max() <= 1e-5
    wide = random_gpt(d_model=64)
    folded = fold_unembed_bias(dict(wide.state_dict()), wide.cfg)
    assert not folded["unembed.bias"].any()
    assert (folded["ln_final.bias"] - wide.ln_final.bias).abs().max() > 0.1  # it moved


def test_the_tokenizer_vocabulary_is_our_ids():
    names = vocab()
    assert names["<pad>"] == 0 and len(names) == 61 and names["A1"] == 1 and names["H8"] == 60
    for name, token in names.items():
        if token:
            assert encode([parse_square(name)]).tolist() == [token]
    assert [names[n] for n in ("F5", "D6", "C3")] == [34, 40, 19]
    assert sorted(parse_square(n) for n in names if n != "<pad>") == PLAYABLE_SQUARES.tolist()


def test_a_folder_round_trips_through_load_model(tmp_path):
    model = random_gpt(seed=3)
    folder = othello.save_pretrained(model, tmp_path / "hf")
    assert {p.name for p in folder.iterdir()} == {
        CONFIG, WEIGHTS, TOKENIZER, "tokenizer_config.json", "README.md",
    }  # fmt: skip
    back = othello.load_model(folder)  # the format told by the folder
    same = load_external(folder, "hf", n_ctx=59)
    with torch.no_grad():
        assert (back(tokens()) - model(tokens())).abs().max() <= 1e-5
        assert torch.equal(same(tokens()), back(tokens()))
    assert not back.unembed.bias.any()  # the bias lives in ln_final's shift now
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: transformers") and "boot_transformers" in card


def _folder(tmp_path):
    return othello.save_pretrained(random_gpt(seed=4), tmp_path / "hf")


def _edit_json(path, **changes):
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def _swap_ids(path):
    data = json.loads(path.read_text())
    v = data["model"]["vocab"]
    v["A1"], v["B1"] = v["B1"], v["A1"]
    path.write_text(json.dumps(data))


def _drop_tensor(path):
    from safetensors.torch import load_file, save_file

    state = load_file(path)
    del state["transformer.h.1.mlp.c_fc.weight"]
    save_file(state, path)


BAD_FOLDERS = {
    "another architecture": (CONFIG, lambda p: _edit_json(
        p, model_type="llama", architectures=["LlamaForCausalLM"]), "not GPT-2"),
    "another vocabulary": (CONFIG, lambda p: _edit_json(p, vocab_size=60),
                           "vocabulary has 60 tokens; Othello-GPT uses 61"),
    "another context": (CONFIG, lambda p: _edit_json(p, n_positions=58),
                        "context of 58 positions"),
    "the tanh GELU": (CONFIG, lambda p: _edit_json(p, activation_function="gelu_new"),
                      "activation_function is 'gelu_new'"),
    "other token ids": (TOKENIZER, _swap_ids, "token ids differ from Othello-GPT's"),
    "no tokenizer": (TOKENIZER, lambda p: p.unlink(), "no such file"),
    "a missing weight": (WEIGHTS, _drop_tensor,
                         "missing tensor 'transformer.h.1.mlp.c_fc.weight'"),
    "not safetensors": (WEIGHTS, lambda p: p.write_text("<html>"), "not a readable safetensors"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_FOLDERS)
def test_a_bad_folder_is_one_error_line_naming_its_file(tmp_path, case):
    name, spoil, says = BAD_FOLDERS[case]
    folder = _folder(tmp_path)
    spoil(folder / name)
    out = tmp_path / "run"
    done = run_in_process("convert_checkpoint.py", "import", "--kind", "hf", "--in", folder,
                          "--out", out)  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and not done.stdout, done.stderr
    assert lines[0].startswith(f"error: {folder / name}: ") and says in lines[0], lines[0]
    assert not out.exists()
    with pytest.raises((CheckpointFormatError, FileNotFoundError), match=str(folder / name)):
        read_folder(folder)


@pytest.mark.parametrize(
    "model, says",
    [
        (lambda: build_model(LSTMConfig(n_layers=1, d_model=16)), "an LSTM has no GPT-2 form"),
        (lambda: random_gpt(d_model=32), "rank 32 < 61"),
    ],
)
def test_a_model_without_a_gpt2_form_is_refused_writing_nothing(tmp_path, model, says):
    save_model(model(), tmp_path / "run" / "model.pt")
    out = tmp_path / "hf"
    done = run_in_process("convert_checkpoint.py", "export", "--format", "hf", "--run",
                          tmp_path / "run", "--out", out)  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {tmp_path / 'run' / 'model.pt'}: ") and says in lines[0]
    assert not out.exists()


def test_an_export_of_a_run_carries_its_config_and_evaluation(tmp_path):
    run = tmp_path / "run"
    save_model(random_gpt(seed=5), run / "model.pt")
    (run / "config.json").write_text(json.dumps({"kind": "trained", "config": {
        "model": {"n_layers": 2}, "lr": 0.003}, "games": "games.h5"}))  # fmt: skip
    (run / "eval").mkdir()
    (run / "eval" / "eval.json").write_text(json.dumps({"top1_legal_accuracy": 0.98765, "x": []}))
    done = run_in_process("convert_checkpoint.py", "export", "--format", "hf", "--run", run,
                          "--out", tmp_path / "hf")  # fmt: skip
    assert done.returncode == 0 and done.stdout == f"wrote {tmp_path / 'hf'}\n", done.stderr
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "| lr | `0.003` |" in card and "| top1_legal_accuracy | `0.9877` |" in card
    assert "| run.games | `games.h5` |" in card and f'from_pretrained("{tmp_path / "hf"}")' in card
