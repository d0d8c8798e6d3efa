"""The PhaseSpace node as a real process over Fast DDS: poses from the markers topic and from a PhaseSpace
server through the OWL module (a scripted stand-in speaking its API), stamps, bad frames, missing OWL."""
import json
from pathlib import Path

import mujoco
import numpy as np
import pytest
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseArray, PoseStamped
from sensor_msgs.msg import PointCloud2, PointField

from dactyl_core import interfaces, mocap, rotations
from dactyl_ros import markers, qos
from dactyl_ros.conversions import pose_from_msg, stamp_to_seconds

MODULE = "shadow_hand_driver.phasespace_node"
FAKE_OWL = Path(__file__).resolve().parent / "fake_owl"


@pytest.fixture(scope="module")
def measured(block_scene):
    """A known object pose and fingertips, and the PhaseSpace frame that sees them (no noise)."""
    data = block_scene.make_data()
    quat = rotations.from_axis_angle(np.array([0.3, -0.5, 0.8]), 0.9)
    data.qpos[block_scene.object_qpos] = np.concatenate([[1.01, 0.86, 0.21], quat])
    mujoco.mj_forward(block_scene.model, data)
    frame = mocap.simulate_markers(block_scene, data, mocap.load_calibration(), np.random.default_rng(0), noise_std=0.0)
    position, quat = block_scene.object_pose(data)
    return frame, position, quat, data.site_xpos[block_scene.fingertip_sites].copy()


def subscribe_outputs(graph):
    return (graph.probe.subscribe(interfaces.OBJECT_POSE, PoseStamped),
            graph.probe.subscribe(interfaces.FINGERTIPS, PoseArray))


def publish_until(graph, publisher, msg, condition, what, timeout=20.0):
    graph.wait_until(lambda: condition() or publisher.publish(msg), timeout, what)


def assert_pose(msg, position, quat, tolerance=2e-4):
    got_position, got_quat = pose_from_msg(msg.pose)
    np.testing.assert_allclose(got_position, position, atol=tolerance)  # float32 millimetres on the wire
    assert rotations.distance(got_quat, quat) < 0.01
    assert msg.header.frame_id == interfaces.WORLD_FRAME


def test_topic_source_publishes_pose_and_fingertips_stamped_with_the_measurement_time(ros_graph, measured):
    frame, position, quat, tips = measured
    node = ros_graph.start(MODULE, interfaces.MOCAP_NODE)
    poses, fingertips = subscribe_outputs(ros_graph)
    clouds = ros_graph.probe.publisher(interfaces.MOCAP_MARKERS, PointCloud2, qos.SENSOR)
    stamp = Time(sec=1234, nanosec=500_000_000)
    publish_until(ros_graph, clouds, markers.markers_to_cloud(frame, stamp), lambda: len(poses) and len(fingertips),
                  "an object pose and fingertips")
    assert_pose(poses.last(), position, quat)
    assert poses.last().header.stamp == stamp and fingertips.last().header.stamp == stamp
    got_tips = np.array([[p.position.x, p.position.y, p.position.z] for p in fingertips.last().poses])
    np.testing.assert_allclose(got_tips, tips, atol=2e-4)  # FF, MF, RF, LF, TH in order

    # The FF marker drops out: its last position is held for fingertip_hold_time (0.5 s), then refused.
    cond = frame.cond.copy()
    cond[list(frame.ids).index(16)] = -1.0
    ff_unseen = mocap.MarkerFrame(frame.ids, frame.positions_mm, cond)
    held = Time(sec=1234, nanosec=800_000_000)
    publish_until(ros_graph, clouds, markers.markers_to_cloud(ff_unseen, held),
                  lambda: fingertips.last().header.stamp == held, "fingertips with FF held")
    held_tips = np.array([[p.position.x, p.position.y, p.position.z] for p in fingertips.last().poses])
    np.testing.assert_allclose(held_tips, tips, atol=2e-4)
    late = Time(sec=1236)
    publish_until(ros_graph, clouds, markers.markers_to_cloud(ff_unseen, late),
                  lambda: poses.last().header.stamp == late, "the object pose of a late frame")
    ros_graph.wait_until(lambda: "markers of ['FF'] unseen for more than 0.5 s (ids [16])" in node.output(), 10, "the reason")
    assert fingertips.last().header.stamp == held  # no fingertips from the late frame: FF unseen for 1.5 s


def test_bad_marker_frames_are_refused_with_a_reason_and_the_node_keeps_going(ros_graph, measured):
    frame, position, quat, _ = measured
    node = ros_graph.start(MODULE, interfaces.MOCAP_NODE, params={"log_period": 0.0})
    poses, _ = subscribe_outputs(ros_graph)
    clouds = ros_graph.probe.publisher(interfaces.MOCAP_MARKERS, PointCloud2, qos.SENSOR)
    stamp = Time(sec=10)

    def cloud(positions=frame.positions_mm, cond=frame.cond, ids=frame.ids):
        return markers.markers_to_cloud(mocap.MarkerFrame(ids, positions, cond), stamp)

    wrong_fields = cloud()
    wrong_fields.fields = [PointField(name=n, offset=4 * k, datatype=PointField.FLOAT32, count=1) for k, n in enumerate("xyz")]
    wrong_fields.point_step, wrong_fields.row_step = 12, 12 * wrong_fields.width
    wrong_fields.data = bytes(12 * wrong_fields.width)
    wrong_frame = cloud()
    wrong_frame.header.frame_id = "world"
    truncated = cloud()
    truncated.data = bytes(truncated.data)[:-3]
    swapped = frame.ids.copy()
    swapped[[0, 4]] = swapped[[4, 0]]
    two_seen = frame.cond.copy()
    two_seen[2:5] = -1.0
    bad_frames = [
        (wrong_fields, "lacks field(s) ['id', 'cond']"),
        (wrong_frame, "marker cloud in frame 'world'; expected 'phasespace'"),
        (truncated, "bytes; header says"),
        (cloud(positions=np.full_like(frame.positions_mm, np.nan)), "0 of the object's 5 markers seen"),
        (cloud(positions=np.zeros((0, 3)), cond=np.zeros(0), ids=np.zeros(0, np.uint32)), "0 of the object's 5 markers seen"),
        (cloud(cond=two_seen), "2 of the object's 5 markers seen"),
        (cloud(ids=swapped), "exceeds the limit"),
    ]
    for msg, reason in bad_frames:
        before = node.output().count(reason)
        publish_until(ros_graph, clouds, msg, lambda: node.output().count(reason) > before, f"the log line {reason!r}")
    assert len(poses) == 0 and node.alive  # nothing was published from a bad frame
    publish_until(ros_graph, clouds, cloud(), lambda: len(poses), "a pose from a good frame after the bad ones")
    assert_pose(poses.last(), position, quat)


def write_owl_script(tmp_path, frame, period_us=10_000) -> Path:
    rows = [[int(i), float(x), float(y), float(z), float(c)] for i, (x, y, z), c in zip(frame.ids, frame.positions_mm, frame.cond)]
    path = tmp_path / "owl_frames.json"
    path.write_text(json.dumps({"period_us": period_us, "frames": [rows]}))
    return path


def test_owl_source_streams_poses_stamped_at_the_server_frame_times(ros_graph, measured, tmp_path):
    frame, position, quat, _ = measured
    ros_graph.env.update(PYTHONPATH=f"{FAKE_OWL}:{ros_graph.env.get('PYTHONPATH', '')}",
                         FAKE_OWL_FRAMES=str(write_owl_script(tmp_path, frame)))
    node = ros_graph.start(MODULE, interfaces.MOCAP_NODE, params={"source": "owl", "owl_server": "phasespace-server"})
    poses, fingertips = subscribe_outputs(ros_graph)
    ros_graph.wait_until(lambda: len(poses) >= 60 and len(fingertips) >= 20, 30, "poses streamed from the OWL source")
    assert "streaming from PhaseSpace server phasespace-server" in node.output()
    messages, _ = poses.snapshot()
    assert_pose(messages[-1], position, quat)
    stamps = np.array([stamp_to_seconds(m.header.stamp) for m in messages])
    gaps = np.diff(stamps)
    assert (gaps > 0).all()
    # The server's 100 Hz frame clock, not arrival times. The server-to-ROS offset is the smallest latency
    # seen so far, so while a node that started late catches up on queued frames the offset still shrinks;
    # judge the stamps once it has caught up.
    assert np.median(gaps[-30:]) == pytest.approx(0.01, abs=1e-6)


def test_owl_source_without_the_owl_module_fails_with_what_to_install(ros_graph):
    node = ros_graph.start(MODULE, interfaces.MOCAP_NODE, params={"source": "owl"})
    ros_graph.wait_until(lambda: not node.alive, 20, "the node to exit")
    assert node.process.returncode == 1
    assert "needs PhaseSpace's OWL Python module (`import owl`" in node.output() and "Traceback" not in node.output()


def test_owl_source_keeps_retrying_an_unreachable_server(ros_graph, measured, tmp_path):
    ros_graph.env.update(PYTHONPATH=f"{FAKE_OWL}:{ros_graph.env.get('PYTHONPATH', '')}",
                         FAKE_OWL_FRAMES=str(write_owl_script(tmp_path, measured[0])))
    node = ros_graph.start(MODULE, interfaces.MOCAP_NODE, params={"source": "owl", "owl_server": "unreachable"})
    ros_graph.wait_until(lambda: "PhaseSpace server unreachable: connection timed out; retrying" in node.output(), 20,
                         "the connection error")
    assert node.alive


def test_lifecycle_publishes_only_while_active(ros_graph, measured):
    import time

    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    def transition(transition_id):
        request = ChangeState.Request(transition=Transition(id=transition_id))
        return ros_graph.probe.call(f"/{interfaces.MOCAP_NODE}/change_state", ChangeState, request).success

    def publish_for(seconds):
        for _ in range(int(seconds / 0.02)):
            clouds.publish(cloud)
            time.sleep(0.02)

    node = ros_graph.start(MODULE, interfaces.MOCAP_NODE, params={"autostart": False})
    poses, _ = subscribe_outputs(ros_graph)
    clouds = ros_graph.probe.publisher(interfaces.MOCAP_MARKERS, PointCloud2, qos.SENSOR)
    cloud = markers.markers_to_cloud(measured[0], Time(sec=1))
    assert transition(Transition.TRANSITION_CONFIGURE)
    ros_graph.wait_until(lambda: clouds.get_subscription_count() > 0 and ros_graph.probe.node.count_publishers(
        interfaces.OBJECT_POSE) > 0, 20, "the node's marker subscription and pose publisher")
    publish_for(0.5)
    assert len(poses) == 0  # configured but inactive: nothing is published
    assert transition(Transition.TRANSITION_ACTIVATE)
    publish_until(ros_graph, clouds, cloud, lambda: len(poses), "a pose once active")
    assert transition(Transition.TRANSITION_DEACTIVATE)
    count = len(poses)
    publish_for(0.5)
    assert len(poses) <= count + 1  # at most one already in flight
    assert not transition(Transition.TRANSITION_DEACTIVATE)  # not valid when inactive: refused, node stays up
    assert transition(Transition.TRANSITION_CLEANUP) and node.alive
