"""Installing without a GPU: the Makefile never upgrades or reinstalls torch, so a CPU build installed first stays."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAKEFILE = (ROOT / "Makefile").read_text()


def _recipe(target: str) -> list[str]:
    match = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", MAKEFILE, flags=re.M)
    assert match, target
    return [line.strip() for line in match.group(1).splitlines()]


def test_install_recipe_never_upgrades_or_reinstalls_torch():
    pip_lines = [line for line in _recipe("$(STAMP)") if " pip install " in line]
    assert pip_lines == [
        "$(BIN)/python -m pip install -q --upgrade pip",  # pip itself only
        "$(BIN)/python -m pip install -q -e '.[dev]'",
    ]
    for line in pip_lines[1:]:
        assert not re.search(r"--upgrade\b|-U\b|--force-reinstall|--ignore-installed|\btorch", line), line


def test_cpu_torch_target_installs_the_cpu_build_into_the_same_venv():
    (_, install) = _recipe("cpu-torch")
    assert install == (
        "$(BIN)/python -m pip install -q torch torchvision --index-url https://download.pytorch.org/whl/cpu"
    )
    readme = (ROOT / "README.md").read_text()
    assert "make cpu-torch demo" in readme and "--index-url https://download.pytorch.org/whl/cpu" in readme


def test_editable_install_keeps_the_installed_torch(tmp_path):
    """pip resolves `-e .[dev]` against this environment without the index: it installs vptstudy and nothing else,
    so whichever torch build is present (CUDA or CPU) satisfies the requirement and stays."""
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-build-isolation", "--quiet"]
    done = subprocess.run([*cmd, "--report", str(report), "-e", f"{ROOT}[dev]"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    installs = [item["metadata"]["name"] for item in json.loads(report.read_text())["install"]]
    assert installs == ["vptstudy"]
