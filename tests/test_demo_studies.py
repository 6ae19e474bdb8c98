"""The demo's study files ship inside the package, so an installed vptstudy runs the demo from any folder."""

from __future__ import annotations

import importlib.resources
import os
import subprocess
import sys
from pathlib import Path

from vptstudy.demo import STUDIES_DIR

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("demo.toml", "demo-datasize.toml")


def test_demo_studies_are_package_data() -> None:
    packaged = importlib.resources.files("vptstudy") / "assets" / "studies"
    for name in NAMES:
        assert (packaged / name).is_file(), name
        assert Path(str(packaged / name)) == STUDIES_DIR / name


def test_root_study_copies_equal_the_packaged_ones() -> None:
    # studies/demo*.toml stay for `vptstudy run studies/demo.toml` in a checkout; edit both, or this fails
    for name in NAMES:
        assert (ROOT / "studies" / name).read_bytes() == (STUDIES_DIR / name).read_bytes(), name


def test_demo_studies_load_from_another_folder(tmp_path) -> None:
    code = (
        "from pathlib import Path; from vptstudy.demo import demo_studies; "
        "s = demo_studies(Path('out'), quick=True); print(s[0].name, len(s[0].tasks), s[0].run['out_dir'])"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["demo", "2", "out/runs"]
