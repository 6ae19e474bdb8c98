"""Lock files: two processes never train the same run or decide the same search.

A lock is a file created with O_EXCL holding its owner as JSON: pid, host, boot id and the process's start time.
It is stale, and taken over, when its owner is gone:
- on this host: the pid is dead, or is now another process (another start time or boot; a container restart
  gives the new driver the old driver's pid), or is this very process (a lock never outlives its holder's use of
  it, so one with our own pid was left by an earlier life of the pid), or the heartbeat is older than
  ``STALE_AFTER_S``;
- on another host: the heartbeat (the file's mtime, touched every epoch) is older than ``STALE_AFTER_S``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

STALE_AFTER_S = 6 * 3600.0  # a lock not refreshed for this long is taken over
UNREADABLE_GRACE_S = 60.0  # an unreadable lock may be being written right now
_HELD: set[Path] = set()  # locks this process holds (released on SIGTERM / exit)


def _boot_id() -> str | None:
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return None


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks after boot (Linux), or None where /proc is absent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return int(fields[19])


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner() -> dict[str, Any]:
    """Who is running: pid, host, boot id, process start time and wall time (lock and attempts.jsonl)."""
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "boot": _boot_id(),
        "start": _start_time(pid),
        "time": time.time(),
    }


def is_stale(lock: Path) -> bool:
    """Whether ``lock``'s owner is gone (see the module docstring); a missing lock is stale."""
    try:
        age = time.time() - lock.stat().st_mtime
        holder = json.loads(lock.read_text())
        pid = int(holder.get("pid", -1))
    except FileNotFoundError:
        return True
    except (OSError, ValueError, TypeError, AttributeError):
        return time.time() - lock.stat().st_mtime > UNREADABLE_GRACE_S if lock.exists() else True
    if age > STALE_AFTER_S:
        return True
    if holder.get("host") != socket.gethostname():
        return False
    if pid == os.getpid():
        return Path(lock) not in _HELD
    if holder.get("boot") and _boot_id() and holder["boot"] != _boot_id():
        return True
    if not _pid_alive(pid):
        return True
    started = _start_time(pid)
    return holder.get("start") is not None and started is not None and started != holder["start"]


def describe(lock: Path) -> str:
    """Who holds ``lock``, for a message: ``pid 123 on host h, heartbeat 5 s ago``."""
    try:
        holder = json.loads(lock.read_text())
        age = time.time() - lock.stat().st_mtime
    except (OSError, ValueError):
        return "owner unknown"
    return f"pid {holder.get('pid')} on host {holder.get('host')}, heartbeat {age:.0f} s ago"


def acquire(lock: Path) -> bool:
    """Atomically create ``lock`` for this process; False when a live owner holds it (a stale one is taken over)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not is_stale(lock):
                return False
            # rename-away is atomic: of two reclaimers, one wins the rename, the other sees it vanish
            aside = lock.with_name(f"{lock.name}.stale.{os.getpid()}")
            with contextlib.suppress(FileNotFoundError):
                os.replace(lock, aside)
                aside.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(owner()))
        _HELD.add(Path(lock))
        return True
    return False


def release(lock: Path) -> None:
    """Remove a lock this process holds."""
    _HELD.discard(Path(lock))
    with contextlib.suppress(FileNotFoundError):
        lock.unlink()


def refresh(lock: Path) -> None:
    """Heartbeat: touch the lock so others see the owner is alive."""
    with contextlib.suppress(FileNotFoundError):
        os.utime(lock)


def clear_stale(lock: Path) -> None:
    """Remove a gone owner's lock (e.g. a worker killed between writing result.json and releasing)."""
    if lock.exists() and Path(lock) not in _HELD and is_stale(lock):
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def release_all() -> None:
    """Release every lock this process holds (on SIGTERM, so a requeued job elsewhere need not wait)."""
    for lock in list(_HELD):
        release(lock)


@contextlib.contextmanager
def held(lock: Path, poll_s: float = 0.05, timeout_s: float = 600.0) -> Iterator[None]:
    """Hold ``lock`` for a short critical section, waiting for another holder to finish."""
    deadline = time.monotonic() + timeout_s
    while not acquire(lock):
        if time.monotonic() > deadline:
            raise TimeoutError(f"lock {lock} still held after {timeout_s:.0f} s")
        time.sleep(poll_s)
    try:
        yield
    finally:
        release(lock)
