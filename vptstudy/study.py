"""Study files (TOML): which tasks, methods, regimes and seeds to run, validated before any run starts.

A study is plain data::

    name = "vtab1k"              # first run-directory level
    kind = "search"              # search | datasize | oneshot
    tasks = ["vtab/cifar100"]
    methods = ["ft", "vpt-deep"]
    seeds = [42, 44, 82, 100, 800]   # final runs; the search uses the first

    [run]                        # defaults for every run: any RunConfig field (model, epochs, batch_size, ...)
    epochs = 100

    [grid.vpt-deep]              # optional per-method grid (defaults: the method's own)
    lr = [1.0, 0.5]
    wd = [0.001]

    [fixed.ft]                   # lr/wd used when search = false
    lr = 0.0005
    wd = 0.001

    [method_options.lora]        # optional per-method options (as `vptstudy train --method-option rank=8`)
    rank = 8

    [datasize]                   # kind = "datasize"
    sizes = [400, 800, 1000]
    split_seeds = [0]
    search = true

    [oneshot]                    # kind = "oneshot"
    shots = 1
    draws = 5
    search = false
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vptstudy.config import FINAL_SEEDS, RunConfig
from vptstudy.errors import UserError

KINDS = ("search", "datasize", "oneshot")
TOP_KEYS = {
    "name",
    "kind",
    "tasks",
    "methods",
    "seeds",
    "run",
    "grid",
    "fixed",
    "method_options",
    "datasize",
    "oneshot",
    "description",
}
DATASIZE_KEYS = {"sizes", "split_seeds", "search"}
ONESHOT_KEYS = {"shots", "draws", "search"}
GRID_KEYS = {"lr", "wd"}
RUN_KEYS = {f.name for f in dataclasses.fields(RunConfig)} - {
    "task",
    "method",
    "seed",
    "study",
    "base_lr",
    "weight_decay",
    "split",
    "split_seed",
}
REGIME_KEYS = {"train_size", "shots"}  # allowed in [run] of a search study; datasize/oneshot studies set them
PAPER_SIZES = (400, 800, 1000, 1200, 5000, 10000, 20000)


@dataclass(frozen=True)
class Study:
    """A validated study: what to run. ``grid``/``fixed`` map method -> (lrs, wds) / (lr, wd)."""

    name: str
    kind: str
    tasks: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...] = FINAL_SEEDS
    run: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict)
    fixed: dict[str, tuple[float, float]] = field(default_factory=dict)
    method_options: dict[str, tuple[tuple[str, Any], ...]] = field(default_factory=dict)
    search: bool = True
    sizes: tuple[int, ...] = ()
    split_seeds: tuple[int, ...] = (0,)
    shots: int = 1
    draws: int = 5

    def run_for(self, method: str) -> dict[str, Any]:
        """The ``[run]`` fields of one method's runs: ``[method_options.<method>]`` over ``run.method_options``."""
        options = dict(self.run.get("method_options") or {}) | dict(self.method_options.get(method, ()))
        return {**self.run, "method_options": tuple(sorted(options.items()))} if options else dict(self.run)


def _err(what: str, key: str, fix: str, source: str) -> UserError:
    return UserError(what, f"{source}: {key}", fix)


def _check_keys(table: dict[str, Any], allowed: set[str], prefix: str, source: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise _err(
            f"unknown key {prefix + unknown[0]!r}",
            f"{prefix}{unknown[0]}",
            f"allowed keys: {', '.join(sorted(allowed))}",
            source,
        )


def _numbers(value: Any, key: str, source: str, integer: bool = False) -> tuple:
    kind = int if integer else (int, float)
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value)
    ):
        raise _err(
            f"{key} must be a non-empty list of {'integers' if integer else 'numbers'}",
            key,
            f"for example {key} = [1, 2]",
            source,
        )
    return tuple(int(v) if integer else float(v) for v in value)


def parse_study(data: dict[str, Any], source: str = "study") -> Study:
    """Validate a parsed study table; every mistake names the key and the allowed values."""
    from vptstudy.data import TASKS
    from vptstudy.methods import METHODS

    _check_keys(data, TOP_KEYS, "", source)
    for key in ("name", "kind", "tasks", "methods"):
        if key not in data:
            raise _err(f"missing key {key!r}", key, "every study names name, kind, tasks and methods", source)
    if not isinstance(data["name"], str) or not data["name"] or "/" in data["name"]:
        raise _err("name must be a non-empty string without '/'", "name", 'for example name = "vtab1k"', source)
    if data["kind"] not in KINDS:
        raise _err(f"unknown kind {data['kind']!r}", "kind", f"use one of {', '.join(KINDS)}", source)
    tasks = data["tasks"]
    if not isinstance(tasks, list) or not tasks:
        raise _err("tasks must be a non-empty list", "tasks", "run `vptstudy tasks` for the names", source)
    for task in tasks:
        if task not in TASKS:
            raise _err(f"unknown task {task!r}", "tasks", "run `vptstudy tasks` for the names", source)
    methods = data["methods"]
    if not isinstance(methods, list) or not methods:
        raise _err("methods must be a non-empty list", "methods", f"use some of {', '.join(METHODS)}", source)
    for method in methods:
        if method not in METHODS:
            raise _err(f"unknown method {method!r}", "methods", f"use some of {', '.join(METHODS)}", source)
    seeds = _numbers(data.get("seeds", list(FINAL_SEEDS)), "seeds", source, integer=True)
    run = data.get("run", {})
    if not isinstance(run, dict):
        raise _err("[run] must be a table", "run", "write [run] followed by key = value lines", source)
    _check_keys(run, RUN_KEYS, "run.", source)
    if data["kind"] != "search" and REGIME_KEYS & set(run):
        key = sorted(REGIME_KEYS & set(run))[0]
        raise _err(
            f"run.{key} cannot be set in a {data['kind']} study",
            f"run.{key}",
            f"the [{data['kind']}] table sets the data regime",
            source,
        )
    grid: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {}
    for method, table in data.get("grid", {}).items():
        if method not in METHODS:
            raise _err(f"unknown method {method!r}", f"grid.{method}", f"use one of {', '.join(METHODS)}", source)
        _check_keys(table, GRID_KEYS, f"grid.{method}.", source)
        default = METHODS[method]
        grid[method] = (
            _numbers(table.get("lr", list(default.lr_grid)), f"grid.{method}.lr", source),
            _numbers(table.get("wd", list(default.wd_grid)), f"grid.{method}.wd", source),
        )
    fixed: dict[str, tuple[float, float]] = {}
    for method, table in data.get("fixed", {}).items():
        if method not in METHODS:
            raise _err(f"unknown method {method!r}", f"fixed.{method}", f"use one of {', '.join(METHODS)}", source)
        _check_keys(table, GRID_KEYS, f"fixed.{method}.", source)
        default = METHODS[method]
        fixed[method] = (float(table.get("lr", default.default_lr)), float(table.get("wd", default.default_wd)))
    method_options: dict[str, tuple[tuple[str, Any], ...]] = {}
    for method, table in data.get("method_options", {}).items():
        if method not in METHODS:
            raise _err(
                f"unknown method {method!r}", f"method_options.{method}", f"use one of {', '.join(METHODS)}", source
            )
        if not isinstance(table, dict) or not all(isinstance(v, bool | int | float | str) for v in table.values()):
            raise _err(
                f"[method_options.{method}] must hold option = value lines",
                f"method_options.{method}",
                "for example rank = 8",
                source,
            )
        method_options[method] = tuple(sorted(table.items()))
    kind = data["kind"]
    extra: dict[str, Any] = {}
    if kind == "datasize":
        table = data.get("datasize", {})
        _check_keys(table, DATASIZE_KEYS, "datasize.", source)
        extra["sizes"] = _numbers(table.get("sizes", list(PAPER_SIZES)), "datasize.sizes", source, integer=True)
        extra["split_seeds"] = _numbers(table.get("split_seeds", [0]), "datasize.split_seeds", source, integer=True)
        extra["search"] = bool(table.get("search", True))
    elif kind == "oneshot":
        table = data.get("oneshot", {})
        _check_keys(table, ONESHOT_KEYS, "oneshot.", source)
        extra["shots"] = int(table.get("shots", 1))
        extra["draws"] = int(table.get("draws", 5))
        extra["search"] = bool(table.get("search", False))
        if extra["shots"] < 1 or extra["draws"] < 1:
            raise _err("oneshot.shots and oneshot.draws must be >= 1", "oneshot", "for example shots = 1", source)
    study = Study(
        name=data["name"],
        kind=kind,
        tasks=tuple(tasks),
        methods=tuple(methods),
        seeds=seeds,
        run=run,
        grid=grid,
        fixed=fixed,
        method_options=method_options,
        **extra,
    )
    try:  # check the run defaults by building one config
        RunConfig(task=tasks[0], method=methods[0], study=study.name, **run)
    except UserError as exc:
        raise _err(exc.what, "run", exc.fix, source) from None
    except TypeError as exc:
        raise _err(f"bad value in [run]: {exc}", "run", "check the types of the [run] values", source) from None
    return study


def load_study(path: str | Path) -> Study:
    """Read and validate a study TOML file."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"study file {str(file)!r} not found", "study", "pass a .toml file, e.g. studies/demo.toml")
    try:
        data = tomllib.loads(file.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"study file is not valid TOML: {exc}", str(file), "fix the TOML syntax") from None
    return parse_study(data, str(file))
