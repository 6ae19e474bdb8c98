"""A run's end: the final test evaluation, the trained tensors (and end state for reuse), ``result.json``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from safetensors.torch import save as safetensors_save

from vptstudy import reuse, rungs, runs
from vptstudy.data.pipeline import DeviceImages
from vptstudy.train import outcome
from vptstudy.train.loop import Session, evaluate
from vptstudy.train.state import end_state


def finish(s: Session) -> dict[str, Any]:
    """Evaluate the final test (final runs: the whole test set; tuning runs: none), save, write the result."""
    p, cfg = s.p, s.p.cfg
    full_test = s.sub is not None and rungs.evaluates_test(cfg)
    if full_test:
        s.test_curve = None  # the whole test set replaces the subsample on the device
        test_full = DeviceImages(p.data.test, p.data.preprocess, p.device, train=False)
        final_test = evaluate(p.model, test_full, s.eval_batch, s.bf16)
    else:
        final_test = (s.row["test_loss"], s.row["test_acc"])
    if cfg.save_weights:
        _save_weights(s)
    n_sub = len(s.sub) if s.sub is not None else 0
    test_n = 0 if not rungs.evaluates_test(cfg) else len(p.data.test) if full_test or s.sub is None else n_sub
    built = outcome.of_session(s, "ok", None, final_test=final_test, test_n=test_n)
    result = outcome.write(dataclasses.replace(built, reused=_reused_link(p.run_dir)), p.run_dir)
    s.callback("done", result)
    return result


def _save_weights(s: Session) -> None:
    """The trained tensors, and what a later run needs to continue from them bit for bit (:mod:`vptstudy.reuse`)."""
    model, trained = s.p.model, s.trained
    state = {n: t.detach().float().cpu().contiguous() for n, t in model.state_dict().items() if n in trained}
    runs.atomic_write_bytes(s.p.run_dir / runs.TRAINABLE, safetensors_save(state, metadata={"format": "pt"}))
    reuse.save_end_state(
        s.p.run_dir,
        {**end_state(model, trained, s.shuffle, s.p.device), "phase_params": s.phase_params, "last_row": s.row},
    )


def _reused_link(run: Path) -> dict[str, Any] | None:
    """The reuse record config.json holds (a run that started from another run's weights), else None."""
    try:
        return json.loads((run / runs.CONFIG).read_text()).get("reused")
    except (OSError, ValueError):
        return None
