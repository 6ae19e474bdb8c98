"""Every `vptstudy ...` command the README shows parses (no unknown option, no unknown command), and a usage
error is a usage message with exit code 2, never a traceback."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_commands() -> list[list[str]]:
    commands = []
    for line in README.read_text().splitlines():
        match = re.match(r"^(?:\$ )?vptstudy (.+)$", line.strip())
        if match:
            args = shlex.split(match.group(1).split(" #")[0].rstrip(" \\"))
            commands.append([a for a in args if a not in {"...", "[--quick]"}])
    return commands


COMMANDS = readme_commands()


def test_readme_shows_the_main_commands() -> None:
    shown = {c[0] for c in COMMANDS}
    assert {"train", "fid", "sweep-datasize", "sweep-oneshot", "run", "report", "visualize", "bench"} <= shown


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c)[:60] for c in COMMANDS])
def test_readme_command_parses(args: list[str], capsys, monkeypatch) -> None:
    res = run_cli([*args, "--help"], capsys, monkeypatch)  # parsing happens before --help is acted on
    assert res.code == 0, res.err
    assert "Usage:" in res.out


def test_unknown_option_is_a_usage_error_not_a_traceback(capsys, monkeypatch) -> None:
    res = run_cli(["train", "--nope"], capsys, monkeypatch)
    assert res.code == 2 and "No such option: --nope" in res.err and "Traceback" not in res.err
