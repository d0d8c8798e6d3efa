"""The pose estimator's ONNX contract and its ONNX Runtime runner (what the vision node and eval use).

The exported graph takes the raw camera images and returns the object pose; everything between (crop,
downsampling, pixel normalisation) is inside the graph and described in the metadata, so a consumer only
has to feed the cameras in the listed order at the listed size:

    input  "images"      (batch, cameras, height, width, 3) uint8 RGB (sensor_msgs/Image encoding rgb8)
    output "position"    (batch, 3) float32, metres, in `output_frame`
    output "orientation" (batch, 4) float32, unit quaternion (w, x, y, z), in `output_frame`
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..onnx_models import CONTRACT_VERSION, PREFIX, ModelContractError, _require_kind, make_session, read_props

KIND = "pose_estimator"
IMAGES_INPUT = "images"
POSITION_OUTPUT = "position"
ORIENTATION_OUTPUT = "orientation"


@dataclass(frozen=True)
class PoseModelMetadata:
    cameras: tuple[str, ...]  # input order
    image_height: int
    image_width: int
    encoding: str  # sensor_msgs/Image encoding of each camera image
    crop: tuple[int, int, int, int]  # top, left, height, width: the region the network sees
    downsample: int  # average pooling factor after the crop
    pixel_mean: tuple[float, float, float]  # per RGB channel, applied to pixel / 255
    pixel_std: tuple[float, float, float]
    output_frame: str
    object: str
    position_units: str = "m"
    orientation_convention: str = "unit quaternion (w, x, y, z)"
    training_summary: str = ""  # data size, steps, time: free text for people
    git_revision: str = "unknown"
    network: str = "{}"  # JSON of the architecture (training's PoseNetConfig), e.g. to rebuild it for benchmarks

    def to_props(self) -> dict[str, str]:
        return {
            PREFIX + "kind": KIND,
            PREFIX + "contract_version": str(CONTRACT_VERSION),
            PREFIX + "cameras": json.dumps(list(self.cameras)),
            PREFIX + "image_size": json.dumps({"height": self.image_height, "width": self.image_width}),
            PREFIX + "encoding": self.encoding,
            PREFIX + "preprocessing": json.dumps({"crop_top_left_height_width": list(self.crop), "downsample": self.downsample,
                                                  "pixel_mean": list(self.pixel_mean), "pixel_std": list(self.pixel_std),
                                                  "note": "inside the graph: feed raw uint8 images"}),
            PREFIX + "outputs": json.dumps({"frame": self.output_frame, "position_units": self.position_units,
                                            "orientation": self.orientation_convention}),
            PREFIX + "object": self.object,
            PREFIX + "training_summary": self.training_summary,
            PREFIX + "git_revision": self.git_revision,
            PREFIX + "network": self.network,
        }

    @classmethod
    def from_props(cls, props: dict[str, str], source: str = "model") -> "PoseModelMetadata":
        _require_kind(props, KIND, source)
        try:
            size = json.loads(props[PREFIX + "image_size"])
            pre = json.loads(props[PREFIX + "preprocessing"])
            outputs = json.loads(props[PREFIX + "outputs"])
            return cls(
                cameras=tuple(json.loads(props[PREFIX + "cameras"])),
                image_height=int(size["height"]), image_width=int(size["width"]),
                encoding=props[PREFIX + "encoding"],
                crop=tuple(pre["crop_top_left_height_width"]), downsample=int(pre["downsample"]),
                pixel_mean=tuple(pre["pixel_mean"]), pixel_std=tuple(pre["pixel_std"]),
                output_frame=outputs["frame"], position_units=outputs["position_units"],
                orientation_convention=outputs["orientation"], object=props[PREFIX + "object"],
                training_summary=props.get(PREFIX + "training_summary", ""),
                git_revision=props.get(PREFIX + "git_revision", "unknown"),
                network=props.get(PREFIX + "network", "{}"),
            )
        except KeyError as err:
            raise ModelContractError(f"{source}: metadata key {err.args[0]!r} is missing") from None
        except (ValueError, TypeError) as err:
            raise ModelContractError(f"{source}: malformed metadata: {err}") from None


class FrameSetError(ValueError):
    """A set of camera images that the model cannot take; the message says what is wrong."""


def check_frame_set(metadata: PoseModelMetadata, cameras: list[str], images: list[np.ndarray], encodings: list[str]) -> None:
    """Refuse, with the reason, images of the wrong camera set, size, encoding or dtype."""
    if list(cameras) != list(metadata.cameras):
        raise FrameSetError(f"cameras {list(cameras)} do not match the model's {list(metadata.cameras)} (count and order)")
    expected = (metadata.image_height, metadata.image_width, 3)
    for camera, image, encoding in zip(cameras, images, encodings):
        if encoding != metadata.encoding:
            raise FrameSetError(f"{camera}: encoding {encoding!r}, the model takes {metadata.encoding!r}")
        if image.shape != expected or image.dtype != np.uint8:
            raise FrameSetError(f"{camera}: image {image.dtype}{list(image.shape)}, the model takes uint8{list(expected)}")


class OnnxPoseEstimator:
    """An exported pose estimator run with ONNX Runtime."""

    def __init__(self, path, threads: int = 1, expected_cameras: tuple[str, ...] | None = None):
        self.metadata = PoseModelMetadata.from_props(read_props(path), str(path))
        if expected_cameras is not None and tuple(expected_cameras) != self.metadata.cameras:
            raise ModelContractError(f"{path}: the model takes cameras {list(self.metadata.cameras)}, "
                                     f"this graph has {list(expected_cameras)}")
        self.session = make_session(path, threads)

    def estimate(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """images (batch, cameras, H, W, 3) uint8 -> position (batch, 3) m, orientation (batch, 4) wxyz."""
        position, orientation = self.session.run([POSITION_OUTPUT, ORIENTATION_OUTPUT], {IMAGES_INPUT: images})
        return position.astype(np.float64), orientation.astype(np.float64)
