"""Seeded procedural images: coloured shapes on textured backgrounds, and dSprites-like white sprites on black.

A batch is first sampled as factor values (:class:`Scenes`: one row per image, ``K`` object slots) and then
rendered with vectorised signed distances, so thousands of 32x32 images take a fraction of a second on a CPU.
Geometry lives in normalised image coordinates (``x`` right, ``y`` down, both in [0, 1]; radii as a fraction of
the image side), so a scene renders at any resolution. Everything random comes from one seeded generator.

Two renderers with a different look:

* ``render_shapes``: anti-aliased coloured shapes over plain, gradient, striped, checkered or noisy backgrounds;
* ``render_sprites``: binary white sprites on black (aliased, grey, no background), like dSprites.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Tensor = torch.Tensor
SdfFn = Callable[[Tensor, Tensor], Tensor]

SHAPES = ("circle", "square", "triangle", "cross", "ring", "semicircle", "star", "hexagon")
SPRITES = ("heart", "arrow", "ell", "ellipse", "square")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (225, 35, 35),
    "orange": (245, 135, 20),
    "yellow": (240, 220, 35),
    "green": (35, 175, 60),
    "cyan": (35, 200, 215),
    "blue": (35, 65, 230),
    "purple": (150, 45, 210),
    "pink": (245, 110, 185),
}
BACKGROUNDS = ("plain", "gradient", "stripes", "checker", "noise")
NOISE_GRID = 4  # the noise background is a bilinear upsampling of a NOISE_GRID x NOISE_GRID random field
CELL_MARGIN = 0.03  # free space (fraction of the image side) kept around an object inside its grid cell
CHUNK = 1024  # images rendered per vectorised chunk (bounds memory)
SPRITE_RADIUS = (0.2, 0.32)  # default sprite radius range; centres keep the largest sprite inside


@dataclass(frozen=True)
class Scenes:
    """Factor values of ``N`` images with ``K`` object slots each; inactive slots draw nothing.

    ``shape`` indexes :data:`SHAPES` (or :data:`SPRITES`), ``colour`` indexes :data:`COLOURS`; ``rgb`` is the
    object's jittered colour (0..255). ``radius`` bounds the object (it fits in that disc); ``angle`` is in
    radians, counter-clockwise on screen. ``background`` indexes :data:`BACKGROUNDS`; ``bg_rgb`` holds its two
    colours and ``bg_angle``/``bg_freq``/``bg_phase``/``bg_noise`` its texture.
    """

    shape: Tensor  # long [N, K]
    colour: Tensor  # long [N, K]
    rgb: Tensor  # float [N, K, 3]
    radius: Tensor  # float [N, K]
    x: Tensor  # float [N, K]
    y: Tensor  # float [N, K]
    angle: Tensor  # float [N, K]
    active: Tensor  # bool [N, K]
    background: Tensor  # long [N]
    bg_rgb: Tensor  # float [N, 2, 3]
    bg_angle: Tensor  # float [N]
    bg_freq: Tensor  # float [N], cycles per image side
    bg_phase: Tensor  # float [N]
    bg_noise: Tensor  # float [N, NOISE_GRID, NOISE_GRID] in [0, 1]

    def __len__(self) -> int:
        return int(self.shape.shape[0])

    @property
    def count(self) -> Tensor:
        """Objects per image, long ``[N]``."""
        return self.active.sum(1)

    def rows(self, start: int, stop: int) -> Scenes:
        """Images ``start:stop`` as their own :class:`Scenes`."""
        return Scenes(**{name: getattr(self, name)[start:stop] for name in self.__dataclass_fields__})


def make_generator(seed: int | torch.Generator) -> torch.Generator:
    """A CPU generator: the given one, or a fresh one seeded with ``seed``."""
    return seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))


def _uniform(shape: tuple[int, ...], lo: float, hi: float, gen: torch.Generator) -> Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=gen)


# -- signed distances in object coordinates (unit disc; negative inside) -------------------------------------
def _box(u: Tensor, v: Tensor, hu: float, hv: float, cu: float = 0.0, cv: float = 0.0) -> Tensor:
    qu, qv = (u - cu).abs() - hu, (v - cv).abs() - hv
    outside = torch.hypot(qu.clamp(min=0), qv.clamp(min=0))
    return outside + torch.maximum(qu, qv).clamp(max=0)


def _convex(u: Tensor, v: Tensor, vertices: Sequence[tuple[float, float]]) -> Tensor:
    """Max over edges of the distance to each edge line (exact inside; vertices counter-clockwise in (u, v))."""
    dist = None
    for (u0, v0), (u1, v1) in zip(vertices, [*vertices[1:], vertices[0]], strict=True):
        eu, ev = u1 - u0, v1 - v0
        norm = math.hypot(eu, ev)
        nu, nv = ev / norm, -eu / norm  # outward normal for counter-clockwise order
        d = (u - u0) * nu + (v - v0) * nv
        dist = d if dist is None else torch.maximum(dist, d)
    assert dist is not None
    return dist


def _regular(sides: int, circumradius: float, start: float) -> list[tuple[float, float]]:
    step = 2 * math.pi / sides
    return [
        (circumradius * math.cos(start + i * step), circumradius * math.sin(start + i * step)) for i in range(sides)
    ]


_TRIANGLE = _regular(3, 0.95, -math.pi / 2)  # (u, v) with v down: counter-clockwise in these axes
_HEXAGON = _regular(6, 0.92, 0.0)
_ARROW_HEAD = [(0.0, -0.95), (0.62, -0.2), (-0.62, -0.2)]


def _star(u: Tensor, v: Tensor) -> Tensor:
    edge = 0.6 + 0.35 * torch.cos(5 * torch.atan2(v, u))
    return 0.6 * (torch.hypot(u, v) - edge)


def _heart(u: Tensor, v: Tensor) -> Tensor:
    hx, hy = 1.3 * u, -1.3 * v + 0.12
    return (hx * hx + hy * hy - 1) ** 3 - hx * hx * hy**3


SHAPE_SDF: dict[str, SdfFn] = {
    "circle": lambda u, v: torch.hypot(u, v) - 0.9,
    "square": lambda u, v: _box(u, v, 0.66, 0.66),
    "triangle": lambda u, v: _convex(u, v, _TRIANGLE),
    "cross": lambda u, v: torch.minimum(_box(u, v, 0.9, 0.28), _box(u, v, 0.28, 0.9)),
    "ring": lambda u, v: (torch.hypot(u, v) - 0.68).abs() - 0.24,
    "semicircle": lambda u, v: torch.maximum(torch.hypot(u, v - 0.4) - 0.9, v - 0.4),
    "star": _star,
    "hexagon": lambda u, v: _convex(u, v, _HEXAGON),
}
SPRITE_SDF: dict[str, SdfFn] = {
    "heart": _heart,
    "arrow": lambda u, v: torch.minimum(_convex(u, v, _ARROW_HEAD), _box(u, v, 0.18, 0.5, 0.0, 0.3)),
    "ell": lambda u, v: torch.minimum(_box(u, v, 0.2, 0.75, -0.35, 0.0), _box(u, v, 0.55, 0.2, 0.0, 0.55)),
    "ellipse": lambda u, v: 0.5 * (torch.hypot(u / 0.95, v / 0.5) - 1),
    "square": lambda u, v: _box(u, v, 0.65, 0.65),
}


# -- sampling --------------------------------------------------------------------------------------------------
def _grid_layout(
    count: Tensor, slots: int, radius: Tensor, cells: int, gen: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """Objects in distinct cells of a ``cells x cells`` grid (they never touch); returns x, y, active."""
    n = count.shape[0]
    order = torch.rand(n, cells * cells, generator=gen).argsort(dim=1)[:, :slots]
    side = 1.0 / cells
    slack = (side / 2 - radius - CELL_MARGIN).clamp(min=0)
    x = ((order % cells).float() + 0.5) * side + (2 * torch.rand(n, slots, generator=gen) - 1) * slack
    y = ((order // cells).float() + 0.5) * side + (2 * torch.rand(n, slots, generator=gen) - 1) * slack
    active = torch.arange(slots).unsqueeze(0) < count.unsqueeze(1)
    return x, y, active


def _backgrounds(n: int, kinds: Sequence[str], gen: torch.Generator) -> dict[str, Tensor]:
    """Random background kinds and parameters; colours are muted (grey with a small tint)."""
    allowed = torch.tensor([BACKGROUNDS.index(k) for k in kinds])
    grey = _uniform((n, 2, 1), 25.0, 215.0, gen)
    tint = _uniform((n, 2, 3), -25.0, 25.0, gen)
    return {
        "background": allowed[torch.randint(len(allowed), (n,), generator=gen)],
        "bg_rgb": (grey + tint).clamp(0, 255),
        "bg_angle": _uniform((n,), 0.0, math.pi, gen),
        "bg_freq": _uniform((n,), 2.0, 6.0, gen),
        "bg_phase": _uniform((n,), 0.0, 2 * math.pi, gen),
        "bg_noise": torch.rand(n, NOISE_GRID, NOISE_GRID, generator=gen),
    }


def sample_shapes(
    n: int,
    seed: int | torch.Generator,
    *,
    pairs: Tensor | None = None,
    count: tuple[int, int] = (1, 1),
    radius: tuple[float, float] = (0.1, 0.3),
    angle: tuple[float, float] = (0.0, 2 * math.pi),
    backgrounds: Sequence[str] = BACKGROUNDS,
    cells: int = 3,
) -> Scenes:
    """Sample ``n`` scenes for :func:`render_shapes`.

    Each object draws a ``(shape, colour)`` row of ``pairs`` (default: all combinations) uniformly. With one
    object it lies anywhere fully inside the image; with several (``count`` = (lo, hi), uniform per image) they
    occupy distinct cells of a ``cells x cells`` grid and their radius is capped to fit a cell.
    """
    gen = make_generator(seed)
    lo, hi = count
    if not 1 <= lo <= hi <= cells * cells:
        raise ValueError(f"count must satisfy 1 <= lo <= hi <= {cells * cells}, got {count}")
    if pairs is None:
        pairs = torch.cartesian_prod(torch.arange(len(SHAPES)), torch.arange(len(COLOURS)))
    k = hi
    chosen = pairs[torch.randint(len(pairs), (n, k), generator=gen)]
    palette = torch.tensor(list(COLOURS.values()), dtype=torch.float32)
    rgb = (palette[chosen[..., 1]] * _uniform((n, k, 1), 0.8, 1.05, gen)).clamp(0, 255)
    counts = torch.randint(lo, hi + 1, (n,), generator=gen)
    if hi == 1:
        r = _uniform((n, k), *radius, gen)
        x, y = r + (1 - 2 * r) * torch.rand(n, k, generator=gen), r + (1 - 2 * r) * torch.rand(n, k, generator=gen)
        active = torch.ones(n, k, dtype=torch.bool)
    else:
        r_hi = min(radius[1], 0.5 / cells - CELL_MARGIN)
        r = _uniform((n, k), min(radius[0], r_hi), r_hi, gen)
        x, y, active = _grid_layout(counts, k, r, cells, gen)
    return Scenes(
        shape=chosen[..., 0],
        colour=chosen[..., 1],
        rgb=rgb,
        radius=r,
        x=x,
        y=y,
        angle=_uniform((n, k), *angle, gen),
        active=active,
        **_backgrounds(n, backgrounds, gen),
    )


def sample_sprites(
    n: int,
    seed: int | torch.Generator,
    *,
    shapes: Sequence[str] = SPRITES,
    radius: tuple[float, float] = SPRITE_RADIUS,
    angle: tuple[float, float] = (0.0, 2 * math.pi),
) -> Scenes:
    """Sample ``n`` one-sprite scenes for :func:`render_sprites`.

    The centre is uniform over the square where even the largest sprite fits, so position does not depend on
    scale (as in dSprites).
    """
    gen = make_generator(seed)
    allowed = torch.tensor([SPRITES.index(s) for s in shapes])
    shape = allowed[torch.randint(len(allowed), (n, 1), generator=gen)]
    r = _uniform((n, 1), *radius, gen)
    bound = radius[1]
    x, y = _uniform((n, 1), bound, 1 - bound, gen), _uniform((n, 1), bound, 1 - bound, gen)
    return Scenes(
        shape=shape,
        colour=torch.zeros(n, 1, dtype=torch.long),
        rgb=torch.full((n, 1, 3), 255.0),
        radius=r,
        x=x,
        y=y,
        angle=_uniform((n, 1), *angle, gen),
        active=torch.ones(n, 1, dtype=torch.bool),
        background=torch.zeros(n, dtype=torch.long),
        bg_rgb=torch.zeros(n, 2, 3),
        bg_angle=torch.zeros(n),
        bg_freq=torch.zeros(n),
        bg_phase=torch.zeros(n),
        bg_noise=torch.zeros(n, NOISE_GRID, NOISE_GRID),
    )


# -- rendering -------------------------------------------------------------------------------------------------
def _pixel_grid(size: int) -> tuple[Tensor, Tensor]:
    centres = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    return centres.view(1, 1, size), centres.view(1, size, 1)  # gx [1, 1, W], gy [1, H, 1]


def _signed_distance(scenes: Scenes, size: int, table: dict[str, SdfFn]) -> tuple[Tensor, Tensor]:
    """Active objects (flat ``N * K`` indices) and their signed distance in pixels to every pixel ``[M, H, W]``."""
    objects = torch.nonzero(scenes.active.reshape(-1)).flatten()
    gx, gy = _pixel_grid(size)
    r = scenes.radius.reshape(-1)[objects].view(-1, 1, 1)
    dx = (gx - scenes.x.reshape(-1)[objects].view(-1, 1, 1)) / r
    dy = (gy - scenes.y.reshape(-1)[objects].view(-1, 1, 1)) / r
    angle = scenes.angle.reshape(-1)[objects].view(-1, 1, 1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # rotating the object counter-clockwise on screen (y down) = rotating the sample points the other way
    u, v = cos * dx - sin * dy, sin * dx + cos * dy
    dist = torch.empty(len(objects), size, size)
    shape = scenes.shape.reshape(-1)[objects]
    for index, fn in enumerate(table.values()):
        rows = torch.nonzero(shape == index).flatten()
        if len(rows):
            dist[rows] = fn(u[rows], v[rows])
    return objects, dist * (r * size)


def _rotated(scenes: Scenes, rows: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Pixel coordinates about the image centre, rotated by each row's ``bg_angle``: ``[R, H, W]`` twice."""
    gx, gy = _pixel_grid(size)
    ang = scenes.bg_angle[rows].view(-1, 1, 1)
    cos, sin = torch.cos(ang), torch.sin(ang)
    return (gx - 0.5) * cos + (gy - 0.5) * sin, (gy - 0.5) * cos - (gx - 0.5) * sin


def _wave(scenes: Scenes, rows: Tensor, coord: Tensor) -> Tensor:
    freq, phase = scenes.bg_freq[rows].view(-1, 1, 1), scenes.bg_phase[rows].view(-1, 1, 1)
    return torch.sin(2 * math.pi * freq * coord + phase)


def _gradient(scenes: Scenes, rows: Tensor, size: int) -> Tensor:
    along, _ = _rotated(scenes, rows, size)
    return (along / math.sqrt(2) + 0.5).expand(-1, size, size)


def _stripes(scenes: Scenes, rows: Tensor, size: int) -> Tensor:
    along, _ = _rotated(scenes, rows, size)
    return (0.5 + 1.5 * _wave(scenes, rows, along)).clamp(0, 1)  # softly edged


def _checker(scenes: Scenes, rows: Tensor, size: int) -> Tensor:
    along, across = _rotated(scenes, rows, size)
    return (0.5 + 3.0 * _wave(scenes, rows, along) * _wave(scenes, rows, across)).clamp(0, 1)


def _noise(scenes: Scenes, rows: Tensor, size: int) -> Tensor:
    field = scenes.bg_noise[rows].unsqueeze(1)
    return F.interpolate(field, size=(size, size), mode="bilinear", align_corners=False).squeeze(1)


# how each background kind mixes its two colours (0: first, 1: second); "plain" is all 0
_MIX: dict[str, Callable[[Scenes, Tensor, int], Tensor]] = {
    "gradient": _gradient,
    "stripes": _stripes,
    "checker": _checker,
    "noise": _noise,
}


def _background(scenes: Scenes, size: int) -> Tensor:
    """Background colour images ``[N, 3, H, W]`` (float, 0..255)."""
    t = torch.zeros(len(scenes), 1, size, size)
    for name, mix in _MIX.items():
        rows = torch.nonzero(scenes.background == BACKGROUNDS.index(name)).flatten()
        if len(rows):
            t[rows, 0] = mix(scenes, rows, size)
    c0, c1 = scenes.bg_rgb[:, 0, :, None, None], scenes.bg_rgb[:, 1, :, None, None]
    return c0 + (c1 - c0) * t


def _chunked(scenes: Scenes, size: int, render: Callable[[Scenes, int], Tensor]) -> Tensor:
    out = torch.empty(len(scenes), 3, size, size, dtype=torch.uint8)
    for start in range(0, len(scenes), CHUNK):
        stop = min(start + CHUNK, len(scenes))
        out[start:stop] = render(scenes.rows(start, stop), size)
    return out


def _by_slot(objects: Tensor, slots: int) -> list[tuple[Tensor, Tensor]]:
    """For each slot, in drawing order: (positions in ``objects``, their image rows)."""
    slot, row = objects % slots, objects // slots
    return [(sel, row[sel]) for sel in (torch.nonzero(slot == k).flatten() for k in range(slots))]


def _render_shapes_chunk(scenes: Scenes, size: int) -> Tensor:
    image = _background(scenes, size)
    objects, dist = _signed_distance(scenes, size, SHAPE_SDF)
    alpha = (0.5 - dist).clamp_(0, 1).unsqueeze(1)  # 1-pixel anti-aliased edge
    rgb = scenes.rgb.reshape(-1, 3)[objects].view(-1, 3, 1, 1)
    for sel, rows in _by_slot(objects, scenes.shape.shape[1]):
        image[rows] += (rgb[sel] - image[rows]) * alpha[sel]
    return image.round_().clamp_(0, 255).to(torch.uint8)


def _render_sprites_chunk(scenes: Scenes, size: int) -> Tensor:
    objects, dist = _signed_distance(scenes, size, SPRITE_SDF)
    inside = torch.zeros(len(scenes), size, size, dtype=torch.bool)
    for sel, rows in _by_slot(objects, scenes.shape.shape[1]):
        inside[rows] |= dist[sel] <= 0
    return (inside.to(torch.uint8) * 255).unsqueeze(1).expand(-1, 3, -1, -1)


def render_shapes(scenes: Scenes, size: int = 32) -> Tensor:
    """Anti-aliased coloured shapes over their backgrounds: uint8 ``[N, 3, size, size]``."""
    return _chunked(scenes, size, _render_shapes_chunk)


def render_sprites(scenes: Scenes, size: int = 32) -> Tensor:
    """Binary white sprites on black (no anti-aliasing): uint8 ``[N, 3, size, size]``."""
    return _chunked(scenes, size, _render_sprites_chunk)


def shapes(n: int, seed: int, size: int = 32, **factors: object) -> tuple[Tensor, Scenes]:
    """``n`` rendered shape images and their factors (``factors`` go to :func:`sample_shapes`)."""
    scenes = sample_shapes(n, seed, **factors)  # type: ignore[arg-type]
    return render_shapes(scenes, size), scenes


def sprites(n: int, seed: int, size: int = 32, **factors: object) -> tuple[Tensor, Scenes]:
    """``n`` rendered sprite images and their factors (``factors`` go to :func:`sample_sprites`)."""
    scenes = sample_sprites(n, seed, **factors)  # type: ignore[arg-type]
    return render_sprites(scenes, size), scenes
