"""The Shadow hand node as a real process over Fast DDS: lifecycle, both controller interfaces, bad input,
watchdog and emergency stop. The test plays the policy (commands) and the hand (joint states, controllers)."""
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from dactyl_core import interfaces, joints
from dactyl_ros import health, qos

NAMES = list(joints.SHADOW_JOINT_NAMES)
LOW, HIGH = joints.COMMAND_LIMITS.T
MID = (LOW + HIGH) / 2.0
MAX_STEP = 2.0 * 0.08  # default max_joint_speed x control_period
MODULE = "shadow_hand_driver.hand_node"


def command(positions, names=NAMES, points=1):
    return JointTrajectory(joint_names=list(names),
                           points=[JointTrajectoryPoint(positions=[float(p) for p in positions])] * points)


class FakeHand:
    """The hand side of the graph: publishes joint states and records what reaches the controllers."""

    def __init__(self, graph, pose=MID, publish_states=True):
        self.graph = graph
        probe = graph.probe
        self.trajectories = probe.subscribe(interfaces.TRAJECTORY_COMMAND, JointTrajectory, qos.COMMAND)
        self.diagnostics = probe.subscribe(interfaces.DIAGNOSTICS, DiagnosticArray, qos.EVENTS)
        self.policy = probe.publisher(interfaces.POLICY_COMMAND, JointTrajectory)
        self.pose = pose
        if publish_states:
            self.publish_states()

    def publish_states(self) -> None:
        states = self.graph.probe.publisher(interfaces.JOINT_STATES, JointState, qos.SENSOR)
        message = JointState(name=NAMES, position=[float(p) for p in self.pose])
        self.graph.probe.node.create_timer(0.02, lambda: states.publish(message))

    def send(self, msg) -> None:
        self.graph.wait_until(lambda: self.policy.get_subscription_count() > 0, 20, "the hand node's command subscription")
        self.policy.publish(msg)

    def send_until(self, condition, msg, what: str, timeout: float = 20.0) -> None:
        """Re-send `msg` until `condition` holds (the node may not know the hand's pose yet)."""
        self.graph.wait_until(lambda: condition() or self.send(msg), timeout, what)

    def forwarded(self) -> np.ndarray:
        messages, _ = self.trajectories.snapshot()
        for m in messages:
            assert m.joint_names == NAMES and len(m.points) == 1
            assert m.points[0].time_from_start.nanosec > 0 or m.points[0].time_from_start.sec > 0
        return np.array([m.points[0].positions for m in messages]).reshape(-1, 24)

    def diagnostic(self, contains: str, timeout: float = 10.0):
        def found():
            last = self.diagnostics.last()
            return last is not None and contains in last.status[0].message
        self.graph.wait_until(found, timeout, f"a /diagnostics message saying {contains!r}")
        return self.diagnostics.last().status[0]


def lifecycle_state(graph) -> str:
    return graph.probe.call(f"/{interfaces.HAND_NODE}/get_state", GetState, GetState.Request()).current_state.label


def transition(graph, transition_id) -> bool:
    request = ChangeState.Request(transition=Transition(id=transition_id))
    return graph.probe.call(f"/{interfaces.HAND_NODE}/change_state", ChangeState, request).success


def assert_safe(commands: np.ndarray, start=MID) -> None:
    assert (commands >= LOW - 1e-9).all() and (commands <= HIGH + 1e-9).all()
    steps = np.abs(np.diff(np.vstack([start, commands]), axis=0))
    assert steps.max() <= MAX_STEP + 1e-9


def test_lifecycle_configure_activate_deactivate_is_a_safe_stop(ros_graph):
    node = ros_graph.start(MODULE, interfaces.HAND_NODE, params={"diagnostics_period": 0.2})
    hand = FakeHand(ros_graph)
    assert lifecycle_state(ros_graph) == "unconfigured"
    hand.diagnostic("unconfigured")
    assert transition(ros_graph, Transition.TRANSITION_CONFIGURE) and lifecycle_state(ros_graph) == "inactive"
    hand.send(command(MID + 0.05))
    hand.diagnostic("inactive")
    assert len(hand.trajectories) == 0  # inactive: nothing reaches the hand

    assert transition(ros_graph, Transition.TRANSITION_ACTIVATE) and lifecycle_state(ros_graph) == "active"
    ros_graph.wait_until(lambda: len(hand.trajectories), 10, "the measured pose commanded on activation")
    np.testing.assert_allclose(hand.forwarded()[0], MID)  # the hand holds where it is
    # a transition that is not valid now (a second launcher's activate) is refused; the node stays up
    assert not transition(ros_graph, Transition.TRANSITION_ACTIVATE)
    assert not transition(ros_graph, Transition.TRANSITION_CONFIGURE)
    assert lifecycle_state(ros_graph) == "active" and node.alive
    target = np.clip(MID + 0.1, LOW, HIGH)
    hand.send_until(lambda: len(hand.trajectories) and np.allclose(hand.forwarded()[-1], target), command(target),
                    "the target reached through the rate limit")
    assert_safe(hand.forwarded())

    before = len(hand.trajectories)
    assert transition(ros_graph, Transition.TRANSITION_DEACTIVATE) and lifecycle_state(ros_graph) == "inactive"
    ros_graph.wait_until(lambda: len(hand.trajectories) == before + 1, 10, "the safe-stop hold command")
    np.testing.assert_allclose(hand.forwarded()[-1], target)  # the last safe pose, once more
    hand.send(command(MID))
    hand.diagnostic("inactive")
    assert len(hand.trajectories) == before + 1
    assert transition(ros_graph, Transition.TRANSITION_CLEANUP) and lifecycle_state(ros_graph) == "unconfigured"
    assert node.alive


def test_position_controller_interface_sends_one_float_per_motor_with_coupled_j0(ros_graph):
    node = ros_graph.start(MODULE, interfaces.HAND_NODE, params={"autostart": True, "controller_interface": "position",
                                                                  "diagnostics_period": 0.2})
    motors = {name: ros_graph.probe.subscribe(topic, Float64, qos.COMMAND)
              for name, topic in interfaces.POSITION_CONTROLLER_COMMANDS.items()}
    hand = FakeHand(ros_graph, publish_states=False)
    hand.diagnostic("waiting for /joint_states")  # the start pose of the rate limit is unknown: nothing moves
    hand.send_until(lambda: "the hand's pose is not known yet" in node.output(), command(MID), "the refusal")
    assert all(len(log) == 0 for log in motors.values())
    hand.publish_states()
    target = MID.copy()
    target[joints.shadow_index("rh_FFJ2")] = 0.9
    target[joints.shadow_index("rh_FFJ1")] = 0.8
    expected = joints.joint_targets_to_motor_commands(target)
    hand.send_until(lambda: all(len(log) and np.isclose(log.last().data, value) for log, value in zip(motors.values(), expected)),
                    command(target), "every motor command at the target")
    assert motors["rh_FFJ0"].last().data == pytest.approx(1.7)  # J0 = J1 + J2
    assert len(hand.trajectories) == 0  # only the configured interface is used
    for name, log in motors.items():
        low, high = joints.MOTOR_COMMAND_LIMITS[joints.SHADOW_ACTUATOR_NAMES.index(name)]
        values = np.array([m.data for m in log.snapshot()[0]])
        assert (values >= low - 1e-9).all() and (values <= high + 1e-9).all()


def test_bad_commands_get_a_clear_error_and_never_reach_the_hand(ros_graph):
    node = ros_graph.start(MODULE, interfaces.HAND_NODE, params={"autostart": True, "log_period": 0.0,
                                                                  "diagnostics_period": 0.2})
    hand = FakeHand(ros_graph)
    good = np.clip(MID + 0.02, LOW, HIGH)
    hand.send_until(lambda: len(hand.trajectories) >= 1, command(good), "the first forwarded command")

    nan, inf = good.copy(), good.copy()
    nan[3], inf[7] = np.nan, np.inf
    renamed = [n.replace("rh_", "robot0:") for n in NAMES]
    bad_inputs = [
        (command(nan), "non-finite target(s) (NaN or inf) for ['rh_FFJ3']"),
        (command(inf), "non-finite target(s) (NaN or inf) for ['rh_MFJ3']"),
        (command(good, names=renamed), "unknown joint name(s)"),
        (command(good[:20], names=NAMES[:20]), "4 joint(s) missing"),
        (command(good[:23]), "24 joint names but 23 positions"),
        (command(good, points=2), "expected a single trajectory point, got 2"),
    ]
    for msg, error in bad_inputs:  # one at a time: the command topic keeps only the newest message
        hand.send_until(lambda: error in node.output(), msg, f"the error {error!r}")
    beyond = np.where(np.arange(24) % 2 == 0, 10.0, -10.0)
    hand.send_until(lambda: np.allclose(hand.forwarded()[-1], np.clip(beyond, LOW, HIGH)), command(beyond),
                    "the limits reached, one rate-limited step at a time")
    ros_graph.wait_until(lambda: "beyond joint limits, clamped" in node.output(), 10, "the clamping error")
    ros_graph.probe.publisher(interfaces.JOINT_STATES, JointState, qos.SENSOR).publish(JointState(name=["x"], position=[1.0]))
    assert node.alive
    forwarded = hand.forwarded()
    assert np.isfinite(forwarded).all()
    assert_safe(forwarded)

    def counted() -> bool:
        counts = diagnostic_counts(hand)
        return int(counts.get("rejected", 0)) >= len(bad_inputs) and int(counts.get("clamped", 0)) >= 1
    ros_graph.wait_until(counted, 10, "the rejections and clamps counted on /diagnostics")


def diagnostic_counts(hand) -> dict[str, str]:
    """The hand node's counters from its newest /diagnostics status."""
    last = hand.diagnostics.last()
    return {kv.key: kv.value for kv in last.status[0].values} if last else {}


def test_watchdog_holds_the_last_safe_pose_and_emergency_stop_blocks_commands(ros_graph):
    node = ros_graph.start(MODULE, interfaces.HAND_NODE, params={"autostart": True, "command_timeout": 0.3,
                                                                  "diagnostics_period": 0.1})
    hand = FakeHand(ros_graph)
    target = np.clip(MID + 0.05, LOW, HIGH)
    # Commands sent while waiting may be forwarded more than once, so judge by the newest one.
    hand.send_until(lambda: hand.trajectories and np.array_equal(hand.forwarded()[-1], target), command(target),
                    "the target forwarded")
    hand.diagnostic("holding the last safe pose: no policy command")  # the watchdog fired ...
    ros_graph.wait_until(lambda: diagnostic_counts(hand).get("watchdog_holds") == "1", 10, "one watchdog hold counted")
    ros_graph.wait_until(lambda: "watchdog: no policy command" in node.output(), 10, "the watchdog's warning")
    assert np.array_equal(hand.forwarded()[-1], target)  # ... and re-sent the last safe pose
    time.sleep(0.5)  # more than command_timeout: a watchdog that kept firing would count again
    assert diagnostic_counts(hand)["watchdog_holds"] == "1"

    hand.send(command(target))  # commands resume
    hand.diagnostic("forwarding")
    response = ros_graph.probe.call(interfaces.HAND_EMERGENCY_STOP, SetBool, SetBool.Request(data=True))
    assert response.success and "emergency stop engaged" in response.message
    status = hand.diagnostic("emergency stop engaged")
    assert status.level == health.ERROR
    count = len(hand.trajectories)
    for _ in range(5):
        hand.send(command(MID))
    ros_graph.wait_until(lambda: "policy command ignored: emergency stop engaged" in node.output(), 10, "the e-stop error")
    assert len(hand.trajectories) == count

    ros_graph.probe.call(interfaces.HAND_EMERGENCY_STOP, SetBool, SetBool.Request(data=False))
    hand.send(command(MID))
    ros_graph.wait_until(lambda: len(hand.trajectories) > count, 10, "forwarding after the release")
    assert_safe(hand.forwarded())
    assert node.alive
