"""Option groups: a frozen dataclass whose fields are Typer options, added to a command by :func:`option_group`.

A set of flags that several commands share (the executor's, a sweep's ``[run]`` options) or that would make one
command's signature long is declared once as a dataclass; the command declares one parameter of that type, and
the decorator puts the fields' options in its place (at that place in ``--help``) and hands the command one
instance built from them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any

Command = Callable[..., None]


def option_group(cls: type, name: str) -> Callable[[Command], Command]:
    """A decorator giving a command the options declared by the fields of the dataclass ``cls`` in place of its
    parameter ``name`` (annotated ``cls``); the command receives them as one ``cls``."""
    hints = inspect.get_annotations(cls, eval_str=True)
    group = [
        inspect.Parameter(
            f.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=inspect.Parameter.empty if f.default is MISSING else f.default,  # a field without one: required
            annotation=hints[f.name],
        )
        for f in fields(cls)
    ]

    def decorate(command: Command) -> Command:
        sig = inspect.signature(command, eval_str=True)
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in sig.parameters.values()]
        at = next((i for i, p in enumerate(own) if p.name == name), None)
        if at is None:
            raise TypeError(f"{command.__name__} has no parameter {name!r} for the {cls.__name__} options")
        params = [*own[:at], *group, *own[at + 1 :]]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> None:
            options = cls(**{p.name: kwargs.pop(p.name) for p in group})
            return command(**kwargs, **{name: options})

        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
        return wrapper

    return decorate
