"""dactyl_trials: runs the paper's evaluation on the robot: K trials, each counting consecutive successes.

Per trial: (in simulation) reset the simulator, draw a goal with the training goal sampler, publish it,
announce the trial start (the policy node resets its LSTM on it), then score every measured object pose
with `dactyl_core.trials.TrialTracker` (success within 0.4 rad -> new goal; drop, goal timeout or 50
successes end the trial). After each trial the results so far, with the Table-3 row, go out on
interfaces.TRIAL_RESULTS as JSON with the keys of `dactyl evaluate --json`.

With `nearby_goal_angle` > 0 the goals are the training curriculum's instead of the paper's: each is the
object's measured orientation turned by that angle, so a trial starts on the first pose measured after the
reset (or the start request). Not the paper's task; it compares pose sources with a policy that reaches only
nearby goals.

On the real hand there is no simulator to reset: with `reset_sim` false, each trial waits for an operator
to call interfaces.START_TRIAL once the object is in the palm.

In simulation a reset moves the hand back to its start pose in an instant, which the hand driver's rate
limiter (referenced to the old pose) would fight. So, when `hand_node` is set, a reset is wrapped in the
driver's lifecycle: deactivate (safe stop), reset, start the trial, wait for /joint_states of the new pose
and for the policy node's policy_reset event, activate (the driver re-reads the pose).
"""
from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, QuaternionStamped
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rclpy.duration import Duration
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Header, String
from std_srvs.srv import Trigger

from dactyl_core import interfaces, task
from dactyl_core.env import load_env_config
from dactyl_core.evaluate import EvaluationResult
from dactyl_core.trials import TrialTracker
from dactyl_ros import health, qos
from dactyl_ros.conversions import pose_from_msg, quaternion_to_msg, seconds_to_stamp, stamp_to_seconds
from dactyl_ros.node_main import run_node
from dactyl_ros.params import Param, declare

LOG_THROTTLE_S = 2.0
POLICY_RESET_RETRY_S = 1.0  # wall seconds before the trial start is announced again to a silent policy node
FINAL_RESULT_ACK_TIMEOUT_S = 2.0
SAME_TIME_S = 1e-6  # stamps closer than this are the same instant (the simulator's reset answer rounds to 1 us)

PARAMS = (
    Param("trials", 10, "trials to run; 0 runs until stopped", minimum=0),
    Param("object", "block", "object in the hand", choices=("block", "prism"), read_only=True),
    Param("seed", 0, "seed of the goal draws", minimum=0, read_only=True),
    Param("reset_sim", True, f"reset the simulator ({interfaces.SIM_RESET}) before each trial; false on the real "
          f"hand, where each trial waits for {interfaces.START_TRIAL}"),
    Param("control_period", 0.08, "seconds per control step (goal timeouts count these)", minimum=0.001, read_only=True),
    Param("nearby_goal_angle", 0.0, "rad; 0: the paper's goals; > 0: the training curriculum's goals, each the "
          "object turned by this angle (not the paper's task)", minimum=0.0, read_only=True),
    Param("nearby_goal_axis", "random", "with nearby goals, what each goal turns the object about: a new random "
          "axis per goal, one random axis per trial (continuous rotation), a random signed world axis per goal "
          "(world), or one world axis, that way (x ... -z)",
          choices=task.NEARBY_GOAL_AXES, read_only=True),
    Param("pose_timeout", 1.0, "seconds without an object pose before it is reported missing", minimum=0.01),
    Param("hand_node", "", "name of the hand driver's lifecycle node to deactivate around a simulator reset "
          "(empty: do not touch it)", read_only=True),
    Param("settle_joint_states", 3, "joint states of the reset pose to wait for before re-activating the hand", minimum=1),
    Param("wait_for_policy_reset", True, "in simulation, re-activate the hand only once the policy node has reset "
          "its LSTM for the new trial (its policy_reset event), so no command of the old trial reaches the new "
          "one; false for a graph without the policy node", read_only=True),
    Param("policy_label", "", "what is being evaluated, recorded in the results"),
    Param("randomization_label", "", "the simulator's randomization setting, recorded in the results"),
)


class TrialManager(Node):
    def __init__(self):
        super().__init__(interfaces.TRIAL_NODE)
        self.p = p = declare(self, PARAMS)
        self.task = load_env_config(p.object).task
        if p.nearby_goal_angle > 0:
            self.task = replace(self.task, goal_mode="nearby", nearby_goal_angle=p.nearby_goal_angle,
                                nearby_goal_axis=p.nearby_goal_axis)
        self.tracker = TrialTracker(self.task, p.control_period, np.random.default_rng(p.seed))
        self.result = EvaluationResult([], [], policy=p.policy_label, randomization=p.randomization_label, object=p.object, seed=p.seed,
                                       goals=task.describe_goals(self.task))
        self.trial = 0  # number of the running trial (1-based), 0 before the first
        self.trial_start_time = 0.0
        self.last_pose_time: float | None = None
        self.latest_pose: tuple[float, np.ndarray] | None = None  # (stamp, quaternion) of the newest valid pose
        self.reset_time = 0.0
        self.phase = "idle"  # idle -> deactivating -> resetting -> settling -> activating -> running
        self.start_after: float | None = None  # nearby goals: start the trial on the first pose stamped after this
        # /joint_states stamps received while the reset's answer is awaited (its time is not known yet), and
        # the count of those stamped after the reset once it is
        self.joint_state_stamps: list[float] = []
        self.settle_count = 0
        self.policy_reset_trial = 0  # the newest trial the policy node has reset for
        self.trial_start_event: dict | None = None
        self.settling_since = 0.0  # time.monotonic() when the settle wait began
        self.goal_pub = self.create_publisher(QuaternionStamped, interfaces.GOAL, qos.LATCHED)
        self.event_pub = self.create_publisher(String, interfaces.TRIAL_EVENTS, qos.EVENTS)
        self.results_pub = self.create_publisher(String, interfaces.TRIAL_RESULTS, qos.LATCHED)
        self.diag_pub = self.create_publisher(DiagnosticArray, interfaces.DIAGNOSTICS, qos.EVENTS)
        self.create_subscription(PoseStamped, interfaces.OBJECT_POSE, self.on_pose, qos.SENSOR)
        self.create_subscription(String, interfaces.TRIAL_EVENTS, self.on_event, qos.EVENTS)
        self.create_service(Trigger, interfaces.START_TRIAL, self.on_start_request)
        self.reset_client = self.create_client(Trigger, interfaces.SIM_RESET) if p.reset_sim else None
        self.lifecycle_client = (self.create_client(ChangeState, f"/{p.hand_node.strip('/')}/change_state")
                                 if p.reset_sim and p.hand_node else None)
        if self.lifecycle_client is not None:
            self.create_subscription(JointState, interfaces.JOINT_STATES, self.on_joint_state, qos.SENSOR)
        self.create_timer(0.25, self.tick)
        how = f"resetting the simulator through {interfaces.SIM_RESET}" if p.reset_sim else f"waiting for {interfaces.START_TRIAL} per trial"
        self.get_logger().info(f"{p.trials or 'unlimited'} trials of the {p.object}, {how}")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # ---------------------------------------------------------------------------------- trial flow

    def tick(self) -> None:
        """Start the next trial when none runs; report a missing pose stream."""
        finished = self.p.trials and len(self.result.trials) >= self.p.trials
        if not self.busy and self.phase == "idle" and not finished and self.p.reset_sim:
            self.begin_reset()
        if self.phase == "settling" and time.monotonic() - self.settling_since > POLICY_RESET_RETRY_S:
            self.announce_again()
        if self.busy and self.last_pose_time is not None and self._now() - self.last_pose_time > self.p.pose_timeout:
            self.get_logger().error(f"no object pose for {self._now() - self.last_pose_time:.2f} s on {interfaces.OBJECT_POSE}",
                                    throttle_duration_sec=LOG_THROTTLE_S)
        self.publish_diagnostics()

    @property
    def busy(self) -> bool:
        """A trial runs or waits for its first pose."""
        return self.tracker.running or self.start_after is not None

    def begin_reset(self) -> None:
        clients = [self.reset_client] + ([self.lifecycle_client] if self.lifecycle_client else [])
        if not all(c.service_is_ready() for c in clients):
            self.get_logger().warn(f"waiting for {', '.join(c.srv_name for c in clients if not c.service_is_ready())}",
                                   throttle_duration_sec=5.0)
            return
        if self.lifecycle_client is None:
            self.reset_sim()
            return
        self.phase = "deactivating"
        self.change_hand_state(Transition.TRANSITION_DEACTIVATE, lambda ok: self.reset_sim())

    def change_hand_state(self, transition: int, then) -> None:
        request = ChangeState.Request(transition=Transition(id=transition))
        # Deactivating an inactive driver fails harmlessly: the hand is stopped either way.
        self.lifecycle_client.call_async(request).add_done_callback(lambda f: then(bool(f.result() and f.result().success)))

    def reset_sim(self) -> None:
        self.phase = "resetting"
        self.joint_state_stamps = []
        self.reset_client.call_async(Trigger.Request()).add_done_callback(self.on_reset_done)

    def on_reset_done(self, future) -> None:
        response = future.result()
        if response is None or not response.success:
            self.get_logger().error(f"simulator reset failed: {getattr(response, 'message', 'no answer')}")
            self.phase = "idle"
            return
        # The simulator's own time of the reset: it may have stepped on (joint states newer than the reset
        # already queued or handled here) before this answer is read.
        reset_time = interfaces.sim_reset_time(response.message)
        self.reset_time = self._now() if reset_time is None else reset_time
        # The trial starts now, before the driver is re-activated, so the policy has reset its LSTM and
        # re-read the hand's pose by the time its commands are forwarded again.
        self.start_trial(at=self.reset_time)
        if self.lifecycle_client is None:
            self.phase = "idle"
        else:
            self.phase = "settling"
            self.settling_since = time.monotonic()
            self.settle_count = sum(_after(stamp, self.reset_time) for stamp in self.joint_state_stamps)
            self.joint_state_stamps = []
            self.activate_when_settled()

    def on_joint_state(self, msg: JointState) -> None:
        stamp = stamp_to_seconds(msg.header.stamp)
        if self.phase == "resetting":
            self.joint_state_stamps.append(stamp)
        elif self.phase == "settling" and _after(stamp, self.reset_time):
            self.settle_count += 1
            self.activate_when_settled()

    def on_event(self, msg: String) -> None:
        try:
            event = json.loads(msg.data)
            if event.get("event") != "policy_reset":
                return  # this node's own events
            trial = int(event["trial"])
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            self.get_logger().error(f"malformed event on {interfaces.TRIAL_EVENTS}: {err}", throttle_duration_sec=LOG_THROTTLE_S)
            return
        self.policy_reset_trial = max(self.policy_reset_trial, trial)
        self.activate_when_settled()

    def announce_again(self) -> None:
        """The settle wait is long: if it is the policy node's reset that is missing (it may have started after
        the trial start went out), announce the trial start again; the policy ignores a repeat once reset."""
        self.settling_since = time.monotonic()
        if self.waiting_for_policy and self.trial_start_event is not None:
            self.get_logger().warn(f"no policy_reset for trial {self.trial} on {interfaces.TRIAL_EVENTS} from "
                                   f"{interfaces.POLICY_NODE}: announcing the trial start again", throttle_duration_sec=5.0)
            self.publish_event(self.trial_start_event)

    @property
    def waiting_for_policy(self) -> bool:
        return self.p.wait_for_policy_reset and self.policy_reset_trial < self.trial

    def activate_when_settled(self) -> None:
        """Re-activate the hand once `settle_joint_states` joint states of the reset pose have arrived, the
        trial has started (which waits for a pose with nearby goals) and the policy has reset its LSTM."""
        if self.phase != "settling" or not self.tracker.running or self.waiting_for_policy:
            return
        if self.settle_count >= self.p.settle_joint_states:
            self.phase = "activating"
            self.change_hand_state(Transition.TRANSITION_ACTIVATE, self.on_hand_activated)

    def on_hand_activated(self, ok: bool) -> None:
        self.phase = "idle"
        if not ok:
            self.get_logger().error(f"could not activate {self.p.hand_node}: the hand will not move until the driver "
                                    "is active")

    def on_start_request(self, request, response):
        if self.busy:
            response.success, response.message = False, f"trial {self.trial + (self.start_after is not None)} is still running"
        elif self.p.trials and len(self.result.trials) >= self.p.trials:
            response.success, response.message = False, f"all {self.p.trials} trials are done"
        else:
            self.start_trial()
            response.success, response.message = True, f"trial {self.trial} started"
        return response

    def start_trial(self, object_quat: np.ndarray | None = None, at: float | None = None) -> None:
        """Start a trial at time `at` (default: now); only poses stamped after it are scored. With goals drawn
        from the object's pose and no `object_quat`, it starts on the first pose stamped after `at`: the
        newest pose if it is (it may have been handled before a reset's answer), else the next one."""
        at = self._now() if at is None else at
        if self.tracker.goals_follow_the_object and object_quat is None:
            if self.latest_pose is None or not _after(self.latest_pose[0], at):
                self.start_after, self.last_pose_time = at, self._now()  # on_pose starts it
                return
            at, object_quat = self.latest_pose
        self.start_after = None
        goal = self.tracker.start(object_quat)
        self.trial += 1
        self.trial_start_time = at
        self.last_pose_time = self._now()
        self.publish_goal(goal)
        self.trial_start_event = {"event": "trial_start", "trial": self.trial, "time": self.trial_start_time}
        self.publish_event(self.trial_start_event)
        self.get_logger().info(f"trial {self.trial} started")
        self.activate_when_settled()

    def on_pose(self, msg: PoseStamped) -> None:
        stamp = stamp_to_seconds(msg.header.stamp)
        try:
            position, quat = pose_from_msg(msg.pose)
        except ValueError as err:
            self.get_logger().error(f"rejected object pose: {err}", throttle_duration_sec=LOG_THROTTLE_S)
            return
        self.latest_pose = (stamp, quat)
        if not self.busy:
            return
        if not self.tracker.running:  # waiting for the pose that nearby goals are drawn from
            if _after(stamp, self.start_after):
                self.start_trial(quat, at=stamp)
            return
        if not _after(stamp, self.trial_start_time):
            return  # measured before this trial began (before the reset)
        if self.tracker.last_stamp is not None and stamp < self.tracker.last_stamp + 0.5 * self.p.control_period:
            return  # not a new control step
        self.last_pose_time = self._now()
        update = self.tracker.update(stamp, position, quat)
        if update.success:
            self.publish_event({"event": "success", "trial": self.trial, "successes": update.successes, "time": stamp})
            if update.done_reason == "running":
                self.publish_goal(self.tracker.goal)
        if update.done_reason != "running":
            self.end_trial(update.successes, update.done_reason, stamp)

    def end_trial(self, successes: int, reason: str, stamp: float) -> None:
        self.result.trials.append(successes)
        self.result.reasons.append(reason)
        self.result.env_steps += int(self.tracker.counters.steps[0])
        self.publish_event({"event": "trial_end", "trial": self.trial, "successes": successes, "reason": reason, "time": stamp})
        complete = bool(self.p.trials) and len(self.result.trials) >= self.p.trials
        results = {**self.result.to_dict(), "table_row": self.result.table_row(), "complete": complete,
                   "trials_planned": self.p.trials}
        self.results_pub.publish(String(data=json.dumps(results)))
        if complete:  # `dactyl up` stops the graph on this message: let every reader (recorder, probes) have it first
            self.results_pub.wait_for_all_acked(Duration(seconds=FINAL_RESULT_ACK_TIMEOUT_S))
        self.get_logger().info(f"trial {self.trial}: {successes} consecutive successes ({reason}); "
                               f"so far {self.result.table_row()}")

    def publish_goal(self, goal: np.ndarray) -> None:
        self.goal_pub.publish(QuaternionStamped(header=Header(stamp=seconds_to_stamp(self._now()), frame_id=interfaces.WORLD_FRAME),
                                                quaternion=quaternion_to_msg(goal)))

    def publish_event(self, event: dict) -> None:
        self.event_pub.publish(String(data=json.dumps(event)))

    def publish_diagnostics(self) -> None:
        running = self.tracker.running
        values = {"trial": self.trial, "finished_trials": len(self.result.trials), "running": running,
                  "successes": int(self.tracker.counters.successes[0]) if running else 0}
        self.diag_pub.publish(health.diagnostic_array(
            self.get_clock().now().to_msg(), interfaces.TRIAL_NODE, health.OK,
            f"trial {self.trial} running" if running else "between trials", values))


def _after(stamp: float, time: float) -> bool:
    """Strictly after: a simulator whose reset takes no time (ours takes 10 ms) stamps its last state before
    the reset with the reset's time."""
    return stamp > time + SAME_TIME_S


def main(args=None) -> int:
    return run_node(TrialManager, args)


if __name__ == "__main__":
    raise SystemExit(main())
