"""E2VPT prompt pruning: mask-gradient importance scores, token-wise then segment-wise pruning, and rewinding.

The importance of a prompt token (or segment) is the expected sensitivity of the loss to a mask variable rho that
scales it (E2VPT eq. 6): ``S = E_x |dL(x)/drho|`` at rho = 1. For ``P~ = rho * P`` that derivative is the sum of
``grad(P) * P`` over the token's (or segment's) entries, so no mask tensor is needed to compute it; the
expectation is the mean over the training batches. Per layer, the lowest-scoring fraction of tokens is pruned,
then the kept tokens are cut into R equal segments, scored again, and the lowest-scoring fraction of segments is
zeroed. A pruned token is zeroed in place (mode ``zero``, as the official code masks it: the zero token still joins
attention) or removed (mode ``remove``: the prompt tensor shrinks, so it takes no part in attention and is not
counted as tuned; faster, and not the same function). Pruning is per layer; the official code shares one token
and one segment mask across layers and ranks by the signed mean gradient (docs/protocol.md, Deviations 3).

Pruned segments are held at exactly zero while the kept prompts are retrained (their gradient is masked), so a
run's stored prompt tensor carries its own segment mask: loading it restores the mask (a load hook reads the zeros).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from vptstudy.errors import UserError

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


def fraction(value: float, key: str) -> float:
    """A pruning fraction in [0, 1]."""
    if not 0.0 <= value <= 1.0:
        raise UserError(f"method option {key}={value} is not a fraction", "--method-option", f"use 0 <= {key} <= 1")
    return value


def count_pruned(total: int, frac: float) -> int:
    """How many of ``total`` items a fraction removes (rounded half up)."""
    return min(total, int(frac * total + 0.5))


def importance(model: nn.Module, batches: Batches, segments: int = 1) -> torch.Tensor:
    """Mask-gradient importance of every prompt token (``segments=1``, shape ``[L, p]``) or segment (``[L, p, R]``)."""
    prompt = model.prompt
    layers, p, dim = prompt.shape
    total = torch.zeros(layers, p, segments, device=prompt.device, dtype=torch.float64)
    count = 0
    was_training = model.training
    model.eval()
    with torch.enable_grad():
        for x, y in batches:
            loss = F.cross_entropy(model(x).float(), y)
            (grad,) = torch.autograd.grad(loss, prompt)
            total += (grad * prompt).detach().view(layers, p, segments, dim // segments).sum(-1).abs().double()
            count += 1
    model.train(was_training)
    if count == 0:
        raise ValueError("no batches to score the prompts on")
    scores = (total / count).float()
    return scores.squeeze(-1) if segments == 1 else scores


def lowest(scores: torch.Tensor, count: int) -> torch.Tensor:
    """A keep mask over the last dim of ``scores`` (per row) that drops the ``count`` lowest-scoring entries."""
    keep = torch.ones_like(scores, dtype=torch.bool)
    if count:
        order = torch.sort(scores, dim=-1, stable=True).indices
        keep.scatter_(-1, order[..., :count], False)
    return keep


class SegmentMask(nn.Module):
    """Which prompt segments survive pruning (``keep``: ``[L, p, R]``); masks gradients so pruned ones stay 0."""

    def __init__(self, keep: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("keep", keep.clone(), persistent=False)

    def expanded(self, dim: int) -> torch.Tensor:
        """The mask over prompt entries: ``[L, p, D]``."""
        return self.keep.repeat_interleave(dim // self.keep.shape[-1], dim=-1)

    def mask_grad(self, grad: torch.Tensor) -> torch.Tensor:
        return grad * self.expanded(grad.shape[-1]).to(grad.dtype)

    @torch.no_grad()
    def apply_(self, prompt: torch.Tensor) -> None:
        prompt.mul_(self.expanded(prompt.shape[-1]).to(prompt.dtype))

    @torch.no_grad()
    def read_zeros(self, prompt: torch.Tensor) -> None:
        """Set the mask from a prompt tensor: a segment is pruned when all its entries are exactly zero."""
        layers, p, dim = prompt.shape
        segments = self.keep.shape[-1]
        self.keep = prompt.detach().view(layers, p, segments, dim // segments).ne(0).any(-1)


def _after_load(model: nn.Module, incompatible: object) -> None:
    model.prompt_segments.read_zeros(model.prompt)


def keep_tokens(model: nn.Module, index: torch.Tensor, values: torch.Tensor | None = None) -> None:
    """Shrink the deep prompts to the tokens at ``index`` (``[L, k]``), taking them from ``values`` if given."""
    source = model.prompt.detach() if values is None else values.to(model.prompt.device, model.prompt.dtype)
    rows = torch.arange(source.shape[0], device=source.device).unsqueeze(1)
    model.prompt = nn.Parameter(source[rows, index.to(source.device)].clone())


def install_segment_mask(model: nn.Module, keep: torch.Tensor) -> SegmentMask:
    """Zero the pruned segments, mask their gradients, and re-read the mask whenever a state dict is loaded."""
    mask = SegmentMask(keep.to(model.prompt.device))
    model.prompt_segments = mask
    mask.apply_(model.prompt)
    model.prompt.register_hook(mask.mask_grad)
    model.register_load_state_dict_post_hook(_after_load)
    return mask


def kept_index(keep: torch.Tensor) -> torch.Tensor:
    """``[L, k]`` indices of the kept tokens of a ``[L, p]`` keep mask with the same count per row, in order."""
    k = int(keep[0].sum())
    return torch.sort(keep.to(torch.int8), dim=-1, descending=True, stable=True).indices[:, :k].sort(-1).values


PRUNE_MODES = ("zero", "remove")


def prune(
    model: nn.Module,
    batches: Callable[[], Batches] | None,
    token_fraction: float,
    segment_fraction: float,
    segments: int,
    mode: str = "remove",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-wise then segment-wise pruning of ``model.prompt``; returns (kept token index ``[L, k]``, segment keep).

    ``mode`` ``remove`` shrinks the prompt tensor to the kept tokens (segment keep ``[L, k, R]``); ``zero`` keeps
    every token in place and marks the pruned ones' segments as dropped (index ``[L, p]``, keep ``[L, p, R]``), so
    they are held at zero and still take part in attention, as the official code masks them. Segment pruning then
    removes the same fraction of the kept tokens' segments in both modes.

    With ``batches`` None the structure alone is set up (the first tokens kept, no segment pruned): this is how a
    model is rebuilt before a run's stored (already pruned) tensors are loaded into it.
    """
    if mode not in PRUNE_MODES:
        raise ValueError(f"prune mode {mode!r} is not one of {PRUNE_MODES}")
    layers, p, _ = model.prompt.shape
    drop_tokens = count_pruned(p, token_fraction)
    k = p - drop_tokens
    token_keep = torch.zeros(layers, p, dtype=torch.bool)
    token_keep[:, :k] = True
    if batches is not None and drop_tokens:
        token_keep = lowest(importance(model, batches()), drop_tokens).cpu()
    drop_segments = count_pruned(k * segments, segment_fraction)
    if mode == "remove":
        index = kept_index(token_keep)
        keep_tokens(model, index)
        keep = torch.ones(layers, k * segments, dtype=torch.bool)
        if batches is not None and drop_segments:
            keep = lowest(importance(model, batches(), segments).reshape(layers, k * segments), drop_segments)
        return index.cpu(), keep.view(layers, k, segments).cpu()
    index = torch.arange(p).expand(layers, -1)
    keep = token_keep.unsqueeze(-1).expand(-1, -1, segments).clone()
    if batches is None:  # structure only: the stored zeros carry the mask (see install_segment_mask)
        return index, torch.ones(layers, p, segments, dtype=torch.bool)
    SegmentMask(keep.to(model.prompt.device)).apply_(model.prompt)
    if drop_segments:
        scores = importance(model, batches(), segments).cpu()
        scores[~keep] = -float("inf")  # pruned tokens' segments are dropped first, then the lowest kept ones
        keep = lowest(scores.reshape(layers, p * segments), drop_segments + drop_tokens * segments)
    return index, keep.view(layers, p, segments)
