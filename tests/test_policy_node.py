"""The policy node as a real process: it acts on fresh inputs, stops and says why on stale or bad ones,
resets its LSTM per trial, and refuses a policy that does not fit at start."""
import json
import subprocess
import sys
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Point, Pose, PoseArray, PoseStamped, Quaternion, QuaternionStamped
from sensor_msgs.msg import JointState
from std_msgs.msg import Header, String
from trajectory_msgs.msg import JointTrajectory

from dactyl_core import interfaces, joints
from ros_harness import latest_status, status_values
from dactyl_ros import qos

POLICY = "dactyl_control.policy_node"
TIPS = np.array([[1.03, 0.86, 0.26], [1.01, 0.86, 0.27], [0.99, 0.86, 0.26], [0.97, 0.86, 0.25], [1.04, 0.83, 0.21]])


class Inputs:
    """Publishes what motion capture, the trial manager and the hand would, stamped with the wall clock."""

    def __init__(self, probe):
        self.probe = probe
        self.pose = probe.publisher(interfaces.OBJECT_POSE, PoseStamped, qos.SENSOR)
        self.tips = probe.publisher(interfaces.FINGERTIPS, PoseArray, qos.SENSOR)
        self.goal = probe.publisher(interfaces.GOAL, QuaternionStamped, qos.LATCHED)
        self.joints = probe.publisher(interfaces.JOINT_STATES, JointState, qos.SENSOR)
        self.events = probe.publisher(interfaces.TRIAL_EVENTS, String, qos.EVENTS)

    def header(self):
        return Header(stamp=self.probe.node.get_clock().now().to_msg(), frame_id=interfaces.WORLD_FRAME)

    def send(self, quat=(0.0, 0.0, 0.0, 1.0), tips=TIPS, pose=True):
        header = self.header()
        self.joints.publish(JointState(header=header, name=list(joints.SHADOW_JOINT_NAMES), position=[0.0] * 24))
        self.tips.publish(PoseArray(header=header, poses=[Pose(position=Point(x=x, y=y, z=z)) for x, y, z in tips]))
        if pose:
            x, y, z, w = quat
            self.pose.publish(PoseStamped(header=header, pose=Pose(position=Point(x=1.0, y=0.87, z=0.17),
                                                                   orientation=Quaternion(x=x, y=y, z=z, w=w))))

    def start(self, trial=1):
        self.goal.publish(QuaternionStamped(header=self.header(), quaternion=Quaternion(w=1.0)))
        now = self.probe.node.get_clock().now().nanoseconds * 1e-9
        self.events.publish(String(data=json.dumps({"event": "trial_start", "trial": trial, "time": now - 1.0})))


def run_steps(graph, inputs, commands, count, period=0.08, **kwargs):
    start = len(commands)
    for _ in range(count * 4):
        inputs.send(**kwargs)
        time.sleep(period)
        if len(commands) >= start + count:
            return
    raise AssertionError(f"{len(commands) - start} commands for {count} input sets")


def policy_status(log):
    return latest_status(log, interfaces.POLICY_NODE)


def test_policy_acts_on_fresh_inputs_and_stops_on_stale_or_bad_ones(ros_graph, untrained_policy):
    probe = ros_graph.probe
    commands = probe.subscribe(interfaces.POLICY_COMMAND, JointTrajectory, qos.COMMAND)
    diagnostics = probe.subscribe(interfaces.DIAGNOSTICS, DiagnosticArray, qos.EVENTS)
    inputs = Inputs(probe)
    node = ros_graph.start(POLICY, interfaces.POLICY_NODE, params={"policy": str(untrained_policy), "diagnostics_period": 0.2})
    ros_graph.wait_until(lambda: inputs.pose.get_subscription_count() and inputs.events.get_subscription_count(), 30,
                         "the policy node's subscriptions")
    time.sleep(0.3)
    events = probe.subscribe(interfaces.TRIAL_EVENTS, String, qos.EVENTS)
    inputs.start()
    run_steps(ros_graph, inputs, commands, 10)
    command = commands.last()
    # The node said it reset for the trial; a repeated start of the same trial is acknowledged, not obeyed.
    ros_graph.wait_until(lambda: any(json.loads(m.data) == {"event": "policy_reset", "trial": 1}
                                     for m in events.snapshot()[0]), 10, "the policy_reset event")
    inputs.start()
    ros_graph.wait_until(lambda: sum(json.loads(m.data)["event"] == "policy_reset" for m in events.snapshot()[0]) >= 2,
                         10, "the repeat acknowledged")
    assert node.output().count("trial 1: LSTM state reset") == 1
    assert list(command.joint_names) == list(joints.SHADOW_JOINT_NAMES)
    positions = np.array([c.points[0].positions for c in commands.snapshot()[0]])
    assert ((positions >= joints.COMMAND_LIMITS[:, 0] - 1e-9) & (positions <= joints.COMMAND_LIMITS[:, 1] + 1e-9)).all()
    assert command.points[0].time_from_start.nanosec == 80_000_000

    # The object pose stops coming: no more commands, and the node says why.
    run_steps_without_pose = len(commands)
    for _ in range(6):
        inputs.send(pose=False)
        time.sleep(0.08)
    assert len(commands) <= run_steps_without_pose + 1  # at most one step already under way
    ros_graph.wait_until(lambda: (s := policy_status(diagnostics)) is not None and "object pose is" in s.message, 10,
                         "diagnostics saying the object pose is stale")
    ros_graph.wait_until(lambda: "not acting: object pose is" in node.output(), 10, "the throttled log line")

    # Bad inputs: NaN pose, zero-length quaternion, wrong number of fingertips. None produces a command.
    before = len(commands)
    for bad in ({"quat": (float("nan"), 0.0, 0.0, 1.0)}, {"quat": (0.0, 0.0, 0.0, 0.0)}, {"tips": TIPS[:4]}):
        for _ in range(3):
            inputs.send(**bad)
            time.sleep(0.08)
    # Only the step right after the last good fingertips may still act: they are younger than max_input_age.
    assert len(commands) <= before + 1
    bad_joints = JointState(header=inputs.header(), name=["rh_FFJ9"] * 24, position=[0.0] * 24)
    inputs.joints.publish(bad_joints)
    ros_graph.wait_until(lambda: "rejected object pose" in node.output(), 10, "the rejection in the log")
    ros_graph.wait_until(lambda: int(status_values(policy_status(diagnostics))["inputs_rejected"]) >= 9,
                         10, "rejections counted")

    # Good inputs again: the node recovers by itself.
    run_steps(ros_graph, inputs, commands, 5)
    assert node.alive


def test_a_policy_that_does_not_fit_is_refused_at_start(tmp_path, untrained_policy):
    def start(**params):
        args = [sys.executable, "-m", POLICY, "--ros-args"] + sum((["-p", f"{k}:={v}"] for k, v in params.items()), [])
        return subprocess.run(args, capture_output=True, text=True, timeout=60)

    missing = start(policy=str(tmp_path / "nope.onnx"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr + missing.stdout
    assert "dactyl export --untrained" in missing.stderr + missing.stdout
    wrong_period = start(policy=str(untrained_policy), control_period=0.05)
    assert wrong_period.returncode == 1
    assert "control period" in wrong_period.stderr + wrong_period.stdout
