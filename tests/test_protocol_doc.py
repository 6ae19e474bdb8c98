"""docs/protocol.md stays true: its defaults equal the code's constants and its flags are real `train` options."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from vptstudy import cli
from vptstudy.config import FINAL_SEEDS
from vptstudy.data.prompt_lengths import VTAB1K_PROMPT_LENGTHS
from vptstudy.methods.base import ADAMW_LR_GRID, SGD_LR_GRID, WD_GRID

DOC = Path(__file__).parents[1] / "docs" / "protocol.md"
COLUMNS = ["Item", "Paper (P)", "Study code (S, K)", "vptstudy default", "Changed by"]


def rows() -> dict[str, dict[str, str]]:
    """The protocol table: item -> column -> cell text."""
    lines = [line for line in DOC.read_text().splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split(" | ")]
    assert header == COLUMNS
    table = {}
    for line in lines[1:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        assert len(cells) == len(COLUMNS), line[:60]
        table[cells[0]] = dict(zip(COLUMNS, cells, strict=True))
    return table


def numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?:e-\d+)?", text)]


def test_grids_and_seeds_equal_the_code() -> None:
    table = rows()
    default = "vptstudy default"
    assert numbers(table["lr grid, prompt and frozen-backbone methods (and Mixed)"][default]) == list(SGD_LR_GRID)
    assert numbers(table["lr grid, FT"][default]) == list(ADAMW_LR_GRID)
    assert numbers(table["wd grid"][default].split("(")[0]) == list(WD_GRID)
    assert numbers(table["Final seeds"][default]) == list(FINAL_SEEDS)


def test_prompt_lengths_equal_the_code() -> None:
    cell = rows()["Prompt length"]["vptstudy default"]
    pairs = {name: int(n) for name, n in re.findall(r"([a-z_0-9]+) (\d+)", cell.split("T16-T18:")[1])}
    assert pairs.pop("tasks") == 10  # "other tasks 10"
    assert pairs == VTAB1K_PROMPT_LENGTHS


def test_every_protocol_item_has_a_row() -> None:
    items = set(rows())
    wanted = {
        "Optimizer, FT", "Optimizer, frozen-backbone methods", "Optimizer, Mixed", "FT-then-PT", "wd grid",
        "lr scaling", "Batch size", "Warm-up", "Epochs", "Schedule", "Backbone dropout", "Head init", "Prompt length",
        "Prompt dropout", "Prompt init", "Input size and resize (VTAB-1k)", "Normalisation", "Augmentation",
        "Splits", "Test during tuning", "Final seeds", "Data-size sweep", "One-shot", "E2VPT pruning",
        "Encoder mode, VPT and Mixed", "Precision",
    }  # fmt: skip
    assert wanted <= items


def test_flags_named_in_the_doc_are_train_options() -> None:
    command = typer.main.get_command(cli.app)
    train = command.commands["train"]  # type: ignore[attr-defined]
    options = {opt for param in train.params for opt in param.opts}
    named = {flag for row in rows().values() for flag in re.findall(r"`(--[a-z-]+)", row["Changed by"])}
    assert len(named) >= 12 and named <= options, named - options
