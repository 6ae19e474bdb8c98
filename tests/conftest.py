"""Shared fixtures: tiny timm ViTs, temporary run roots, a network block, a decoder counter, and a guard against
leaked processes.

Layout of the tests (tests/test_layout.py enforces it): ``vptstudy/<module>.py`` -> ``tests/test_<module>.py``,
``vptstudy/<package>/<module>.py`` -> ``tests/test_<package>_<module>.py``; ``tests/test_<package>.py`` tests a
package through its front. Files that check one behaviour across modules keep descriptive names and are listed in
tests/test_layout.py. Helpers live in tests/helpers/ (``helpers/cli.py``: the one CLI harness) or here, never in a
test file.
"""

from __future__ import annotations

import os
import socket

import pytest
import torch
from timm.models.vision_transformer import VisionTransformer

from tests.helpers import procs


def tiny_vit(num_classes: int = 10, **overrides) -> VisionTransformer:
    """A timm ViT small enough for CPU tests: 32x32 input, patch 8, width 32, depth 2."""
    args = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0)
    args.update(overrides)
    return VisionTransformer(num_classes=num_classes, **args)


# Tiny models gain nothing from intra-op threads, and on a shared 2-core machine threads oversubscribe (and spin).
# The environment variable carries it to the in-process executor (executors.cpu_threads) and to every CLI
# subprocess and worker a test starts.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _console_width():
    """Give every test the shared console's width as it found it: a test that sets ``out.width`` (monkeypatch
    restores the *computed* width, pinning it) must not change how a later test's tables are laid out."""
    from vptstudy.console import out

    saved = out._width
    yield
    out._width = saved


@pytest.fixture
def decodes(monkeypatch):
    """Counts calls of the image decoder."""
    calls: list[str] = []
    from vptstudy.data import images

    real = images.decode_resized

    def counting(path, size):
        calls.append(str(path))
        return real(path, size)

    monkeypatch.setattr(images, "decode_resized", counting)
    return calls


STRAY_GRACE_S = 10.0  # a worker or job that is already exiting when its test ends gets this long


def pytest_configure(config: pytest.Config) -> None:
    procs.become_subreaper()  # orphans of a killed driver become our children: the guard below sees them


@pytest.fixture(autouse=True)
def _no_leaked_processes():
    """Fail the test that leaves a child process alive (a worker, a driver, a submitit job), after killing it:
    one run once leaked hundreds of orphaned workers and took the machine's memory."""
    yield
    strays = procs.wait_for_strays(STRAY_GRACE_S)
    if strays:
        procs.kill_all(strays)
        pytest.fail(f"the test left {len(strays)} process(es) alive (now killed): {strays}", pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    strays = procs.wait_for_strays(STRAY_GRACE_S)
    if strays:
        procs.kill_all(strays)
        print(f"\nvptstudy tests: {len(strays)} process(es) left alive at the end (now killed): {strays}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket fails the test loudly."""

    def guard(*args, **kwargs):
        raise AssertionError("network access attempted in a test")

    monkeypatch.setattr(socket, "create_connection", guard)
    monkeypatch.setattr(socket.socket, "connect", guard)
    yield
