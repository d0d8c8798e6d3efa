"""Render sets in memory for training and evaluation: images cropped and downsampled as the network's
first layers would, stored as uint8, with the world-frame pose labels.

`PooledFrames.refresh()` rereads the manifest and loads only shards it has not seen, so a training run can
start on a render set that is still being written and grow with it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dactyl_core.vision.dataset import Dataset, DatasetError, open_dataset

from .pose_net import PoseNetConfig


def pool_images(images: np.ndarray, config: PoseNetConfig) -> np.ndarray:
    """(N, cams, H, W, 3) uint8 -> (N, cams, 3, h, w) uint8: crop, average-pool, round (as PoseNet.pool)."""
    top, left, height, width = config.crop
    k = config.downsample
    x = images[:, :, top:top + height, left:left + width, :].astype(np.float32)
    n, cams = x.shape[:2]
    x = x.reshape(n, cams, height // k, k, width // k, k, 3).mean(axis=(3, 5))
    return np.round(x).astype(np.uint8).transpose(0, 1, 4, 2, 3).copy()


@dataclass
class PooledFrames:
    root: Path
    config: PoseNetConfig
    on_bad_shard: str = "error"
    images: list[np.ndarray] = field(default_factory=list)
    positions: list[np.ndarray] = field(default_factory=list)
    quaternions: list[np.ndarray] = field(default_factory=list)
    loaded: dict[str, str] = field(default_factory=dict)  # shard file -> sha256
    skipped: list[str] = field(default_factory=list)
    cameras: list[str] = field(default_factory=list)

    def refresh(self, progress=None) -> int:
        """Load shards added since the last call; returns how many frame sets were added."""
        dataset: Dataset = open_dataset(self.root, self.on_bad_shard, known=self.loaded)
        if self.cameras and dataset.cameras != self.cameras:
            raise DatasetError(f"{self.root}: camera list changed from {self.cameras} to {dataset.cameras}")
        self.cameras = dataset.cameras
        self.skipped = dataset.skipped
        added = 0
        for entry in dataset.shards:
            if entry["file"] in self.loaded:
                continue
            shard = dataset.load_shard(entry)
            self.images.append(pool_images(shard["images"], self.config))
            self.positions.append(shard["position_world"].astype(np.float32))
            self.quaternions.append(shard["quat_world"].astype(np.float32))
            self.loaded[entry["file"]] = entry["sha256"]
            added += len(shard["images"])
            if progress:
                progress(entry["file"])
        if added:
            self._tensors = None
        return added

    def __len__(self) -> int:
        return sum(len(p) for p in self.positions)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if getattr(self, "_tensors", None) is None:
            if not self.positions:
                raise DatasetError(f"{self.root}: no usable shards yet")
            self._tensors = (torch.from_numpy(np.concatenate(self.images)), torch.from_numpy(np.concatenate(self.positions)),
                             torch.from_numpy(np.concatenate(self.quaternions)))
        return self._tensors
