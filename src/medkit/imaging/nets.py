"""Network factories (MONAI) and the preprocessing module exported with them to ONNX."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from medkit.core.errors import ConfigError

__all__ = ["Preprocess", "WithPreprocess", "make_classifier_net", "make_segmenter_net"]


def make_classifier_net(arch: str, *, in_channels: int = 1, n_classes: int = 2, width: int = 16) -> nn.Module:
    """A 2-D CNN classifier from MONAI.

    ``resnet``: ResNet-10-style (basic blocks, one per stage, widths ``width·(1,2,4,8)``);
    ``densenet``: DenseNet with 3 dense blocks (4 layers each), ``init_features=width``, growth ``width/2``.
    """
    from monai.networks.nets import DenseNet, ResNet

    if arch == "resnet":
        return ResNet(block="basic", layers=[1, 1, 1, 1], block_inplanes=[width, 2 * width, 4 * width, 8 * width],
                      spatial_dims=2, n_input_channels=in_channels, num_classes=n_classes, conv1_t_size=5,
                      conv1_t_stride=2)
    if arch == "densenet":
        return DenseNet(spatial_dims=2, in_channels=in_channels, out_channels=n_classes, init_features=width,
                        growth_rate=max(4, width // 2), block_config=(4, 4, 4), bn_size=2)
    raise ConfigError(f"unknown classifier architecture '{arch}'", where="model.arch", fix="use 'resnet' or 'densenet'")


def make_segmenter_net(arch: str, *, in_channels: int = 1, n_classes: int = 2,
                       channels: tuple[int, ...] = (16, 32, 64, 128), num_res_units: int = 1,
                       spatial_dims: int = 2) -> nn.Module:
    """A 2-D or 3-D UNet from MONAI: ``unet`` (residual units, strided convs) or ``basicunet``."""
    from monai.networks.nets import BasicUNet, UNet

    if spatial_dims not in (2, 3):
        raise ConfigError(f"spatial_dims must be 2 or 3, got {spatial_dims}", where="model.spatial_dims",
                          fix="use 2 for pictures/slices, 3 for volumes")
    if arch == "unet":
        return UNet(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=n_classes,
                    channels=tuple(channels), strides=(2,) * (len(channels) - 1), num_res_units=num_res_units,
                    norm="batch")
    if arch == "basicunet":
        feats = (*channels[:5], channels[0])
        if len(feats) != 6:
            raise ConfigError("basicunet needs 5 channel widths", where="model.channels", fix="e.g. (16,32,64,128,256)")
        return BasicUNet(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=n_classes, features=feats)
    raise ConfigError(f"unknown segmenter architecture '{arch}'", where="model.arch", fix="use 'unet' or 'basicunet'")


class Preprocess(nn.Module):
    """Intensity preprocessing as a module, so the ONNX graph holds it: ``(x / scale - mean) / std``.

    ``x`` is ``(B, C, H, W)`` in the stored range (0-255 for 8-bit pictures); geometry (resizing) is done
    before, on the host, because antialiased resizing has no exact ONNX equivalent.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, scale: float, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.scale = float(scale)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x / self.scale - self.mean) / self.std

    def config(self) -> dict[str, Any]:
        return {"scale": self.scale, "mean": self.mean.flatten().tolist(), "std": self.std.flatten().tolist()}


class WithPreprocess(nn.Module):
    """``softmax(net(preprocess(x)))`` over the class axis: probabilities straight from raw pixels."""

    pre: Preprocess
    net: nn.Module

    def __init__(self, pre: Preprocess, net: nn.Module) -> None:
        super().__init__()
        self.pre = pre
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(self.pre(x)), dim=1)
