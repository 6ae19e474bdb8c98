"""The study's per-task prompt lengths for VTAB-1k (the default ``--prompts`` of every prompt method).

The study uses VPT's per-task lengths for ViT-B/16 pretrained on supervised ImageNet-21k: study paper Tables 16-18
(Appendix E). The study's code itself defaults to 5 (S src/configs/config.py ``PROMPT.NUM_TOKENS``) and takes the
length per run from the command line.
"""

from __future__ import annotations

# Table 16 (Natural), Table 17 (Specialized), Table 18 (Structured).
VTAB1K_PROMPT_LENGTHS: dict[str, int] = {
    "cifar100": 100,
    "caltech101": 5,
    "dtd": 1,
    "flowers102": 200,
    "pets": 50,
    "svhn": 200,
    "sun397": 1,
    "patch_camelyon": 5,
    "eurosat": 50,
    "resisc45": 50,
    "retinopathy": 10,
    "clevr_count": 100,
    "clevr_dist": 200,
    "dmlab": 100,
    "kitti_dist": 100,
    "dsprites_loc": 100,
    "dsprites_ori": 100,
    "smallnorb_azi": 200,
    "smallnorb_ele": 200,
}
VTAB_PREFIX = "vtab/"


def default_prompt_length(task: str) -> int | None:
    """The study's prompt length for a VTAB-1k task (``vtab/cifar100`` or ``cifar100``); None for other tasks."""
    return VTAB1K_PROMPT_LENGTHS.get(task.removeprefix(VTAB_PREFIX))
