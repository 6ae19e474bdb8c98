"""The auxiliary upstream objective of ``vptstudy pretrain-toy --scenes``: multi-object scenes and patch pixels.

Single-object (shape, colour) classification teaches features that ignore how many objects there are and where
within a patch they lie. With ``--scenes`` half of every batch is multi-object scenes of upstream pairs
(:func:`vptstudy.data.toy_tasks.upstream_scenes`), and two linear heads, dropped after pretraining, add:

* which upstream pairs the scene holds (multi-label, binary cross-entropy on the class token);
* each patch's pixels from its own token (mean-pooled 2x2 to a 4x4x3 target, mean squared error), on every image.

Neither target is a downstream label (no count, no position bin), so every toy task keeps its quadrant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer
from torch import Tensor, nn

from vptstudy.data import toy_tasks

PRESENCE_WEIGHT = 5.0  # BCE over 48 mostly-zero outputs (one per pair) is small; x5 puts it near the class loss
PIXEL_POOL = 2  # target pixels: 2x2 means, so an 8x8 patch gives 4x4x3 = 48 values


def patch_pixels(images: torch.Tensor, patch: int) -> torch.Tensor:
    """``[N, C, H, W]`` normalised images to ``[N, patches, C * (patch / PIXEL_POOL) ** 2]``, row-major patches."""
    pooled = F.avg_pool2d(images, PIXEL_POOL)
    side = patch // PIXEL_POOL
    n, c, h, w = pooled.shape
    cells = pooled.reshape(n, c, h // side, side, w // side, side)
    return cells.permute(0, 2, 4, 1, 3, 5).reshape(n, (h // side) * (w // side), c * side * side)


class SceneHeads(nn.Module):
    """The two auxiliary heads; :meth:`loss` is added to the classification loss."""

    def __init__(self, model: VisionTransformer, num_pairs: int) -> None:
        super().__init__()
        dim = model.embed_dim
        self.patch = model.patch_embed.patch_size[0]
        self.presence = nn.Linear(dim, num_pairs)
        self.pixels = nn.Linear(dim, 3 * (self.patch // PIXEL_POOL) ** 2)
        self.prefix = model.num_prefix_tokens

    def loss(self, tokens: torch.Tensor, images: torch.Tensor, scene_rows: slice, present: torch.Tensor) -> Tensor:
        """``tokens``: the backbone's normed tokens of ``images``; rows ``scene_rows`` are scenes with multi-hot
        ``present``."""
        presence = F.binary_cross_entropy_with_logits(self.presence(tokens[scene_rows, 0]), present)
        pixels = F.mse_loss(self.pixels(tokens[:, self.prefix :]), patch_pixels(images, self.patch))
        return PRESENCE_WEIGHT * presence + pixels


def scenes_card() -> dict[str, object]:
    """What the card says about a ``--scenes`` stage."""
    pairs = len(toy_tasks.UPSTREAM_PAIRS)
    return {
        "classification": f"cross-entropy over the {pairs} classes on the first half of each batch (one object)",
        "scenes": f"second half: {toy_tasks.SCENE_COUNT[0]}-{toy_tasks.SCENE_COUNT[1]} objects of upstream pairs, "
        f"radius {toy_tasks.SCENE_RADIUS[0]}-{toy_tasks.SCENE_RADIUS[1]}, in distinct cells of a 3x3 grid",
        "presence": f"{PRESENCE_WEIGHT:g} x binary cross-entropy: which of the {pairs} pairs a scene holds "
        "(class token)",
        "pixels": f"mean squared error: each patch's {PIXEL_POOL}x{PIXEL_POOL}-pooled normalised pixels from its "
        "own token, on every image",
        "heads": "both auxiliary heads are linear and are not saved",
    }
