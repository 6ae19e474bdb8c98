"""The embedded toy tasks (no download) and the upstream task the toy backbone is pretrained on.

Upstream: classify the (shape, colour) pair of one shape from :mod:`vptstudy.data.synthetic` over random
backgrounds, sizes, positions and orientations; 48 of the 8 x 8 pairs are upstream classes. The other 16 pairs
(every shape with two colours, every colour with two shapes) never appear upstream and make ``toy/shapes-new``.
A ``pretrain-toy --scenes`` stage adds multi-object scenes of the upstream pairs (:func:`upstream_scenes`), whose
targets are the pairs present and each patch's pixels (:mod:`vptstudy.pretrain_scenes`), never a count, a
position or a size.

Downstream tasks cover the four quadrants of the paper's Figure 1 (:data:`TOY_QUADRANTS`). Each has a fixed,
seeded train+val pool and test set, rendered at 32x32 (then resized to the model input), and follows the
800/200 (+ test) protocol and the train-size / k-shot regimes through ``split_from_pool``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import torch

from vptstudy.config import RunConfig
from vptstudy.data import builtin, synthetic
from vptstudy.data.images import resize_uint8
from vptstudy.data.paths import cache_root
from vptstudy.data.tasks import Progress, TaskSpec, register, split_from_pool
from vptstudy.data.types import ImageSet, TaskData

RENDER_SIZE = 32  # toy images are defined at 32x32 and resized to other model inputs, like any source
POOL_SIZE = 2500  # train+val pool: the 800/200 protocol, and train sizes up to 2000 at 4:1
TEST_SIZE = 1000
PROTOCOL = (800, 200)
UPSTREAM_EVAL_SEED = 99_999  # held-out upstream sample; the pretraining stream uses its own seed
COUNT_MAX = 6
ORIENTATION_BINS = 8
ORIENTATION_DEGREES = 360 // ORIENTATION_BINS  # one bin's width
POSITION_BINS = 8
# sprites-position draws smaller sprites than the default (0.2-0.32): centres then span 0.2-0.8 of the side (19 px
# at 32), so a bin is 2.4 px wide rather than 1.4 px; at 1.4 px no method reached twice chance in the mini-study
POSITION_RADIUS = (0.12, 0.2)
# sprites-scale: 4 bins of the radius of the sprite's bounding disc, 0.07 of the side each (2.2 px at 32); centres
# span 0.36-0.64 so the largest fits. Visible size also depends on the shape (a thin arrow inks less than a square
# of the same radius). Upstream draws its sizes at random, so size is a factor it learns to ignore, as it does position
SCALE_BINS = 4
SCALE_RADIUS = (0.08, 0.36)
SHAPE_RADIUS = (0.16, 0.34)  # one-object scenes (upstream, shapes-new): at least ~10 px across at 32x32
ORIENTATION_SPRITES = ("heart", "arrow", "ell")  # no rotational symmetry, so every angle is visible

SIMILAR_DATA, DIFFERENT_DATA = "similar data", "different data"
SIMILAR_TASK, DIFFERENT_TASK = "similar task", "different task"
TOY_QUADRANTS: dict[str, tuple[str, str]] = {
    "toy/shapes-new": (SIMILAR_DATA, SIMILAR_TASK),
    "toy/digits": (DIFFERENT_DATA, SIMILAR_TASK),
    "toy/count": (SIMILAR_DATA, DIFFERENT_TASK),
    "toy/sprites-orientation": (DIFFERENT_DATA, DIFFERENT_TASK),
    "toy/sprites-position": (DIFFERENT_DATA, DIFFERENT_TASK),
    "toy/sprites-scale": (DIFFERENT_DATA, DIFFERENT_TASK),
}


# -- the upstream task -------------------------------------------------------------------------------------
def _pairs(held_out: bool) -> torch.Tensor:
    grid = torch.cartesian_prod(torch.arange(len(synthetic.SHAPES)), torch.arange(len(synthetic.COLOURS)))
    held = (grid[:, 0] + grid[:, 1]) % 4 == 0
    return grid[held if held_out else ~held]


UPSTREAM_PAIRS = _pairs(held_out=False)  # [48, 2] (shape, colour) rows
NEW_PAIRS = _pairs(held_out=True)  # [16, 2]


def pair_names(pairs: torch.Tensor) -> list[str]:
    colours = list(synthetic.COLOURS)
    return [f"{colours[c]} {synthetic.SHAPES[s]}" for s, c in pairs.tolist()]


def _pair_index(pairs: torch.Tensor) -> torch.Tensor:
    """``[shapes, colours]`` table of each (shape, colour)'s row in ``pairs`` (-1 where absent)."""
    table = torch.full((len(synthetic.SHAPES), len(synthetic.COLOURS)), -1, dtype=torch.long)
    table[pairs[:, 0], pairs[:, 1]] = torch.arange(len(pairs))
    return table


UPSTREAM_INDEX = _pair_index(UPSTREAM_PAIRS)


def _pair_labels(scenes: synthetic.Scenes, pairs: torch.Tensor) -> torch.Tensor:
    """Class index of the first object's (shape, colour) among ``pairs``."""
    return _pair_index(pairs)[scenes.shape[:, 0], scenes.colour[:, 0]]


def upstream_images(n: int, seed: int | torch.Generator, size: int = RENDER_SIZE) -> ImageSet:
    """``n`` images of the upstream task (48 shape/colour classes) from a seed or a running generator."""
    scenes = synthetic.sample_shapes(n, seed, pairs=UPSTREAM_PAIRS, radius=SHAPE_RADIUS)
    return ImageSet(synthetic.render_shapes(scenes, size), _pair_labels(scenes, UPSTREAM_PAIRS))


SCENE_COUNT = (2, 6)  # pretrain-toy --scenes: objects per scene (3x3 grid cells) ...
SCENE_RADIUS = (0.08, 0.16)  # ... and their radius (capped to fit a cell)


def upstream_scenes(n: int, gen: torch.Generator, size: int = RENDER_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` multi-object scenes of upstream pairs and their ``[n, 48]`` multi-hot of the pairs present."""
    scenes = synthetic.sample_shapes(n, gen, pairs=UPSTREAM_PAIRS, count=SCENE_COUNT, radius=SCENE_RADIUS)
    present = torch.zeros(n, len(UPSTREAM_PAIRS))
    rows = torch.arange(n).unsqueeze(1).expand_as(scenes.shape)[scenes.active]
    present[rows, UPSTREAM_INDEX[scenes.shape, scenes.colour][scenes.active]] = 1.0
    return synthetic.render_shapes(scenes, size), present


UPSTREAM_TASK = {
    "renderer": "shapes",
    "num_classes": len(UPSTREAM_PAIRS),
    "classes": pair_names(UPSTREAM_PAIRS),
    "held_out_pairs": pair_names(NEW_PAIRS),
    "rule": "class = (shape, colour) of one object; pairs with (shape + colour) % 4 == 0 are held out",
    "factors": f"radius {SHAPE_RADIUS[0]}-{SHAPE_RADIUS[1]} of the side, uniform position inside the image, "
    "angle 0-360, colour jitter x0.8-1.05, "
    "backgrounds plain/gradient/stripes/checker/noise in muted colours",
    "eval_seed": UPSTREAM_EVAL_SEED,
}


# -- downstream tasks --------------------------------------------------------------------------------------
def _shapes_new(n: int, seed: int) -> ImageSet:
    scenes = synthetic.sample_shapes(n, seed, pairs=NEW_PAIRS, radius=SHAPE_RADIUS)
    return ImageSet(synthetic.render_shapes(scenes, RENDER_SIZE), _pair_labels(scenes, NEW_PAIRS))


def _count(n: int, seed: int) -> ImageSet:
    scenes = synthetic.sample_shapes(n, seed, count=(1, COUNT_MAX), radius=(0.08, 0.12))
    return ImageSet(synthetic.render_shapes(scenes, RENDER_SIZE), scenes.count - 1)


def _sprites_orientation(n: int, seed: int) -> ImageSet:
    scenes = synthetic.sample_sprites(n, seed, shapes=ORIENTATION_SPRITES)
    bins = (scenes.angle[:, 0] / (2 * math.pi / ORIENTATION_BINS)).long().clamp(0, ORIENTATION_BINS - 1)
    return ImageSet(synthetic.render_sprites(scenes, RENDER_SIZE), bins)


def _sprites_position(n: int, seed: int) -> ImageSet:
    scenes = synthetic.sample_sprites(n, seed, radius=POSITION_RADIUS)
    bound = POSITION_RADIUS[1]  # centres are uniform in [bound, 1 - bound]
    where = (scenes.x[:, 0] - bound) / (1 - 2 * bound)
    bins = (where * POSITION_BINS).long().clamp(0, POSITION_BINS - 1)
    return ImageSet(synthetic.render_sprites(scenes, RENDER_SIZE), bins)


def _scale_edges() -> list[float]:
    lo, hi = SCALE_RADIUS
    return [lo + (hi - lo) * k / SCALE_BINS for k in range(SCALE_BINS + 1)]


def _sprites_scale(n: int, seed: int) -> ImageSet:
    scenes = synthetic.sample_sprites(n, seed, radius=SCALE_RADIUS)
    lo, hi = SCALE_RADIUS
    bins = ((scenes.radius[:, 0] - lo) / (hi - lo) * SCALE_BINS).long().clamp(0, SCALE_BINS - 1)
    return ImageSet(synthetic.render_sprites(scenes, RENDER_SIZE), bins)


@dataclass(frozen=True)
class ToyTask:
    """How a toy task's images are made: a generator of ``(n, seed) -> ImageSet`` and its fixed seeds."""

    make: Callable[[int, int], ImageSet]
    pool_seed: int
    test_seed: int
    classes: tuple[str, ...]  # class names, by label (config.json's split info; figures show them)


TOY_TASKS: dict[str, ToyTask] = {
    "toy/shapes-new": ToyTask(_shapes_new, 1001, 1002, tuple(pair_names(NEW_PAIRS))),
    "toy/count": ToyTask(_count, 2001, 2002, tuple(f"{k} object{'s' * (k > 1)}" for k in range(1, COUNT_MAX + 1))),
    "toy/sprites-orientation": ToyTask(
        _sprites_orientation,
        3001,
        3002,
        tuple(f"{k * ORIENTATION_DEGREES}-{(k + 1) * ORIENTATION_DEGREES} deg" for k in range(ORIENTATION_BINS)),
    ),
    "toy/sprites-position": ToyTask(
        _sprites_position, 4001, 4002, tuple(f"x bin {k + 1} of {POSITION_BINS}" for k in range(POSITION_BINS))
    ),
    "toy/sprites-scale": ToyTask(
        _sprites_scale, 5001, 5002, tuple(f"radius {a:.2f}-{b:.2f}" for a, b in pairwise(_scale_edges()))
    ),
}


@lru_cache(maxsize=len(TOY_TASKS))
def _native(name: str) -> tuple[ImageSet, ImageSet]:
    """The task's pool and test set at :data:`RENDER_SIZE`, generated once per process."""
    toy = TOY_TASKS[name]
    return toy.make(POOL_SIZE, toy.pool_seed), toy.make(TEST_SIZE, toy.test_seed)


def _pool_and_test(name: str, size: int) -> tuple[ImageSet, ImageSet]:
    """The pool and test set resized to the model input ``size`` (a no-op at 32)."""
    pool, test = _native(name)
    pool = ImageSet(resize_uint8(pool.images, size), pool.labels)
    return pool, ImageSet(resize_uint8(test.images, size), test.labels)


@lru_cache(maxsize=1)
def _generator_code() -> str:
    return builtin.code_digest(synthetic.__file__, __file__)


def source(name: str) -> dict[str, int | str]:
    """What a toy task's pixels depend on: the generator's code, its seeds and sizes (the built-in cache key)."""
    toy = TOY_TASKS[name]
    return {
        "code": _generator_code(),
        "pool_seed": toy.pool_seed,
        "test_seed": toy.test_seed,
        "pool": POOL_SIZE,
        "test": TEST_SIZE,
        "render": RENDER_SIZE,
    }


def _load(spec: TaskSpec, cfg: RunConfig, size: int, progress: Progress | None) -> TaskData:
    pool, test, report = builtin.pool_and_test(
        spec.name, source(spec.name), size, lambda: _pool_and_test(spec.name, size), cache_root(cfg.cache_dir, None)
    )
    train, val, test, info = split_from_pool(spec.name, pool, test, cfg, PROTOCOL)
    toy = TOY_TASKS[spec.name]
    info["generator"] = {"pool_seed": toy.pool_seed, "test_seed": toy.test_seed, "pool": POOL_SIZE}
    info["classes"] = list(toy.classes)
    info["cache"] = report
    assert spec.num_classes is not None
    return TaskData(spec.name, spec.num_classes, train, val, test, spec.make_preprocess(size), info)


def _register(name: str, disparity: str, summary: str) -> None:
    data, task = TOY_QUADRANTS[name]
    register(
        TaskSpec(
            name,
            "toy",
            disparity,
            len(TOY_TASKS[name].classes),
            ("procedural",),
            "resize",
            f"{summary} [{data}, {task}]; pool {POOL_SIZE} (800/200), test {TEST_SIZE}",
            _load,
            "generated on the fly (no download)",
        )
    )


_register("toy/shapes-new", "low", f"{len(NEW_PAIRS)} shape/colour pairs held out from pretraining")
_register("toy/count", "high", f"count 1-{COUNT_MAX} small shapes (label = count - 1)")
_register(
    "toy/sprites-orientation",
    "high",
    f"orientation of a white sprite on black, {ORIENTATION_BINS} bins of {ORIENTATION_DEGREES} degrees",
)
_register(
    "toy/sprites-position",
    "high",
    f"x position of a white sprite (radius {POSITION_RADIUS[0]}-{POSITION_RADIUS[1]}) on black, {POSITION_BINS} bins",
)
_register(
    "toy/sprites-scale",
    "high",
    f"radius of a white sprite's bounding disc on black ({SCALE_RADIUS[0]}-{SCALE_RADIUS[1]} of the side), "
    f"{SCALE_BINS} bins",
)
