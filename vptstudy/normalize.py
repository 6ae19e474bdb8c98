"""Input normalisation: ImageNet mean/std (the paper's and VPT's protocol) or the backbone's own timm cfg.

The study normalises every backbone with ImageNet's mean/std; timm records each pretrained model's own values in
its ``pretrained_cfg`` (0.5/0.5 for ``orig_in21k`` and the ``augreg`` ViTs, CLIP's for ``.openai``).
``--normalize backbone`` uses those; the default stays ``imagenet``.
"""

from __future__ import annotations

from functools import lru_cache

from vptstudy.config import NORMALIZE
from vptstudy.data.types import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["NORMALIZE", "backbone_stats", "describe", "mismatch_note", "stats"]
Stats = tuple[tuple[float, float, float], tuple[float, float, float]]


@lru_cache(maxsize=64)
def backbone_stats(model: str) -> Stats | None:
    """The mean/std in timm's pretrained_cfg for ``model`` (no download); None when timm has none (toy-vit)."""
    import timm

    try:
        cfg = timm.models.get_pretrained_cfg(model, allow_unregistered=False)
    except RuntimeError:  # no pretrained cfg registered for this architecture
        return None
    if cfg is None or cfg.mean is None or cfg.std is None:
        return None
    return tuple(float(v) for v in cfg.mean), tuple(float(v) for v in cfg.std)  # type: ignore[return-value]


def stats(normalize: str, model: str) -> Stats:
    """The mean/std a run normalises its inputs with."""
    if normalize == "backbone":
        return backbone_stats(model) or (IMAGENET_MEAN, IMAGENET_STD)
    return IMAGENET_MEAN, IMAGENET_STD


def _fmt(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


def describe(normalize: str, model: str) -> str:
    """One line: which mean/std a run of ``model`` uses, and where it comes from."""
    mean, std = stats(normalize, model)
    if normalize == "backbone" and backbone_stats(model) is not None:
        source = f"{model}'s timm pretrained_cfg"
    elif normalize == "backbone":
        source = f"ImageNet's: {model} has no timm pretrained_cfg"
    else:
        source = "ImageNet's, the paper's protocol"
        own = backbone_stats(model)
        if own is not None and own != (mean, std):
            source += f"; {model}'s own: mean {_fmt(own[0])}, std {_fmt(own[1])}"
    return f"normalize {normalize}: mean {_fmt(mean)}, std {_fmt(std)} ({source})"


def mismatch_note(normalize: str, model: str) -> str | None:
    """A one-line note when a run uses ImageNet's mean/std but the backbone was pretrained with other values."""
    own = backbone_stats(model)
    if normalize != "imagenet" or own is None or own == (IMAGENET_MEAN, IMAGENET_STD):
        return None
    return (
        f"note: {model} was pretrained with mean {_fmt(own[0])}, std {_fmt(own[1])}; this run uses ImageNet's "
        "(the paper's protocol); --normalize backbone uses the backbone's"
    )
