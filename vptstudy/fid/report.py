"""The ``vptstudy fid`` outputs: a rich table, and CSV / JSON files written atomically."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, fields
from pathlib import Path

from rich.table import Table

from vptstudy.errors import UserError
from vptstudy.fid.compute import FidResult, FidRow

OUT_SUFFIXES = (".csv", ".json")


def check_out_paths(paths: list[Path]) -> list[Path]:
    """``--out`` files must end in .csv or .json; checked before any work."""
    for path in paths:
        if path.suffix.lower() not in OUT_SUFFIXES:
            raise UserError(f"unknown output type {str(path)!r}", "--out", "name a .csv or .json file")
        if path.is_dir():
            raise UserError(f"{str(path)!r} is a folder", "--out", "name a .csv or .json file")
    return paths


def fid_table(result: FidResult) -> Table:
    """One row per task: group, disparity, FID and the sample sizes behind it, and a note (cached, warnings)."""
    ref = result.reference
    n_ref = "?" if ref["n"] is None else f"{ref['n']:,}"
    source = "from file" if ref["kind"] == "stats" else ("cached" if ref["cached"] else "computed")
    where = ref["path"] if ref["kind"] == ref["path"] else f"{ref['kind']} {ref['path']}"
    split = result.rows[0].split if result.rows else "-"
    dims = result.rows[0].dims if result.rows else "?"
    table = Table(
        title=f"Fréchet distance, {result.extractor['extractor']} features ({dims}-d), split {split}",
        caption=f"reference {where}: {n_ref} images ({source}). "
        "A set of n <= dims images has a singular covariance: its distance is biased upward and comparable "
        "only at equal sample sizes.",
    )
    table.add_column("task", overflow="fold")
    table.add_column("group")
    table.add_column("disparity", min_width=9)
    table.add_column("FID", justify="right", no_wrap=True)
    table.add_column("n task", justify="right", no_wrap=True)
    table.add_column("n ref", justify="right", no_wrap=True)
    table.add_column("note", overflow="fold")
    for row in result.rows:
        note = "cached" if row.cached else "computed"
        if row.warning:
            note += f"; [yellow]{row.warning}[/]"
        table.add_row(
            row.task,
            row.group,
            row.disparity,
            f"{row.fid:.2f}",
            "?" if row.n_task is None else f"{row.n_task:,}",
            "?" if row.n_reference is None else f"{row.n_reference:,}",
            note,
        )
    return table


def csv_text(rows: list[FidRow]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[f.name for f in fields(FidRow)], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(asdict(row))
    return buffer.getvalue()


def write_outputs(result: FidResult, paths: list[Path]) -> list[Path]:
    """Write each ``--out`` file (CSV rows, or the whole result as JSON) atomically."""
    from vptstudy.runs import atomic_write_bytes

    for path in paths:
        if path.suffix.lower() == ".csv":
            atomic_write_bytes(path, csv_text(result.rows).encode())
        else:
            atomic_write_bytes(path, (json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n").encode())
    return paths
