"""The vptstudy command line. Each command parses its options and calls one library function."""

from __future__ import annotations

import errno
import os
import sys
from typing import Annotated

import typer

from vptstudy.cli_help import HelpGroup
from vptstudy.errors import RunFailed, UserError, WorkerError

app = typer.Typer(
    name="vptstudy",
    help="Visual prompt tuning or full fine-tuning? Run the ICLR 2024 study on timm ViTs.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    cls=HelpGroup,
    rich_markup_mode=None,
)
STATE = {"debug": False}


def _print_version(value: bool) -> None:
    if value:
        from vptstudy import __version__

        print(f"vptstudy {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    allow_symlinks: Annotated[
        bool, typer.Option("--allow-symlinks", help="Follow symlinks that lead out of the data folder.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit.")
    ] = False,
) -> None:
    STATE["debug"] = debug
    if allow_symlinks:  # an environment variable, so worker processes see it too
        from vptstudy.data.paths import ALLOW_SYMLINKS_ENV

        os.environ[ALLOW_SYMLINKS_ENV] = "1"


# errors of a path that cannot be written: read-only mount or folder, full disk or quota, a path under a file
UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR, errno.EEXIST}


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2; SIGINT/SIGTERM one line and
    128 + the signal number, with every lock released."""
    from vptstudy import signals

    previous = signals.install()
    try:
        _main()
    finally:
        signals.restore(previous)


def _main() -> None:
    from vptstudy import locks, signals

    try:
        code = app(standalone_mode=False)
    except signals.Interrupted as exc:
        locks.release_all()
        print(exc.line(), file=sys.stderr)
        sys.exit(exc.exit_code)
    except UserError as exc:
        if STATE["debug"]:
            raise
        print(f"vptstudy: error: {exc.line()}", file=sys.stderr)
        sys.exit(2)
    except (RunFailed, WorkerError) as exc:
        if STATE["debug"]:
            raise
        print(f"vptstudy: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:  # raised outside Typer's own handler (which returns 130, below)
        code = 130
    except OSError as exc:
        if STATE["debug"] or exc.errno not in UNWRITABLE:
            raise
        verb = "cannot write" if exc.errno in {errno.EROFS, errno.ENOSPC, errno.EDQUOT} else "cannot access"
        where = f" {str(exc.filename)!r}" if exc.filename else ""
        cause = f"{exc.strerror or type(exc).__name__} [{errno.errorcode.get(exc.errno or 0, '?')}]"
        print(
            f"vptstudy: error: {verb}{where}: {cause}: use a writable --out-dir with free space "
            "(not a path under a file or on a read-only mount)",
            file=sys.stderr,
        )
        sys.exit(2)
    except (typer.Exit, typer.Abort) as exc:
        sys.exit(getattr(exc, "exit_code", 1))
    except Exception as exc:  # usage errors (unknown option, missing argument) carry their own message and exit code
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()  # typer vendors click (typer._click), so match the interface, not click's class
            sys.exit(exc.exit_code)
        raise
    if code == 130:  # Typer turns a KeyboardInterrupt into this return value under standalone_mode=False
        locks.release_all()
        print(f"vptstudy: interrupted; {signals.RESUME_HINT}", file=sys.stderr)
    if isinstance(code, int) and code:
        sys.exit(code)
