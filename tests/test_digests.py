"""A run's identity follows the content of the weights it starts from, so a retrained toy backbone or a replaced
``--weights`` file never lets old runs count as finished."""

from __future__ import annotations

import os
import shutil

from vptstudy import digests
from vptstudy.config import RunConfig
from vptstudy.plan import plan


def test_replacing_a_weights_file_in_place_changes_the_identity(tmp_path) -> None:
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"first")
    cfg = RunConfig(task="toy/digits", method="vpt-deep", model="toy-vit", weights=str(weights))
    before = plan(cfg)
    weights.write_bytes(b"first")  # same bytes, new mtime: the same run
    os.utime(weights, ns=(1, 1))
    assert plan(cfg).identity == before.identity
    weights.write_bytes(b"other")
    after = plan(cfg)
    assert after.identity != before.identity and after.run_dir != before.run_dir


def test_the_embedded_backbone_s_content_is_part_of_the_identity(tmp_path, monkeypatch) -> None:
    copy = tmp_path / "toy_vit.safetensors"
    shutil.copy(digests.EMBEDDED_WEIGHTS["toy-vit"], copy)
    cfg = RunConfig(task="toy/digits", method="ft", model="toy-vit")
    packaged = plan(cfg).identity
    monkeypatch.setitem(digests.EMBEDDED_WEIGHTS, "toy-vit", copy)
    assert plan(cfg).identity == packaged  # same bytes elsewhere: the same run
    copy.write_bytes(copy.read_bytes()[:-1] + b"\0")
    assert plan(cfg).identity != packaged


def test_hub_weights_random_init_and_missing_files_add_nothing(tmp_path) -> None:
    assert digests.weights_file("vit_base_patch16_224", True, None) is None
    assert digests.weights_file("toy-vit", False, None) is None
    assert digests.file_sha256(tmp_path / "missing") is None
    f = tmp_path / "x"
    f.write_bytes(b"abc")
    assert digests.file_sha256(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_a_home_relative_weights_path_is_hashed_like_the_file_it_loads(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "w.safetensors").write_bytes(b"first")
    cfg = RunConfig(task="toy/digits", method="vpt-deep", model="toy-vit", weights="~/w.safetensors")
    assert digests.weights_file("toy-vit", True, "~/w.safetensors") == tmp_path / "w.safetensors"
    before = plan(cfg).identity
    (tmp_path / "w.safetensors").write_bytes(b"other")
    assert plan(cfg).identity != before
