"""Images per second of the procedural generator (sampling + rendering), per renderer and setting.

    .venv/bin/python benchmarks/synthetic_speed.py [--n 4096] [--size 32] [--threads 1] [--repeats 3]

Prints the best of ``--repeats`` timings, so a busy machine disturbs the figure less. No assertions.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from vptstudy.data import synthetic

SETTINGS: dict[str, Callable[[int, int, int], object]] = {
    "shapes, 1 object (upstream)": lambda n, seed, size: synthetic.shapes(n, seed, size),
    "shapes, 1-6 objects (count)": lambda n, seed, size: synthetic.shapes(
        n, seed, size, count=(1, 6), radius=(0.08, 0.12)
    ),
    "sprites (dSprites-like)": lambda n, seed, size: synthetic.sprites(n, seed, size),
}


def images_per_second(make: Callable[[int, int, int], object], n: int, size: int, repeats: int) -> float:
    make(min(n, 256), 0, size)  # warm-up
    best = float("inf")
    for seed in range(1, repeats + 1):
        start = time.perf_counter()
        make(n, seed, size)
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096, help="images per timing")
    parser.add_argument("--size", type=int, default=32, help="rendered side in pixels")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{args.n} images of {args.size}x{args.size}, {torch.get_num_threads()} thread(s), best of {args.repeats}")
    for name, make in SETTINGS.items():
        print(f"{name:32s} {images_per_second(make, args.n, args.size, args.repeats):>10,.0f} images/s")


if __name__ == "__main__":
    main()
