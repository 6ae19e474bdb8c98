"""Pretrain the embedded toy ViT on the synthetic upstream task and write its weights and model card.

Every step draws a fresh batch from one seeded generator (:func:`vptstudy.data.toy_tasks.upstream_images`), so
no image is seen twice and there is a single pass ("epoch") over ``steps * batch_size`` images. With ``scenes``
half of each batch is multi-object scenes with auxiliary targets (:mod:`vptstudy.pretrain_scenes`). AdamW with
linear warm-up and cosine decay (per step); weight decay on weight matrices only. Inputs are normalised with
the ImageNet mean/std, exactly as downstream runs normalise them. The final accuracy is measured after the fp16
round trip, on a held-out sample drawn with its own seed, and on a small fixed sample stored next to the weights
(``toy_upstream_heldout.npz``), which lets anyone check the card without re-rendering. No CLI code here; progress
goes through a callback.
"""

from __future__ import annotations

import io
import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer

from vptstudy.data import toy_tasks
from vptstudy.data.types import IMAGENET_MEAN, IMAGENET_STD, ImageSet
from vptstudy.digests import file_sha256, weights_file
from vptstudy.errors import UserError
from vptstudy.models import toy
from vptstudy.optim import decay_groups, warmup_cosine
from vptstudy.pretrain_scenes import SceneHeads, scenes_card

Callback = Callable[[str, dict[str, Any]], None]
HELDOUT_SEED, HELDOUT_IMAGES = 77_777, 256  # the packaged sample: its own seed, never drawn by pretraining


@dataclass(frozen=True)
class PretrainConfig:
    """Settings of ``vptstudy pretrain-toy``; the card records them with the command that rebuilds the weights."""

    steps: int = 7000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 350
    seed: int = 0
    eval_images: int = 2000
    curve_every: int = 500
    curve_images: int = 500
    threads: int | None = None  # CPU threads for torch (None: torch's default); 1 is fastest on a busy machine
    out_dir: str = str(toy.ASSETS)
    init: str | None = None  # a later stage: start from these weights (backbone + upstream head), not random ones
    scenes: bool = False  # half of each batch multi-object scenes, with the auxiliary heads of pretrain_scenes

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise UserError(f"invalid threads {self.threads}", "--threads", "use >= 1")
        for name in ("steps", "batch_size", "eval_images"):
            if getattr(self, name) < 1:
                raise UserError(f"invalid {name} {getattr(self, name)}", f"--{name.replace('_', '-')}", "use >= 1")
        if not 0 <= self.warmup_steps < self.steps:
            raise UserError(f"invalid warmup {self.warmup_steps}", "--warmup-steps", f"use 0 to {self.steps - 1}")
        if not self.lr > 0 or self.weight_decay < 0:
            raise UserError("invalid lr / weight decay", "--lr/--wd", "use lr > 0 and weight decay >= 0")
        if self.init is not None and not weights_file(toy.TOY_NAME, True, self.init).is_file():
            raise UserError(
                f"weights {self.init!r} not found", "--init", "pass a toy_vit.safetensors written by pretrain-toy"
            )

    def command(self) -> str:
        default_out = str(toy.ASSETS)
        out = "" if self.out_dir == default_out else f" --out-dir {self.out_dir}"
        threads = "" if self.threads is None else f" --threads {self.threads}"
        threads += "" if self.init is None else f" --init {self.init}"
        threads += " --scenes" if self.scenes else ""
        return (
            f"vptstudy pretrain-toy --steps {self.steps} --batch-size {self.batch_size} --lr {self.lr:g} "
            f"--wd {self.weight_decay:g} --warmup-steps {self.warmup_steps} --seed {self.seed} "
            f"--eval-images {self.eval_images}{threads}{out}"
        )


def _quiet(event: str, info: dict[str, Any]) -> None:
    return None


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[N, 3, H, W]`` to the float input every vptstudy model sees (ImageNet mean/std)."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0
    return (images.float() - mean) / std


@torch.inference_mode()
def accuracy(model: VisionTransformer, data: ImageSet, batch_size: int = 250) -> tuple[float, float]:
    """(mean cross-entropy, top-1 accuracy) of ``model`` on ``data``."""
    model.eval()
    loss, correct = 0.0, 0
    for start in range(0, len(data), batch_size):
        logits = model(normalise(data.images[start : start + batch_size]))
        labels = data.labels[start : start + batch_size]
        loss += float(F.cross_entropy(logits, labels, reduction="sum"))
        correct += int((logits.argmax(-1) == labels).sum())
    return loss / len(data), correct / len(data)


def _optimizer(model: VisionTransformer, heads: SceneHeads | None, cfg: PretrainConfig) -> torch.optim.AdamW:
    named = list(model.named_parameters())
    named += [] if heads is None else [(f"scene_heads.{n}", p) for n, p in heads.named_parameters()]
    groups = decay_groups(named, set(model.no_weight_decay()), cfg.weight_decay)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999))


def _step_loss(
    model: VisionTransformer, heads: SceneHeads | None, batch_size: int, stream: torch.Generator
) -> tuple[torch.Tensor, float]:
    """One batch's loss and the classification accuracy on its single-object images."""
    single = batch_size // 2 if heads is not None else batch_size
    batch = toy_tasks.upstream_images(single, stream)
    if heads is None:
        logits = model(normalise(batch.images))
        loss = F.cross_entropy(logits, batch.labels)
    else:
        scene_images, present = toy_tasks.upstream_scenes(batch_size - single, stream)
        images = normalise(torch.cat([batch.images, scene_images]))
        tokens = model.forward_features(images)
        logits = model.forward_head(tokens[:single])
        loss = F.cross_entropy(logits, batch.labels) + heads.loss(tokens, images, slice(single, None), present)
    return loss, float((logits.detach().argmax(-1) == batch.labels).float().mean())


def pretrain_toy(cfg: PretrainConfig, callback: Callback = _quiet) -> dict[str, Any]:
    """Train the toy ViT, write ``toy_vit.safetensors`` and ``toy_vit.json`` into ``cfg.out_dir``; return the card."""
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    num_classes = len(toy_tasks.UPSTREAM_PAIRS)
    model = toy.build_toy_vit(num_classes)
    previous = _start_from(model, cfg.init)
    heads = SceneHeads(model, num_classes) if cfg.scenes else None
    optimizer = _optimizer(model, heads, cfg)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(cfg.steps, cfg.warmup_steps))
    stream = torch.Generator().manual_seed(cfg.seed)
    curve_set = toy_tasks.upstream_images(cfg.curve_images, toy_tasks.UPSTREAM_EVAL_SEED + 1)
    curve: list[dict[str, float]] = []
    start = time.perf_counter()
    for step in range(1, cfg.steps + 1):
        model.train()
        loss, acc = _step_loss(model, heads, cfg.batch_size, stream)
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise UserError(f"pretraining diverged at step {step}", "--lr", "use a smaller learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        callback("step", {"step": step, "steps": cfg.steps, "loss": loss_value, "acc": acc})
        if step % cfg.curve_every == 0 or step == cfg.steps:
            val_loss, val_acc = accuracy(model, curve_set)
            point = {"step": step, "train_loss": loss_value, "heldout_loss": val_loss, "heldout_acc": val_acc}
            curve.append({**point, "seconds": time.perf_counter() - start})
            callback("curve", curve[-1])
    train_seconds = time.perf_counter() - start
    weights = out / toy.TOY_WEIGHTS.name
    toy.save_weights(model, weights, keep_head=True)
    callback("eval", {"images": cfg.eval_images})
    final_loss, final_acc = evaluate_shipped(weights, cfg.eval_images, toy_tasks.UPSTREAM_EVAL_SEED)
    sample = write_heldout_sample(out / toy.TOY_HELDOUT.name)
    card = _card(cfg, model, weights, curve, final_loss, final_acc, train_seconds, time.perf_counter() - start)
    objective = scenes_card() if cfg.scenes else f"cross-entropy over the {num_classes} classes"
    card.update(_stages(cfg, previous, train_seconds), objective=objective)
    card["packaged_sample"] = score_packaged_sample(weights, sample)
    tmp = out / (toy.TOY_CARD.name + ".tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n")
    tmp.replace(out / toy.TOY_CARD.name)
    callback("done", card)
    return card


def _start_from(model: VisionTransformer, init: str | None) -> dict[str, Any] | None:
    """Load ``init`` (backbone + upstream head) into ``model``; return the card stored beside it, if any."""
    if init is None:
        return None
    source = toy.create_embedded(toy.TOY_NAME, len(toy_tasks.UPSTREAM_PAIRS), weights=init)
    toy.load_upstream_head(source, init)
    model.load_state_dict(source.state_dict())
    path = weights_file(toy.TOY_NAME, True, init)  # ~ expanded, as create_embedded loaded it
    try:
        previous = json.loads(path.with_name(toy.TOY_CARD.name).read_text())
    except (OSError, ValueError):
        return {"weights": {"sha256": file_sha256(path)}}
    return previous if isinstance(previous, dict) else None


def _stages(cfg: PretrainConfig, previous: dict[str, Any] | None, seconds: float) -> dict[str, Any]:
    """The commands that rebuild these weights, in order, and what all stages saw and took together."""
    if previous is None:
        return {"stages": [cfg.command()]}
    earlier = previous.get("stages") or [previous.get("command", "?")]
    before = previous.get("images_seen_all_stages", previous.get("data", {}).get("images_seen", 0))
    seen = before + cfg.steps * cfg.batch_size
    took = previous.get("train_seconds_all_stages")
    if took is None:  # a card from before this field: its own stage and the one it started from
        took = (previous.get("train_seconds") or 0) + ((previous.get("init") or {}).get("train_seconds") or 0)
    init = {
        "sha256": previous.get("weights", {}).get("sha256"),
        "upstream_top1": previous.get("upstream_accuracy", {}).get("top1"),
        "train_seconds": previous.get("train_seconds"),
    }
    return {
        "stages": [*earlier, cfg.command()],
        "init": init,
        "images_seen_all_stages": seen,
        "train_seconds_all_stages": took + seconds,
    }


def write_heldout_sample(path: Path, images: int = HELDOUT_IMAGES, seed: int = HELDOUT_SEED) -> Path:
    """Render ``images`` upstream images with ``seed`` and store them (uint8, compressed) at ``path``."""
    data = toy_tasks.upstream_images(images, seed)
    buf = io.BytesIO()
    np.savez_compressed(buf, images=data.images.numpy(), labels=data.labels.numpy(), seed=np.int64(seed))
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)
    return path


def load_heldout_sample(path: Path = toy.TOY_HELDOUT) -> ImageSet:
    """The packaged held-out upstream sample."""
    with np.load(path) as stored:
        return ImageSet(torch.from_numpy(stored["images"]), torch.from_numpy(stored["labels"]).long())


def score_packaged_sample(weights: Path, sample: Path) -> dict[str, Any]:
    """The card's entry for the packaged sample: file, size, seed and the shipped weights' accuracy on it."""
    data = load_heldout_sample(sample)
    model = toy.create_embedded(toy.TOY_NAME, len(toy_tasks.UPSTREAM_PAIRS), weights=str(weights))
    toy.load_upstream_head(model, weights)
    loss, acc = accuracy(model, data)
    with np.load(sample) as stored:
        seed = int(stored["seed"])
    return {"file": sample.name, "images": len(data), "seed": seed, "top1": acc, "loss": loss}


def evaluate_shipped(weights: Path, images: int, seed: int) -> tuple[float, float]:
    """Load fp16 weights (backbone + stored upstream head) as users do, and score a seeded upstream sample."""
    model = toy.create_embedded(toy.TOY_NAME, len(toy_tasks.UPSTREAM_PAIRS), weights=str(weights))
    toy.load_upstream_head(model, weights)
    return accuracy(model, toy_tasks.upstream_images(images, seed))


def _card(
    cfg: PretrainConfig,
    model: VisionTransformer,
    weights: Path,
    curve: list[dict[str, float]],
    final_loss: float,
    final_acc: float,
    train_seconds: float,
    wall_seconds: float,
) -> dict[str, Any]:
    backbone_params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("head."))
    return {
        "name": toy.TOY_NAME,
        "architecture": {
            "class": "timm.models.vision_transformer.VisionTransformer",
            **toy.TOY_ARCH,
            "class_token": True,
            "global_pool": "token",
            "backbone_params": backbone_params,
        },
        "weights": {
            "file": weights.name,
            "dtype": "float16",
            "bytes": weights.stat().st_size,
            "sha256": file_sha256(weights),
            "upstream_head": f"stored as {toy.UPSTREAM_HEAD}* ({len(toy_tasks.UPSTREAM_PAIRS)} classes); "
            "--model toy-vit ignores it and builds a fresh head",
        },
        "upstream_task": {**toy_tasks.UPSTREAM_TASK, "input": "32x32 RGB, ImageNet mean/std normalisation"},
        "data": {
            "mode": "generated on the fly: a fresh batch every step from one generator seeded with `seed`",
            "images_seen": cfg.steps * cfg.batch_size,
            "epochs": 1,
            "epochs_note": "a single pass over a stream of fresh images; no image repeats",
        },
        "training": {
            **asdict(cfg),
            "optimizer": "AdamW, betas (0.9, 0.999); no weight decay on biases, norms, pos_embed, cls_token",
            "schedule": "linear warm-up for warmup_steps, then cosine decay to 0, per step",
            "augmentation": "none (the generator randomises every factor)",
        },
        "seed": cfg.seed,
        "upstream_accuracy": {
            "top1": final_acc,
            "loss": final_loss,
            "images": cfg.eval_images,
            "seed": toy_tasks.UPSTREAM_EVAL_SEED,
            "note": "fresh held-out sample, scored after the fp16 save/load round trip",
        },
        "curve": curve,
        "train_seconds": train_seconds,
        "wall_seconds": wall_seconds,
        "environment": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "machine": platform.machine(),
            "processor": platform.processor() or "unknown",
        },
        "command": cfg.command(),
    }
