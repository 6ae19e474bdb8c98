"""The data package through its front, the task registry: the 24 benchmark tasks, their facts, folder names and
`vptstudy tasks`."""

from __future__ import annotations

import pytest

from tests.helpers.data_fixtures import make_fgvc, make_vtab1k
from vptstudy.data import TASKS, get_task
from vptstudy.data.benchmarks import FGVC, VTAB
from vptstudy.data.status import task_rows
from vptstudy.data.vtab1k import locate
from vptstudy.errors import UserError

VTAB_NAMES = {
    "cifar100": ("natural", 100, "cifar"),
    "caltech101": ("natural", 102, "caltech101"),
    "dtd": ("natural", 47, "dtd"),
    "flowers102": ("natural", 102, "oxford_flowers102"),
    "pets": ("natural", 37, "oxford_iiit_pet"),
    "svhn": ("natural", 10, "svhn"),
    "sun397": ("natural", 397, "sun397"),
    "patch_camelyon": ("specialized", 2, "patch_camelyon"),
    "eurosat": ("specialized", 10, "eurosat"),
    "resisc45": ("specialized", 45, "resisc45"),
    "retinopathy": ("specialized", 5, "diabetic_retinopathy"),
    "clevr_count": ("structured", 8, "clevr_count"),
    "clevr_dist": ("structured", 6, "clevr_dist"),
    "dmlab": ("structured", 6, "dmlab"),
    "kitti_dist": ("structured", 4, "kitti"),
    "dsprites_loc": ("structured", 16, "dsprites_loc"),
    "dsprites_ori": ("structured", 16, "dsprites_ori"),
    "smallnorb_azi": ("structured", 18, "smallnorb_azi"),
    "smallnorb_ele": ("structured", 9, "smallnorb_ele"),
}
FGVC_NAMES = {"cub": 200, "nabirds": 555, "flowers": 102, "dogs": 120, "cars": 196}


def test_all_benchmark_tasks_registered_with_their_facts():
    assert len(VTAB) == 19 and len(FGVC) == 5
    for name, (group, classes, _) in VTAB_NAMES.items():
        spec = get_task(f"vtab/{name}")
        assert (spec.group, spec.num_classes, spec.preprocess) == (group, classes, "resize")
        assert spec.disparity == ("high" if group == "structured" else "low")
        assert "vtab-1k" in spec.sources
    for name, classes in FGVC_NAMES.items():
        spec = get_task(f"fgvc/{name}")
        assert (spec.group, spec.num_classes, spec.disparity, spec.preprocess) == ("fgvc", classes, "low", "fgvc")
    assert {"toy/digits", "folder"} <= set(TASKS)


def test_preprocess_vtab_resizes_fgvc_crops_from_256():
    vtab = get_task("vtab/dtd").make_preprocess(224)
    fgvc = get_task("fgvc/cub").make_preprocess(224)
    assert (vtab.resize, vtab.crop, vtab.flip) == (224, None, False)
    assert (fgvc.resize, fgvc.crop, fgvc.flip) == (256, 224, True)


@pytest.mark.parametrize("name", sorted(VTAB_NAMES))
def test_common_folder_name_maps_to_registry_task(tmp_path, name):
    folder = VTAB_NAMES[name][2]
    (tmp_path / "vtab-1k" / folder).mkdir(parents=True)
    (tmp_path / "vtab-1k" / folder / "test.txt").write_text("a.png 0\n")
    bench = next(b for b in VTAB if b.name == name)
    assert locate(tmp_path, bench.folders) == tmp_path / "vtab-1k" / folder


def test_unknown_task_is_a_user_error():
    with pytest.raises(UserError, match="unknown task 'vtab/nope'"):
        get_task("vtab/nope")


def test_task_rows_show_what_is_available(tmp_path):
    make_vtab1k(tmp_path, "dtd", classes=3, train=6, val=3, test=3)
    make_fgvc(tmp_path, "Stanford-dogs")
    rows = {r["task"]: r for r in task_rows(tmp_path)}
    assert rows["vtab/dtd"]["available"].startswith("VTAB-1k folder")
    assert rows["fgvc/dogs"]["available"].startswith("FGVC json")
    assert rows["vtab/cifar100"]["available"] == "no"
    assert "--download" in rows["vtab/cifar100"]["get_it"]
    assert rows["toy/digits"]["available"].startswith("yes")
    assert rows["vtab/dmlab"]["get_it"] == "VTAB-1k folder <data-root>/vtab-1k/dmlab/"
