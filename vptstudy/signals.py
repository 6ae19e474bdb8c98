"""Interrupts: Ctrl-C (SIGINT) and SIGTERM (Slurm's time limit) end a command cleanly and resumably.

:func:`install` turns both signals into :class:`Interrupted`, a BaseException (so no ``except Exception`` swallows
it, and Typer does not turn it into a bare exit code): ``finally`` blocks release the run locks on the way out,
and the CLI prints one line and exits with 128 + the signal number. Local workers also exit when their driver
dies (even by ``kill -9``): :func:`exit_with_parent` watches the pipe multiprocessing keeps to the parent.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from types import FrameType
from typing import Any

from vptstudy import locks

ORPHAN_GRACE_S = 20.0  # how long a worker whose driver died may take to unwind before it exits regardless
RESUME_HINT = (
    "finished runs are kept and an unfinished run resumes from its last checkpoint: run the same command again"
)


class Interrupted(BaseException):
    """The process got SIGINT or SIGTERM."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def line(self) -> str:
        return f"vptstudy: interrupted by {signal.Signals(self.signum).name}; {RESUME_HINT}"


def _ignore(signum: int, frame: FrameType | None) -> None:
    return None


def _raise(signum: int, frame: FrameType | None) -> None:
    # The first signal wins; a second one while unwinding must not interrupt the cleanup. A Python no-op, not
    # SIG_IGN: a signal that already arrived would otherwise print "ignored due to race condition".
    signal.signal(signal.SIGINT, _ignore)
    signal.signal(signal.SIGTERM, _ignore)
    if signum == signal.SIGTERM:
        locks.release_all()  # before anything else: a requeued job elsewhere must not wait on our locks
    raise Interrupted(signum)


Handlers = tuple[Any, Any]


def install() -> Handlers:
    """Make SIGINT and SIGTERM raise :class:`Interrupted` in the main thread; returns the previous handlers."""
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread():
        return previous  # only the main thread may set handlers; leave them alone
    signal.signal(signal.SIGINT, _raise)
    signal.signal(signal.SIGTERM, _raise)
    return previous


def restore(previous: Handlers) -> None:
    """Put back the handlers :func:`install` replaced (the CLI may run inside another program, e.g. tests)."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, previous[0])
    signal.signal(signal.SIGTERM, previous[1])


def exit_with_parent() -> None:
    """In a multiprocessing child: SIGTERM ourselves when the parent process is gone (its pipe closes)."""
    import multiprocessing
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)
        # SIGTERM unwinds (locks released) in well under a second. A worker that cannot unwind (a swallowed
        # Interrupted, a non-daemon thread, a write to a full pipe) would otherwise live on forever as an orphan,
        # since the first signal makes it ignore any later one: it goes anyway.
        time.sleep(ORPHAN_GRACE_S)
        os._exit(128 + signal.SIGTERM)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
