"""dactyl_sim as a real process over Fast DDS: what it publishes, how it obeys the hand's controller
interfaces, its reset service, and its behaviour on malformed commands."""
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState, PointCloud2
from std_msgs.msg import Float64
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from dactyl_core import interfaces, joints
from dactyl_core.mocap import load_calibration
from dactyl_ros.conversions import stamp_to_seconds
from dactyl_ros.markers import cloud_to_markers

SIM = "dactyl_sim.sim_node"


def trajectory(names, positions) -> JointTrajectory:
    point = JointTrajectoryPoint(positions=[float(p) for p in positions])
    point.time_from_start.nanosec = 80_000_000
    return JointTrajectory(joint_names=list(names), points=[point])


def sim_diagnostics(log):
    for array in reversed(log.snapshot()[0]):
        for status in array.status:
            if status.name == interfaces.SIM_NODE:
                return {kv.key: kv.value for kv in status.values}
    return None


def test_sim_publishes_the_devices_and_obeys_trajectories(ros_graph):
    probe = ros_graph.probe
    states = probe.subscribe(interfaces.JOINT_STATES, JointState)
    clock = probe.subscribe(interfaces.CLOCK, Clock)
    markers = probe.subscribe(interfaces.MOCAP_MARKERS, PointCloud2)
    truth = probe.subscribe(interfaces.SIM_GROUND_TRUTH_POSE, PoseStamped)
    diagnostics = probe.subscribe(interfaces.DIAGNOSTICS, DiagnosticArray)
    command = probe.publisher(interfaces.TRAJECTORY_COMMAND, JointTrajectory)
    sim = ros_graph.start(SIM, interfaces.SIM_NODE, params={"real_time": False, "lockstep_timeout": 0.01,
                                                            "randomization": "none", "diagnostics_period": 0.2})
    ros_graph.wait_until(lambda: command.get_subscription_count() > 0, 30, "the sim to subscribe")
    ros_graph.wait_until(lambda: len(markers) >= 20 and len(states) >= 20, 30, "joint states and markers")

    state = states.last()
    assert list(state.name) == list(joints.SHADOW_JOINT_NAMES)
    assert len(state.position) == 24 and np.isfinite(state.position).all()
    frame = cloud_to_markers(markers.last())
    calibration = load_calibration()
    assert set(calibration.fingertip_marker_ids) <= set(frame.ids.tolist())
    assert frame.seen.sum() >= 5
    stamps = [stamp_to_seconds(c.clock) for c in clock.snapshot()[0]]
    assert np.all(np.diff(stamps) > 0), "/clock must advance monotonically"
    pose = truth.last()
    assert pose.header.frame_id == interfaces.WORLD_FRAME and pose.pose.position.z > 0.1

    # Command a flexed index finger through the trajectory controller: the simulated hand follows.
    target = np.zeros(24)
    target[joints.shadow_index("rh_FFJ3")] = 1.2
    command.publish(trajectory(joints.SHADOW_JOINT_NAMES, target))
    index = joints.shadow_index("rh_FFJ3")
    ros_graph.wait_until(lambda: states.last().position[index] > 0.9, 20, "rh_FFJ3 to follow its command")

    # Reset: the hand returns to its start pose, and /clock keeps going forward.
    before = stamp_to_seconds(clock.last().clock)
    answer = probe.call(interfaces.SIM_RESET, Trigger, Trigger.Request())
    assert answer.success, answer.message
    # The answer says when, in simulated time; a reset takes some, so no older message shares its stamp.
    assert interfaces.sim_reset_time(answer.message) > before
    ros_graph.wait_until(lambda: stamp_to_seconds(states.last().header.stamp) > before and
                         abs(states.last().position[index]) < 0.2, 20, "the hand back at its start pose")
    ros_graph.wait_until(lambda: (sim_diagnostics(diagnostics) or {}).get("resets") == "1", 20, "diagnostics")
    assert stamp_to_seconds(clock.last().clock) > before
    assert sim.alive


def test_sim_rejects_malformed_commands_and_reports_limit_violations(ros_graph):
    probe = ros_graph.probe
    states = probe.subscribe(interfaces.JOINT_STATES, JointState)
    diagnostics = probe.subscribe(interfaces.DIAGNOSTICS, DiagnosticArray)
    command = probe.publisher(interfaces.TRAJECTORY_COMMAND, JointTrajectory)
    sim = ros_graph.start(SIM, interfaces.SIM_NODE, params={"real_time": False, "lockstep_timeout": 0.01,
                                                            "randomization": "none", "diagnostics_period": 0.2})
    ros_graph.wait_until(lambda: len(states) >= 5, 30, "joint states")
    names = list(joints.SHADOW_JOINT_NAMES)
    bad = [
        trajectory(names, [float("nan")] + [0.0] * 23),  # NaN
        trajectory(names, [float("inf")] * 24),  # infinite
        trajectory(["rh_FFJ9"] + names[1:], [0.0] * 24),  # unknown joint name
        trajectory(names, [0.0] * 23),  # wrong size
        JointTrajectory(joint_names=names),  # no points
        trajectory(names[:1] * 2, [0.0, 0.0]),  # duplicate names
    ]
    ros_graph.wait_until(lambda: command.get_subscription_count() > 0, 10, "the sim to subscribe")
    for count, msg in enumerate(bad, start=1):
        command.publish(msg)  # a command topic keeps only the newest message: one at a time
        ros_graph.wait_until(lambda: (sim_diagnostics(diagnostics) or {}).get("rejected") == str(count), 30,
                             f"malformed command {count} counted as rejected")
    # A command beyond a joint limit is what the hand driver must never let through: the sim reports it.
    beyond = np.zeros(24)
    beyond[joints.shadow_index("rh_FFJ4")] = 1.0  # limit 0.349
    command.publish(trajectory(names, beyond))
    ros_graph.wait_until(lambda: (sim_diagnostics(diagnostics) or {}).get("beyond_limits") == "1", 20, "limit report")
    ros_graph.wait_until(lambda: len(states) >= 40, 20, "more joint states")
    assert np.isfinite(states.last().position).all()
    ff4 = states.last().position[joints.shadow_index("rh_FFJ4")]
    assert ff4 <= joints.JOINTS[joints.shadow_index("rh_FFJ4")].command_range[1] + 0.05
    assert sim.alive
    log = sim.output()
    assert "trajectory command rejected: non-finite positions" in log
    assert log.count("trajectory command rejected") < len(bad), "errors of one kind are throttled"
    assert "beyond the joint limits" in log


def test_sim_cameras_and_position_controllers(ros_graph):
    probe = ros_graph.probe
    images = {c: probe.subscribe(interfaces.camera_image(c), Image) for c in interfaces.CAMERA_NAMES}
    infos = {c: probe.subscribe(interfaces.camera_info(c), CameraInfo) for c in interfaces.CAMERA_NAMES}
    states = probe.subscribe(interfaces.JOINT_STATES, JointState)
    motors = {a.shadow_name: probe.publisher(a.controller_topic, Float64) for a in joints.ACTUATORS}
    sim = ros_graph.start(SIM, interfaces.SIM_NODE, params={
        "real_time": False, "lockstep_timeout": 0.02, "randomization": "none", "camera_rate": 12.5,
        "command_interface": "position_controllers"})
    ros_graph.wait_until(lambda: all(len(images[c]) >= 3 and len(infos[c]) >= 3 for c in images), 60, "camera frames")
    stamps = {c: {stamp_to_seconds(m.header.stamp) for m in images[c].snapshot()[0]} for c in images}
    shared = set.intersection(*stamps.values())
    assert shared, "the three cameras must publish frames with identical stamps"
    image = images["cam_center"].last()
    assert (image.encoding, image.width, image.height, len(image.data)) == ("rgb8", 200, 200, 200 * 200 * 3)
    info = infos["cam_center"].last()
    assert info.header.frame_id == interfaces.camera_optical_frame("cam_center") and info.k[0] > 0

    # Per-motor position controllers: J0 of a coupled finger spreads over J2 and J1.
    commands = np.zeros(joints.NUM_ACTUATORS)
    ff0 = joints.SHADOW_ACTUATOR_NAMES.index("rh_FFJ0")
    commands[ff0] = 2.0
    ros_graph.wait_until(lambda: all(m.get_subscription_count() for m in motors.values()), 10, "motor subscriptions")
    for _ in range(3):
        for actuator in joints.ACTUATORS:
            motors[actuator.shadow_name].publish(Float64(data=float(commands[actuator.index])))
        time.sleep(0.05)
    j1, j2 = joints.shadow_index("rh_FFJ1"), joints.shadow_index("rh_FFJ2")
    ros_graph.wait_until(lambda: states.last().position[j1] + states.last().position[j2] > 1.6, 30,
                         "the coupled index finger to close")
    motors["rh_FFJ0"].publish(Float64(data=float("nan")))
    ros_graph.wait_until(lambda: "position controller command for rh_FFJ0 rejected" in sim.output(), 10, "rejection log")
    assert sim.alive
