"""Standard ROS messages <-> the numpy arrays of dactyl_core.

Quaternions are (w, x, y, z) in dactyl_core and (x, y, z, w) in geometry_msgs: the reordering happens
here and nowhere else. Every `*_from_msg` validates and raises ValueError with a reason on malformed input.
"""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, Quaternion

from dactyl_core import rotations


def stamp_to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_stamp(seconds: float) -> Time:
    nanoseconds = int(round(seconds * 1e9))
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def pose_to_msg(position: np.ndarray, quat_wxyz: np.ndarray) -> Pose:
    x, y, z, w = rotations.to_xyzw(quat_wxyz)
    return Pose(position=Point(x=float(position[0]), y=float(position[1]), z=float(position[2])),
                orientation=Quaternion(x=float(x), y=float(y), z=float(z), w=float(w)))


def quaternion_to_msg(quat_wxyz: np.ndarray) -> Quaternion:
    x, y, z, w = rotations.to_xyzw(quat_wxyz)
    return Quaternion(x=float(x), y=float(y), z=float(z), w=float(w))


def quaternion_from_msg(q: Quaternion) -> np.ndarray:
    """(w, x, y, z), normalised; ValueError for non-finite or (near) zero-length quaternions."""
    values = np.array([q.w, q.x, q.y, q.z], dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"quaternion has non-finite components {values.tolist()}")
    norm = np.linalg.norm(values)
    if norm < 0.5 or norm > 1.5:
        raise ValueError(f"quaternion has length {norm:.3g}; expected a unit quaternion")
    return values / norm


def pose_from_msg(pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    position = np.array([pose.position.x, pose.position.y, pose.position.z], dtype=np.float64)
    if not np.isfinite(position).all():
        raise ValueError(f"position has non-finite components {position.tolist()}")
    return position, quaternion_from_msg(pose.orientation)
