"""Shared fixtures: tiny timm ViTs, temporary run roots, and a network block."""

from __future__ import annotations

import socket

import pytest
import torch
from timm.models.vision_transformer import VisionTransformer


def tiny_vit(num_classes: int = 10, **overrides) -> VisionTransformer:
    """A timm ViT small enough for CPU tests: 32x32 input, patch 8, width 32, depth 2."""
    args = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0)
    args.update(overrides)
    return VisionTransformer(num_classes=num_classes, **args)


# Tiny models gain nothing from intra-op threads, and on a shared 2-core machine threads oversubscribe.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket fails the test loudly."""

    def guard(*args, **kwargs):
        raise AssertionError("network access attempted in a test")

    monkeypatch.setattr(socket, "create_connection", guard)
    monkeypatch.setattr(socket.socket, "connect", guard)
    yield
