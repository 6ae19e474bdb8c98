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
    protocol = "study"           # study: train800/val200 draws as the study's code (search default true); draws
    shots = 1
    draws = 1                    # split seeds 0..draws-1 (default 1 for study, 5 for draws)
    search = true
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vptstudy import validate
from vptstudy.config import FINAL_SEEDS, SHOTS_PROTOCOLS, RunConfig
from vptstudy.errors import UserError
from vptstudy.plan import fixed_hparams, search_grid

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
ONESHOT_KEYS = {"shots", "draws", "search", "protocol"}
GRID_KEYS = {"lr", "wd"}
RUN_KEYS = {f.name for f in dataclasses.fields(RunConfig)} - {
    "task",
    "method",
    "seed",
    "study",
    "base_lr",
    "weight_decay",
    "split",
    "stop_epoch",
}
SEARCH_KEYS = {"search", "eta"}  # [run] keys of the study, not of its runs: search = "grid" | "halving"
# Allowed in [run] of a search study; datasize/oneshot studies set them.
REGIME_KEYS = {"train_size", "shots", "shots_protocol", "split_seed"}
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
    search_mode: str = "grid"
    eta: int = 3
    shots_protocol: str = "draws"

    def run_for(self, method: str) -> dict[str, Any]:
        """The ``[run]`` fields of one method's runs: ``[method_options.<method>]`` over ``run.method_options``."""
        options = dict(self.run.get("method_options") or {}) | dict(self.method_options.get(method, ()))
        return {**self.run, "method_options": tuple(sorted(options.items()))} if options else dict(self.run)


def _err(what: str, key: str, fix: str, source: str) -> UserError:
    return UserError(what, f"{source}: {key}", fix)


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # one safe folder name: no '/', no '..', no leading dot
_FIELD_TYPES = {f.name: str(f.type) for f in dataclasses.fields(RunConfig)}


def _describe(value: Any) -> str:
    kinds = {bool: "true/false", str: "a string", int: "an integer", float: "a number", list: "a list", dict: "a table"}
    return f"{kinds.get(type(value), type(value).__name__)} ({json.dumps(value, default=str)[:40]})"


def _check_keys(table: dict[str, Any], allowed: set[str], prefix: str, source: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise _err(
            f"unknown key {prefix + unknown[0]!r}",
            f"{prefix}{unknown[0]}",
            f"allowed keys: {', '.join(sorted(allowed))}",
            source,
        )


def _table(data: dict[str, Any], key: str, source: str, example: str) -> dict[str, Any]:
    """``data[key]`` (default empty), which must be a TOML table."""
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise _err(f"{key} must be a table, not {_describe(value)}", key, f"write {example}", source)
    return value


def _number(value: Any, key: str, source: str, integer: bool = False, low: float | None = None) -> Any:
    """One finite number (an integer when asked), at least ``low``; bools and strings are refused."""
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, int if integer else (int, float)) and not isinstance(value, bool)
    if not ok:
        raise _err(f"{key} must be {kind}, not {_describe(value)}", key, f"for example {key} = 1 (no quotes)", source)
    if isinstance(value, float) and not math.isfinite(value):
        raise _err(f"{key} must be finite, not {value}", key, "use a finite number", source)
    if low is not None and value < low:
        raise _err(f"invalid {key} {value}", key, f"use a value >= {low:g}", source)
    return int(value) if integer else float(value)


def _bool(value: Any, key: str, source: str) -> bool:
    if not isinstance(value, bool):
        raise _err(f"{key} must be true or false, not {_describe(value)}", key, f"write {key} = true", source)
    return value


def _numbers(value: Any, key: str, source: str, integer: bool = False, low: float | None = None) -> tuple:
    if not isinstance(value, list) or not value:
        raise _err(
            f"{key} must be a non-empty list of {'integers' if integer else 'numbers'}, not {_describe(value)}",
            key,
            f"for example {key} = [1, 2]",
            source,
        )
    kind = int if integer else (int, float)
    for v in value:
        if not isinstance(v, kind) or isinstance(v, bool):
            raise _err(
                f"{key} must be a non-empty list of {'integers' if integer else 'numbers'}, it holds {_describe(v)}",
                key,
                f"for example {key} = [1, 2] (no quotes)",
                source,
            )
    return tuple(_number(v, key, source, integer, low) for v in value)


def _seeds(value: Any, key: str, source: str) -> tuple[int, ...]:
    seeds = _numbers(value, key, source, integer=True)
    for seed in seeds:
        try:
            validate.seed(seed, key)
        except UserError as exc:
            raise _err(exc.what, key, exc.fix, source) from None
    return seeds


def _names(value: Any, key: str, known: Any, source: str, fix: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _err(f"{key} must be a non-empty list of names, not {_describe(value)}", key, fix, source)
    for name in value:
        if name not in known:
            raise _err(f"unknown {key[:-1]} {name!r}", key, fix, source)
    return value


def _check_run_value(key: str, value: Any, source: str) -> Any:
    """A ``[run]`` value of the type its RunConfig field has (TOML has no null: None-able fields need a value)."""
    where = f"run.{key}"
    kind = _FIELD_TYPES[key].split(" | ")[0]
    if key == "rungs":
        return _numbers(value, where, source, True, low=1)
    if kind.startswith("tuple"):  # method_options
        return _options(value, where, source)
    if kind == "bool":
        return _bool(value, where, source)
    if kind == "int":
        return _number(value, where, source, integer=True)
    if kind == "float":
        return _number(value, where, source)
    if not isinstance(value, str):
        raise _err(f"{where} must be a string, not {_describe(value)}", where, f'write {where} = "..."', source)
    return value


def _options(table: Any, where: str, source: str) -> dict[str, Any]:
    scalars = bool | int | float | str
    if not isinstance(table, dict) or not all(isinstance(v, scalars) for v in table.values()):
        raise _err(f"[{where}] must hold option = value lines", where, "for example rank = 8", source)
    for key, value in table.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise _err(f"{where}.{key} must be finite, not {value}", f"{where}.{key}", "use a number", source)
    return table


def _lr_wd(table: dict[str, Any], key: str, source: str) -> tuple[float, float] | None:
    """Check an ``lr``/``wd`` table's values: lr > 0, wd >= 0 (each a number or a list of them)."""
    for name, low in (("lr", None), ("wd", 0.0)):
        if name in table:
            values = table[name] if isinstance(table[name], list) else [table[name]]
            for v in _numbers(values, f"{key}.{name}", source):
                if (name == "lr" and v <= 0) or (low is not None and v < low):
                    rule = "> 0" if name == "lr" else ">= 0"
                    raise _err(f"invalid {key}.{name} {v:g}", f"{key}.{name}", f"use a value {rule}", source)
    return None


def parse_study(data: dict[str, Any], source: str = "study") -> Study:
    """Validate a parsed study table; every mistake names the key and the allowed values."""
    from vptstudy.data import TASKS
    from vptstudy.methods import METHODS

    _check_header(data, source)
    tasks = _names(data["tasks"], "tasks", TASKS, source, "run `vptstudy tasks` for the names")
    methods = _names(data["methods"], "methods", METHODS, source, f"use some of {', '.join(METHODS)}")
    seeds = _seeds(data.get("seeds", list(FINAL_SEEDS)), "seeds", source)
    run, search_mode, eta = _run_table(data, source)
    study = Study(
        name=data["name"],
        kind=data["kind"],
        tasks=tuple(tasks),
        methods=tuple(methods),
        seeds=seeds,
        run=run,
        grid=_grid_tables(data, source),
        fixed=_fixed_tables(data, source),
        method_options=_method_option_tables(data, source),
        search_mode=search_mode,
        eta=eta,
        **_kind_extra(data, source),
    )
    _check_runs(study, source)
    return study


def _check_header(data: dict[str, Any], source: str) -> None:
    """The top-level keys, and name, kind and description."""
    _check_keys(data, TOP_KEYS, "", source)
    for key in ("name", "kind", "tasks", "methods"):
        if key not in data:
            raise _err(f"missing key {key!r}", key, "every study names name, kind, tasks and methods", source)
    if not isinstance(data["name"], str) or not NAME.fullmatch(data["name"]) or data["name"] in (".", ".."):
        raise _err(
            f"invalid name {data['name']!r}",
            "name",
            'use one folder name (letters, digits, . _ -, not starting with a dot), for example name = "vtab1k"',
            source,
        )
    if not isinstance(data["kind"], str) or data["kind"] not in KINDS:
        raise _err(f"unknown kind {data['kind']!r}", "kind", f"use one of {', '.join(KINDS)}", source)
    if not isinstance(data.get("description", ""), str):
        raise _err("description must be a string", "description", 'write description = "..."', source)


def _run_table(data: dict[str, Any], source: str) -> tuple[dict[str, Any], str, int]:
    """The [run] table's run settings, its search mode and its halving eta."""
    run = dict(_table(data, "run", source, "[run] followed by key = value lines"))
    _check_keys(run, RUN_KEYS | SEARCH_KEYS, "run.", source)
    search_mode = run.pop("search", "grid")
    if search_mode not in ("grid", "halving"):
        raise _err(f"unknown run.search {search_mode!r}", "run.search", 'use "grid" or "halving"', source)
    eta = _number(run.pop("eta", 3), "run.eta", source, integer=True, low=2)
    run = {key: _check_run_value(key, value, source) for key, value in run.items()}
    if data["kind"] != "search" and REGIME_KEYS & set(run):
        key = sorted(REGIME_KEYS & set(run))[0]
        raise _err(
            f"run.{key} cannot be set in a {data['kind']} study",
            f"run.{key}",
            f"the [{data['kind']}] table sets the data regime",
            source,
        )
    return run, search_mode, eta


def _method_tables(data: dict[str, Any], key: str, source: str, example: str) -> dict[str, Any]:
    """The [<key>.<method>] tables, each for a known method."""
    from vptstudy.methods import METHODS

    tables = _table(data, key, source, example)
    for method in tables:
        if method not in METHODS:
            raise _err(f"unknown method {method!r}", f"{key}.{method}", f"use one of {', '.join(METHODS)}", source)
    return tables


def _grid_tables(data: dict[str, Any], source: str) -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
    """[grid.<method>]: the searched lr and wd values, over the method's default grid."""
    grid: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {}
    for method, table in _method_tables(data, "grid", source, "[grid.<method>] with lr = [...] and wd = [...]").items():
        table = _table({f"grid.{method}": table}, f"grid.{method}", source, f"[grid.{method}] then lr = [1.0]")
        _check_keys(table, GRID_KEYS, f"grid.{method}.", source)
        default_lrs, default_wds = search_grid(method)
        lrs = _numbers(table.get("lr", list(default_lrs)), f"grid.{method}.lr", source)
        wds = _numbers(table.get("wd", list(default_wds)), f"grid.{method}.wd", source)
        _lr_wd({"lr": list(lrs), "wd": list(wds)}, f"grid.{method}", source)
        grid[method] = (lrs, wds)
    return grid


def _fixed_tables(data: dict[str, Any], source: str) -> dict[str, tuple[float, float]]:
    """[fixed.<method>]: the one lr and wd of an unsearched run, over the method's defaults."""
    fixed: dict[str, tuple[float, float]] = {}
    for method, table in _method_tables(data, "fixed", source, "[fixed.<method>] with lr = ... and wd = ...").items():
        table = _table({f"fixed.{method}": table}, f"fixed.{method}", source, f"[fixed.{method}] then lr = 0.001")
        _check_keys(table, GRID_KEYS, f"fixed.{method}.", source)
        default_lr, default_wd = fixed_hparams(method)
        lr = _number(table.get("lr", default_lr), f"fixed.{method}.lr", source)
        wd = _number(table.get("wd", default_wd), f"fixed.{method}.wd", source)
        _lr_wd({"lr": lr, "wd": wd}, f"fixed.{method}", source)
        fixed[method] = (lr, wd)
    return fixed


def _method_option_tables(data: dict[str, Any], source: str) -> dict[str, tuple[tuple[str, Any], ...]]:
    """[method_options.<method>]: each method's options, sorted."""
    tables = _method_tables(data, "method_options", source, "[method_options.<method>] then rank = 8")
    return {
        method: tuple(sorted(_options(table, f"method_options.{method}", source).items()))
        for method, table in tables.items()
    }


def _kind_extra(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The Study fields a datasize or one-shot study sets from its own table (none for the other kinds)."""
    if data["kind"] == "datasize":
        return _datasize_extra(data, source)
    if data["kind"] == "oneshot":
        return _oneshot_extra(data, source)
    return {}


def _datasize_extra(data: dict[str, Any], source: str) -> dict[str, Any]:
    table = _table(data, "datasize", source, "[datasize] then sizes = [400, 800]")
    _check_keys(table, DATASIZE_KEYS, "datasize.", source)
    return {
        "sizes": _numbers(table.get("sizes", list(PAPER_SIZES)), "datasize.sizes", source, True, low=1),
        "split_seeds": _seeds(table.get("split_seeds", [0]), "datasize.split_seeds", source),
        "search": _bool(table.get("search", True), "datasize.search", source),
    }


def _oneshot_extra(data: dict[str, Any], source: str) -> dict[str, Any]:
    table = _table(data, "oneshot", source, "[oneshot] then shots = 1")
    _check_keys(table, ONESHOT_KEYS, "oneshot.", source)
    shots = _number(table.get("shots", 1), "oneshot.shots", source, integer=True, low=1)
    protocol = table.get("protocol", "draws")
    if protocol not in SHOTS_PROTOCOLS:
        raise _err(
            f"unknown one-shot protocol {protocol!r}",
            "oneshot.protocol",
            "use study (the study's code: one fixed draw from train800/val200, searched) or draws",
            source,
        )
    default_draws = 1 if protocol == "study" else 5  # the study draws once, with a fixed seed
    return {
        "shots": shots,
        "shots_protocol": protocol,
        "draws": _number(table.get("draws", default_draws), "oneshot.draws", source, integer=True, low=1),
        "search": _bool(table.get("search", protocol == "study"), "oneshot.search", source),
    }


def _run_key(option: str) -> str:
    """The ``[run]`` key of a command-line option (``--epochs`` -> ``run.epochs``), else ``run``."""
    name = {"--prompts": "num_prompts"}.get(option, option.removeprefix("--").replace("-", "_"))
    return f"run.{name}" if name in RUN_KEYS else "run"


def _check_runs(study: Study, source: str) -> None:
    """Build each method's run config and check what a run would only find out later: ranges, the model, the
    device and the method options, so a typo stops the study before its first run."""
    for method in study.methods:
        fields = study.run_for(method)
        options = dict(fields.pop("method_options", ()) or ())
        where = f"method_options.{method}" if method in study.method_options else "run.method_options"
        try:
            cfg = RunConfig(
                task=study.tasks[0],
                method=method,
                study=study.name,
                method_options=tuple(sorted(options.items())),
                **fields,
            )
        except UserError as exc:
            key = _run_key(exc.where)
            raise _err(exc.what, key, exc.fix, source) from None
        for check, arg, key in (
            (validate.model, cfg.model, "run.model"),
            (validate.device, cfg.device, "run.device"),
            (lambda opts, m=method: validate.method_options(m, opts), cfg.method_options, where),
        ):
            try:
                check(arg)
            except UserError as exc:
                raise _err(exc.what, key, exc.fix, source) from None


def with_run(study: Study, source: str, **changes: Any) -> Study:
    """The study with ``[run]`` values changed (a command's --out-dir, the quick demo's), checked again as a study
    file's ``[run]`` is."""
    _check_keys(changes, RUN_KEYS, "run.", source)
    run = {**study.run, **{key: _check_run_value(key, value, source) for key, value in changes.items()}}
    changed = dataclasses.replace(study, run=run)
    _check_runs(changed, source)
    return changed


def load_study(path: str | Path) -> Study:
    """Read and validate a study TOML file."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"study file {str(file)!r} not found", "study", "pass a .toml file, e.g. studies/demo.toml")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, tomllib.TOMLDecodeError):
            raise UserError(f"study file is not valid TOML: {exc}", str(file), "fix the TOML syntax") from None
        raise UserError("study file is not UTF-8 text", str(file), "pass a TOML text file") from None
    except OSError as exc:
        raise UserError(f"cannot read study file: {exc.strerror}", str(file), "check its permissions") from None
    return parse_study(data, str(file))
