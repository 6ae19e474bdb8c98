"""Option types and value parsing shared by the commands (comma lists, KEY=VALUE, renamed flags)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from vptstudy import validate
from vptstudy.errors import UserError


def floats(text: str | None, option: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UserError(f"cannot read {text!r} as numbers", option, "use a comma-separated list, e.g. 1,0.5") from None
    for value in values:
        validate.finite(value, option)
    return values


def ints(text: str | None, option: str) -> tuple[int, ...] | None:
    values = floats(text, option)
    if values is not None and any(v != int(v) for v in values):
        raise UserError(f"{text!r} holds non-integers", option, "use whole numbers, e.g. 42,44")
    return None if values is None else tuple(int(v) for v in values)


def method_options(items: list[str] | None) -> tuple[tuple[str, Any], ...]:
    """``--method-option KEY=VALUE`` items as RunConfig.method_options (see :mod:`vptstudy.methods.option_values`)."""
    from vptstudy.methods.option_values import parse_items  # imports the methods, torch and timm: on use only

    return parse_items(items)


NormalizeOpt = Annotated[
    str, typer.Option("--normalize", metavar="NAME", help="imagenet (mean/std, the paper's) or backbone (timm cfg).")
]
LoggerOpt = Annotated[
    str | None, typer.Option("--logger", metavar="NAME", help="Also stream each epoch to tensorboard or wandb.")
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print the resolved plans, the run count and the images; run nothing.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="With --dry-run: print the plans as JSON (for scripts).")]


def check_json(dry_run: bool, as_json: bool) -> None:
    if as_json and not dry_run:
        raise UserError("--json prints a dry run's plans", "--json", "add --dry-run, or leave out --json")


def renamed(value: Any, old_value: Any, old: str, new: str) -> Any:
    """The value of a renamed option; its old name still works, with a one-line note on stderr."""
    if old_value is None:
        return value
    print(f"vptstudy: note: {old} is now {new} (--out-dir names a folder, --out one file)", file=sys.stderr)
    return old_value


def old_name(name: str) -> Any:
    """A hidden option that keeps an old flag name working (see :func:`renamed`)."""
    return typer.Option(name, hidden=True, help=f"Old name of {name}.")
