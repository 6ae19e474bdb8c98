"""Experiment trackers (TensorBoard, Weights & Biases) fed from fit()'s callback; ``metrics.jsonl`` stays the truth.

A tracker gets the run's resolved ``config.json`` as hyper-parameters once, then one row per epoch: train/val/test
loss and accuracy and the learning rate, at step = the run's global epoch. The study name is the tracker's group
(W&B ``group``; the first folder level under a TensorBoard log dir) and the run directory below the study is the
run's name, so a sweep's configurations sit together.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vptstudy.config import LOGGERS
from vptstudy.errors import UserError

__all__ = ["LOGGERS", "export_runs", "open_logger", "track"]
TB_DIR = "tensorboard"  # a run's TensorBoard events: <run_dir>/tensorboard/ (`tensorboard --logdir RUNS`)
WANDB_PROJECT = "vptstudy"
SCALARS = {  # metrics.jsonl key -> tracker tag
    "train_loss": "train/loss",
    "train_acc": "train/acc",
    "val_loss": "val/loss",
    "val_acc": "val/acc",
    "test_loss": "test/loss",
    "test_acc": "test/acc",
    "lr": "lr",
}
Callback = Callable[[str, dict[str, Any]], None]


def check_logger(name: str | None, where: str = "--logger") -> None:
    """Raise :class:`UserError` for an unknown tracker name."""
    if name is not None and name not in LOGGERS:
        raise UserError(f"unknown logger {name!r}", where, f"use one of {', '.join(LOGGERS)}")


def run_name(run_dir: Path, study: str) -> str:
    """The run's name for a tracker: its directory below the study folder (task/method/split/hparams/seed)."""
    parts = Path(run_dir).parts
    if study in parts:
        index = len(parts) - 1 - parts[::-1].index(study)
        return "/".join(parts[index + 1 :])
    return Path(run_dir).name


def flat_hparams(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as flat ``a/b`` keys with scalar values (lists and None as text)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_hparams(value, f"{name}/"))
        elif isinstance(value, bool | int | float | str):
            flat[name] = value
        else:
            flat[name] = json.dumps(value, default=str)
    return flat


def epoch_scalars(row: dict[str, Any]) -> dict[str, float]:
    """The tracker scalars of one metrics.jsonl row (missing val, non-finite values stored as text, left out)."""
    return {tag: float(row[key]) for key, tag in SCALARS.items() if isinstance(row.get(key), int | float)}


class TensorBoardLogger:
    """Events under ``log_dir``: scalars per epoch, the config as text and as TensorBoard hparams."""

    def __init__(self, log_dir: Path, config: dict[str, Any], first_step: int = 0) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
            from torch.utils.tensorboard.summary import hparams
        except ImportError:
            raise UserError("TensorBoard is not installed", "--logger tensorboard", "pip install tensorboard") from None
        # purge_step drops events a resumed run is about to write again (metrics.jsonl is truncated the same way)
        self.writer = SummaryWriter(str(log_dir), purge_step=first_step + 1 if first_step else None)
        flat = flat_hparams(config)
        self.writer.add_text("config", "```\n" + json.dumps(config, indent=2, default=str) + "\n```", 0)
        if not first_step:
            for summary in hparams(flat, {"val/acc": 0.0, "test/acc": 0.0}):
                self.writer.file_writer.add_summary(summary)

    def log_epoch(self, row: dict[str, Any]) -> None:
        for tag, value in epoch_scalars(row).items():
            self.writer.add_scalar(tag, value, int(row["epoch"]))

    def close(self) -> None:
        self.writer.close()


def wandb_mode() -> str:
    """``$WANDB_MODE`` if set; else online when an API key is configured and api.wandb.ai answers, else offline."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    netrc = Path.home() / ".netrc"
    has_key = bool(os.environ.get("WANDB_API_KEY")) or (netrc.is_file() and "api.wandb.ai" in netrc.read_text())
    if not has_key:
        return "offline"
    try:
        socket.create_connection(("api.wandb.ai", 443), timeout=2).close()
    except OSError:
        return "offline"
    return "online"


class WandbLogger:
    """A W&B run: project ``$WANDB_PROJECT`` (default vptstudy), group = study, name = the run's folder."""

    def __init__(self, run_dir: Path, config: dict[str, Any], study: str, name: str, log_dir: Path) -> None:
        try:
            import wandb
        except ImportError:
            raise UserError(
                "Weights & Biases is not installed", "--logger wandb", "pip install 'vptstudy[wandb]'"
            ) from None
        self.wandb = wandb
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", WANDB_PROJECT),
            group=study,
            name=name,
            id=hashlib.sha1(str(Path(run_dir).resolve()).encode()).hexdigest()[:16],  # a resume continues it
            resume="allow",
            dir=str(log_dir),
            config=config,
            mode=wandb_mode(),
            reinit="create_new",
            settings=wandb.Settings(silent=True, console="off"),
        )

    def log_epoch(self, row: dict[str, Any]) -> None:
        self.run.log(epoch_scalars(row), step=int(row["epoch"]))

    def close(self) -> None:
        self.run.finish()


def open_logger(
    kind: str, run_dir: Path, config: dict[str, Any], study: str, first_step: int = 0, log_dir: Path | None = None
):
    """A tracker for one run, writing under ``log_dir`` (default ``<run_dir>/tensorboard``, W&B: ``<run_dir>``)."""
    check_logger(kind)
    if kind == "tensorboard":
        return TensorBoardLogger(log_dir or Path(run_dir) / TB_DIR, config, first_step)
    if log_dir is not None:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
    return WandbLogger(run_dir, config, study, run_name(run_dir, study), log_dir or Path(run_dir))


class Tracking:
    """A fit() callback wrapper: forwards every event, and streams each ``epoch`` row to the tracker."""

    def __init__(self, tracker, callback: Callback) -> None:
        self.tracker, self.callback = tracker, callback

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event == "epoch":
            self.tracker.log_epoch(info)
        self.callback(event, info)

    def close(self) -> None:
        self.tracker.close()


def track(kind: str | None, run_dir: Path, study: str, callback: Callback, first_step: int = 0) -> Tracking | None:
    """Wrap a fit() callback with the run's tracker (None when ``kind`` is None). Reads ``config.json``."""
    if kind is None:
        return None
    config = json.loads((Path(run_dir) / "config.json").read_text())
    return Tracking(open_logger(kind, run_dir, config, study, first_step), callback)


def export_runs(run_dirs: list[Path], to: str, out_dir: Path) -> list[Path]:
    """Replay finished runs' config.json + metrics.jsonl into a tracker; returns the TensorBoard folders written."""
    from vptstudy import runs

    check_logger(to, "--to")
    written = []
    for run in run_dirs:
        config = json.loads((Path(run) / runs.CONFIG).read_text())
        study = config["run"].get("study", "adhoc")
        name = run_name(run, study)
        log_dir = Path(out_dir) / study / name
        tracker = open_logger(to, run, config, study, log_dir=log_dir)
        try:
            for row in runs.read_metrics(run):
                tracker.log_epoch(row)
        finally:
            tracker.close()
        written.append(log_dir)
    return written
