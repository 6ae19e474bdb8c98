"""Small bounded in-process caches: what a worker that runs many configurations keeps from one run to the next.

A local worker or a Slurm job with ``--runs-per-job`` calls ``fit`` for one configuration after another in one
process. The task's decoded tensors and the backbone's weights are the same for most of them, so the data layer
and the model builder keep their last results here instead of loading them again for every run.

Each :class:`Memo` holds at most ``max_items`` entries (least recently used first out), and all memos together stay
within one byte budget (a quarter of the machine's memory, or ``$VPTSTUDY_MEMORY_CACHE_MB``; 0 turns them off). A
miss first evicts down to ``max_items - 1`` entries, so what is about to be loaded never sits beside a full memo.

Nothing a run can change is shared by accident: callers hand out copies (the backbone), or tensors whose in-place
version counter the memo records and checks on every hit, so a tensor modified in place is dropped, never reused.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

BUDGET_ENV = "VPTSTUDY_MEMORY_CACHE_MB"
MEMORY_SHARE = 0.25  # default budget of all memos together: this share of the machine's physical memory


def budget_bytes() -> int:
    """``$VPTSTUDY_MEMORY_CACHE_MB`` in bytes, else a quarter of the physical memory (0 when unknown)."""
    env = os.environ.get(BUDGET_ENV, "").strip()
    if env.isascii() and env.isdigit():
        return int(env) * 2**20
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * MEMORY_SHARE)
    except (AttributeError, OSError, ValueError):
        return 0


@dataclass
class _Entry:
    value: Any
    nbytes: int
    guarded: tuple[torch.Tensor, ...]
    versions: tuple[int, ...]


class Memo:
    """An LRU of at most ``max_items`` entries within :func:`budget_bytes`; ``hits`` and ``misses`` count look-ups."""

    def __init__(self, name: str, max_items: int = 2) -> None:
        self.name = name
        self.max_items = max_items
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0
        _ALL.append(self)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Any | None:
        """The value stored under ``key``, or None; a miss evicts down to ``max_items - 1`` entries first."""
        entry = self._entries.get(key)
        if entry is not None and tuple(t._version for t in entry.guarded) != entry.versions:
            del self._entries[key]  # a run modified a shared tensor in place: never hand it out again
            entry = None
        if entry is None:
            self.misses += 1
            while len(self._entries) >= max(self.max_items, 1):
                self._entries.popitem(last=False)
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return entry.value

    def fits(self, nbytes: int) -> bool:
        """Whether an entry of ``nbytes`` would be kept (within the budget, and this memo is on)."""
        return self.max_items >= 1 and nbytes <= budget_bytes()

    def put(self, key: Hashable, value: Any, nbytes: int, guarded: Iterable[torch.Tensor] = ()) -> bool:
        """Keep ``value`` (``nbytes`` large; ``guarded`` tensors are checked for in-place changes on each hit).

        Returns False (and keeps nothing) when it does not fit the budget or a tensor is an inference tensor."""
        tensors = tuple(guarded)
        if not self.fits(nbytes) or any(t.is_inference() for t in tensors):  # those have no version counter
            return False
        self._entries.pop(key, None)
        while len(self._entries) >= self.max_items:
            self._entries.popitem(last=False)
        _make_room(nbytes, first=self)
        self._entries[key] = _Entry(value, nbytes, tensors, tuple(t._version for t in tensors))
        return True

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self._entries.values())

    def clear(self) -> None:
        self._entries.clear()
        self.hits = self.misses = 0


_ALL: list[Memo] = []


def _make_room(nbytes: int, first: Memo) -> None:
    """Evict oldest entries, ``first``'s before the others', until ``nbytes`` more fit the budget shared by all."""
    budget = budget_bytes()
    for memo in [first, *(m for m in _ALL if m is not first)]:
        while memo._entries and sum(m.nbytes for m in _ALL) + nbytes > budget:
            memo._entries.popitem(last=False)


def clear_all() -> None:
    """Empty every memo of this process (what a fresh process starts with)."""
    for memo in _ALL:
        memo.clear()


def tensor_bytes(tensors: Iterable[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)
