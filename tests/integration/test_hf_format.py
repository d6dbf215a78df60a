"""Our GPT as a Hugging Face folder, opened by the real tools: ``transformers``'
``AutoModelForCausalLM`` and ``AutoTokenizer``, nnsight's ``LanguageModel`` and TransformerLens
4's ``TransformerBridge.boot_transformers``, each against our model on held-out games of the
session's tiny run; the Mamba's refusal and its reason; publishing to and loading from a
stand-in hub on 127.0.0.1; ``make analyze FORMAT=hf`` on a folder.

The tools are the ``hf`` extra (``pip install -e ".[hf]"``), TransformerLens the ``tl`` extra,
the hub client the ``hub`` extra; each test skips, saying which, without its library.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import torch
from conftest import TESTS, run_in_process, run_script
from hub_server import stand_in_hub

import othello
from othello.corpora.corpus import GamesFile
from othello.interop.formats.hf import CONFIG, TOKENIZER, WEIGHTS
from othello.model.hooks import BLOCK_HOOKS, EMBED, FINAL_SCALE, POS_EMBED, act_name, block_hooks
from othello.world.squares import N_POSITIONS, parse_square, square_name
from othello.world.tokens import decode, encode

TOLERANCE = 1e-5  # logits and activations, float32
N_GAMES = 200  # held-out games


def needs(module: str, extra: str) -> pytest.MarkDecorator:
    missing = importlib.util.find_spec(module) is None
    why = f'{module} is not installed: pip install -e ".[{extra}]" to run the check'
    return pytest.mark.skipif(missing, reason=why)


NEEDS_HF = needs("transformers", "hf")
NEEDS_NNSIGHT = needs("nnsight", "hf")
NEEDS_HUB = needs("huggingface_hub", "hub")
NEEDS_MAMBA = needs("mambapy", "mamba")
HAS_TL4 = importlib.util.find_spec("transformer_lens") is not None and (
    int(importlib.metadata.version("transformer-lens").split(".")[0]) >= 4
)
NEEDS_TL4 = pytest.mark.skipif(
    not HAS_TL4, reason='TransformerLens 4 is not installed: pip install -e ".[tl]"'
)


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    """The tiny run exported as a user would: the script in a fresh interpreter."""
    out = tmp_path_factory.mktemp("hf") / "tiny-hf"
    done = run_script("scripts/convert_checkpoint.py", "export", "--format", "hf",
                      "--run", tiny_run, "--out", out)  # fmt: skip
    assert done.returncode == 0 and done.stdout == f"wrote {out}\n", done.stderr
    return out


@pytest.fixture(scope="module")
def held_out(tiny_corpus) -> torch.Tensor:
    """Token ids [N_GAMES, 59] of test-split games, padding 0 after a game's end."""
    with GamesFile(tiny_corpus) as games:
        moves = games.moves[games.select("test", N_GAMES)]
    return torch.as_tensor(encode(moves[:, :N_POSITIONS]))


def game_text(row: torch.Tensor) -> str:
    return " ".join(square_name(int(s)) for s in decode(row.numpy()) if s >= 0)


@NEEDS_HF
def test_transformers_loads_the_folder_with_no_code_of_ours(exported, held_out, tiny_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert {CONFIG, WEIGHTS, TOKENIZER} <= {p.name for p in exported.iterdir()}
    model = AutoModelForCausalLM.from_pretrained(exported).eval()
    tokenizer = AutoTokenizer.from_pretrained(exported)
    assert type(model).__name__ == "GPT2LMHeadModel"
    ids = encode([parse_square(name) for name in ("F5", "D6", "C3")]).tolist()
    assert tokenizer("F5 D6 C3")["input_ids"] == ids == tokenizer("f5,d6,c3")["input_ids"]
    assert tokenizer("F5D6C3")["input_ids"] == ids and tokenizer.decode(ids) == "F5 D6 C3"
    texts = [game_text(row) for row in held_out[:20]]
    batch = tokenizer(texts, padding="max_length", max_length=N_POSITIONS, return_tensors="pt")
    assert torch.equal(batch["input_ids"], held_out[:20])  # padding 0, on the right
    assert torch.equal(batch["attention_mask"], (held_out[:20] > 0).long())
    ours = othello.load_model(tiny_run)
    with torch.no_grad():
        diff = (model(held_out).logits - ours(held_out)).abs().max().item()
        assert diff <= TOLERANCE, diff
        exact = (model.double()(held_out).logits - ours.double()(held_out)).abs().max().item()
    assert exact <= 1e-6, exact  # the map itself, under float32's rounding (the cpu model: 2e-5)


@NEEDS_NNSIGHT
def test_nnsight_reads_and_patches_the_residual_stream_as_our_hooks(exported, held_out, tiny_run):
    from nnsight import LanguageModel

    lm = LanguageModel(str(exported), device_map="cpu", dispatch=True)
    ours, x, hook = othello.load_model(tiny_run), held_out[:20], act_name("resid_post", 0)

    def output(block):  # a tensor in transformers 5, a tuple before
        return block.output[0] if isinstance(block.output, tuple) else block.output

    with torch.no_grad():
        with lm.trace(x):
            resid = output(lm.transformer.h[0]).save()
            logits = lm.output.logits.save()
        our_logits, cache = ours.run_with_cache(x, [hook])
        assert (resid - cache[hook]).abs().max() <= TOLERANCE
        assert (logits - our_logits).abs().max() <= TOLERANCE
        with lm.trace(x):
            output(lm.transformer.h[0])[:, 5] = 0
            patched = lm.output.logits.save()

        def zero(t, hook=None):
            t = t.clone()
            t[:, 5] = 0
            return t

        ours_patched = ours.run_with_hooks(x, [(hook, zero)])
    assert (ours_patched - our_logits).abs().max() > 0.1  # a real edit
    assert (patched - ours_patched).abs().max() <= TOLERANCE


@NEEDS_TL4
def test_transformer_lens_boots_the_folder_with_our_hook_names(exported, held_out, tiny_run):
    from transformer_lens.model_bridge import TransformerBridge

    bridge = TransformerBridge.boot_transformers(str(exported), device="cpu")
    bridge.set_use_hook_mlp_in(True)  # off by default, as in HookedTransformer
    ours, x = othello.load_model(tiny_run), held_out[:50]
    n_layers = ours.cfg.n_layers
    hooks = [EMBED, POS_EMBED, FINAL_SCALE] + [
        h for name in BLOCK_HOOKS for h in block_hooks(name, n_layers)
    ]
    with torch.no_grad():
        their_logits, theirs = bridge.run_with_cache(x, names_filter=lambda n: n in hooks)
        our_logits, cache = ours.run_with_cache(x, hooks)
    assert (their_logits - our_logits).abs().max() <= TOLERANCE
    for hook in hooks:
        mine = cache[hook].expand_as(theirs[hook])  # ours keeps hook_pos_embed unbatched
        assert (theirs[hook] - mine).abs().max() <= TOLERANCE, hook


@NEEDS_HF
@NEEDS_MAMBA
def test_the_mamba_is_refused_for_its_unembedding_bias_alone(tmp_path):
    """The refusal's reason, checked: mapped onto MambaForCausalLM, our Mamba's logits differ
    from the transformers model's by the unembedding bias and nothing else."""
    from transformers import MambaConfig as HFMambaConfig
    from transformers import MambaForCausalLM

    model = othello.build_model(othello.MambaConfig(n_layers=2, d_model=32)).eval()
    with torch.no_grad():
        model.unembed.bias.normal_(0, 0.5)
    with pytest.raises(othello.UserError, match="unembedding has a bias"):
        othello.save_pretrained(model, tmp_path / "hf")
    assert not (tmp_path / "hf").exists()
    s6 = model.blocks[0].s6
    theirs = MambaForCausalLM(HFMambaConfig(
        vocab_size=61, hidden_size=32, state_size=s6.d_state, num_hidden_layers=2, expand=2,
        conv_kernel=s6.d_conv, time_step_rank=s6.dt_rank, use_bias=False, use_conv_bias=True,
        layer_norm_epsilon=1e-5, tie_word_embeddings=False,
    )).eval()  # fmt: skip
    ours = model.state_dict()
    state = {"backbone.embeddings.weight": ours["embed.weight"],
             "backbone.norm_f.weight": ours["ln_final.weight"],
             "lm_head.weight": ours["unembed.weight"]}  # fmt: skip
    for key, value in ours.items():
        if ".mixer." in key or key.endswith(".norm.weight"):
            state["backbone.layers." + key.split(".", 1)[1]] = value
    theirs.load_state_dict(state, strict=True)
    x = torch.randint(1, 61, (2, N_POSITIONS), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        gap = model(x) - theirs(x).logits
    assert (gap - model.unembed.bias).abs().max() <= TOLERANCE
    assert model.unembed.bias.abs().max() > 0.5


def hub_env(monkeypatch, tmp_path, address: str, offline: bool = False) -> None:
    """The hub settings (read at call time by othello.interop.hub): the stand-in's address, a
    cache of its own."""
    for name, value in (("HF_ENDPOINT", address), ("HF_HOME", str(tmp_path / "hf-home")),
                        ("HF_TOKEN", "hf_stand_in"), ("NO_PROXY", "127.0.0.1,localhost"),
                        ("HF_HUB_DISABLE_TELEMETRY", "1")):  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    if offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def gap(repo: str, ours: torch.nn.Module) -> float:
    """The largest logit difference between ``repo`` loaded from the hub and ``ours``."""
    x = torch.randint(1, 61, (4, N_POSITIONS), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return (othello.from_pretrained(repo)(x) - ours(x)).abs().max().item()


def refusal(repo: str) -> str:
    with pytest.raises(othello.UserError) as refused:
        othello.from_pretrained(repo)
    assert "\n" not in str(refused.value)
    return str(refused.value)


@NEEDS_HUB
def test_push_then_from_pretrained_through_a_stand_in_hub(tmp_path, monkeypatch, tiny_run):
    repo, out, ours = "someone/othello-tiny", tmp_path / "tiny-hf", othello.load_model(tiny_run)
    with stand_in_hub() as hub:
        hub_env(monkeypatch, tmp_path, hub.address)
        done = run_in_process("convert_checkpoint.py", "export", "--format", "hf",
                              "--run", tiny_run, "--out", out, "--push", repo)  # fmt: skip
        assert done.returncode == 0, done.stderr
        commit = hub.repos[repo].commit
        assert done.stdout.splitlines()[-1] == f"pushed to {hub.address}/{repo}/commit/{commit}"
        assert [s for s in hub.seen if s.startswith("POST")][0] == "POST /api/repos/create"
        assert f"POST /api/models/{repo}/commit/main" in hub.seen
        assert hub.repos[repo].files == {p.name: p.read_bytes() for p in out.iterdir()}
        assert f'from_pretrained("{repo}")' in (out / "README.md").read_text()
        assert gap(repo, ours) <= TOLERANCE
        line = refusal("someone/nothing")
    assert "someone/nothing" in line and "RepositoryNotFoundError" in line
    assert "othello.load_model(DIR)" in line and "FORMAT=hf" in line
    hub_env(monkeypatch, tmp_path, "http://127.0.0.1:9", offline=True)  # from the cache alone
    assert gap(repo, ours) <= TOLERANCE
    line = refusal("someone/other")
    assert "HF_HUB_OFFLINE is set" in line and "https://huggingface.co/someone/other/tree" in line


def test_without_the_hub_client_from_pretrained_says_the_manual_route(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails as if missing
    with pytest.raises(othello.UserError) as refused:
        othello.from_pretrained("a/b")
    line = str(refused.value)
    assert "\n" not in line and 'loading a/b needs huggingface_hub: pip install -e ".[hub]"' in line
    assert "https://huggingface.co/a/b/tree/main" in line and "FORMAT=hf" in line


def test_make_converts_a_folder_with_format_hf(tmp_path, tiny_run):
    """``make analyze CHECKPOINT=DIR/ FORMAT=hf``'s first step: the run named after the folder
    (a rule for ``runs/tiny-hf/model.pt`` exists only then), its command run here in-process
    (the rest of the chain is every other analysed run's: test_analyze.py)."""
    folder = othello.save_pretrained(othello.load_model(tiny_run), tmp_path / "tiny-hf")
    games = tmp_path / "games.h5"
    games.write_bytes(b"")  # only needs to exist: the conversion does not read it
    target = tmp_path / "runs" / "tiny-hf" / "model.pt"
    plan = subprocess.run(
        ["make", "-n", f"CHECKPOINT={folder}/", "FORMAT=hf", "PRESET=tiny", f"GAMES={games}",
         f"RUNS={tmp_path}/runs", str(target)],
        capture_output=True, text=True, cwd=TESTS.parent, timeout=120,
    )  # fmt: skip
    assert plan.returncode == 0, plan.stdout + plan.stderr
    # PYTHON scripts/convert_checkpoint.py import ... (under `make test`, make's own
    # "Entering directory" lines come around it)
    command = next(c for c in plan.stdout.splitlines() if "convert_checkpoint.py" in c).split()
    args = command[command.index("scripts/convert_checkpoint.py") + 1 :]
    assert args[:5] == ["import", "--kind", "hf", "--in", f"{folder}/"], command
    assert args[args.index("--out") + 1] == str(target.parent)
    done = run_in_process("convert_checkpoint.py", *args)
    assert done.returncode == 0, done.stderr
    record = json.loads((target.parent / "config.json").read_text())
    assert record["kind"] == "imported" and record["imported"]["format"] == "hf"
    x = torch.randint(1, 61, (3, N_POSITIONS))
    with torch.no_grad():
        diff = othello.load_model(target)(x) - othello.load_model(tiny_run)(x)
    assert diff.abs().max() <= TOLERANCE
