"""Full datasets through torchvision, on tiny fake files in torchvision's layouts; VTAB label conventions."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.data_fixtures import make_vtab1k, write_image
from vptstudy.config import RunConfig
from vptstudy.data import load_task_data, vtab_labels
from vptstudy.data.benchmarks import VTAB, candidates
from vptstudy.data.full_datasets import kitti_objects
from vptstudy.data.tv_common import dataset, dataset_catalog
from vptstudy.errors import UserError

pytestmark = pytest.mark.usefixtures("no_network")


def cfg_for(root, task, **kw) -> RunConfig:
    return RunConfig(task=task, method="linear", data_root=str(root), cache_dir=str(root / "c"), **kw)


def test_vtab_label_conventions():
    assert [vtab_labels.clevr_count_label(n) for n in (3, 10)] == [0, 7]
    assert [vtab_labels.clevr_dist_label([d, 50.0]) for d in (7.9, 8.0, 8.2, 9.2, 9.99, 12.0)] == [0, 0, 1, 3, 4, 5]
    kitti = vtab_labels.kitti_dist_label
    assert kitti([]) == 3 and kitti([("Pedestrian", 2.0)]) == 3
    assert [kitti([("Car", z)]) for z in (5.0, 8.0, 10.0, 30.0)] == [0, 0, 1, 2]
    assert kitti([("Truck", 30.0), ("Van", 12.0), ("Cyclist", 1.0)]) == 1
    dirs = ["Faces", "BACKGROUND_Google", "accordion", "ant", "Leopards"]
    assert vtab_labels.caltech101_label_map(dirs) == {
        "accordion": 0,
        "ant": 1,
        "BACKGROUND_Google": 2,
        "Faces": 3,
        "Leopards": 4,
    }
    assert [vtab_labels.binned(v, 40, 16) for v in (0, 2, 3, 39)] == [0, 0, 1, 15]


def fake_clevr(root, counts):
    base = root / "torchvision" / "clevr" / "CLEVR_v1.0"
    for split, split_counts in counts.items():
        scenes = []
        for i, n in enumerate(split_counts):
            name = f"CLEVR_{split}_{i:06d}.png"
            write_image(base / "images" / split / name, i)
            objects = [{"pixel_coords": [0, 0, 8.2 + j]} for j in range(n)]
            scenes.append({"image_filename": name, "objects": objects})
        (base / "scenes").mkdir(parents=True, exist_ok=True)
        (base / "scenes" / f"CLEVR_{split}_scenes.json").write_text(json.dumps({"scenes": scenes}))


def test_clevr_count_and_dist_from_scenes(tmp_path):
    fake_clevr(tmp_path, {"train": [3, 4, 5, 6] * 5, "val": [10, 3, 4]})
    count = load_task_data(cfg_for(tmp_path, "vtab/clevr_count", train_size=8), 8)
    assert sorted(count.test.labels.tolist()) == [0, 1, 7]  # val split is the test set; count - 3
    assert torch.bincount(count.train.labels).tolist() == [2, 2, 2, 2]
    assert count.split_info["source"].startswith("torchvision CLEVR")
    dist = load_task_data(cfg_for(tmp_path, "vtab/clevr_dist", train_size=8), 8)
    assert set(dist.test.labels.tolist()) == {1}  # closest object at depth 8.2 -> bin 1


def test_caltech101_keeps_background_class_and_holds_out_test(tmp_path):
    folder = tmp_path / "torchvision" / "caltech101" / "101_ObjectCategories"
    for c, name in enumerate(["BACKGROUND_Google", "Faces", "accordion"]):
        for i in range(6):
            write_image(folder / name / f"image_{i:04d}.jpg", 10 * c + i, fmt="JPEG")
    data = load_task_data(cfg_for(tmp_path, "vtab/caltech101", train_size=4), 8)
    assert len(data.test) == 9  # 6 - min(30, 6 // 2) per class
    assert sorted(set(data.test.labels.tolist())) == [0, 1, 2]  # accordion, background_google, faces


def fake_eurosat(root, classes=("AnnualCrop", "Forest", "River"), per_class=10):
    for c, name in enumerate(classes):
        for i in range(per_class):
            write_image(root / "torchvision" / "eurosat" / "2750" / name / f"{name}_{i}.jpg", 10 * c + i, fmt="JPEG")


def test_eurosat_through_torchvision_class_with_fixed_test(tmp_path):
    fake_eurosat(tmp_path)
    a = load_task_data(cfg_for(tmp_path, "vtab/eurosat", train_size=8, split_seed=1), 8)
    b = load_task_data(cfg_for(tmp_path, "vtab/eurosat", train_size=8, split_seed=2), 8)
    assert len(a.test) == 6 and torch.bincount(a.test.labels).tolist() == [2, 2, 2]
    assert torch.equal(a.test.images, b.test.images)  # the held-out test set ignores the split seed
    assert a.split_info["train_hash"] != b.split_info["train_hash"]


def test_dtd_pool_is_train_plus_val(tmp_path):
    base = tmp_path / "torchvision" / "dtd" / "dtd"
    lists = {"train1": [], "val1": [], "test1": []}
    for c, name in enumerate(["banded", "dotted"]):
        for i in range(6):
            rel = f"{name}/{name}_{i}.jpg"
            write_image(base / "images" / rel, 10 * c + i, fmt="JPEG")
            lists["train1" if i < 3 else "val1" if i < 4 else "test1"].append(rel)
    (base / "labels").mkdir()
    for name, rels in lists.items():
        (base / "labels" / f"{name}.txt").write_text("\n".join(rels) + "\n")
    data = load_task_data(cfg_for(tmp_path, "vtab/dtd", train_size=4), 8)
    assert data.split_info["pool"] == 8 and len(data.test) == 4
    assert torch.bincount(data.test.labels).tolist() == [2, 2]


def test_kitti_distance_from_label_files(tmp_path):
    base = tmp_path / "torchvision" / "Kitti" / "raw" / "training"
    rows = {
        0: "Car 0 0 0 0 0 0 0 1 1 1 0 0 5.0 0",
        1: "Van 0 0 0 0 0 0 0 1 1 1 0 0 12.0 0",
        2: "Pedestrian " + "0 " * 14,
    }
    for i in range(20):
        write_image(base / "image_2" / f"{i:06d}.png", i)
        (base / "label_2").mkdir(parents=True, exist_ok=True)
        (base / "label_2" / f"{i:06d}.txt").write_text(rows[i % 3] + "\n")
    assert kitti_objects(base / "label_2" / "000001.txt") == [("Van", 12.0)]
    data = load_task_data(cfg_for(tmp_path, "vtab/kitti_dist", train_size=8), 8)
    assert len(data.test) == 2
    labels = torch.cat([data.train.labels, data.val.labels, data.test.labels])
    assert set(labels.tolist()) <= {0, 1, 3}


def test_pcam_reads_h5_and_merges_train_val(tmp_path):
    base = tmp_path / "torchvision" / "pcam"
    base.mkdir(parents=True)
    for split, n in (("train", 12), ("valid", 4), ("test", 6)):
        with h5py.File(base / f"camelyonpatch_level_2_split_{split}_x.h5", "w") as f:
            f["x"] = np.stack([np.full((6, 6, 3), i, dtype=np.uint8) for i in range(n)])
        with h5py.File(base / f"camelyonpatch_level_2_split_{split}_y.h5", "w") as f:
            f["y"] = (np.arange(n) % 2).astype(np.uint8).reshape(n, 1, 1, 1)
    data = load_task_data(cfg_for(tmp_path, "vtab/patch_camelyon", train_size=8), 6)
    assert data.split_info["pool"] == 16 and len(data.test) == 6
    assert data.test.labels.tolist() == [0, 1, 0, 1, 0, 1]
    assert data.test.images[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 4, 5]


def test_dataset_catalog_reads_in_memory_datasets():
    fake = [(Image.fromarray(np.full((4, 4, 3), i, dtype=np.uint8)), i % 3) for i in range(5)]
    cat = dataset_catalog("fake", "train", fake, [y for _, y in fake])
    assert cat.read(2, 8).shape == (3, 8, 8) and int(cat.read(4, 8)[0, 0, 0]) == 4
    assert cat.labels.tolist() == [0, 1, 2, 0, 1]


def test_sweeps_prefer_the_full_dataset_protocol_runs_the_vtab1k_folder(tmp_path):
    fake_eurosat(tmp_path)
    make_vtab1k(tmp_path, "eurosat", classes=3, train=8, val=2, test=3)
    bench = next(b for b in VTAB if b.name == "eurosat")
    protocol = candidates(bench, tmp_path, cfg_for(tmp_path, "vtab/eurosat"))
    sweep = candidates(bench, tmp_path, cfg_for(tmp_path, "vtab/eurosat", train_size=8))
    assert protocol[0][0].startswith("VTAB-1k") and sweep[0][0].startswith("torchvision EuroSAT")
    cifar = next(b for b in VTAB if b.name == "cifar100")
    assert candidates(cifar, tmp_path, cfg_for(tmp_path, "vtab/cifar100", download=True))[0][0].endswith("(download)")


def test_missing_full_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(UserError, match=r"no data for vtab/cifar100.*--download \(torchvision CIFAR100"):
        load_task_data(cfg_for(tmp_path, "vtab/cifar100", train_size=100), 8)


def test_vtab1k_too_small_for_a_sweep_points_at_the_full_dataset(tmp_path):
    make_vtab1k(tmp_path, "eurosat", classes=3, train=8, val=2, test=3)
    with pytest.raises(UserError, match=r"at most 8; the full dataset gives more: --download \(torchvision EuroSAT"):
        load_task_data(cfg_for(tmp_path, "vtab/eurosat", train_size=9), 8)


def test_torchvision_errors_become_user_errors(tmp_path):
    from torchvision.datasets import EuroSAT

    with pytest.raises(UserError, match=r"torchvision EuroSAT not found.*pass --download"):
        dataset(EuroSAT, False, root=str(tmp_path))

    class Offline:
        def __init__(self, **kwargs):
            raise OSError("<urlopen error [Errno -2] Name or service not known>")

    with pytest.raises(UserError, match="download of torchvision Offline failed: <urlopen error"):
        dataset(Offline, True, root=str(tmp_path))
