"""Camera frames for the pose estimator, independent of ROS: grouping the cameras' images into frame sets
by stamp, and turning an image buffer (as sensor_msgs/Image carries it) into a validated array.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .pose_model import FrameSetError

CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


def image_from_buffer(height: int, width: int, encoding: str, step: int, data, camera: str = "image") -> np.ndarray:
    """(height, width, channels) uint8 view of a row-padded image buffer; FrameSetError if it is inconsistent."""
    if encoding not in CHANNELS:
        raise FrameSetError(f"{camera}: unsupported encoding {encoding!r} (8-bit encodings: {sorted(CHANNELS)})")
    channels = CHANNELS[encoding]
    if height <= 0 or width <= 0 or step < width * channels:
        raise FrameSetError(f"{camera}: bad geometry height={height} width={width} step={step} for {encoding}")
    try:
        buffer = np.frombuffer(data, np.uint8)  # bytes, array.array (what rclpy gives), numpy: no copy
    except TypeError:
        buffer = np.frombuffer(bytes(data), np.uint8)
    if buffer.size != height * step:
        raise FrameSetError(f"{camera}: {buffer.size} data bytes, expected height x step = {height * step}")
    return buffer.reshape(height, step)[:, :width * channels].reshape(height, width, channels)


@dataclass
class Frame:
    camera: str
    stamp: float  # seconds
    payload: object  # whatever the caller keeps per image (e.g. the ROS message)


class FrameSynchronizer:
    """Groups one frame per camera whose stamps agree within `tolerance` seconds (exact for simulated cameras).

    The newest complete set wins; frames at or before it are dropped, so a set is never used twice and a
    late camera cannot stall the others for more than `queue_size` frames.
    """

    def __init__(self, cameras: list[str], tolerance: float = 0.0, queue_size: int = 10):
        self.cameras = list(cameras)
        self.tolerance = tolerance
        self.queues = {c: deque(maxlen=queue_size) for c in cameras}
        self.dropped = 0  # frames that never became part of a set

    def add(self, camera: str, stamp: float, payload) -> list[Frame] | None:
        """Add a frame; returns a complete set (in camera order) if this frame completes one."""
        queue = self.queues[camera]
        if len(queue) == queue.maxlen:
            self.dropped += 1
        queue.append(Frame(camera, stamp, payload))
        chosen = []
        for other in self.cameras:
            candidates = [f for f in self.queues[other] if abs(f.stamp - stamp) <= self.tolerance]
            if not candidates:
                return None
            chosen.append(min(candidates, key=lambda f: abs(f.stamp - stamp)))
        for frame in chosen:
            q = self.queues[frame.camera]
            while q and q[0].stamp <= frame.stamp:
                if q.popleft() is not frame:
                    self.dropped += 1
        return chosen
