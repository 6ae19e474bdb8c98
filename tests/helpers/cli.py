"""The one CLI harness: run the vptstudy console entry point in-process and capture exit code, stdout and stderr."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from vptstudy import cli

# one short toy run, offline
TOY_TRAIN = [
    *("train", "--task", "toy/shapes-new", "--method", "vpt-deep", "--model", "toy-vit", "--epochs", "2"),
    *("--train-size", "40", "--batch-size", "20", "--test-subsample", "50", "--device", "cpu"),
]


@dataclass
class CliResult:
    """Exit code, stdout and stderr (also unpacks as ``code, out, err``)."""

    code: int
    out: str
    err: str

    def __iter__(self) -> Iterator[int | str]:
        return iter((self.code, self.out, self.err))


def run_cli(
    args: list,
    capsys: pytest.CaptureFixture[str] | None,
    monkeypatch: pytest.MonkeyPatch,
    columns: int = 200,
) -> CliResult:
    """``vptstudy ARGS`` in this process at a ``columns``-wide terminal; without ``capsys`` nothing is captured."""
    monkeypatch.setattr(sys, "argv", ["vptstudy", *map(str, args)])
    monkeypatch.setenv("COLUMNS", str(columns))
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    if capsys is None:
        return CliResult(code, "", "")
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)
