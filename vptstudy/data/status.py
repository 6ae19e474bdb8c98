"""What `vptstudy tasks` shows: each task's facts, the sources present on this machine, and how to get it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vptstudy.data import fgvc_json, vtab1k
from vptstudy.data.prompt_lengths import default_prompt_length
from vptstudy.data.tasks import GROUP_ORDER, TASKS, TaskSpec

LAYOUTS = (vtab1k.DESCRIPTION, fgvc_json.DESCRIPTION)


def availability(spec: TaskSpec, root: Path) -> str:
    """The sources of ``spec`` found under ``root``, or what a task without files needs."""
    if spec.available is not None:
        found = spec.available(root)
        return "; ".join(found) if found else "no"
    if "image-folder" in spec.sources:
        return "your folder (--data-root)"
    return "yes (built in)"


def task_rows(root: Path) -> list[dict[str, Any]]:
    """One row per registered task, grouped as in ``GROUP_ORDER`` (registry order within a group)."""
    return [
        {
            "task": spec.name,
            "group": spec.group,
            "classes": spec.num_classes,
            "disparity": spec.disparity,
            "prompts": default_prompt_length(spec.name),
            "preprocess": spec.preprocess,
            "sources": list(spec.sources),
            "available": availability(spec, root),
            "get_it": spec.get_it,
        }
        for spec in sorted(
            TASKS.values(), key=lambda t: GROUP_ORDER.index(t.group) if t.group in GROUP_ORDER else len(GROUP_ORDER)
        )
    ]
