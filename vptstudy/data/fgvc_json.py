"""FGVC json splits (the VPT release): ``<folder>/{train,val,test}.json``, each ``{relpath: class}``.

Classes map to contiguous ids in sorted order, as the VPT code does, over the union of the three files.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from vptstudy.data import images
from vptstudy.data.catalog import Catalog, Parts
from vptstudy.data.paths import ensure_inside, safe_relpath
from vptstudy.errors import UserError

SPLITS = ("train", "val", "test")
CONTAINERS = ("", "fgvc", "FGVC")
LAYOUT = "FGVC json splits + images at <data-root>/fgvc/{folder}/"
DESCRIPTION = (
    "an FGVC folder holds train.json, val.json, test.json ({relpath: class}, as released with VPT) and the images"
)


def locate(root: Path, folders: tuple[str, ...]) -> Path | None:
    """The first FGVC folder under ``root`` (or ``root`` itself, by name) that holds any of the json files."""
    candidates = [root] if root.name in folders else []
    candidates += [root / c / name for c in CONTAINERS for name in folders]
    return next((p for p in candidates if any((p / f"{s}.json").is_file() for s in SPLITS)), None)


def complete(folder: Path) -> bool:
    return all((folder / f"{s}.json").is_file() for s in SPLITS)


def read_split(path: Path) -> dict[str, int | str]:
    """One json split, checked: an object mapping safe relative paths to class ids or names."""
    if not path.is_file():
        raise UserError(f"FGVC split file {str(path)!r} not found", str(path.parent), "it needs train/val/test.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"invalid JSON: {exc.msg}", f"{path}:{exc.lineno}", "fix or replace the file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {str(path)!r}", type(exc).__name__, "check the file") from exc
    if not isinstance(data, dict) or not data:
        raise UserError(f"{path.name} must be a non-empty object", str(path), 'write {"relative/path.jpg": class}')
    for rel, cls in data.items():
        safe_relpath(rel, str(path))
        if isinstance(cls, bool) or not isinstance(cls, int | str):
            raise UserError(f"class {cls!r} of {rel!r} is not an int or a name", str(path), "use ints or strings")
    return data


def class_ids(splits: list[dict[str, int | str]], num_classes: int, where: str) -> dict[int | str, int]:
    """Sorted class values -> 0..C-1 over all splits; one type only, at most ``num_classes`` classes."""
    values = {cls for split in splits for cls in split.values()}
    if len({type(v) for v in values}) > 1:
        raise UserError("class values mix ints and strings", where, "use one kind of class value in all files")
    if len(values) > num_classes:
        raise UserError(f"{len(values)} classes found, the task has {num_classes}", where, "check the json files")
    return {value: i for i, value in enumerate(sorted(values))}  # type: ignore[type-var]


def image_dir(folder: Path, first: str, subdirs: tuple[str, ...]) -> Path:
    for sub in subdirs:
        if (folder / sub / first).is_file():
            return folder / sub
    tried = ", ".join(str(folder / s) for s in subdirs)
    raise UserError(f"image {first!r} from train.json not found", tried, "put the images next to the json files")


def open_folder(folder: Path, num_classes: int, subdirs: tuple[str, ...] = (".", "images", "Images")) -> Parts:
    """Pool = train.json + val.json (official split kept), test = test.json."""
    train, val, test = (read_split(folder / f"{s}.json") for s in SPLITS)
    ids = class_ids([train, val, test], num_classes, str(folder))
    root = image_dir(folder, next(iter(train)), subdirs)
    source = f"FGVC json {folder}"

    def catalog(part: str, split: dict[str, int | str]) -> Catalog:
        names = tuple(split)
        real_root = root.resolve()
        for name in names:
            ensure_inside(root, name, f"{folder} ({part})", real_root)
        labels = torch.tensor([ids[split[n]] for n in names], dtype=torch.long)

        def read(i: int, size: int) -> torch.Tensor:
            return images.decode_resized(root / names[i], size)

        return Catalog(f"fgvc:{root.resolve()}", part, names, labels, read, root=root)

    pool = catalog("train+val", {**train, **val})
    if len(pool) != len(train) + len(val):
        raise UserError("train.json and val.json share images", str(folder), "use disjoint train and val splits")
    return Parts(pool, catalog("test", test), source, official=(len(train), len(val)))
