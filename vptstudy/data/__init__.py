"""The data layer: task registry, sources, seeded splits and on-device batches."""

from vptstudy.data import benchmarks as _benchmarks  # noqa: F401

# Task modules register themselves on import; add new ones here.
from vptstudy.data import toy_tasks as _toy_tasks  # noqa: F401
from vptstudy.data.tasks import TASKS, TaskSpec, content_key, get_task, load_task_data
from vptstudy.data.types import ImageSet, Preprocess, TaskData

__all__ = ["TASKS", "ImageSet", "Preprocess", "TaskData", "TaskSpec", "content_key", "get_task", "load_task_data"]
