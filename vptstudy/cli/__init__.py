"""The vptstudy command line; ``main`` is the console entry point."""

from vptstudy.cli.app import STATE, app, main

__all__ = ["STATE", "app", "main"]
