"""1D residual networks for (n_leads, n_samples) ECG windows.

The residual block follows Ribeiro et al. 2020 (Nat Commun 11:1760): the main branch is
conv → BN → ReLU → dropout → strided conv, the skip branch is max-pooling (plus a 1×1 conv when
the width changes); the sum goes through BN → ReLU → dropout. Paddings are computed from the
known input length so that both branches give exactly ``ceil(length / stride)`` samples for any
window length, which keeps the graph static for ``torch.export`` and ONNX.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ecgtriage.models.registry import register_model


def _same_pad(kernel: int) -> tuple[int, int]:
    left = (kernel - 1) // 2
    return left, kernel - 1 - left


def _strided_pad(length: int, kernel: int, stride: int) -> tuple[int, int]:
    """Total padding making a strided conv return ``ceil(length / stride)`` samples."""
    total = max(kernel - stride + (-length) % stride, 0)
    out = (length + total - kernel) // stride + 1
    if out != math.ceil(length / stride):  # kernel shorter than stride: pad the rest
        total += (math.ceil(length / stride) - out) * stride
    left = total // 2
    return left, total - left


class ResidualBlock1d(nn.Module):
    """One downsampling residual stage for inputs of a known length."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, stride: int, length: int, dropout: float
    ) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.ConstantPad1d(_same_pad(kernel), 0.0),
            nn.Conv1d(in_ch, out_ch, kernel, bias=False),
        )
        self.bn1 = nn.BatchNorm1d(out_ch)
        self.drop1 = nn.Dropout(dropout)
        self.conv2 = nn.Sequential(
            nn.ConstantPad1d(_strided_pad(length, kernel, stride), 0.0),
            nn.Conv1d(out_ch, out_ch, kernel, stride=stride, bias=False),
        )
        skip: list[nn.Module] = []
        if stride > 1:
            skip.append(nn.MaxPool1d(stride, stride, ceil_mode=True))
        if in_ch != out_ch:
            skip.append(nn.Conv1d(in_ch, out_ch, 1, bias=False))
        self.skip = nn.Sequential(*skip)
        self.bn2 = nn.BatchNorm1d(out_ch)
        self.drop2 = nn.Dropout(dropout)
        self.out_length = math.ceil(length / stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop1(torch.relu(self.bn1(self.conv1(x))))
        h = self.conv2(h) + self.skip(x)
        return self.drop2(torch.relu(self.bn2(h)))


class ResNet1d(nn.Module):
    """Stem conv, residual stages, global average pooling and a linear head (logits out).

    Parameters
    ----------
    n_leads, n_samples, fs, n_outputs : the signal contract (see ``create_model``).
    stem_filters : width of the first convolution.
    stage_filters : width of each residual stage.
    kernel_size : convolution length in samples.
    downsample : stride of each stage (same length as ``stage_filters``).
    dropout : dropout rate after each activation inside the blocks.
    """

    def __init__(
        self,
        *,
        n_leads: int,
        n_samples: int,
        fs: float,
        n_outputs: int,
        stem_filters: int,
        stage_filters: tuple[int, ...],
        kernel_size: int,
        downsample: tuple[int, ...],
        dropout: float,
    ) -> None:
        super().__init__()
        if len(stage_filters) != len(downsample):
            raise ValueError(
                f"stage_filters has {len(stage_filters)} stages but downsample has {len(downsample)}"
            )
        self.n_leads, self.n_samples, self.fs = n_leads, n_samples, fs
        self.stem = nn.Sequential(
            nn.ConstantPad1d(_same_pad(kernel_size), 0.0),
            nn.Conv1d(n_leads, stem_filters, kernel_size, bias=False),
            nn.BatchNorm1d(stem_filters),
            nn.ReLU(),
        )
        blocks = []
        length, width = n_samples, stem_filters
        for filters, stride in zip(stage_filters, downsample):
            block = ResidualBlock1d(width, filters, kernel_size, stride, length, dropout)
            blocks.append(block)
            length, width = block.out_length, filters
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(width, n_outputs)
        # How logits become probabilities ("sigmoid", "softmax" or "corn"); set by the trainer
        # and by load_checkpoint from the model card, read by predict_proba and export.
        self.output_activation: str | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Shapes are static when tracing for ONNX; the check is for eager callers.
        if not torch.jit.is_tracing() and (
            x.dim() != 3 or x.shape[1] != self.n_leads or x.shape[2] != self.n_samples
        ):
            raise ValueError(
                f"input: expected shape (batch, {self.n_leads}, {self.n_samples}), "
                f"found {tuple(x.shape)}"
            )
        h = self.blocks(self.stem(x))
        return self.head(h.mean(dim=-1))


@register_model("resnet1d_small")
def resnet1d_small(*, n_leads: int, n_samples: int, fs: float, n_outputs: int) -> ResNet1d:
    """Compact default: 4 stages (32→48→64→96→128), kernel 9, strides 4-2-2-2, ~0.5 M parameters.

    Trains in minutes on a laptop CPU at 100 Hz × 10 s.
    """
    return ResNet1d(
        n_leads=n_leads, n_samples=n_samples, fs=fs, n_outputs=n_outputs,
        stem_filters=32, stage_filters=(48, 64, 96, 128), kernel_size=9,
        downsample=(4, 2, 2, 2), dropout=0.1,
    )


@register_model("resnet1d_ribeiro")
def resnet1d_ribeiro(*, n_leads: int, n_samples: int, fs: float, n_outputs: int) -> ResNet1d:
    """Ribeiro et al. 2020: 4 residual stages, kernel 16, filters 64→128→196→256→320, stride 4.

    The original flattens the last feature map into a dense layer for 4,096-sample inputs; global
    average pooling is used here instead so that any window length works.
    """
    return ResNet1d(
        n_leads=n_leads, n_samples=n_samples, fs=fs, n_outputs=n_outputs,
        stem_filters=64, stage_filters=(128, 196, 256, 320), kernel_size=16,
        downsample=(4, 4, 4, 4), dropout=0.2,
    )
