"""Do E2VPT's two pruning modes agree? ``zero`` (official: pruned tokens held at zero in place) vs ``remove``.

Trains the first E2VPT phase for a few SGD steps on toy/digits with the shipped toy ViT, prunes with each mode from
the same trained state, and compares (1) the logits right after pruning (before rewinding), (2) the logits after
rewinding, and (3) the training loss after N steps of the rewind phase on the same batches. Run:

    PYTHONPATH=. .venv/bin/python benchmarks/e2vpt_prune_modes.py [--steps 20] [--prompts 10] [--lr 0.05]
"""

from __future__ import annotations

import argparse
import copy

import torch
import torch.nn.functional as F

from vptstudy.config import RunConfig
from vptstudy.data import load_task_data
from vptstudy.data.pipeline import DeviceImages
from vptstudy.methods import get_method
from vptstudy.methods.e2vpt import _prune_options, _train_prompts, rewind
from vptstudy.methods.pruning import install_segment_mask, prune
from vptstudy.models.build import build_model
from vptstudy.optim import make_optimizer, param_groups


def sgd_steps(model: torch.nn.Module, batches: list, lr: float) -> list[float]:
    optimizer = make_optimizer("sgd", param_groups(model, 0.001), lr, torch.device("cpu"))
    losses = []
    model.train()
    for x, y in batches:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--prompts", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05, help="base lr (scaled by batch / 256)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = RunConfig(
        task="toy/digits",
        method="e2vpt-prune",
        model="toy-vit",
        num_prompts=args.prompts,
        batch_size=args.batch,
        prompt_dropout=0.0,
    )
    data = load_task_data(cfg, 32)
    train = DeviceImages(data.train, data.preprocess, torch.device("cpu"), train=True)
    batches = list(train.batches(args.batch, torch.Generator().manual_seed(0)))
    score = list(DeviceImages(data.train, data.preprocess, torch.device("cpu"), train=False).batches(args.batch))
    x_eval = next(iter(DeviceImages(data.val, data.preprocess, torch.device("cpu"), train=False).batches(256)))[0]
    steps = (batches * (args.steps // len(batches) + 1))[: args.steps]
    lr = args.lr * args.batch / 256

    model = build_model(cfg, data.num_classes)
    first, _ = get_method("e2vpt-prune").phases
    first.prepare(model, cfg, torch.Generator().manual_seed(cfg.seed))
    first_losses = sgd_steps(model, steps, lr)
    print(f"phase 1: loss {first_losses[0]:.4f} -> {first_losses[-1]:.4f} over {args.steps} steps")

    out = {}
    for mode in ("zero", "remove"):
        m = copy.deepcopy(model)
        opts = _prune_options(cfg.replace(method_options=(("prune_mode", mode),)), m.vit.embed_dim)
        torch.manual_seed(1)
        index, keep = prune(m, lambda: score, opts["prune_tokens"], opts["prune_segments"], opts["segments"], mode)
        probe = copy.deepcopy(m)  # the trained prompts after pruning (zeroed, or cut out), before rewinding
        install_segment_mask(probe, keep)
        with torch.no_grad():
            pruned = probe.eval()(x_eval)
        rewind(m, index)
        install_segment_mask(m, keep)
        _train_prompts(m)
        with torch.no_grad():
            rewound = m.eval()(x_eval)
        out[mode] = dict(pruned=pruned, rewound=rewound, losses=sgd_steps(m, steps, lr))
    for what in ("pruned", "rewound"):
        a, b = out["zero"][what], out["remove"][what]
        diff = (a - b).abs().max().item()
        agree = (a.argmax(-1) == b.argmax(-1)).float().mean().item()
        print(
            f"logits {what:>8}: max |zero - remove| {diff:.4g} (logit scale {a.abs().max().item():.3g}); "
            f"argmax agreement {agree:.3f}"
        )
    za, ra = out["zero"]["losses"], out["remove"]["losses"]
    print(f"rewind phase loss, step 1: zero {za[0]:.6f}  remove {ra[0]:.6f}")
    print(f"rewind phase loss, step {len(za)}: zero {za[-1]:.6f}  remove {ra[-1]:.6f}")
    print(f"mean loss over the {len(za)} steps: zero {sum(za) / len(za):.6f}  remove {sum(ra) / len(ra):.6f}")


if __name__ == "__main__":
    main()
