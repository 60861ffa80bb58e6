"""Classic multiscale pixel features in torch: what ilastik-style classifiers learn from.

Per input channel and per scale sigma: the Gaussian-smoothed intensity, its gradient
magnitude, and the two eigenvalues of its Hessian (blob, ridge and edge detectors).
Computed with separable convolutions and reflect padding, so the bank runs inside
`predict`'s tiles, on the CPU or a GPU, and gives the same features at training and
prediction time.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

DEFAULT_SIGMAS = (1.0, 2.0, 4.0, 8.0, 16.0)
FEATURES_PER_SCALE = 4  # smoothed, gradient magnitude, Hessian eigenvalues (2)


def gaussian_kernel(sigma: float) -> Tensor:
    """A normalized 1D Gaussian truncated at 3 sigma (at least 3 taps)."""
    radius = max(1, int(3 * sigma + 0.5))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


class FilterBank(nn.Module):
    """Multiscale Gaussian, gradient and Hessian features of each input channel.

    Args:
        in_channels: channels of the input.
        sigmas: Gaussian scales in pixels.

    Input B x C x H x W; output B x (C * len(sigmas) * 4) x H x W.
    """

    def __init__(self, in_channels: int = 3, sigmas: Sequence[float] = DEFAULT_SIGMAS) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        self.sigmas = tuple(float(s) for s in sigmas)
        for index, sigma in enumerate(self.sigmas):
            self.register_buffer(f"gauss{index}", gaussian_kernel(sigma), persistent=False)
        self.register_buffer("derivatives", derivative_kernels(), persistent=False)

    @property
    def num_features(self) -> int:
        return self.in_channels * len(self.sigmas) * FEATURES_PER_SCALE

    def forward(self, x: Tensor) -> Tensor:
        batch, channels, height, width = x.shape
        flat = x.float().reshape(batch * channels, 1, height, width)
        features = []
        for index in range(len(self.sigmas)):
            smooth = _separable(flat, getattr(self, f"gauss{index}"))
            features.append(_differential_features(smooth, self.derivatives))
        stacked = torch.cat(features, dim=1)  # (B*C) x (S*4) x H x W
        return stacked.reshape(batch, channels * stacked.shape[1], height, width)


def _separable(x: Tensor, kernel: Tensor) -> Tensor:
    radius = kernel.numel() // 2
    rows = min(radius, x.shape[-2] - 1)
    cols = min(radius, x.shape[-1] - 1)
    x = F.pad(x, (cols, cols, rows, rows), mode="reflect") if rows and cols else x
    if rows and cols:
        x = F.conv2d(x, _centre(kernel, rows).view(1, 1, -1, 1))
        x = F.conv2d(x, _centre(kernel, cols).view(1, 1, 1, -1))
    return x


def _centre(kernel: Tensor, radius: int) -> Tensor:
    """The kernel cut to ``radius`` (for images smaller than the kernel), renormalized."""
    middle = kernel.numel() // 2
    cut = kernel[middle - radius : middle + radius + 1]
    return cut / cut.sum()


def derivative_kernels() -> Tensor:
    """5 x 1 x 5 x 5 central-difference kernels: d/dr, d/dc, d2/dr2, d2/drdc, d2/dc2."""
    first = torch.tensor([-0.5, 0.0, 0.5])
    second = torch.tensor([0.25, 0.0, -0.5, 0.0, 0.25])  # first convolved with itself
    kernels = torch.zeros(5, 1, 5, 5)
    kernels[0, 0, 1:4, 2] = first
    kernels[1, 0, 2, 1:4] = first
    kernels[2, 0, :, 2] = second
    kernels[3, 0, 1:4, 1:4] = torch.outer(first, first)
    kernels[4, 0, 2, :] = second
    return kernels


def _differential_features(smooth: Tensor, kernels: Tensor) -> Tensor:
    """Smoothed image, gradient magnitude and Hessian eigenvalues, as 4 channels."""
    padded = F.pad(smooth, (2, 2, 2, 2), mode="replicate")
    d_r, d_c, d_rr, d_rc, d_cc = F.conv2d(padded, kernels).unbind(1)
    gradient = torch.hypot(d_r, d_c)
    half_trace = (d_rr + d_cc) / 2
    spread = torch.hypot((d_rr - d_cc) / 2, d_rc)
    return torch.stack([smooth[:, 0], gradient, half_trace + spread, half_trace - spread], 1)
