"""The dactyl_vision node as a real process over Fast DDS: poses with the images' stamp, bad frame sets refused
while the node keeps running."""
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from dactyl_core import interfaces, rotations
from dactyl_core.vision.pose_model import OnnxPoseEstimator
from dactyl_ros import qos
from dactyl_ros.conversions import seconds_to_stamp, stamp_to_seconds

NODE = "dactyl_vision.vision_node"


def image_msg(image: np.ndarray, stamp: float, encoding: str = "rgb8") -> Image:
    height, width = image.shape[:2]
    return Image(header=Header(stamp=seconds_to_stamp(stamp), frame_id="camera"), height=height, width=width,
                 encoding=encoding, is_bigendian=0, step=image.strides[0], data=image.tobytes())


class Cameras:
    """The probe publishing as the three cameras would."""

    def __init__(self, graph, names=interfaces.CAMERA_NAMES):
        self.publishers = {c: graph.probe.publisher(interfaces.camera_image(c), Image, qos.SENSOR) for c in names}

    def publish(self, images, stamp, encoding="rgb8", truncate_first=False):
        for k, ((camera, pub), image) in enumerate(zip(self.publishers.items(), images)):
            msg = image_msg(image, stamp, encoding)
            if truncate_first and k == 0:
                msg.data = msg.data[:-7]  # a buffer shorter than height x step
            pub.publish(msg)


def frame_set(seed: int, size=(200, 200)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (3, *size, 3), dtype=np.uint8)


def start_node(graph, model_path, **params):
    return graph.start(NODE, interfaces.VISION_NODE, params={"model": str(model_path), **params})


def publish_until(graph, cameras, poses, images_for, timeout=30.0, **kwargs):
    """Publish frame sets with fresh stamps until a pose arrives (best effort: early ones may be lost)."""
    stamps = {}
    deadline = time.monotonic() + timeout
    k = 0
    while len(poses) == 0:
        if time.monotonic() > deadline:
            graph.wait_until(lambda: len(poses) > 0, 0, "a pose from the vision node")
        stamp = 1000.0 + 0.04 * k
        stamps[round(stamp, 6)] = images_for(k)
        cameras.publish(stamps[round(stamp, 6)], stamp, **kwargs)
        k += 1
        time.sleep(0.05)
    return stamps


def test_publishes_the_model_pose_with_the_image_stamp(ros_graph, small_pose_model):
    _, path = small_pose_model
    node = start_node(ros_graph, path)
    poses = ros_graph.probe.subscribe(interfaces.OBJECT_POSE, PoseStamped)
    stamps = publish_until(ros_graph, Cameras(ros_graph), poses, frame_set)
    pose = poses.last()
    stamp = round(stamp_to_seconds(pose.header.stamp), 6)
    assert stamp in stamps, "the pose must carry the stamp of the images it was computed from"
    assert pose.header.frame_id == interfaces.WORLD_FRAME
    expected_position, expected_orientation = OnnxPoseEstimator(path).estimate(stamps[stamp][None])
    position = [pose.pose.position.x, pose.pose.position.y, pose.pose.position.z]
    q = pose.pose.orientation
    np.testing.assert_allclose(position, expected_position[0], atol=1e-5)
    assert rotations.distance(np.array([q.w, q.x, q.y, q.z]), expected_orientation[0]) < 1e-4
    assert node.alive


def test_bad_frame_sets_are_refused_and_the_node_keeps_running(ros_graph, small_pose_model):
    _, path = small_pose_model
    node = start_node(ros_graph, path, error_log_period=0.0)
    poses = ros_graph.probe.subscribe(interfaces.OBJECT_POSE, PoseStamped)
    diagnostics = ros_graph.probe.subscribe(interfaces.DIAGNOSTICS, DiagnosticArray, qos.EVENTS)
    cameras = Cameras(ros_graph)
    ros_graph.wait_until(lambda: len(diagnostics) > 0, 20, "the vision node's diagnostics")
    small = frame_set(1, size=(100, 120))
    bad = [
        (dict(images=small, stamp=500.0), "the model takes uint8[200, 200, 3]"),
        (dict(images=frame_set(3), stamp=500.1, encoding="bgr8"), "encoding 'bgr8'"),
        (dict(images=frame_set(2), stamp=500.2, truncate_first=True), "data bytes"),
        (dict(images=frame_set(4)[..., :1].copy(), stamp=500.3, encoding="mono8"), "encoding 'mono8'"),
    ]
    for kwargs, reason in bad:
        for repeat in range(3):  # best effort delivery: a few tries
            kwargs = dict(kwargs, stamp=kwargs["stamp"] + 0.001)
            cameras.publish(**kwargs)
            time.sleep(0.05)
        ros_graph.wait_until(lambda: reason in node.output(), 15, f"the refusal naming {reason!r}")
    assert len(poses) == 0 and node.alive
    ros_graph.wait_until(lambda: any(s.level == s.WARN and "refusing" in s.message for m in diagnostics.snapshot()[0]
                                     for s in m.status), 10, "diagnostics reporting refusals")
    publish_until(ros_graph, cameras, poses, frame_set)  # and a good frame set still gives a pose
    assert node.alive


def test_wrong_camera_count_is_refused(ros_graph, small_pose_model):
    _, path = small_pose_model
    two = ["cam_left", "cam_center"]
    node = start_node(ros_graph, path, cameras=two, error_log_period=0.0)
    poses = ros_graph.probe.subscribe(interfaces.OBJECT_POSE, PoseStamped)
    cameras = Cameras(ros_graph, two)
    deadline = time.monotonic() + 20
    while "do not match the model's" not in node.output():
        assert time.monotonic() < deadline, node.output()
        cameras.publish(frame_set(5)[:2], 700.0 + (deadline - time.monotonic()))
        time.sleep(0.05)
    assert "(count and order)" in node.output()
    assert len(poses) == 0 and node.alive


def test_a_file_that_is_not_a_pose_model_stops_the_start_with_the_reason(ros_graph, tmp_path):
    bogus = tmp_path / "not_a_model.onnx"
    bogus.write_bytes(b"not onnx")
    node = start_node(ros_graph, bogus)
    ros_graph.wait_until(lambda: not node.alive, 20, "the node to refuse the file")
    assert "cannot load the pose model" in node.output() and "not a readable ONNX file" in node.output()
