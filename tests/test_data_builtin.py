"""Built-in tasks (toy, digits) cached at the model's input size, keyed by content: the second run reads one file and
builds nothing; a changed size or generator misses; a damaged file is reported, set aside and rebuilt; a run in the
same process reads nothing at all. ``memo.clear_all()`` stands for a fresh process."""

from __future__ import annotations

import pytest
import torch

from vptstudy import memo
from vptstudy.config import RunConfig
from vptstudy.data import builtin, load_task_data, sources
from vptstudy.data import toy_tasks as T
from vptstudy.data.cache import load_file as read_tensors


@pytest.fixture
def builds(monkeypatch):
    """Counts how often a built-in task's pool and test are made (rendered or read, then resized)."""
    calls: list[tuple[str, int]] = []
    toy, digits = T._pool_and_test, sources.digits_images

    def toy_build(name, size):
        calls.append((name, size))
        return toy(name, size)

    def digits_build(size):
        calls.append(("toy/digits", size))
        return digits(size)

    monkeypatch.setattr(T, "_pool_and_test", toy_build)
    monkeypatch.setattr(sources, "digits_images", digits_build)
    return calls


def cfg(tmp_path, task="toy/shapes-new", **kw) -> RunConfig:
    return RunConfig(task=task, method="linear", cache_dir=str(tmp_path / "c"), **kw)


def files(tmp_path):
    return sorted((tmp_path / "c" / "builtin").glob("*.safetensors"))


@pytest.mark.parametrize("task", ["toy/shapes-new", "toy/digits"])
def test_second_run_reads_one_file_and_builds_nothing(tmp_path, builds, task):
    first = load_task_data(cfg(tmp_path, task), 40)
    assert builds == [(task, 40)] and first.split_info["cache"]["built"] == ["pool", "test"]
    (path,) = files(tmp_path)
    assert path.name.startswith(task.replace("/", "-") + "-40px-")
    memo.clear_all()
    second = load_task_data(cfg(tmp_path, task, split="final"), 40)
    assert builds == [(task, 40)] and second.split_info["cache"]["read"] == ["pool", "test"]
    assert torch.equal(second.test.images, first.test.images) and second.test.images.shape[1:] == (3, 40, 40)
    assert torch.equal(second.train.images[: len(first.train)], first.train.images)  # final = train, then val


def test_changed_size_or_generator_misses(tmp_path, builds, monkeypatch):
    load_task_data(cfg(tmp_path), 40)
    memo.clear_all()
    load_task_data(cfg(tmp_path), 48)
    assert builds == [("toy/shapes-new", 40), ("toy/shapes-new", 48)]
    memo.clear_all()
    monkeypatch.setattr(T, "_generator_code", lambda: "edited")  # as if synthetic.py had changed
    load_task_data(cfg(tmp_path), 40)
    assert builds[2:] == [("toy/shapes-new", 40)] and len(files(tmp_path)) == 3
    key = builtin.cache_key("toy/shapes-new", T.source("toy/shapes-new"), 40)
    assert '"code": "edited"' in key and '"resize": "torch bilinear antialias, round"' in key


def test_digits_key_follows_the_bundled_file(tmp_path, monkeypatch):
    real = sources.digits_source()
    assert "digits.csv.gz" in real["file"] and "missing" not in real["file"]
    fake = tmp_path / "sklearn" / "datasets" / "data" / "digits.csv.gz"
    fake.parent.mkdir(parents=True)
    fake.write_bytes(b"1,2")
    spec = type("Spec", (), {"origin": str(tmp_path / "sklearn" / "__init__.py")})()
    monkeypatch.setattr(sources.importlib.util, "find_spec", lambda name: spec)
    before = builtin.cache_key("toy/digits", sources.digits_source(), 40)
    fake.write_bytes(b"1,2,3")  # another size (and mtime): other content
    assert builtin.cache_key("toy/digits", sources.digits_source(), 40) != before


def test_damaged_file_is_reported_set_aside_and_rebuilt(tmp_path, builds, capsys):
    first = load_task_data(cfg(tmp_path), 40)
    (path,) = files(tmp_path)
    path.write_bytes(path.read_bytes()[:1000])
    memo.clear_all()
    capsys.readouterr()
    again = load_task_data(cfg(tmp_path), 40)
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"vptstudy: warning: damaged data cache {path}: ") and line.endswith("rebuilding it")
    assert len(builds) == 2 and again.split_info["cache"]["built"] == ["pool", "test"]
    assert torch.equal(again.test.images, first.test.images)
    assert len(list((path.parent / "rejected").iterdir())) == 1
    assert read_tensors(str(path))["test.images"].shape == (T.TEST_SIZE, 3, 40, 40)


def test_same_process_reads_no_file(tmp_path, builds, monkeypatch):
    first = load_task_data(cfg(tmp_path), 40)
    monkeypatch.setattr(builtin.cache, "load_parts", lambda *a: pytest.fail("read the cache file"))
    again = load_task_data(cfg(tmp_path, train_size=100), 40)
    assert len(builds) == 1 and again.split_info["cache"]["memory"] == ["pool", "test"]
    assert again.test.images is first.test.images  # shared, never copied: nothing writes into it
