"""Help that reads at 80 columns: short metavars (TEXT, INT, FLOAT, PATH) instead of Typer's ``<list[str]>``.

Typer's rich help gives option names, ``--no-x`` forms and value types a column each, as wide as their longest
entry (``<list[Path]>``), which left descriptions some 20 columns at 80. The CLI uses click's plain layout (name
and metavar share one column of at most 30) and :class:`HelpGroup` rewrites every command's types once, where
the commands are built, and lists commands with their whole first paragraph, wrapped.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperGroup, TyperOption

SHORT = {"int": "INT", "float": "FLOAT", "path": "PATH", "str": "TEXT", "bool": ""}
MAX_METAVAR = 5


def short_type(param: Any) -> str:
    """A parameter's value type as at most five capitals (empty for flags)."""
    if isinstance(param, TyperOption) and param.is_flag:
        return ""
    desc = param.type_descriptor
    if desc.is_path:
        return "PATH"
    name = param.bare_type().removeprefix("list[").removesuffix("]")
    return SHORT.get(name, name.upper()[:MAX_METAVAR])


def _shorten(param: Any) -> None:
    if isinstance(param, TyperOption):
        if param.metavar is None:
            param.metavar = short_type(param)
    elif isinstance(param, TyperArgument):
        label = short_type(param) + ("..." if param.nargs != 1 else "")
        param.display_type_rich = lambda ctx: label  # keep the argument's name (RUNS), shorten only its type


def _help_option(original):
    def get_help_option(ctx):
        option = original(ctx)
        if option is not None:
            option.metavar = ""
        return option

    return get_help_option


def shorten_metavars(command: Any) -> None:
    """Short metavars for a command, its help option and (for a group) every sub-command."""
    for param in command.params:
        _shorten(param)
    command.get_help_option = _help_option(command.get_help_option)
    for sub in getattr(command, "commands", {}).values():
        shorten_metavars(sub)


class HelpGroup(TyperGroup):
    """The root command group: built with every command's metavars shortened."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        shorten_metavars(self)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        for param in self.params:  # Typer appends the completion options after building the group
            _shorten(param)
        super().format_help(ctx, formatter)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """Each command with its docstring's first paragraph, wrapped (click would cut it at one line)."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, " ".join((command.help or "").split("\n\n")[0].split())))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
