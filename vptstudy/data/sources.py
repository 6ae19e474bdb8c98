"""Sources that need no registry of their own: bundled digits and a class-per-folder image folder."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Callable
from pathlib import Path

import torch

from vptstudy.data import images
from vptstudy.data.catalog import Catalog
from vptstudy.data.fingerprint import stat_line
from vptstudy.data.images import is_image_file, resize_uint8
from vptstudy.data.paths import ensure_inside
from vptstudy.data.types import ImageSet
from vptstudy.errors import UserError

Progress = Callable[[int, int], None]


def digits_images(size: int) -> ImageSet:
    """scikit-learn's bundled 8x8 digits (1797 images, 10 classes), upsampled to ``size`` and made RGB."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    gray = torch.from_numpy(digits.images).float() * (255.0 / 16.0)  # values 0..16
    pixels = gray.round().to(torch.uint8).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
    return ImageSet(resize_uint8(pixels, size), torch.from_numpy(digits.target).long())


def digits_source() -> dict[str, str]:
    """What the digits' pixels depend on, found without importing scikit-learn: its version and the bundled file's
    name, size and mtime (the built-in cache key)."""
    spec = importlib.util.find_spec("sklearn")
    origin = Path(spec.origin).parent if spec is not None and spec.origin else None
    file = origin / "datasets" / "data" / "digits.csv.gz" if origin else Path("sklearn-not-found")
    try:
        version = importlib.metadata.version("scikit-learn")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {"scikit-learn": version, "file": stat_line(file, str(file)), "code": "digits_images v1"}


def scan_image_folder(root: Path, where: str = "--data-root") -> tuple[list[str], list[tuple[Path, int]]]:
    """Classes (sorted sub-folder names) and ``(file, label)`` pairs of a class-per-folder tree."""
    if not root.is_dir():
        raise UserError(
            f"image folder {str(root)!r} not found",
            where,
            "pass a folder with one sub-folder of images per class",
        )
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise UserError(
            f"image folder {str(root)!r} has {len(classes)} class folder(s)",
            where,
            "put the images of each class in its own sub-folder, at least two classes",
        )
    items: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        files = sorted(f for f in (root / name).rglob("*") if f.is_file() and is_image_file(f))
        if not files:
            raise UserError(
                f"class folder {name!r} holds no images",
                str(root / name),
                "add images (png/jpg/...) or remove the empty folder",
            )
        real_root = root.resolve()
        for f in files:
            ensure_inside(root, str(f.relative_to(root)), str(root / name), real_root)
        items.extend((f, label) for f in files)
    return classes, items


def image_folder_catalog(root: Path, where: str = "--data-root") -> tuple[list[str], Catalog]:
    """Class names and a catalog of a class-per-folder tree (labels follow the sorted folder names)."""
    classes, items = scan_image_folder(root, where)
    names = tuple(str(path.relative_to(root)) for path, _ in items)

    def read(i: int, size: int) -> torch.Tensor:
        return images.decode_resized(root / names[i], size)

    labels = torch.tensor([label for _, label in items], dtype=torch.long)
    return classes, Catalog(f"folder:{root.resolve()}", root.name or "images", names, labels, read, root=root)
