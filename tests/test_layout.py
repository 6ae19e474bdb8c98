"""The tests mirror the package (issue 14): each module's tests are in a file named after it, helpers live in
tests/helpers or conftest.py, and every command runs through the one CLI harness.

The convention (also in README's Development section and in conftest.py):

- ``vptstudy/<module>.py`` -> ``tests/test_<module>.py``; ``vptstudy/<package>/<module>.py`` ->
  ``tests/test_<package>_<module>.py`` (flat, dots become underscores).
- ``tests/test_<package>.py`` tests a package through its front (its registry, its entry function); for the
  packages in ``AS_A_PACKAGE`` it also stands for the modules that have no file of their own.
- A file that checks one behaviour across modules keeps a descriptive name and is listed in ``ACROSS_MODULES``.
- A module exercised only through others' tests is listed in ``INDIRECT`` with where that happens.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE, TESTS = ROOT / "vptstudy", ROOT / "tests"

ACROSS_MODULES = {
    "bad_input_catalog": "every bad input of issue 17, each as its own vptstudy process",
    "cli_conventions": "one flag convention, --version, completion and 80-column help over every command",
    "code_shape": "house rules over the whole package (function length, importers of train)",
    "content_key": "caches keyed on what the data is: the tensor cache and the FID statistics",
    "demo_studies": "the demo's study files ship inside the installed package",
    "drivers": "two drivers on one study: sweep, locks and report together",
    "install": "the Makefile's install never upgrades or reinstalls torch",
    "layout": "this file: the tests' layout",
    "old_layout": "layout-1 run folders through plan, load_run and report",
    "oneshot_protocol": "the study code's one-shot protocol through splits, study files and sweeps",
    "paths_safety": "paths stay inside the data folder and --out-dir: data lists, class folders, study names",
    "protocol_doc": "docs/protocol.md against the code's constants and flags",
    "readme_commands": "every command the README shows parses",
    "toy_train": "train on every toy task with the toy backbone, offline",
}

AS_A_PACKAGE = {
    "cli": "commands have their own files (test_cli_<module>.py); the option groups and shared parts are here",
    "data": "sources, catalog, materialize and assemble serve get_task / load_task_data, which every data test runs",
    "fid": "compute_fid runs sources, extractors, the store and the report end to end",
    "figures": "every figure and the visualize command, from run folders",
    "methods": "every registered method, parametrised over the registry",
    "train": "fit's loop, state, outcome and finish run in every training test",
}

INDIRECT = {
    "vptstudy": "its lazy exports are the Python API: test_api.py",
    "cli_help": "the help layout of every command: test_cli_conventions.py",
    "config": "RunConfig's checks: test_validate.py, test_study.py; every run test builds one",
    "console": "tables and progress in the commands' output: test_cli_*.py, test_sweep.py",
    "device": "device resolution: test_validate.py (--gpus without CUDA) and every CPU run",
    "errors": "the one-line error format: test_bad_input_catalog.py, test_cli_conventions.py",
    "load": "load_run: test_cli_train.py, test_old_layout.py, test_damaged.py, test_models_swin_prompts.py",
    "rundir": "RunDir: test_results.py",
    "rungs": "rung epochs and stop records: test_halving.py",
    "runs": "run-folder files: every training test",
    "analysis.tables": "the report's tables: test_cli_report.py, test_sweep.py, test_drivers.py",
    "models.backbones": "create_backbone: test_models_toy.py, test_models_moco.py, test_models_swin_prompts.py",
    "models.build": "build_model: every run test, test_plan.py",
    "models.sharing": "adopt(): test_models_swin_prompts.py (window attention keeps timm's parameter names)",
    "models.tunable": "TunableBackbone and current_keys: test_models_prompts.py, test_models_swin_prompts.py",
    "models.wrap": "wrap_backbone, no_weight_decay_names: test_models_swin_prompts.py, test_optim.py",
}


def _modules() -> dict[str, str]:
    """Dotted module name (without ``vptstudy.``; ``vptstudy`` for the root) -> its test file's stem, for every
    module with code (a package's ``__init__`` that holds only a docstring does not count)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
            body = ast.parse(path.read_text()).body
            if all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body):
                continue
        if parts[-1:] == ["__main__"]:
            continue
        name = ".".join(parts) or "vptstudy"
        found[name] = "test_" + ("_".join(parts) or "vptstudy")
    return found


def _test_files() -> set[str]:
    return {p.stem for p in TESTS.glob("test_*.py")}


def _covered(name: str, stem: str, files: set[str]) -> bool:
    package = name.split(".")[0] if "." in name else None
    return stem in files or (package in AS_A_PACKAGE and f"test_{package}" in files) or name in INDIRECT


def test_every_module_has_a_test_file_named_after_it() -> None:
    modules, files = _modules(), _test_files()
    assert len(modules) > 100  # the scan sees the package
    assert [name for name, stem in modules.items() if not _covered(name, stem, files)] == []


def test_every_test_file_is_named_after_a_module_or_listed_as_across_modules() -> None:
    stems = set(_modules().values()) | {f"test_{p}" for p in AS_A_PACKAGE}
    odd = sorted(f for f in _test_files() if f not in stems and f.removeprefix("test_") not in ACROSS_MODULES)
    assert odd == []


def test_the_lists_name_only_what_exists_and_needs_listing() -> None:
    modules, files = _modules(), _test_files()
    assert {f"test_{name}" for name in ACROSS_MODULES} <= files
    assert not {f"test_{name}" for name in ACROSS_MODULES} & set(modules.values())  # not a module's name
    assert {f"test_{package}" for package in AS_A_PACKAGE} <= files
    stale = [name for name in INDIRECT if name not in modules or modules[name] in files]
    assert stale == []  # a module that got its own file leaves the list


def test_helpers_are_never_imported_from_a_test_file() -> None:
    imports = re.compile(r"^\s*(from tests\.test_\w+ import|import tests\.test_)", re.M)
    offenders = [p.name for p in TESTS.rglob("*.py") if imports.search(p.read_text())]
    assert offenders == []
    loose = {p.name for p in TESTS.glob("*.py")} - {p.name for p in TESTS.glob("test_*.py")}
    assert loose == {"__init__.py", "conftest.py"}  # helpers are not loose files next to the tests


def test_one_cli_harness() -> None:
    """Only tests/helpers/cli.py calls the console entry point in-process."""
    files = [p for p in TESTS.rglob("*.py") if p != Path(__file__)]
    callers = sorted(str(p.relative_to(TESTS)) for p in files if "cli.main()" in p.read_text())
    assert callers == ["helpers/cli.py"]
