"""The three-camera CNN pose estimator and its loss.

One convolutional tower (shared weights) looks at each camera's crop; a spatial softmax turns its last
feature maps into expected keypoint coordinates (good for precise positions), concatenated with globally
pooled features. The three cameras' features, in the fixed camera order, are fused by an MLP into the
object position (a bounded offset from a reference point) and a unit quaternion.

The graph takes raw uint8 camera images: crop, average-pool downsampling and pixel normalisation are the
first layers, so the exported ONNX model needs no preprocessing outside it. Training feeds pre-cropped,
pre-pooled images (`forward_pooled`) to save time; the two paths are the same computation.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class PoseNetConfig:
    cameras: int = 3
    image_size: tuple[int, int] = (200, 200)  # camera height, width
    crop: tuple[int, int, int, int] = (20, 20, 160, 160)  # top, left, height, width
    downsample: int = 2  # -> 80 x 80 network input
    channels: tuple[int, ...] = (32, 32, 64, 64, 128, 128)  # conv widths; strides 2,1,2,1,2,1
    hidden: int = 512
    pixel_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    pixel_std: tuple[float, float, float] = (0.25, 0.25, 0.25)
    position_reference: tuple[float, float, float] = (1.0, 0.87, 0.17)  # m, world: the object on the palm
    position_range: float = 0.15  # m: the largest offset from the reference the head can output

    @property
    def input_size(self) -> tuple[int, int]:
        return self.crop[2] // self.downsample, self.crop[3] // self.downsample


class SpatialSoftmax(nn.Module):
    """(B, C, H, W) -> (B, 2C) expected x, y of each channel's softmax over the image, in [-1, 1]."""

    def forward(self, x):
        b, c, h, w = x.shape
        weights = F.softmax(x.flatten(2), dim=-1).view(b, c, h, w)
        ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype)
        expected_x = (weights.sum(dim=2) * xs).sum(dim=-1)
        expected_y = (weights.sum(dim=3) * ys).sum(dim=-1)
        return torch.cat([expected_x, expected_y], dim=1)


class PoseNet(nn.Module):
    def __init__(self, config: PoseNetConfig = PoseNetConfig()):
        super().__init__()
        self.config = config
        layers, width = [], 3
        for i, out in enumerate(config.channels):
            stride = 2 if i % 2 == 0 else 1
            kernel = 5 if i == 0 else 3
            layers += [nn.Conv2d(width, out, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            width = out
        self.tower = nn.Sequential(*layers)
        self.keypoints = SpatialSoftmax()
        features = config.cameras * 3 * width  # per camera: 2 coordinates + 1 pooled value per channel
        self.head = nn.Sequential(nn.Linear(features, config.hidden), nn.ReLU(inplace=True),
                                  nn.Linear(config.hidden, config.hidden // 2), nn.ReLU(inplace=True),
                                  nn.Linear(config.hidden // 2, 7))
        self.register_buffer("pixel_mean", torch.tensor(config.pixel_mean).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("pixel_std", torch.tensor(config.pixel_std).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("position_reference", torch.tensor(config.position_reference))

    def pool(self, images: torch.Tensor) -> torch.Tensor:
        """Raw (B, cams, H, W, 3) uint8 -> cropped, downsampled (B, cams, 3, h, w) float in [0, 255]."""
        top, left, height, width = self.config.crop
        b, cams = images.shape[:2]
        x = images[:, :, top:top + height, left:left + width, :].permute(0, 1, 4, 2, 3).float()
        x = F.avg_pool2d(x.reshape(b * cams, 3, height, width), self.config.downsample)
        return x.view(b, cams, 3, x.shape[-2], x.shape[-1])

    def forward_pooled(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, cams, 3, h, w) in [0, 255] (any dtype) -> position (B, 3) m, quaternion (B, 4) wxyz, unit."""
        b, cams = pooled.shape[:2]
        x = (pooled.float().flatten(0, 1) - self.pixel_mean) / self.pixel_std
        maps = self.tower(x)
        with torch.autocast(maps.device.type, enabled=False):  # keypoints and head in float32, even in bf16 training
            maps = maps.float()
            features = torch.cat([self.keypoints(maps), maps.mean(dim=(2, 3))], dim=1)
            out = self.head(features.view(b, -1))
        position = self.position_reference + self.config.position_range * torch.tanh(out[:, :3])
        quaternion = F.normalize(out[:, 3:], dim=1, eps=1e-6)
        return position, quaternion

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_pooled(self.pool(images))


def angular_error(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Rotation angle (rad) between unit quaternions; q and -q are the same rotation."""
    dot = (predicted * target).sum(dim=-1).abs().clamp(max=1.0 - 1e-7)
    return 2.0 * torch.acos(dot)


@dataclass(frozen=True)
class LossWeights:
    position_per_cm: float = 1.0  # loss per centimetre of position error
    orientation_per_rad: float = 5.0  # loss per radian of rotation error (10 deg ~ 0.87, like 8.7 mm)


def pose_loss(position, quaternion, target_position, target_quaternion, weights: LossWeights = LossWeights()):
    """Position L2 distance plus the sign-invariant geodesic angle; returns (loss, position m, angle rad)."""
    position_error = torch.linalg.vector_norm(position - target_position, dim=-1)
    angle = angular_error(quaternion, target_quaternion)
    loss = weights.position_per_cm * 100.0 * position_error.mean() + weights.orientation_per_rad * angle.mean()
    return loss, position_error, angle
