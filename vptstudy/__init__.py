"""vptstudy: visual prompt tuning or full fine-tuning? The ICLR 2024 study as a tool.

The Python API (documented in the README): :class:`RunConfig`, :func:`plan_run`, :func:`fit_run`,
:func:`load_run`, :func:`read_runs` (-> :class:`RunRecord` rows), and one ``plot_*`` function per figure. Names are
imported on first use, so ``import vptstudy`` (and the command line) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "RunConfig": "vptstudy.config",
    "UserError": "vptstudy.errors",
    "RunFailed": "vptstudy.errors",
    "plan_run": "vptstudy.api",
    "fit_run": "vptstudy.api",
    "load_run": "vptstudy.api",
    "read_runs": "vptstudy.api",
    "RunRecord": "vptstudy.api",
    "plot_curves": "vptstudy.api",
    "plot_datasize": "vptstudy.api",
    "plot_attribution": "vptstudy.api",
    "plot_tsne": "vptstudy.api",
    "plot_umap": "vptstudy.api",
    "plot_quadrant": "vptstudy.api",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'vptstudy' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
