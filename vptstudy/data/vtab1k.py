"""The VTAB-1k folder format: ``<root>/<folder>/{train800,val200,train800val200,test}.txt``, lines ``relpath label``."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from vptstudy.data import images
from vptstudy.data.catalog import Catalog, Parts
from vptstudy.data.paths import ensure_inside, safe_relpath
from vptstudy.errors import UserError

LISTS = ("train800.txt", "val200.txt", "train800val200.txt", "test.txt")
CONTAINERS = ("", "vtab-1k", "vtab1k", "VTAB-1k", "vtab")
LAYOUT = "VTAB-1k folder <data-root>/vtab-1k/{folder}/"
DESCRIPTION = (
    "a VTAB-1k folder holds train800val200.txt (or train800.txt + val200.txt), test.txt and the images; "
    "each line is 'relative/path label'"
)
LABEL = re.compile(r"-?[0-9]+")  # ASCII digits only: int() would also take '²'-like digits or fail on '--1'


def is_label(text: str) -> bool:
    """True when ``text`` is an integer label written with ASCII digits (an optional single leading minus)."""
    return LABEL.fullmatch(text) is not None


def locate(root: Path, folders: tuple[str, ...]) -> Path | None:
    """The first task folder under ``root`` (or ``root`` itself, by name) that holds any VTAB-1k list file."""
    candidates = [root] if root.name in folders else []
    candidates += [root / c / name for c in CONTAINERS for name in folders]
    return next((p for p in candidates if any((p / f).is_file() for f in LISTS)), None)


def complete(folder: Path) -> bool:
    has_pool = (folder / "train800val200.txt").is_file() or all((folder / f).is_file() for f in LISTS[:2])
    return has_pool and (folder / "test.txt").is_file()


def read_list(path: Path, num_classes: int) -> list[tuple[str, int]]:
    """``(relpath, label)`` per line; one-line errors name the file and line."""
    items: list[tuple[str, int]] = []
    real_root = path.parent.resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read list file {str(path)!r}", type(exc).__name__, "check the file") from exc
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        parts = line.strip().rsplit(None, 1)
        if len(parts) != 2 or not is_label(parts[1]):
            raise UserError(f"malformed line {line.strip()!r}", where, "each line must be 'relative/path label'")
        rel, label = safe_relpath(parts[0], where), int(parts[1])
        ensure_inside(path.parent, rel, where, real_root)
        if not 0 <= label < num_classes:
            raise UserError(f"label {label} outside [0, {num_classes})", where, f"use labels 0..{num_classes - 1}")
        items.append((rel, label))
    if not items:
        raise UserError(f"list file {str(path)!r} is empty", str(path), "list one 'relative/path label' per line")
    return items


def _catalog(folder: Path, part: str, items: list[tuple[str, int]]) -> Catalog:
    names = tuple(rel for rel, _ in items)

    def read(i: int, size: int) -> torch.Tensor:
        return images.decode_resized(folder / names[i], size)

    labels = torch.tensor([label for _, label in items], dtype=torch.long)
    return Catalog(f"vtab1k:{folder.resolve()}", part, names, labels, read, root=folder)


def open_folder(folder: Path, num_classes: int) -> Parts:
    """The pool (train800 + val200, or train800val200) and test lists of one task folder."""
    if not complete(folder):
        present = [f for f in LISTS if (folder / f).is_file()]
        raise UserError(
            f"VTAB-1k folder {str(folder)!r} is incomplete (has {', '.join(present) or 'no list files'})",
            str(folder),
            "it needs test.txt and train800val200.txt (or train800.txt + val200.txt)",
        )
    test = _catalog(folder, "test", read_list(folder / "test.txt", num_classes))
    source = f"VTAB-1k folder {folder}"
    if all((folder / f).is_file() for f in LISTS[:2]):
        train, val = (read_list(folder / f, num_classes) for f in LISTS[:2])
        pool = _catalog(folder, "train800+val200", train + val)
        return Parts(pool, test, source, official=(len(train), len(val)))
    pool = _catalog(folder, "train800val200", read_list(folder / "train800val200.txt", num_classes))
    return Parts(pool, test, source)
