"""Decoding and resizing images into uint8 tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from vptstudy.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def decode_resized(path: Path, size: int) -> torch.Tensor:
    """Decode one image file to RGB and resize it straight to ``size x size`` (no crop): uint8 ``[3, H, W]``."""
    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB").resize((size, size), Image.BILINEAR)
            array = np.asarray(rgb, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UserError(
            f"cannot decode image {str(path)!r}", type(exc).__name__, "remove or replace the corrupt file"
        ) from exc
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize a uint8 ``[N, C, H, W]`` batch to ``size x size`` (bilinear, antialiased), still uint8."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.round().clamp_(0, 255).to(torch.uint8)
