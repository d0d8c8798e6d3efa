"""Export the pose estimator to a self-describing ONNX file (contract: dactyl_core.vision.pose_model)."""
from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from pathlib import Path

import onnx
import torch

from dactyl_core.vision.pose_model import IMAGES_INPUT, ORIENTATION_OUTPUT, POSITION_OUTPUT, PoseModelMetadata

from ..export import OPSET, git_revision
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
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(model, (example,), str(path), input_names=[IMAGES_INPUT],
                          output_names=[POSITION_OUTPUT, ORIENTATION_OUTPUT],
                          dynamic_shapes=({0: torch.export.Dim("batch")},), opset_version=OPSET, dynamo=True,
                          external_data=False, verbose=False)
    exported = onnx.load(str(path))
    del exported.metadata_props[:]
    for key, value in metadata.to_props().items():
        exported.metadata_props.add(key=key, value=value)
    exported.doc_string = f"dactyl three-camera pose estimator for the {metadata.object}"
    onnx.checker.check_model(exported)
    onnx.save(exported, str(path))
    return path
