"""One flag convention (--out-dir folders, --out files), --version, shell completion, help readable at 80 columns."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer

from tests.helpers.cli import run_cli
from vptstudy import cli
from vptstudy import console as _console  # noqa: F401  (its consoles take their width now, not at COLUMNS=80 below)

ROOT = Path(__file__).resolve().parents[1]
OPTION_LINE = re.compile(r"^  (-[-\w]+(?:, -[-\w]+)*)(?: ([^\s]+))?(?:\s{2,}|$)")


def _commands(command, path=()):
    """Every command path of the CLI, e.g. ('visualize', 'curves')."""
    for name, sub in getattr(command, "commands", {}).items():
        yield (*path, name)
        yield from _commands(sub, (*path, name))


ALL_COMMANDS = sorted(_commands(typer.main.get_command(cli.app)))


@pytest.mark.parametrize("command", [(), *ALL_COMMANDS], ids=lambda c: " ".join(c) or "vptstudy")
def test_help_fits_80_columns_with_short_metavars(command, capsys, monkeypatch):
    code, out, _ = run_cli([*command, "--help"], capsys, monkeypatch, columns=80)
    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80, [line for line in lines if len(line) > 80]
    assert "<" not in "".join(m.group(2) or "" for m in map(OPTION_LINE.match, lines) if m)
    metavars = [m.group(2) for m in map(OPTION_LINE.match, lines) if m and m.group(2)]
    assert all(len(v) <= 5 for v in metavars), metavars
    # descriptions start by column 34 and wrap there: the option column is capped, never the text
    described = [line for line in lines if OPTION_LINE.match(line) and len(line.split("  ", 2)) > 2]
    assert all(re.match(r"^.{0,32}\S  +\S", line) for line in described if len(line.split()[0]) < 28)


def test_train_help_keeps_descriptions_wide(capsys, monkeypatch):
    _, out, _ = run_cli(["train", "--help"], capsys, monkeypatch, columns=80)
    (line,) = [x for x in out.splitlines() if x.startswith("  --method-option ")]
    assert line.startswith("  --method-option TEXT   ") and "<list" not in out
    assert line.index("Method option") <= 34


def test_folders_are_out_dir_and_files_are_out(capsys, monkeypatch):
    app = typer.main.get_command(cli.app)
    folders, files = {}, {}
    for path in ALL_COMMANDS:
        command = app
        for name in path:
            command = command.commands[name]
        for param in command.params:
            visible = [] if getattr(param, "hidden", False) else list(param.opts)
            if "--out-dir" in visible:
                folders[" ".join(path)] = param.help
            if "--out" in visible:
                files[" ".join(path)] = param.help
    for name in ("train", "run", "sweep-datasize", "sweep-oneshot", "demo", "report", "pretrain-toy", "export"):
        assert name in folders and "folder" in folders[name].lower(), (name, folders.get(name))
    for name, text in files.items():
        assert "file" in text.lower() or ".csv" in text, (name, text)  # --out always names a file
    assert {"fid", "bench", "visualize curves", "visualize quadrant"} <= set(files)


def test_version_prints_the_package_version(capsys, monkeypatch):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    code, out, _ = run_cli(["--version"], capsys, monkeypatch, columns=80)
    assert (code, out) == (0, f"vptstudy {version}\n")


def _complete(words: str) -> str:
    """What bash completion offers for the last word (the entry point run as `vptstudy`, as a shell runs it)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "_VPTSTUDY_COMPLETE": "complete_bash"}
    env.update(COMP_WORDS=words, COMP_CWORD=str(len(words.split()) - 1))
    code = "import sys; sys.argv[0] = 'vptstudy'; from vptstudy.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_shell_completion_completes_commands_and_options():
    assert _complete("vptstudy visualize cu") == "curves\n"
    assert _complete("vptstudy demo --out") == "--out-dir\n"  # the hidden old name is not offered


def test_old_folder_flag_still_works_with_a_note(tmp_path, capsys, monkeypatch):
    args = ["pretrain-toy", "--steps", "2", "--batch-size", "4", "--eval-images", "8", "--threads", "1"]
    code, _, err = run_cli([*args, "--out", str(tmp_path)], capsys, monkeypatch, columns=80)
    assert code == 0, err
    note = "vptstudy: note: --out is now --out-dir (--out-dir names a folder, --out one file)"
    assert [line for line in err.splitlines() if "--out" in line] == [note]
    assert {p.name for p in tmp_path.iterdir()} >= {"toy_vit.safetensors", "toy_vit.json"}
    assert "--out-dir " + str(tmp_path) in (tmp_path / "toy_vit.json").read_text()
