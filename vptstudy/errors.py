"""User-facing error types.

A :class:`UserError` is a mistake the user can fix (bad option, missing file, malformed data). The CLI prints it
as one line, ``vptstudy: error: <what> (<where>): <how to fix>``, and exits with code 2.
A :class:`RunFailed` is a run that started and failed (non-finite loss, out of memory); it exits with code 1, as
does a :class:`WorkerError` (local worker processes that cannot start or keep dying, or one that raised).
"""

from __future__ import annotations


class VPTStudyError(Exception):
    """Base class of the errors vptstudy raises on purpose."""


class UserError(VPTStudyError):
    """A mistake in the user's input: says what is wrong, where, and how to fix it."""

    def __init__(self, what: str, where: str = "", fix: str = "") -> None:
        self.what, self.where, self.fix = what, where, fix
        super().__init__(self.line())

    def line(self) -> str:
        text = self.what
        if self.where:
            text += f" ({self.where})"
        if self.fix:
            text += f": {self.fix}"
        return text


class RunFailed(VPTStudyError):
    """A run that started and failed; its result.json records ``status: failed`` and the reason."""

    def __init__(self, reason: str, run_dir: str = "") -> None:
        self.reason, self.run_dir = reason, run_dir
        super().__init__(f"run failed: {reason}" + (f" ({run_dir})" if run_dir else ""))


class WorkerError(VPTStudyError):
    """Local worker processes could not train runs: none could start, they keep dying, or one raised (a bug)."""
