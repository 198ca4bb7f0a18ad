"""Encoder and decoder networks: MLP, convolutional, residual (the paper's appendix C families).

Every network maps flat vectors: images travel through the streams flattened, and the image
encoders unflatten them to (C, H, W) themselves, so data, anchors and metrics never depend on
the architecture. Decoders mirror their encoders (transposed convolutions for the image ones).

Image networks halve the resolution with stride-2 4x4 convolutions while the side is even and
larger than 7: 28x28 -> 14 -> 7 (2 stages), 64x64 -> 4x4 (4 stages), 128x128 -> 4x4 (5 stages,
the deeper birdsong-sized network), 8x8 -> 4x4 (1 stage). Channels double per stage from 32 up to
256. ``resnet`` adds residual blocks (two 3x3 convolutions with a skip) after each stage.

Variants (appendix F, for models that differ from the template's): ``simple`` has one residual
block fewer per stage (MLP: one hidden layer fewer), ``complex`` one more; ``same`` is the
default. The plain ``conv`` family has only ``same``.
"""

from __future__ import annotations

from torch import Tensor, nn

from rosetta_cl.config.choices import ARCH_CONSTRAINTS, ARCHITECTURES, VARIANTS  # noqa: F401

_RESIDUAL_BLOCKS = {"simple": 1, "same": 2, "complex": 3}  # per stage, resnet


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def mlp_hidden(hidden: tuple[int, ...], variant: str) -> tuple[int, ...]:
    if variant == "simple":
        return hidden[:-1] if len(hidden) > 1 else hidden
    if variant == "complex":
        return (*hidden, hidden[-1])
    return hidden


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def stage_plan(image_shape: tuple[int, int, int]) -> list[int]:
    """Channels after each stride-2 stage for a (C, H, W) image."""
    _, height, width = image_shape
    channels: list[int] = []
    side = min(height, width)
    while side > 7 and side % 2 == 0 and height % 2 == 0 and width % 2 == 0:
        channels.append(min(32 * 2 ** len(channels), 256))
        side, height, width = side // 2, height // 2, width // 2
    return channels


def feature_shape(image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    plan = stage_plan(image_shape)
    c, h, w = image_shape
    scale = 2 ** len(plan)
    return (plan[-1] if plan else c, h // scale, w // scale)


def conv_encoder(image_shape, arch: str, variant: str) -> nn.Sequential:
    """Flat (B, C*H*W) -> flat features (B, F)."""
    blocks = _RESIDUAL_BLOCKS[variant] if arch == "resnet" else 0
    layers: list[nn.Module] = [nn.Unflatten(1, tuple(image_shape))]
    c_in = image_shape[0]
    for c_out in stage_plan(image_shape):
        layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)]
        layers += [ResidualBlock(c_out) for _ in range(blocks)]
        layers.append(nn.ReLU())
        c_in = c_out
    layers.append(nn.Flatten())
    return nn.Sequential(*layers)


def conv_decoder(image_shape, arch: str, variant: str) -> nn.Sequential:
    """Flat features (B, F) -> flat output (B, C*H*W); the encoder's stages in reverse."""
    blocks = _RESIDUAL_BLOCKS[variant] if arch == "resnet" else 0
    plan = stage_plan(image_shape)
    layers: list[nn.Module] = [nn.Unflatten(1, feature_shape(image_shape))]
    outs = [*reversed(plan[:-1]), image_shape[0]]
    for i, (c_in, c_out) in enumerate(zip(reversed(plan), outs, strict=True)):
        layers += [ResidualBlock(c_in) for _ in range(blocks)]
        layers.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1))
        if i < len(plan) - 1:
            layers.append(nn.ReLU())
    layers.append(nn.Flatten())
    return nn.Sequential(*layers)


def build_networks(input_dim: int, head_dim: int, latent_dim: int, hidden: tuple[int, ...],
                   arch: str, variant: str, image_shape) -> tuple[nn.Module, nn.Module]:
    """(encoder: x -> head_dim outputs, decoder: z -> input_dim outputs)."""
    if arch == "mlp":
        hidden = mlp_hidden(hidden, variant)
        return mlp([input_dim, *hidden, head_dim]), mlp([latent_dim, *reversed(hidden), input_dim])
    c, h, w = feature_shape(image_shape)
    features = c * h * w
    encoder = nn.Sequential(conv_encoder(image_shape, arch, variant),
                            mlp([features, *hidden, head_dim]))
    decoder = nn.Sequential(mlp([latent_dim, *reversed(hidden), features]), nn.ReLU(),
                            conv_decoder(image_shape, arch, variant))
    return encoder, decoder
