"""The study code's one-shot protocol (S src/data/datasets/tf_dataset.py:99-134): one image per class from train800
for train and one from val200 for val, drawn with a fixed seed; final runs draw 2 per class from train800val200."""

from __future__ import annotations

import pytest
import torch

from tests.helpers.data_fixtures import make_vtab1k
from vptstudy.config import RunConfig
from vptstudy.data import load_task_data
from vptstudy.data.splits import choose, study_kshot
from vptstudy.errors import UserError

TASK = "vtab/retinopathy"  # 5 classes


def cfg_for(root, **kw) -> RunConfig:
    return RunConfig(task=TASK, method="linear", data_root=str(root), cache_dir=str(root / "cache"), **kw)


def test_train_from_train800_val_from_val200_one_per_class():
    labels = torch.arange(1000) % 10
    train, val, short = study_kshot(labels, 1, 0, (800, 200), final=False, num_classes=10)
    assert train.max() < 800 and val.min() >= 800 and short == []
    assert labels[train].tolist() == list(range(10)) and labels[val].tolist() == list(range(10))
    again, _, _ = study_kshot(labels, 1, 0, (800, 200), final=False, num_classes=10)
    assert torch.equal(train, again)  # fixed seed: one draw, the same for every run
    other, _, _ = study_kshot(labels, 1, 1, (800, 200), final=False, num_classes=10)
    assert not torch.equal(train, other)


def test_final_is_a_fresh_two_per_class_draw_from_train800val200():
    labels = torch.arange(1000) % 10
    final, val, _ = study_kshot(labels, 1, 0, (800, 200), final=True, num_classes=10)
    assert len(val) == 0 and torch.bincount(labels[final]).tolist() == [2] * 10
    assert final.max() < 1000


def test_a_short_class_gives_what_it_has_and_is_recorded():
    labels = torch.cat([torch.arange(800) % 3, torch.zeros(200, dtype=torch.long)])  # val200 holds only class 0
    choice = choose(
        labels,
        shots=1,
        train_size=None,
        split_seed=0,
        default=(800, 200),
        where="t",
        official=(800, 200),
        num_classes=3,
        shots_protocol="study",
    )
    assert len(choice.train) == 3 and labels[choice.val].tolist() == [0]
    assert choice.info["classes_short"] == [1, 2] and choice.info["shots_protocol"] == "study"


def test_needs_an_official_split():
    with pytest.raises(UserError, match="train800/val200"):
        choose(
            torch.arange(100) % 5,
            shots=1,
            train_size=None,
            split_seed=0,
            default=(80, 20),
            where="t",
            shots_protocol="study",
        )


def test_vtab1k_folder_end_to_end(tmp_path):
    make_vtab1k(tmp_path)  # train800: 40 images, val200: 10 images, 5 classes
    tune = load_task_data(cfg_for(tmp_path, shots=1, shots_protocol="study"), 8)
    assert tune.train.labels.tolist() == [0, 1, 2, 3, 4] and tune.val.labels.tolist() == [0, 1, 2, 3, 4]
    assert tune.split_info["kind"] == "1-shot (study: train800 / val200)"
    final = load_task_data(cfg_for(tmp_path, shots=1, shots_protocol="study", split="final"), 8)
    assert final.val is None and torch.bincount(final.train.labels).tolist() == [2] * 5
    draws = load_task_data(cfg_for(tmp_path, shots=1), 8)  # the several-draws mode is still there
    assert draws.split_info["kind"] == "1-shot"


def test_protocol_is_validated_and_only_new_values_change_the_run_identity(tmp_path):
    with pytest.raises(UserError, match="--shots-protocol"):
        cfg_for(tmp_path, shots=1, shots_protocol="paper")
    with pytest.raises(UserError, match="needs --shots"):
        cfg_for(tmp_path, shots_protocol="study")
    from vptstudy.plan import plan

    plain = plan(cfg_for(tmp_path, shots=1))
    assert plain.run_dir == plan(cfg_for(tmp_path, shots=1, shots_protocol="draws")).run_dir
    study = plan(cfg_for(tmp_path, shots=1, shots_protocol="study"))
    assert study.identity != plain.identity
    assert plain.run_dir.parent.parent.name == "k1s0-tune" and study.run_dir.parent.parent.name == "k1study-s0-tune"


def study_data(**oneshot) -> dict:
    return {"name": "s", "kind": "oneshot", "tasks": ["vtab/dtd"], "methods": ["vpt-deep"], "oneshot": oneshot}


def test_study_file_says_which_protocol_it_runs():
    from vptstudy.study import load_study, parse_study
    from vptstudy.sweep import expand

    shipped = load_study("studies/oneshot.toml")
    assert (shipped.shots_protocol, shipped.search, shipped.draws, len(shipped.seeds)) == ("study", True, 1, 5)
    (unit,) = expand(parse_study(study_data(protocol="study")))
    assert unit.search and unit.base.shots_protocol == "study" and unit.base.split_seed == 0
    assert unit.label == "vtab/dtd vpt-deep 1-shot study split 0"
    draws = expand(parse_study(study_data(draws=3)))
    assert [u.base.split_seed for u in draws] == [0, 1, 2] and not draws[0].search
    assert {u.base.shots_protocol for u in draws} == {"draws"}
    with pytest.raises(UserError, match="one-shot protocol"):
        parse_study(study_data(protocol="paper"))


def test_datasize_study_runs_five_seeds():
    from vptstudy.study import load_study

    assert load_study("studies/datasize.toml").seeds == (42, 44, 82, 100, 800)
