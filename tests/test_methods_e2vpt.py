"""E2VPT: masking every prompt restores the backbone; E2VPT-prune checks its options before training, and a run
trains, prunes, rewinds and reloads."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import tiny_vit
from tests.helpers.methods import DEPTH, TINY, X, built, config, plain_logits
from vptstudy.errors import UserError
from vptstudy.methods import get_method
from vptstudy.methods.modules import transformer_blocks
from vptstudy.methods.pruning import keep_tokens
from vptstudy.models.prompts import PromptedViT


def test_e2vpt_masking_all_prompts_restores_the_backbone() -> None:
    vit = tiny_vit()
    before = plain_logits(vit)
    model = built("e2vpt", vit, kv_prompts=3).eval()
    with torch.no_grad():
        assert not torch.allclose(model(X), before, atol=1e-3)
        keep_tokens(model, torch.empty(DEPTH, 0, dtype=torch.long))
        for _, block in transformer_blocks(model.vit):
            block.attn.keep_kv(torch.empty(0, dtype=torch.long))
        torch.testing.assert_close(model(X), before, rtol=0, atol=1e-5)


def test_e2vpt_prune_checks_its_options_before_training() -> None:
    first = get_method("e2vpt-prune").phases[0]
    with pytest.raises(UserError, match="prompts"):
        first.prepare(PromptedViT(tiny_vit()), config("e2vpt-prune").replace(num_prompts=0), torch.Generator())
    with pytest.raises(UserError, match="fraction"):
        first.prepare(PromptedViT(tiny_vit()), config("e2vpt-prune", prune_tokens=1.5), torch.Generator())
    with pytest.raises(UserError, match="segments"):
        first.prepare(PromptedViT(tiny_vit()), config("e2vpt-prune", segments=5), torch.Generator())


@pytest.mark.parametrize("mode", ["remove", "zero"])
def test_e2vpt_prune_trains_prunes_rewinds_and_reloads(mode: str, tmp_path, capsys, monkeypatch) -> None:
    import json

    from safetensors.torch import load_file

    from tests.helpers.cli import run_cli
    from vptstudy import runs
    from vptstudy.load import load_run

    args = ["train", "--task", "toy/digits", "--method", "e2vpt-prune", *TINY, "--epochs", "1", "--prompts", "4"]
    options = ["--method-option", "prune_segments=0.5", "--method-option", f"prune_mode={mode}"]
    res = run_cli([*args, "--out-dir", str(tmp_path), *options], capsys, monkeypatch)
    assert res.code == 0, res.err
    (run,) = runs.iter_runs(tmp_path)
    result = json.loads((run / runs.RESULT).read_text())
    first, second = result["phases"]
    prompt = load_file(str(run / runs.TRAINABLE))["prompt"]
    tokens = 2 if mode == "remove" else 4  # zero: the 2 pruned tokens per layer stay in place, all zero
    removed = 6 * 2 * 64 if mode == "remove" else 0
    assert first["trainable_params"] - second["trainable_params"] == removed  # half of the 4 tokens per layer
    assert prompt.shape == (6, tokens, 64)
    zero_segments = (prompt.view(6, tokens, 8, 8) == 0).all(-1)
    if mode == "zero":
        assert (zero_segments.all(-1).sum(-1) == 2).all()  # two whole tokens zeroed per layer
    assert zero_segments.sum(dim=(1, 2)).tolist() == [8 + 8 * (tokens - 2)] * 6  # + half of the 16 kept segments
    model = load_run(run)
    assert torch.equal(model.prompt_segments.keep, (prompt.view(6, tokens, 8, 8) != 0).any(-1))
