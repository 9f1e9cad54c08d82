"""The PTB-XL benchmark backbones (Strodthoff et al. 2021, IEEE JBHI 25:1519), written from the
papers' descriptions.

* ``xresnet1d50`` / ``xresnet1d101``: the "bag of tricks" ResNet (He et al. 2019) in 1D as the
  benchmark uses it: a stem of three kernel-5 convolutions (32, 32, 64 channels, the first with
  stride 2) and a max-pool, then bottleneck blocks (1×1 → kernel 5 → 1×1, expansion 4) in
  stages of 3-4-6-3 (50) or 3-4-23-3 (101) blocks, downsampling by 2 from the second stage on
  with average pooling on the identity path, and the last BatchNorm of every block initialised
  to zero. The benchmark keeps every stage at 64 bottleneck channels (256 out), not the
  ImageNet 64-128-256-512: this is what makes its xresnet1d101 a ~1.9 M-parameter network.
* ``inception1d``: InceptionTime (Ismail Fawaz et al. 2020): 6 inception modules (a 1×1
  bottleneck of 32 channels feeding convolutions of 39, 19 and 9 samples, plus max-pool → 1×1,
  32 filters each, 128 out), a residual shortcut (1×1 conv + BN) every third module.
* ``resnet1d_wang``: the FCN-ResNet of Wang, Yan & Oates 2017: 3 residual blocks of three
  convolutions (kernels 8, 5, 3) with 64, 128, 128 filters and a 1×1 conv + BN shortcut. (The
  benchmark's own ``resnet1d_wang`` is a smaller variant: kernel-7 stem and two-conv blocks of
  kernels 5/3 at 128 channels; this one follows the original paper.)

All four end in the benchmark's head (``create_head1d`` in its description): concatenated
adaptive max and average pooling, then BN → dropout 0.25 → linear (128) → ReLU → BN →
dropout 0.5 → linear (outputs). Paddings are fixed per layer, so the graph is static for
``torch.export`` and ONNX and every window length works.
"""

from __future__ import annotations

import torch
from torch import nn

from ecgtriage.models.registry import register_model


def conv_bn(ni: int, nf: int, kernel: int, stride: int = 1, relu: bool = True,
            zero_bn: bool = False) -> nn.Sequential:
    """Conv (no bias, 'same' padding for odd kernels) → BN (→ ReLU)."""
    left = (kernel - 1) // 2
    layers: list[nn.Module] = []
    if kernel % 2 == 0:  # even kernels (Wang's 8): pad asymmetrically to keep the length
        layers.append(nn.ConstantPad1d((left, kernel - 1 - left), 0.0))
        left = 0
    layers.append(nn.Conv1d(ni, nf, kernel, stride=stride, padding=left, bias=False))
    bn = nn.BatchNorm1d(nf)
    if zero_bn:  # the residual branch starts as the identity ("bag of tricks")
        nn.init.zeros_(bn.weight)
    layers.append(bn)
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ConcatPoolHead(nn.Module):
    """Adaptive max ‖ average pooling → BN, dropout, linear (hidden) → ReLU → BN, dropout,
    linear: the benchmark's head (``lin_ftrs_head=[128]``, ``ps_head=0.5``)."""

    def __init__(self, n_features: int, n_outputs: int, hidden: int = 128, dropout: float = 0.5) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.BatchNorm1d(2 * n_features), nn.Dropout(dropout / 2), nn.Linear(2 * n_features, hidden),
            nn.ReLU(), nn.BatchNorm1d(hidden), nn.Dropout(dropout), nn.Linear(hidden, n_outputs),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.layers(torch.cat([h.amax(dim=-1), h.mean(dim=-1)], dim=1))


class ContractNet(nn.Module):
    """Backbone + head with the signal contract's input check (see ``ResNet1d.forward``)."""

    def __init__(self, n_leads: int, n_samples: int, fs: float, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.n_leads, self.n_samples, self.fs = n_leads, n_samples, fs
        self.backbone, self.head = backbone, head
        # How logits become probabilities; set by the trainer and by load_checkpoint.
        self.output_activation: str | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and (
            x.dim() != 3 or x.shape[1] != self.n_leads or x.shape[2] != self.n_samples
        ):
            raise ValueError(f"input: expected shape (batch, {self.n_leads}, {self.n_samples}), "
                             f"found {tuple(x.shape)}")
        return self.head(self.backbone(x))


class XBottleneck(nn.Module):
    """Bottleneck block ``ni → nf`` (1×1, kernel, 1×1 with zero-initialised BN); identity path
    average-pools (stride 2) and projects with 1×1 conv + BN when the width changes."""

    def __init__(self, ni: int, hidden: int, nf: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            conv_bn(ni, hidden, 1), conv_bn(hidden, hidden, kernel, stride),
            conv_bn(hidden, nf, 1, relu=False, zero_bn=True),
        )
        idpath: list[nn.Module] = []
        if stride != 1:
            idpath.append(nn.AvgPool1d(stride, stride, ceil_mode=True))
        if ni != nf:
            idpath.append(conv_bn(ni, nf, 1, relu=False))
        self.idpath = nn.Sequential(*idpath)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.convs(x) + self.idpath(x))


def xresnet1d_backbone(n_leads: int, layers: tuple[int, ...], width: int = 64, expansion: int = 4,
                       kernel: int = 5, stem: tuple[int, ...] = (32, 32, 64)) -> tuple[nn.Module, int]:
    """(backbone, output channels) of an XResNet1d with ``layers`` bottleneck blocks per stage."""
    mods: list[nn.Module] = []
    ch = n_leads
    for i, nf in enumerate(stem):
        mods.append(conv_bn(ch, nf, kernel, stride=2 if i == 0 else 1))
        ch = nf
    mods.append(nn.MaxPool1d(3, stride=2, padding=1))
    ch = width  # the stem's 64 channels feed the first block (64 // expansion × expansion)
    for stage, n_blocks in enumerate(layers):
        blocks = []
        for b in range(n_blocks):
            stride = 2 if stage > 0 and b == 0 else 1
            blocks.append(XBottleneck(ch, width, width * expansion, kernel, stride))
            ch = width * expansion
        mods.append(nn.Sequential(*blocks))
    backbone = nn.Sequential(*mods)
    for m in backbone.modules():  # He init for convolutions (fastai's init_cnn)
        if isinstance(m, nn.Conv1d):
            nn.init.kaiming_normal_(m.weight)
    return backbone, ch


class InceptionModule(nn.Module):
    """Bottleneck 1×1 → parallel convolutions, plus max-pool → 1×1; concatenated, BN, ReLU."""

    def __init__(self, ni: int, filters: int, kernels: tuple[int, ...], bottleneck: int) -> None:
        super().__init__()
        self.bottleneck = nn.Conv1d(ni, bottleneck, 1, bias=False)
        self.convs = nn.ModuleList(
            nn.Conv1d(bottleneck, filters, k, padding=(k - 1) // 2, bias=False) for k in kernels)
        self.pool_conv = nn.Sequential(nn.MaxPool1d(3, 1, padding=1), nn.Conv1d(ni, filters, 1, bias=False))
        self.bn = nn.BatchNorm1d(filters * (len(kernels) + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bottleneck(x)
        return torch.relu(self.bn(torch.cat([c(b) for c in self.convs] + [self.pool_conv(x)], dim=1)))


class InceptionBackbone(nn.Module):
    """``depth`` inception modules with a 1×1 conv + BN shortcut added (then ReLU) every third."""

    def __init__(self, n_leads: int, depth: int = 6, filters: int = 32, kernels: tuple[int, ...] = (39, 19, 9),
                 bottleneck: int = 32) -> None:
        super().__init__()
        if depth % 3:
            raise ValueError(f"depth: expected a multiple of 3, found {depth}")
        width = filters * (len(kernels) + 1)
        self.out_channels = width
        self.modules_ = nn.ModuleList(
            InceptionModule(n_leads if d == 0 else width, filters, kernels, bottleneck) for d in range(depth))
        self.shortcuts = nn.ModuleList(
            conv_bn(n_leads if s == 0 else width, width, 1, relu=False) for s in range(depth // 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = x
        for d, module in enumerate(self.modules_):
            x = module(x)
            if d % 3 == 2:
                x = torch.relu(x + self.shortcuts[d // 3](res))
                res = x
        return x


class WangBlock(nn.Module):
    """Three conv-BN(-ReLU) layers (kernels 8, 5, 3) plus a 1×1 conv + BN shortcut, then ReLU."""

    def __init__(self, ni: int, nf: int, kernels: tuple[int, ...] = (8, 5, 3)) -> None:
        super().__init__()
        layers, ch = [], ni
        for i, k in enumerate(kernels):
            layers.append(conv_bn(ch, nf, k, relu=i < len(kernels) - 1))
            ch = nf
        self.convs = nn.Sequential(*layers)
        self.shortcut = conv_bn(ni, nf, 1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.convs(x) + self.shortcut(x))


def _net(n_leads, n_samples, fs, n_outputs, backbone: nn.Module, width: int) -> ContractNet:
    return ContractNet(n_leads, n_samples, fs, backbone, ConcatPoolHead(width, n_outputs))


@register_model("xresnet1d50")
def xresnet1d50(*, n_leads: int, n_samples: int, fs: float, n_outputs: int) -> ContractNet:
    """XResNet1d-50 of the PTB-XL benchmark (stages 3-4-6-3, kernel 5), ~0.9 M parameters."""
    backbone, width = xresnet1d_backbone(n_leads, (3, 4, 6, 3))
    return _net(n_leads, n_samples, fs, n_outputs, backbone, width)


@register_model("xresnet1d101")
def xresnet1d101(*, n_leads: int, n_samples: int, fs: float, n_outputs: int) -> ContractNet:
    """XResNet1d-101 of the PTB-XL benchmark (stages 3-4-23-3, kernel 5), ~1.9 M parameters:
    the benchmark's best single model on most tasks."""
    backbone, width = xresnet1d_backbone(n_leads, (3, 4, 23, 3))
    return _net(n_leads, n_samples, fs, n_outputs, backbone, width)


@register_model("inception1d")
def inception1d(*, n_leads: int, n_samples: int, fs: float, n_outputs: int) -> ContractNet:
    """InceptionTime as in the benchmark: depth 6, kernels 39/19/9, bottleneck and filters 32."""
    backbone = InceptionBackbone(n_leads)
    return _net(n_leads, n_samples, fs, n_outputs, backbone, backbone.out_channels)


@register_model("resnet1d_wang")
def resnet1d_wang(*, n_leads: int, n_samples: int, fs: float, n_outputs: int) -> ContractNet:
    """Wang et al. 2017 FCN-ResNet: 3 blocks (kernels 8/5/3; 64, 128, 128 filters), no striding."""
    backbone = nn.Sequential(WangBlock(n_leads, 64), WangBlock(64, 128), WangBlock(128, 128))
    return _net(n_leads, n_samples, fs, n_outputs, backbone, 128)
