"""``python -m vptstudy.cli``."""

from vptstudy.cli import main

main()
