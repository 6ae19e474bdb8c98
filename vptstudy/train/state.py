"""TrainState: what a run needs to continue bit for bit; it is the checkpoint's content, saved and read here only."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vptstudy import checkpoint, runs
from vptstudy.models.tunable import TunableBackbone, current_keys

Callback = Callable[[str, dict[str, Any]], None]


@dataclass
class TrainState:
    """A run at the end of an epoch (``phase_epoch`` of phase ``phase_index``; ``epoch_global`` over all phases).

    ``optimizer``, ``schedule`` and ``first_loss`` are None at a phase's end (a start from another run's end state).
    """

    phase_index: int
    phase_epoch: int
    epoch_global: int
    model: dict[str, torch.Tensor]
    shuffle: torch.Tensor
    rng: torch.Tensor
    cuda_rng: torch.Tensor | None
    trained: list[str]
    phase_params: list[dict[str, Any]]
    last_row: dict[str, Any]
    elapsed: float
    optimizer: dict[str, Any] | None = None
    schedule: dict[str, Any] | None = None
    first_loss: float | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainState:
        """From a loaded checkpoint (or :mod:`vptstudy.reuse`'s start); optional keys may be missing."""
        return cls(**{f.name: d[f.name] if f.default is dataclasses.MISSING else d.get(f.name) for f in _FIELDS})

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's content: one key per field (no copies of the tensors)."""
        return {f.name: getattr(self, f.name) for f in _FIELDS}

    def named_for(self, model: TunableBackbone) -> TrainState:
        """This state with its tensor names as ``model`` has them (a Swin run saved while it was called ``vit``)."""
        trained = list(current_keys(model, dict.fromkeys(self.trained)))
        return dataclasses.replace(self, model=current_keys(model, self.model), trained=trained)

    def save(self, run: Path) -> None:
        checkpoint.save(run / runs.CHECKPOINT, self.to_dict())

    def restore_rng(self, shuffle: torch.Generator, device: torch.device) -> None:
        """Continue the shuffle, CPU and (on CUDA) device random streams where they stopped."""
        shuffle.set_state(self.shuffle)
        torch.set_rng_state(self.rng)
        if device.type == "cuda" and self.cuda_rng is not None:
            torch.cuda.set_rng_state(self.cuda_rng, device)


_FIELDS = dataclasses.fields(TrainState)


def end_state(
    model: torch.nn.Module, trained: set[str], shuffle: torch.Generator, device: torch.device
) -> dict[str, Any]:
    """The trained tensors and the RNG streams: with them a run continues bit for bit."""
    return {
        "model": {n: t for n, t in model.state_dict().items() if n in trained},
        "shuffle": shuffle.get_state(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "trained": sorted(trained),
    }


def read(run: Path, callback: Callback) -> TrainState | None:
    """The run's checkpoint, or None to start from scratch. Nothing is unpickled: a legacy ``checkpoint.pt`` or a
    file that does not load is moved to ``<run>/rejected/`` with one warning."""
    for path in (run / checkpoint.LEGACY, run / runs.CHECKPOINT):
        if not path.is_file():
            continue
        try:
            if path.name == checkpoint.LEGACY:
                raise checkpoint.CheckpointError("a pickled checkpoint, which is never loaded")
            if not (run / runs.CONFIG).is_file():
                raise checkpoint.CheckpointError("config.json is missing")
            return TrainState.from_dict(checkpoint.load(path))
        except (checkpoint.CheckpointError, KeyError) as exc:
            moved = checkpoint.move_aside(path)
            callback(
                "warning",
                {"message": f"checkpoint {path} cannot be loaded ({exc}); moved to {moved}; training from scratch"},
            )
    return None
