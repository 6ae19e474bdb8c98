"""Child processes of the test session: find the ones a test left alive, and stop a process group for good."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
# Started once per session and meant to outlive a test: multiprocessing's helpers (the in-process executor's spawn
# context) and wandb's service, which watches our pid (--pid) and exits with the session.
SESSION_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver", "wandb-core")


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux): a worker whose driver died then shows
    up as our child, not init's, so a leak is seen and stopped instead of running on after the session."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _table() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, state) of every process we may read."""
    return {pid: (int(fields[1]), fields[0]) for pid, fields in _stats()}


def _stats() -> Iterator[tuple[int, list[str]]]:
    """(pid, the fields of /proc/pid/stat after the command name) of every process we may read."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        yield int(entry.name), stat[stat.rindex(")") + 2 :].split()


def live_group_members(pgid: int) -> list[int]:
    """The processes of group ``pgid`` that still run. Zombies do not count: as the session is the reaper of
    orphans, a worker whose driver exited is our zombie until reaped, so those (never the leader, which its test
    waits for) are reaped here."""
    members = []
    for pid, fields in _stats():
        if int(fields[2]) != pgid:
            continue
        if fields[0] != "Z":
            members.append(pid)
        elif pid != pgid and int(fields[1]) == os.getpid():
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
    return members


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stray_descendants(root: int | None = None) -> dict[int, str]:
    """Live descendants of ``root`` (default: us) with their command lines; zombies that are our own children
    are reaped, and the session's multiprocessing helpers are not counted."""
    root = os.getpid() if root is None else root
    table = _table()
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, state) in table.items():
            if ppid != parent:
                continue
            frontier.append(pid)
            if state == "Z":
                if parent == os.getpid():
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, os.WNOHANG)
                continue
            cmd = _cmdline(pid)
            if not any(helper in cmd for helper in SESSION_HELPERS):
                found[pid] = cmd
    return found


def wait_for_strays(timeout: float) -> dict[int, str]:
    """The descendants still alive after up to ``timeout`` seconds (processes already exiting get the time)."""
    deadline = time.monotonic() + timeout
    strays = stray_descendants()
    while strays and time.monotonic() < deadline:
        time.sleep(0.1)
        strays = stray_descendants()
    return strays


def kill_all(pids: dict[int, str]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    stray_descendants()  # reaps the ones that were our children


@contextlib.contextmanager
def own_group(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """Kill ``proc``'s whole process group (it must have been started with ``start_new_session=True``) when the
    block ends, whether the test passed or failed: a driver and its workers never outlive the test."""
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
