"""VTAB's label conventions, as pure functions of the source datasets' raw annotations.

They follow the task_adaptation code that defines VTAB: CLEVR counts start at 3 objects, distances are binned at
fixed thresholds, and Caltech-101 keeps its background class in the label space.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

CLEVR_DIST_THRESHOLDS = (0.0, 8.0, 8.5, 9.0, 9.5, 10.0, 100.0)  # 6 classes
KITTI_DIST_THRESHOLDS = (-100.0, 8.0, 20.0, 999.0)  # 3 distance bins + "no vehicle"
KITTI_VEHICLES = ("Car", "Van", "Truck")
KITTI_NO_VEHICLE_Z = 1000.0


def bin_index(value: float, thresholds: Sequence[float]) -> int:
    """The last ``i`` with ``thresholds[i] < value`` (VTAB's ``reduce_max(where(thrs - value < 0))``)."""
    below = [i for i, t in enumerate(thresholds) if t < value]
    if not below:
        raise ValueError(f"{value} is not above the first threshold {thresholds[0]}")
    return below[-1]


def clevr_count_label(num_objects: int) -> int:
    """VTAB clevr_count: 3..10 objects -> 0..7."""
    return num_objects - 3


def clevr_dist_label(depths: Iterable[float]) -> int:
    """VTAB clevr_dist: the closest object's depth (``pixel_coords[2]``) binned into 6 classes."""
    return bin_index(min(depths), CLEVR_DIST_THRESHOLDS)


def kitti_dist_label(objects: Iterable[tuple[str, float]]) -> int:
    """VTAB kitti_dist from ``(type, z)`` per object: closest Car/Van/Truck at <=8, <=20, <=999 m, or none (3)."""
    zs = [z for kind, z in objects if kind in KITTI_VEHICLES]
    return bin_index(min([*zs, KITTI_NO_VEHICLE_Z]), KITTI_DIST_THRESHOLDS)


def caltech101_label_map(category_dirs: Iterable[str]) -> dict[str, int]:
    """Folder name -> VTAB (tfds) label: lower-cased names in sorted order, background class included."""
    dirs = list(category_dirs)
    order = sorted(d.lower() for d in dirs)
    return {d: order.index(d.lower()) for d in dirs}


def binned(value: int, original_classes: int, num_classes: int) -> int:
    """VTAB's coarsening of a discrete factor (dSprites position/orientation): ``floor(v / (orig / classes))``."""
    return int(value // (original_classes / num_classes))
