"""dactyl_vision: the object pose from the three cameras, through the exported CNN in ONNX Runtime.

Subscribes to each camera's image_raw, groups the three images of one frame set by stamp, checks them
against the model's metadata (camera names and count, size, encoding), runs the model and publishes the
object pose on the same topic and type as the motion-capture node (geometry_msgs/PoseStamped in the world
frame), stamped with the images' stamp. A frame set that does not fit is refused with a clear, throttled
error and counted on /diagnostics; the node keeps running and uses the next good set.
"""
from __future__ import annotations

import time
from collections import deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from dactyl_core import interfaces
from dactyl_core.onnx_models import ModelContractError
from dactyl_core.vision.frames import FrameSynchronizer, image_from_buffer
from dactyl_core.vision.pose_model import FrameSetError, OnnxPoseEstimator, check_frame_set
from dactyl_ros import health, qos
from dactyl_ros.conversions import pose_to_msg, stamp_to_seconds
from dactyl_ros.node_main import StartupError, run_node
from dactyl_ros.params import Param, declare

LATENCY_WINDOW = 1000  # frame sets kept for the latency percentiles on /diagnostics

PARAMS = (
    Param("model", "models/vision_block.onnx", "exported ONNX pose estimator (dactyl export-vision)", read_only=True),
    Param("cameras", list(interfaces.CAMERA_NAMES), "cameras to subscribe to, in the model's input order", read_only=True),
    Param("sync_tolerance", 0.0005, "seconds: images whose stamps differ by at most this form one frame set", minimum=0.0),
    Param("sync_queue_size", 10, "images kept per camera while waiting for the others", minimum=1, maximum=1000, read_only=True),
    Param("onnx_threads", 1, "ONNX Runtime intra-op threads", minimum=1, maximum=16, read_only=True),
    Param("error_log_period", 2.0, "seconds: refused frame sets are logged at most this often", minimum=0.0),
    Param("diagnostics_period", 1.0, "seconds between /diagnostics reports", minimum=0.05),
)


class VisionNode(Node):
    def __init__(self):
        super().__init__(interfaces.VISION_NODE)
        self.p = p = declare(self, PARAMS)
        try:
            self.estimator = OnnxPoseEstimator(p.model, threads=p.onnx_threads)
        except ModelContractError as err:
            raise StartupError(f"cannot load the pose model: {err}") from None
        meta = self.estimator.metadata
        if meta.output_frame != interfaces.WORLD_FRAME:
            raise StartupError(f"{p.model} outputs poses in {meta.output_frame!r}; {interfaces.OBJECT_POSE} is in "
                               f"{interfaces.WORLD_FRAME!r}")
        self.cameras = list(p.cameras)
        self.sync = FrameSynchronizer(self.cameras, p.sync_tolerance, p.sync_queue_size)
        self.published = 0
        self.refused = 0
        self.refused_at_last_report = 0
        self.last_error = ""
        self.latency = deque(maxlen=LATENCY_WINDOW)  # s, last image arrival -> pose published
        self.pose_pub = self.create_publisher(PoseStamped, interfaces.OBJECT_POSE, qos.SENSOR)
        self.diag_pub = self.create_publisher(DiagnosticArray, interfaces.DIAGNOSTICS, qos.EVENTS)
        for camera in self.cameras:
            self.create_subscription(Image, interfaces.camera_image(camera), lambda msg, c=camera: self.on_image(c, msg), qos.SENSOR)
        self.create_timer(p.diagnostics_period, self.publish_diagnostics)
        if self.cameras != list(meta.cameras):
            self.get_logger().error(f"parameter cameras {self.cameras} differs from the model's {list(meta.cameras)}: "
                                    "every frame set will be refused")
        self.get_logger().info(f"pose model {p.model} ({meta.object}; cameras {list(meta.cameras)}, "
                               f"{meta.image_width}x{meta.image_height} {meta.encoding}; {meta.training_summary}); "
                               f"publishing {interfaces.OBJECT_POSE}")

    def on_image(self, camera: str, msg: Image) -> None:
        arrival = time.perf_counter()
        frames = self.sync.add(camera, stamp_to_seconds(msg.header.stamp), msg)
        if frames is None:
            return
        try:
            self.estimate(frames, arrival)
        except FrameSetError as err:
            self.refuse(str(err))

    def estimate(self, frames, arrival: float) -> None:
        meta = self.estimator.metadata
        messages = [f.payload for f in frames]
        images = [image_from_buffer(m.height, m.width, m.encoding, m.step, m.data, f.camera) for f, m in zip(frames, messages)]
        check_frame_set(meta, [f.camera for f in frames], images, [m.encoding for m in messages])
        position, orientation = self.estimator.estimate(np.stack(images)[None])
        position, orientation = position[0], orientation[0]
        if not (np.isfinite(position).all() and np.isfinite(orientation).all()) or np.linalg.norm(orientation) < 0.5:
            raise FrameSetError(f"the model returned an invalid pose {position.tolist()} {orientation.tolist()}")
        out = PoseStamped(header=Header(stamp=messages[0].header.stamp, frame_id=interfaces.WORLD_FRAME),
                          pose=pose_to_msg(position, orientation / np.linalg.norm(orientation)))
        self.pose_pub.publish(out)
        self.published += 1
        self.latency.append(time.perf_counter() - arrival)

    def refuse(self, reason: str) -> None:
        self.refused += 1
        self.last_error = reason
        self.get_logger().error(f"refused frame set: {reason}", throttle_duration_sec=self.p.error_log_period)

    def publish_diagnostics(self) -> None:
        values = {"published": self.published, "refused": self.refused, "unsynchronised_images_dropped": self.sync.dropped}
        if self.latency:
            samples = np.array(self.latency) * 1000.0
            values["latency_p50_ms"] = f"{np.percentile(samples, 50):.2f}"
            values["latency_p99_ms"] = f"{np.percentile(samples, 99):.2f}"
        refusing = self.refused > self.refused_at_last_report
        self.refused_at_last_report = self.refused
        self.diag_pub.publish(health.diagnostic_array(
            self.get_clock().now().to_msg(), interfaces.VISION_NODE, health.WARN if refusing else health.OK,
            "refusing frame sets: " + self.last_error if refusing else "ok", values))


def main(args=None) -> int:
    return run_node(VisionNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
