"""Pose-estimator accuracy on render sets, through ONNX Runtime exactly as the vision node runs it."""
from __future__ import annotations

import numpy as np

from .. import rotations
from .dataset import open_dataset
from .pose_model import OnnxPoseEstimator

TARGET_MEDIAN_POSITION_MM = 10.0
TARGET_MEDIAN_ORIENTATION_DEG = 10.0


def summary(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "median": float(np.median(values)), "p90": float(np.percentile(values, 90))}


def evaluate_on(estimator: OnnxPoseEstimator, root, on_bad_shard: str = "error", batch: int = 32, progress=None) -> dict:
    """Errors of `estimator` on every frame set of the render set at `root` (world-frame labels)."""
    dataset = open_dataset(root, on_bad_shard)
    if dataset.cameras != list(estimator.metadata.cameras):
        raise ValueError(f"{root}: cameras {dataset.cameras} differ from the model's {list(estimator.metadata.cameras)}")
    position_errors, angles = [], []
    for entry in dataset.shards:
        shard = dataset.load_shard(entry)
        for start in range(0, len(shard["images"]), batch):
            position, orientation = estimator.estimate(shard["images"][start:start + batch])
            position_errors.append(np.linalg.norm(position - shard["position_world"][start:start + batch], axis=1))
            angles.append(rotations.distance(rotations.normalize(orientation), shard["quat_world"][start:start + batch]))
            if progress:
                progress(len(position))
    position_mm = np.concatenate(position_errors) * 1000.0
    orientation_deg = np.degrees(np.concatenate(angles))
    return {"dataset": str(root), "frame_sets": int(len(position_mm)), "skipped_shards": dataset.skipped,
            "randomized": bool(dataset.manifest["visual_randomization"]["enabled"]),
            "position_mm": summary(position_mm), "orientation_deg": summary(orientation_deg)}


def meets_targets(result: dict) -> dict[str, bool]:
    return {"median_position_below_10_mm": result["position_mm"]["median"] < TARGET_MEDIAN_POSITION_MM,
            "median_orientation_below_10_deg": result["orientation_deg"]["median"] < TARGET_MEDIAN_ORIENTATION_DEG}


def recorded_pose_errors(path, min_height: float | None = None) -> dict:
    """Errors of the poses the vision node published in a recorded graph run (`dactyl up --pose-source vision
    --record FILE`) against the sim's ground-truth pose with the same stamp, while the object is on the hand
    (the render sets' criterion: the model was not trained on falling objects)."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    from ..interfaces import OBJECT_POSE, SIM_GROUND_TRUTH_POSE
    from .render_set import IN_HAND_MIN_HEIGHT

    min_height = IN_HAND_MIN_HEIGHT if min_height is None else min_height
    poses = {OBJECT_POSE: {}, SIM_GROUND_TRUTH_POSE: {}}
    with open(path, "rb") as f:
        for _, channel, _, msg in make_reader(f, decoder_factories=[DecoderFactory()]).iter_decoded_messages(topics=list(poses)):
            p, q = msg.pose.position, msg.pose.orientation
            poses[channel.topic][(msg.header.stamp.sec, msg.header.stamp.nanosec)] = (
                np.array([p.x, p.y, p.z]), np.array([q.w, q.x, q.y, q.z]))
    estimates, truth = poses[OBJECT_POSE], poses[SIM_GROUND_TRUTH_POSE]
    matched = [(estimates[k], truth[k]) for k in sorted(estimates) if k in truth and truth[k][0][2] > min_height]
    result = {"recording": str(path), "poses_published": len(estimates), "matched_on_hand": len(matched)}
    if matched:
        position_mm = np.array([np.linalg.norm(e[0] - t[0]) for e, t in matched]) * 1000.0
        orientation_deg = np.degrees([rotations.distance(e[1], t[1]) for e, t in matched])
        result.update(position_mm=summary(position_mm), orientation_deg=summary(orientation_deg))
    return result
