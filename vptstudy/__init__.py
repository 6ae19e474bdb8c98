"""vptstudy: visual prompt tuning or full fine-tuning? The ICLR 2024 study as a tool."""

from vptstudy.config import RunConfig
from vptstudy.errors import RunFailed, UserError

__version__ = "0.1.0"


def load_run(run_dir, device="cpu"):
    """The tuned model of a finished run, in eval mode (see :func:`vptstudy.load.load_run`)."""
    from vptstudy.load import load_run as _load_run

    return _load_run(run_dir, device)


__all__ = ["RunConfig", "RunFailed", "UserError", "__version__", "load_run"]
