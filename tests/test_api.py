"""The README's Python API: `import vptstudy` exports exactly the documented names, stays cheap, and the README's
example runs as written on a toy run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import vptstudy
from vptstudy import runs

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SECTION = README.split("## Python API", 1)[1].split("\n## ", 1)[0]


def test_exports_are_exactly_the_documented_names():
    documented = set(re.findall(r"^\| `(\w+)\(", SECTION, flags=re.M))
    assert documented == set(vptstudy.__all__) - {"__version__", "UserError", "RunFailed", "RunRecord"}
    for name in vptstudy.__all__:
        assert getattr(vptstudy, name) is not None, name
    assert "RunRecord" in SECTION and "vptstudy.UserError" in SECTION


def test_import_is_cheap():
    code = "import sys, vptstudy; print(sorted(m for m in ('torch', 'timm', 'typer', 'rich') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)})
    assert done.stdout.strip() == "[]", done.stderr


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    (block,) = re.findall(r"```python\n(.*?)```", SECTION, flags=re.S)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README.md (Python API)", "exec"), namespace)
    result, table, model = namespace["result"], namespace["table"], namespace["model"]
    (run,) = runs.iter_runs(tmp_path / "nb-runs")
    assert result["status"] == "ok" and Path(result["run_dir"]).resolve() == run.resolve()
    assert namespace["plan"].run_dir.resolve() == run.resolve()
    assert not model.training
    rows = table.to_dict("records") if hasattr(table, "to_dict") else [vars(r) for r in table]
    assert len(rows) == 1 and rows[0]["test_acc"] == result["final"]["test_acc"] is not None
    assert (rows[0]["task"], rows[0]["method"], rows[0]["status"]) == ("toy/shapes-new", "vpt-deep", "ok")
    assert (tmp_path / "nb-figures" / "curves.png").stat().st_size > 1000
    assert "nb-figures/curves.png" in capsys.readouterr().out


def test_read_runs_without_pandas_gives_typed_records(tmp_path, monkeypatch, capsys):
    from tests.helpers.cli import TOY_TRAIN, run_cli

    assert run_cli([*TOY_TRAIN, "--out-dir", str(tmp_path)], capsys, monkeypatch).code == 0
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    (record,) = vptstudy.read_runs(tmp_path)
    assert isinstance(record, vptstudy.RunRecord)
    result = runs.read_result(Path(record.run_dir))
    assert (record.test_acc, record.epochs_done, record.base_lr) == (
        result["final"]["test_acc"],
        2,
        result["base_lr"],
    )
    with pytest.raises(vptstudy.UserError, match="pandas is not installed"):
        vptstudy.read_runs(tmp_path, as_frame=True)
