"""Feature extractors for the Fréchet distance: pytorch-fid's InceptionV3 pool3 (2048-d) and a ViT's pre-logits.

Both take uint8 images ``[3, H, W]`` (a batch tensor or a list of differently sized images) and return float64
features ``[B, D]``. ``identity()`` says what changes the features; it is part of every cache key.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vptstudy.data.types import IMAGENET_MEAN, IMAGENET_STD
from vptstudy.errors import UserError

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_SIZE = 299
INCEPTION_DIMS = 2048
FEATURES = ("inception", "backbone")

Images = torch.Tensor | Sequence[torch.Tensor]


def _file_identity(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"file": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _state_hash(module: torch.nn.Module) -> str:
    """A hash of a module's weights, so statistics of an in-memory backbone are cached by content."""
    import hashlib

    digest = hashlib.sha1()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class FeatureExtractor(ABC):
    """Maps uint8 images to float64 features; ``task_size`` is the size task images are decoded at for it."""

    name: str
    dims: int
    task_size: int
    device: torch.device

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything that changes the features (for cache keys and reports)."""

    @abstractmethod
    def decode_file(self, path: Path) -> torch.Tensor:
        """One image file as uint8 ``[3, H, W]``, the way this extractor wants it."""

    @abstractmethod
    def features(self, images: Images) -> np.ndarray:
        """float64 ``[B, dims]`` features of a batch of uint8 images."""


# -- Inception (pytorch-fid) ------------------------------------------------------------------------------------
def inception_weights_path(explicit: str | Path | None = None) -> Path:
    """The FID Inception weight file: ``explicit``, else the torch hub cache; never downloads."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise UserError(
                f"Inception weights {str(path)!r} not found", "--inception-weights", f"pass the file {INCEPTION_FILE}"
            )
        return path
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    path = folder / INCEPTION_FILE
    if not path.is_file():
        from pytorch_fid.inception import FID_WEIGHTS_URL

        raise UserError(
            f"FID Inception weights {INCEPTION_FILE} not found",
            f"{folder}, i.e. $TORCH_HOME/hub/checkpoints",
            f"download {FID_WEIGHTS_URL} on a machine with network and copy it into that folder, pass "
            "--inception-weights FILE, or use --features backbone",
        )
    return path


def _random_inception_state(seed: int) -> dict[str, torch.Tensor]:
    """He-initialised weights shaped like the FID Inception's (for tests and benchmarks only)."""
    import torchvision

    gen = torch.Generator().manual_seed(seed)
    net = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False)
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
            fan_in = module.weight[0].numel()
            with torch.no_grad():
                module.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=gen)
    return net.state_dict()


@contextlib.contextmanager
def _inception_loader(state: dict[str, torch.Tensor]) -> Iterator[None]:
    """Make pytorch-fid's weight download return ``state`` instead (it is a module-level name there)."""
    import pytorch_fid.inception as fid_inception

    original = fid_inception.load_state_dict_from_url
    fid_inception.load_state_dict_from_url = lambda *args, **kwargs: state
    try:
        yield
    finally:
        fid_inception.load_state_dict_from_url = original


def build_inception(weights: Path | None, random_seed: int | None = None) -> torch.nn.Module:
    """pytorch-fid's ``InceptionV3([3])`` (pool3) with weights from a local file, never from the network.

    ``random_seed`` instead gives He-initialised random weights: only for tests and timing, never for reported FID.
    """
    from pytorch_fid.inception import InceptionV3

    if random_seed is not None:
        state = _random_inception_state(random_seed)
    else:
        if weights is None:
            raise ValueError("weights or random_seed is required")
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a bad file
            raise UserError(
                f"cannot read Inception weights {str(weights)!r}: {type(exc).__name__}",
                "--inception-weights",
                f"pass pytorch-fid's {INCEPTION_FILE}",
            ) from exc
    try:
        with _inception_loader(state):
            model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[INCEPTION_DIMS]])
    except (RuntimeError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(
            f"Inception weights {str(weights)!r} do not fit the FID InceptionV3",
            "--inception-weights",
            f"pass pytorch-fid's {INCEPTION_FILE}",
        ) from exc
    return model.eval()


def decode_native(path: Path) -> torch.Tensor:
    """An image file as RGB uint8 ``[3, H, W]`` at its own size (what pytorch-fid feeds its model)."""
    from PIL import UnidentifiedImageError

    from vptstudy.data.images import open_image

    try:
        with open_image(path) as img:
            array = np.array(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise UserError(
            f"cannot decode image {str(path)!r}", type(exc).__name__, "remove or replace the corrupt file"
        ) from exc
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


class InceptionExtractor(FeatureExtractor):
    """pytorch-fid's pool3 features: RGB in [0, 1] (``ToTensor``), bilinear resize to 299, float32 model.

    Each image is resized to 299 on its own (the same ``F.interpolate`` call the model makes, which is then a
    no-op), so a batch may mix sizes and memory stays bounded. The weight file is located at construction (a
    clear error when missing) and loaded on first use, so fully cached statistics never load the model.
    ``random_seed`` gives He-initialised random weights: for tests and timing only.
    """

    name = "inception"
    dims = INCEPTION_DIMS
    task_size = INCEPTION_SIZE

    def __init__(
        self, weights: str | Path | None = None, device: str | torch.device = "cpu", random_seed: int | None = None
    ) -> None:
        self.device = torch.device(device)
        self.random_seed = random_seed
        self.weights_path = None if random_seed is not None else inception_weights_path(weights)
        self._model: torch.nn.Module | None = None

    @property
    def model(self) -> torch.nn.Module:
        if self._model is None:
            self._model = build_inception(self.weights_path, self.random_seed).to(self.device).eval()
        return self._model

    def identity(self) -> dict[str, Any]:
        if self.weights_path is None:
            weights: dict[str, Any] = {"random_he_seed": self.random_seed}
        elif self.weights_path.name == INCEPTION_FILE:
            weights = {"file": INCEPTION_FILE, "bytes": self.weights_path.stat().st_size}
        else:
            weights = _file_identity(self.weights_path)
        return {"extractor": "inception", "dims": self.dims, "weights": weights}

    def decode_file(self, path: Path) -> torch.Tensor:
        return decode_native(path)

    def features(self, images: Images) -> np.ndarray:
        batch = []
        for img in images:
            x = img.to(self.device, non_blocking=True).float().div(255.0).unsqueeze(0)
            if tuple(x.shape[-2:]) != (INCEPTION_SIZE, INCEPTION_SIZE):
                x = F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
            batch.append(x)
        with torch.no_grad():
            pred = self.model(torch.cat(batch))[0]
        if pred.shape[2] != 1 or pred.shape[3] != 1:
            pred = F.adaptive_avg_pool2d(pred, output_size=(1, 1))
        return pred.squeeze(3).squeeze(2).cpu().numpy().astype(np.float64)


# -- backbone pre-logits ----------------------------------------------------------------------------------------
class BackboneExtractor(FeatureExtractor):
    """The pooled pre-logits (CLS) features of a pretrained ViT (``PromptedViT.pre_logits``, no prompts), on
    images resized straight to its input size and normalised like the task pipeline (ImageNet mean/std), in
    float32 without autocast. The backbone is built on first use (``create_backbone``: local weights or the timm
    cache, with its own clear errors); ``module`` passes an already built timm ViT instead (the demo's)."""

    name = "backbone"

    def __init__(
        self,
        model: str,
        weights: str | Path | None = None,
        img_size: int | None = None,
        device: str | torch.device = "cpu",
        module: torch.nn.Module | None = None,
    ) -> None:
        from vptstudy.models.backbones import default_input_size

        self.model_name, self.img_size = model, img_size
        self.weights = Path(weights).expanduser() if weights else None
        if self.weights is not None and not self.weights.is_file():
            raise UserError(f"weights file {str(self.weights)!r} not found", "--weights", "pass an existing file")
        self.task_size = img_size or default_input_size(model)
        self.device = torch.device(device)
        self._net = None if module is None else self._wrap(module)
        self.module_hash = None if module is None else _state_hash(module)
        self.mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1) * 255.0
        self.std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1) * 255.0

    def _wrap(self, vit: torch.nn.Module) -> torch.nn.Module:
        from vptstudy.models.prompts import PromptedViT

        net = vit if isinstance(vit, PromptedViT) else PromptedViT(vit)
        return net.to(self.device).eval()

    @property
    def net(self) -> torch.nn.Module:
        if self._net is None:
            from vptstudy.models.backbones import create_backbone

            weights = str(self.weights) if self.weights else None
            vit = create_backbone(self.model_name, 0, pretrained=True, weights=weights, img_size=self.img_size)
            self._net = self._wrap(vit)
        return self._net

    @property
    def dims(self) -> int:  # type: ignore[override]
        return int(self.net.vit.num_features)

    def identity(self) -> dict[str, Any]:
        ident: dict[str, Any] = {"extractor": "backbone", "model": self.model_name, "img_size": self.task_size}
        if self.module_hash is not None:
            ident["module_sha1"] = self.module_hash
        elif self.weights is not None:
            ident["weights"] = _file_identity(self.weights)
        else:
            from vptstudy.models.toy import EMBEDDED

            spec = EMBEDDED.get(self.model_name)
            if spec is not None and spec.weights.is_file():
                ident["weights"] = _file_identity(spec.weights)
        ident["normalise"] = {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
        return ident

    def decode_file(self, path: Path) -> torch.Tensor:
        from vptstudy.data.images import decode_resized

        return decode_resized(path, self.task_size)

    def features(self, images: Images) -> np.ndarray:
        from vptstudy.data.images import resize_uint8

        size = self.task_size
        batch = [img if tuple(img.shape[-2:]) == (size, size) else resize_uint8(img[None], size)[0] for img in images]
        x = torch.stack(batch).to(self.device, non_blocking=True)
        x = (x.float() - self.mean) / self.std
        with torch.no_grad():
            feats = self.net.pre_logits(x)
        return feats.float().cpu().numpy().astype(np.float64)


def make_extractor(
    features: str,
    *,
    model: str | None = None,
    weights: str | Path | None = None,
    img_size: int | None = None,
    inception_weights: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> FeatureExtractor:
    """The extractor ``--features`` names; nothing heavy is loaded yet."""
    if features == "inception":
        return InceptionExtractor(inception_weights, device)
    if features == "backbone":
        if not model:
            raise UserError("--features backbone needs a model", "--model", "e.g. --model toy-vit")
        return BackboneExtractor(model, weights, img_size, device)
    raise UserError(f"unknown feature extractor {features!r}", "--features", f"use one of {', '.join(FEATURES)}")
