"""Run the vptstudy console entry point in-process and capture exit code, stdout and stderr."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest

from vptstudy import cli


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> CliResult:
    monkeypatch.setattr(sys, "argv", ["vptstudy", *args])
    monkeypatch.setenv("COLUMNS", "200")
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)
