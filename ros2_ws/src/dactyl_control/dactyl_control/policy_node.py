"""dactyl_policy: the LSTM policy on the robot, one step per control period.

Inputs: fingertip positions and the object pose (motion capture or vision), the goal, and /joint_states
(only to know where the hand is when a trial starts). A step runs as soon as a new measurement of both the
fingertips and the object has arrived (so the latency from measurement to command is compute, not a timer
phase), at most once per control period of measurement time. A missing, stale or malformed input means
the node does not act: it publishes nothing (the hand driver holds the hand), reports why on /diagnostics
and in a throttled log line, and resumes by itself when the inputs are good again. A trial start event
resets the LSTM state, and the node says so with a policy_reset event (the trial manager waits for it before
the hand moves again). The policy file's metadata is checked against these inputs before anything runs.
"""
from __future__ import annotations

import json
import time
from collections import deque
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray, PoseStamped, QuaternionStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Header, String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from dactyl_core import interfaces, joints
from dactyl_core.env import load_env_config
from dactyl_core.observations import POLICY_LAYOUT
from dactyl_core.onnx_models import ModelContractError, OnnxPolicy
from dactyl_core.policy_runner import InputGate, PolicyRunner
from dactyl_ros import health, qos
from dactyl_ros.conversions import pose_from_msg, quaternion_from_msg, seconds_to_stamp, stamp_to_seconds
from dactyl_ros.node_main import StartupError, run_node
from dactyl_ros.params import Param, declare

LOG_THROTTLE_S = 2.0
LATENCY_WINDOW = 1000  # steps kept for the latency percentiles on /diagnostics

PARAMS = (
    Param("policy", "models/policy_block.onnx", "exported ONNX policy (dactyl export)", read_only=True),
    Param("object", "block", "object the policy must have been trained for", choices=("block", "prism"), read_only=True),
    Param("control_period", 0.08, "seconds per control step; must match the policy's metadata", minimum=0.001, read_only=True),
    Param("max_input_age", 0.12, "seconds: an input older than this (measurement stamp vs. now) is stale "
          "and the policy does not act", minimum=0.0),
    Param("diagnostics_period", 1.0, "seconds between /diagnostics reports", minimum=0.05),
    Param("onnx_threads", 1, "ONNX Runtime intra-op threads", minimum=1, maximum=16, read_only=True),
)


class PolicyNode(Node):
    def __init__(self):
        super().__init__(interfaces.POLICY_NODE)
        self.p = p = declare(self, PARAMS)
        self.runner = PolicyRunner(self._load_policy())
        self.gate = InputGate(p.max_input_age, p.control_period)
        self.object_pose: tuple[float, np.ndarray, np.ndarray] | None = None  # stamp, position, quat
        self.fingertips: tuple[float, np.ndarray] | None = None
        self.goal: np.ndarray | None = None
        self.joint_state: tuple[float, np.ndarray] | None = None
        self.trial_start_time = -np.inf  # joint states older than this do not describe the trial's hand
        self.trial: int | None = None
        self.arrival = 0.0  # perf_counter of the newest measurement's arrival
        self.latency_from_stamp = deque(maxlen=LATENCY_WINDOW)  # s, clock now at publish - newest input stamp
        self.latency_in_node = deque(maxlen=LATENCY_WINDOW)  # s, arrival of the newest input -> publish
        self.steps = 0
        self.rejected = 0
        self.not_acting: list[str] = ["no inputs yet"]

        self.command_pub = self.create_publisher(JointTrajectory, interfaces.POLICY_COMMAND, qos.COMMAND)
        self.diag_pub = self.create_publisher(DiagnosticArray, interfaces.DIAGNOSTICS, qos.EVENTS)
        self.event_pub = self.create_publisher(String, interfaces.TRIAL_EVENTS, qos.EVENTS)
        self.create_subscription(PoseStamped, interfaces.OBJECT_POSE, self.on_object_pose, qos.SENSOR)
        self.create_subscription(PoseArray, interfaces.FINGERTIPS, self.on_fingertips, qos.SENSOR)
        self.create_subscription(QuaternionStamped, interfaces.GOAL, self.on_goal, qos.LATCHED)
        self.create_subscription(JointState, interfaces.JOINT_STATES, self.on_joint_state, qos.SENSOR)
        self.create_subscription(String, interfaces.TRIAL_EVENTS, self.on_trial_event, qos.EVENTS)
        self.create_timer(p.control_period, self.check_inputs)
        self.create_timer(p.diagnostics_period, self.publish_diagnostics)
        meta = self.runner.policy.metadata
        kind = f"LSTM {meta.state_size}" if meta.recurrent else "feed-forward"
        self.get_logger().info(f"policy {p.policy}: {kind}, {meta.env_steps} training steps, revision "
                               f"{meta.git_revision}; control period {p.control_period:g} s, inputs stale after "
                               f"{p.max_input_age:g} s")

    def _load_policy(self) -> OnnxPolicy:
        p = self.p
        path = Path(p.policy)
        if not path.is_file():
            raise StartupError(f"policy file {path} does not exist: train one (dactyl train) and export it, or make "
                               f"a stand-in with `dactyl export --untrained --out {path}`")
        try:
            policy = OnnxPolicy(path, 1, POLICY_LAYOUT, load_env_config(p.object).actions, p.control_period, p.onnx_threads)
        except ModelContractError as err:
            raise StartupError(f"the policy does not fit this robot: {err}") from err
        if policy.metadata.object != p.object:
            raise StartupError(f"{path} was trained for the {policy.metadata.object}, but this robot holds the {p.object}")
        return policy

    # --------------------------------------------------------------------------------------- inputs

    def _bad_input(self, what: str, err: Exception) -> None:
        self.rejected += 1
        self.get_logger().error(f"rejected {what}: {err}; treating it as missing", throttle_duration_sec=LOG_THROTTLE_S)

    def on_object_pose(self, msg: PoseStamped) -> None:
        arrival = time.perf_counter()
        try:
            if msg.header.frame_id != interfaces.WORLD_FRAME:
                raise ValueError(f"frame {msg.header.frame_id!r}, expected {interfaces.WORLD_FRAME!r}")
            position, quat = pose_from_msg(msg.pose)
        except ValueError as err:
            self._bad_input("object pose", err)
            return
        self.object_pose = (stamp_to_seconds(msg.header.stamp), position, quat)
        self.arrival = arrival
        self.try_step()

    def on_fingertips(self, msg: PoseArray) -> None:
        arrival = time.perf_counter()
        try:
            if msg.header.frame_id != interfaces.WORLD_FRAME:
                raise ValueError(f"frame {msg.header.frame_id!r}, expected {interfaces.WORLD_FRAME!r}")
            if len(msg.poses) != 5:
                raise ValueError(f"{len(msg.poses)} poses, expected 5 (FF, MF, RF, LF, TH)")
            tips = np.array([[p.position.x, p.position.y, p.position.z] for p in msg.poses])
            if not np.isfinite(tips).all():
                raise ValueError("non-finite fingertip position")
        except ValueError as err:
            self._bad_input("fingertips", err)
            return
        self.fingertips = (stamp_to_seconds(msg.header.stamp), tips)
        self.arrival = arrival
        self.try_step()

    def on_goal(self, msg: QuaternionStamped) -> None:
        try:
            self.goal = quaternion_from_msg(msg.quaternion)
        except ValueError as err:
            self.goal = None
            self._bad_input("goal", err)

    def on_joint_state(self, msg: JointState) -> None:
        try:
            index = [joints.shadow_index(n) for n in msg.name]
            if len(msg.position) != len(index) or len(index) != joints.NUM_JOINTS:
                raise ValueError(f"{len(msg.name)} names and {len(msg.position)} positions; expected all 24 joints")
            positions = np.zeros(joints.NUM_JOINTS)
            positions[index] = msg.position
            if not np.isfinite(positions).all():
                raise ValueError("non-finite joint position")
        except (ValueError, KeyError) as err:
            self._bad_input("joint state", err)
            return
        self.joint_state = (stamp_to_seconds(msg.header.stamp), positions)

    def on_trial_event(self, msg: String) -> None:
        try:
            event = json.loads(msg.data)
            if event.get("event") != "trial_start":
                return
            trial, start = int(event["trial"]), float(event["time"])
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            self._bad_input("trial event", err)
            return
        if trial != self.trial:  # a repeated start (the trial manager asks again) must not reset a running trial
            self.trial, self.trial_start_time = trial, start
            self.runner.start_trial()
            self.gate.reset()
            self.get_logger().info(f"trial {trial}: LSTM state reset")
        self.event_pub.publish(String(data=json.dumps({"event": "policy_reset", "trial": trial})))

    # ----------------------------------------------------------------------------------------- step

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _problems(self, now: float) -> list[str]:
        stamps = {"object pose": self.object_pose[0] if self.object_pose else None,
                  "fingertips": self.fingertips[0] if self.fingertips else None}
        problems = self.gate.problems(now, stamps)
        if self.goal is None:
            problems.append(f"no goal on {interfaces.GOAL}")
        if self.runner.targets is None and (self.joint_state is None or self.joint_state[0] < self.trial_start_time):
            problems.append(f"hand pose unknown: waiting for {interfaces.JOINT_STATES}")
        return problems

    def try_step(self) -> None:
        if self.object_pose is None or self.fingertips is None:
            return
        stamps = [self.object_pose[0], self.fingertips[0]]
        if not self.gate.due(stamps):
            return
        now = self._now()
        problems = self._problems(now)
        if problems:
            self._report_not_acting(problems)
            return
        if self.runner.targets is None:
            self.runner.set_hand_pose(self.joint_state[1])
        _, position, quat = self.object_pose
        targets = self.runner.step(self.fingertips[1], position, quat, self.goal)
        point = JointTrajectoryPoint(positions=targets.tolist(), time_from_start=seconds_to_stamp(self.p.control_period))
        self.command_pub.publish(JointTrajectory(header=Header(), joint_names=list(joints.SHADOW_JOINT_NAMES), points=[point]))
        self.latency_in_node.append(time.perf_counter() - self.arrival)
        self.latency_from_stamp.append(self._now() - max(stamps))
        self.gate.stepped(stamps)
        self.steps += 1
        if self.not_acting:
            self.get_logger().info(f"acting (step {self.steps})")
            self.not_acting = []

    def check_inputs(self) -> None:
        """Between steps: notice inputs that stopped coming (a step never fires for them)."""
        problems = self._problems(self._now())
        if problems:
            self._report_not_acting(problems)

    def _report_not_acting(self, problems: list[str]) -> None:
        self.not_acting = problems
        self.get_logger().error("not acting: " + "; ".join(problems), throttle_duration_sec=LOG_THROTTLE_S)

    def publish_diagnostics(self) -> None:
        acting = not self.not_acting
        values = {"steps": self.steps, "acting": acting, "trial": self.trial, "inputs_rejected": self.rejected}
        for name, window in (("latency_from_stamp", self.latency_from_stamp), ("latency_in_node", self.latency_in_node)):
            if window:
                samples = np.array(window) * 1000.0
                values[f"{name}_p50_ms"] = f"{np.percentile(samples, 50):.3f}"
                values[f"{name}_p99_ms"] = f"{np.percentile(samples, 99):.3f}"
                values[f"{name}_samples"] = len(samples)
        self.diag_pub.publish(health.diagnostic_array(
            self.get_clock().now().to_msg(), interfaces.POLICY_NODE, health.OK if acting else health.WARN,
            "acting" if acting else "not acting: " + "; ".join(self.not_acting), values))


def main(args=None) -> int:
    return run_node(PolicyNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
