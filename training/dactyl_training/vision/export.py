"""Export the pose estimator to a self-describing ONNX file (contract: dactyl_core.vision.pose_model)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from dactyl_core.vision.pose_model import IMAGES_INPUT, ORIENTATION_OUTPUT, POSITION_OUTPUT, PoseModelMetadata

from ..export import git_revision, write_onnx
from .pose_net import PoseNet


def pose_model_metadata(model: PoseNet, cameras: list[str], object_name: str, training_summary: str = "") -> PoseModelMetadata:
    c = model.config
    return PoseModelMetadata(cameras=tuple(cameras), image_height=c.image_size[0], image_width=c.image_size[1],
                             encoding="rgb8", crop=tuple(c.crop), downsample=c.downsample, pixel_mean=tuple(c.pixel_mean),
                             pixel_std=tuple(c.pixel_std), output_frame="world", object=object_name,
                             training_summary=training_summary, git_revision=git_revision(),
                             network=json.dumps(dataclasses.asdict(c)))


def export_pose_model(model: PoseNet, metadata: PoseModelMetadata, path: str | Path) -> Path:
    """Write `model` (eval mode, float32) with `metadata` to `path`: ONNX opset 18, dynamic batch."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().float()
    if len(metadata.cameras) != model.config.cameras:
        raise ValueError(f"metadata lists {len(metadata.cameras)} cameras, the network takes {model.config.cameras}")
    example = torch.zeros(2, model.config.cameras, *model.config.image_size, 3, dtype=torch.uint8)
    return write_onnx(model, (example,), path, [IMAGES_INPUT], [POSITION_OUTPUT, ORIENTATION_OUTPUT],
                      ({0: torch.export.Dim("batch")},), metadata.to_props(),
                      f"dactyl three-camera pose estimator for the {metadata.object}")
