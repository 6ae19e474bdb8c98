"""Decoding and resizing images into uint8 tensors (PIL does the work)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from vptstudy.errors import UserError

RESIZE_METHOD = "torch bilinear antialias, round"  # resize_uint8; part of the built-in tasks' cache key
RESIZE_CHUNK = 64
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
MAX_SIDE = 8192
MAX_PIXELS = MAX_SIDE * MAX_SIDE  # per image; larger files are refused before decoding (decompression bombs)

# PIL warns between its own limit and twice it; we refuse those files with our own error instead.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def _too_large(path: Path, size: str) -> UserError:
    return UserError(
        f"image {str(path)!r} is too large ({size}, limit {MAX_SIDE}x{MAX_SIDE})",
        "decompression-bomb guard",
        "downscale or remove the file",
    )


def open_image(path: Path) -> Image.Image:
    """``Image.open(path)`` (lazy: nothing decoded yet), refused with a :class:`UserError` above ``MAX_PIXELS``."""
    try:
        img = Image.open(path)
    except Image.DecompressionBombError as exc:  # PIL's message: "Image size (N pixels) exceeds limit of ..."
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(path, f"{int(found.group(1)) if found else 'over 2x PIL limit'} pixels") from exc
    width, height = img.size
    if width * height > MAX_PIXELS:
        img.close()
        raise _too_large(path, f"{width}x{height} = {width * height} pixels")
    return img


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit grey (PIL modes ``I;16*``, or ``I`` above 255) scaled to 8 bit: ``convert("RGB")`` would clip it."""
    if not (img.mode.startswith("I;16") or img.mode == "I"):
        return img
    values = np.asarray(img).astype(np.int64)
    if img.mode == "I" and values.max(initial=0) <= 255:
        return Image.fromarray(values.clip(0, 255).astype(np.uint8), mode="L")  # 8-bit values in a 32-bit mode
    return Image.fromarray(((values.clip(0, 65535) + 128) // 257).astype(np.uint8), mode="L")


def pil_to_uint8(img: Image.Image, size: int) -> torch.Tensor:
    """An RGB copy of ``img`` resized straight to ``size x size`` (bilinear, no crop): uint8 ``[3, size, size]``."""
    rgb = _to_8bit(img).convert("RGB")
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.BILINEAR)
    # numpy's transpose copy is ~50x faster than torch's permute().contiguous() for uint8 HWC -> CHW
    return torch.from_numpy(np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)))


def decode_resized(path: Path, size: int) -> torch.Tensor:
    """Decode one image file and resize it straight to ``size x size`` (no crop): uint8 ``[3, H, W]``.

    Large JPEGs are decoded at a reduced DCT scale first (PIL's ``draft``), never below ``size``.
    """
    try:
        with open_image(path) as img:
            img.draft("RGB", (size, size))
            return pil_to_uint8(img, size)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise UserError(
            f"cannot decode image {str(path)!r}", type(exc).__name__, "remove or replace the corrupt file"
        ) from exc


def resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize a uint8 ``[N, C, H, W]`` batch to ``size x size`` (bilinear, antialiased), still uint8.

    In chunks of :data:`RESIZE_CHUNK` images: the same values as one call over the whole batch (each image is
    resized on its own), without a float copy of all of it (2,500 toy images at 224 px would be 1.5 GB).
    """
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = torch.empty(*images.shape[:-2], size, size, dtype=torch.uint8)
    for start in range(0, images.shape[0], RESIZE_CHUNK):
        chunk = images[start : start + RESIZE_CHUNK].float()
        resized = F.interpolate(chunk, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[start : start + RESIZE_CHUNK] = resized.round_().clamp_(0, 255)
    return out
