"""The 19 VTAB-1k tasks and 5 FGVC tasks: their registry entries, which source each reads, and how to get it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vptstudy.config import RunConfig
from vptstudy.data import fgvc_json, sources, tv_common, vtab1k
from vptstudy.data.assemble import assemble
from vptstudy.data.catalog import Parts
from vptstudy.data.full_datasets import FULL_SOURCES
from vptstudy.data.paths import data_root
from vptstudy.data.tasks import Progress, TaskSpec, register
from vptstudy.data.types import TaskData
from vptstudy.errors import UserError

VTAB_DEFAULT = (800, 200)


@dataclass(frozen=True)
class Benchmark:
    """One benchmark task: registry name, group, classes, the folder names in common use, and a summary."""

    name: str
    group: str
    classes: int
    folders: tuple[str, ...]
    summary: str
    image_dirs: tuple[str, ...] = (".", "images", "Images")  # FGVC: where the json paths start


VTAB = [
    Benchmark("cifar100", "natural", 100, ("cifar", "cifar100", "cifar_100"), "CIFAR-100 objects"),
    Benchmark("caltech101", "natural", 102, ("caltech101",), "Caltech-101 objects (+ background class)"),
    Benchmark("dtd", "natural", 47, ("dtd",), "Describable Textures"),
    Benchmark("flowers102", "natural", 102, ("oxford_flowers102", "flowers102"), "Oxford Flowers-102"),
    Benchmark("pets", "natural", 37, ("oxford_iiit_pet", "pets"), "Oxford-IIIT Pets breeds"),
    Benchmark("svhn", "natural", 10, ("svhn", "svhn_cropped"), "Street View House Numbers digits"),
    Benchmark("sun397", "natural", 397, ("sun397",), "SUN397 scenes"),
    Benchmark("patch_camelyon", "specialized", 2, ("patch_camelyon", "pcam"), "PatchCamelyon metastasis"),
    Benchmark("eurosat", "specialized", 10, ("eurosat",), "EuroSAT land use (RGB)"),
    Benchmark("resisc45", "specialized", 45, ("resisc45",), "RESISC45 remote-sensing scenes"),
    Benchmark(
        "retinopathy",
        "specialized",
        5,
        ("diabetic_retinopathy", "retinopathy", "diabetic_retinopathy_detection"),
        "diabetic retinopathy grade",
    ),
    Benchmark("clevr_count", "structured", 8, ("clevr_count",), "CLEVR object count (3-10 -> 0-7)"),
    Benchmark("clevr_dist", "structured", 6, ("clevr_dist", "clevr_distance"), "CLEVR closest-object depth bin"),
    Benchmark("dmlab", "structured", 6, ("dmlab",), "DMLab distance to reward"),
    Benchmark("kitti_dist", "structured", 4, ("kitti", "kitti_dist"), "KITTI closest-vehicle distance bin"),
    Benchmark("dsprites_loc", "structured", 16, ("dsprites_loc", "dsprites_location"), "dSprites x position"),
    Benchmark("dsprites_ori", "structured", 16, ("dsprites_ori", "dsprites_orientation"), "dSprites orientation"),
    Benchmark("smallnorb_azi", "structured", 18, ("smallnorb_azi", "smallnorb_azimuth"), "smallNORB azimuth"),
    Benchmark("smallnorb_ele", "structured", 9, ("smallnorb_ele", "smallnorb_elevation"), "smallNORB elevation"),
]
FGVC = [
    Benchmark("cub", "fgvc", 200, ("CUB_200_2011", "cub", "CUB"), "CUB-200-2011 birds", ("images", ".")),
    Benchmark("nabirds", "fgvc", 555, ("nabirds", "NABirds"), "NABirds", ("images", ".")),
    Benchmark("flowers", "fgvc", 102, ("OxfordFlower", "OxfordFlowers", "flowers", "oxford_flowers"), "Oxford Flowers"),
    Benchmark("dogs", "fgvc", 120, ("Stanford-dogs", "StanfordDogs", "stanford_dogs", "dogs"), "Stanford Dogs"),
    Benchmark("cars", "fgvc", 196, ("Stanford-cars", "StanfordCars", "stanford_cars", "cars"), "Stanford Cars"),
]
IMAGE_FOLDERS = {"resisc45": ("NWPU-RESISC45",)}  # class-per-folder releases, read with a held-out 20% test


def _image_folder(root: Path, bench: Benchmark) -> Path | None:
    names = IMAGE_FOLDERS.get(bench.name, ())
    return next((root / n for n in names if (root / n).is_dir()), None)


def _open_image_folder(folder: Path, bench: Benchmark) -> Parts:
    classes, cat = sources.image_folder_catalog(folder, str(folder))
    if len(classes) != bench.classes:
        raise UserError(f"{len(classes)} class folders, {bench.name} has {bench.classes}", str(folder), "check it")
    pool, test = tv_common.hold_out(cat, 0.2)
    return Parts(pool, test, f"image folder {folder} (held-out 20% test)", whole=False)


Candidate = tuple[str, Callable[[], Parts], Path]  # label, opener, the folder it reads


def candidates(bench: Benchmark, root: Path, cfg: RunConfig | None) -> list[Candidate]:
    """The sources of a VTAB task present under ``root``, in the order a run of ``cfg`` prefers them.

    The 800/200 protocol prefers the VTAB-1k folder; train-size and k-shot runs prefer the full dataset
    (downloaded with ``--download``) because only it can supply large or per-class requests.
    """
    found: dict[str, Candidate] = {}
    folder = vtab1k.locate(root, bench.folders)
    if folder is not None:
        label = f"VTAB-1k folder {folder}" + ("" if vtab1k.complete(folder) else " (incomplete)")
        found["vtab1k"] = (label, lambda: vtab1k.open_folder(folder, bench.classes), folder)
    full = FULL_SOURCES.get(bench.name)
    if full is not None:
        full_root = tv_common.locate(root, full)
        if full_root is not None:
            opener = lambda: full.open(full_root, False)  # noqa: E731
            found["full"] = (f"torchvision {full.dataset} {full_root}", opener, full_root / full.marker.split("/")[0])
        elif cfg is not None and cfg.download:
            target = tv_common.download_root(root)
            opener = lambda: full.open(target, True)  # noqa: E731
            found["full"] = (f"torchvision {full.dataset} (download)", opener, target / full.marker.split("/")[0])
    images = _image_folder(root, bench)
    if images is not None:
        found["images"] = (f"image folder {images}", lambda: _open_image_folder(images, bench), images)
    # Sweeps draw from the full dataset first; the study's one-shot protocol draws from VTAB-1k's own splits.
    study_shots = cfg is not None and cfg.shots is not None and cfg.shots_protocol == "study"
    sweep = cfg is not None and (cfg.train_size is not None or cfg.shots is not None) and not study_shots
    order = ("full", "images", "vtab1k") if sweep else ("vtab1k", "images", "full")
    return [found[k] for k in order if k in found]


def how_to_get(bench: Benchmark) -> str:
    """The folder layout (and download) that makes a task available."""
    if bench.group == "fgvc":
        return fgvc_json.LAYOUT.format(folder=bench.folders[0])
    ways = [vtab1k.LAYOUT.format(folder=bench.folders[0])]
    full = FULL_SOURCES.get(bench.name)
    if full is not None:
        ways.append(f"--download (torchvision {full.dataset}, {full.download_size})")
    ways += [f"class folders at <data-root>/{n}/" for n in IMAGE_FOLDERS.get(bench.name, ())]
    return "; or ".join(ways)


def _load_vtab(bench: Benchmark) -> Callable[[TaskSpec, RunConfig, int, Progress | None], TaskData]:
    def load(spec: TaskSpec, cfg: RunConfig, size: int, progress: Progress | None) -> TaskData:
        root = data_root(cfg.data_root)
        found = candidates(bench, root, cfg)
        if not found:
            raise UserError(f"no data for {spec.name} under {str(root)!r}", "--data-root", how_to_get(bench))
        parts = found[0][1]()
        preprocess = spec.make_preprocess(size)
        try:
            return assemble(spec.name, parts, cfg, bench.classes, preprocess, VTAB_DEFAULT, progress, root)
        except UserError as exc:
            full = FULL_SOURCES.get(bench.name)
            if full is None or not parts.source.startswith("VTAB-1k") or (cfg.train_size or cfg.shots) is None:
                raise
            hint = f"{exc.fix}; the full dataset gives more: --download (torchvision {full.dataset})"
            raise UserError(exc.what, exc.where, hint) from exc

    return load


def _load_fgvc(bench: Benchmark) -> Callable[[TaskSpec, RunConfig, int, Progress | None], TaskData]:
    def load(spec: TaskSpec, cfg: RunConfig, size: int, progress: Progress | None) -> TaskData:
        root = data_root(cfg.data_root)
        folder = fgvc_json.locate(root, bench.folders)
        if folder is None:
            raise UserError(f"no data for {spec.name} under {str(root)!r}", "--data-root", how_to_get(bench))
        parts = fgvc_json.open_folder(folder, bench.classes, bench.image_dirs)
        preprocess = spec.make_preprocess(size)
        return assemble(spec.name, parts, cfg, bench.classes, preprocess, parts.official or (0, 0), progress, root)

    return load


def _available(bench: Benchmark) -> Callable[[Path], list[str]]:
    def available(root: Path) -> list[str]:
        if bench.group == "fgvc":
            folder = fgvc_json.locate(root, bench.folders)
            return [f"FGVC json {folder}"] if folder is not None and fgvc_json.complete(folder) else []
        return [label for label, _, _ in candidates(bench, root, None)]

    return available


def _data_dir(bench: Benchmark) -> Callable[[RunConfig], Path | None]:
    """The folder a run of ``cfg`` reads for ``bench`` (None when no source is present)."""

    def data_dir(cfg: RunConfig) -> Path | None:
        root = data_root(cfg.data_root)
        if bench.group == "fgvc":
            return fgvc_json.locate(root, bench.folders)
        found = candidates(bench, root, cfg)
        return found[0][2] if found else None

    return data_dir


def _source_names(bench: Benchmark) -> tuple[str, ...]:
    if bench.group == "fgvc":
        return ("fgvc-json",)
    names = ["vtab-1k"]
    if bench.name in FULL_SOURCES:
        names.append(f"torchvision:{FULL_SOURCES[bench.name].dataset}")
    if bench.name in IMAGE_FOLDERS:
        names.append("image-folder")
    return tuple(names)


def _register_all() -> None:
    for bench in VTAB + FGVC:
        fgvc = bench.group == "fgvc"
        register(
            TaskSpec(
                name=f"{'fgvc' if fgvc else 'vtab'}/{bench.name}",
                group=bench.group,
                disparity="high" if bench.group == "structured" else "low",
                num_classes=bench.classes,
                sources=_source_names(bench),
                preprocess="fgvc" if fgvc else "resize",
                summary=bench.summary,
                loader=_load_fgvc(bench) if fgvc else _load_vtab(bench),
                get_it=how_to_get(bench),
                available=_available(bench),
                data_dir=_data_dir(bench),
            )
        )


_register_all()
