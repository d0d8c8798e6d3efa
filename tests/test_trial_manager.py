"""The trial manager as a real process over Fast DDS. On the real hand's path (no simulator to reset), with
nearby goals a trial starts on the first pose measured after the operator's request; in simulation it
starts on the first pose measured after the reset, however late the reset's answer is read."""
import json
import time

import numpy as np
from geometry_msgs.msg import PoseStamped, QuaternionStamped
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from sensor_msgs.msg import JointState
from std_msgs.msg import Header, String
from std_srvs.srv import Trigger

from dactyl_core import interfaces, joints, rotations
from dactyl_ros import qos
from dactyl_ros.conversions import pose_to_msg, quaternion_from_msg, seconds_to_stamp

MODULE = "dactyl_control.trial_manager"
PALM = np.array([1.0, 0.87, 0.17])
ANGLE = 0.6


def test_nearby_goals_start_on_the_first_pose_after_the_request_and_follow_the_object(ros_graph):
    node = ros_graph.start(MODULE, interfaces.TRIAL_NODE, params={"reset_sim": False, "nearby_goal_angle": ANGLE})
    probe = ros_graph.probe
    goals = probe.subscribe(interfaces.GOAL, QuaternionStamped, qos.LATCHED)
    events = probe.subscribe(interfaces.TRIAL_EVENTS, String, qos.EVENTS)
    poses = probe.publisher(interfaces.OBJECT_POSE, PoseStamped, qos.SENSOR)

    def publish(quat):
        stamp = seconds_to_stamp(probe.node.get_clock().now().nanoseconds * 1e-9)
        poses.publish(PoseStamped(header=Header(stamp=stamp, frame_id=interfaces.WORLD_FRAME), pose=pose_to_msg(PALM, quat)))

    def goal_distance_from(quat):
        return rotations.distance(quaternion_from_msg(goals.last().quaternion), quat)

    assert probe.call(interfaces.START_TRIAL, Trigger, Trigger.Request()).success
    refused = probe.call(interfaces.START_TRIAL, Trigger, Trigger.Request())
    assert not refused.success and "still running" in refused.message
    assert len(goals) == 0  # no goal (so the policy does not act) until the object has been measured

    start = rotations.from_axis_angle(np.array([0.3, -0.2, 0.9]), 1.7)
    ros_graph.wait_until(lambda: len(goals) or publish(start), 10, "the first goal")
    assert abs(goal_distance_from(start) - ANGLE) < 1e-6
    ros_graph.wait_until(lambda: len(events), 5, "the trial start event")
    assert json.loads(events.last().data)["event"] == "trial_start"

    # The object reaches the goal (within 0.4 rad): the next goal is ANGLE from where the object is now.
    reached = rotations.multiply(rotations.from_axis_angle(np.array([0.0, 1.0, 0.0]), 0.2),
                                 quaternion_from_msg(goals.last().quaternion))
    ros_graph.wait_until(lambda: len(goals) >= 2 or publish(reached), 10, "the second goal")
    assert abs(goal_distance_from(reached) - ANGLE) < 1e-6
    ros_graph.wait_until(lambda: any(json.loads(e.data)["event"] == "success" for e in events.snapshot()[0]), 5,
                         "the success event")
    assert node.alive


def test_a_reset_answer_read_after_newer_messages_still_starts_the_trial_and_reactivates_the_hand(ros_graph):
    # The simulator runs on while its reset answer waits in the trial manager's queue: the joint states and
    # the pose measured after the reset may be handled first. The answer carries the reset's simulated time,
    # so they still count, and a pose stamped with the reset time itself (the old state's last) does not.
    probe = ros_graph.probe
    goals = probe.subscribe(interfaces.GOAL, QuaternionStamped, qos.LATCHED)
    events = probe.subscribe(interfaces.TRIAL_EVENTS, String, qos.EVENTS)
    poses = probe.publisher(interfaces.OBJECT_POSE, PoseStamped, qos.SENSOR)
    joint_states = probe.publisher(interfaces.JOINT_STATES, JointState, qos.SENSOR)
    transitions = []
    reset_time = 100.0  # simulated seconds; the trial manager's own clock (wall time) is far ahead of it
    before, after = (rotations.from_axis_angle(np.array(axis), 1.0) for axis in ([1.0, 0.0, 0.0], [0.0, 0.0, 1.0]))

    def stamped(t):
        return Header(stamp=seconds_to_stamp(t), frame_id=interfaces.WORLD_FRAME)

    def on_reset(request, response):
        poses.publish(PoseStamped(header=stamped(reset_time), pose=pose_to_msg(PALM, before)))
        for k in range(1, 4):
            joint_states.publish(JointState(header=stamped(reset_time + 0.01 * k), name=list(joints.SHADOW_JOINT_NAMES),
                                            position=[0.0] * len(joints.SHADOW_JOINT_NAMES)))
        poses.publish(PoseStamped(header=stamped(reset_time + 0.08), pose=pose_to_msg(PALM, after)))
        time.sleep(0.5)  # the trial manager handles those before it reads this answer
        response.success, response.message = True, interfaces.sim_reset_answer(reset_time, "test")
        return response

    def on_change_state(request, response):
        transitions.append(request.transition.id)
        response.success = True
        return response

    probe.node.create_service(Trigger, interfaces.SIM_RESET, on_reset)
    probe.node.create_service(ChangeState, "/fake_hand/change_state", on_change_state)
    node = ros_graph.start(MODULE, interfaces.TRIAL_NODE, params={
        "trials": 1, "hand_node": "fake_hand", "nearby_goal_angle": ANGLE})

    def starts():
        return [e for e in map(json.loads, (m.data for m in events.snapshot()[0])) if e["event"] == "trial_start"]

    ros_graph.wait_until(lambda: len(starts()), 20, "the trial start")
    assert abs(rotations.distance(quaternion_from_msg(goals.last().quaternion), after) - ANGLE) < 1e-6
    assert starts()[0]["trial"] == 1 and abs(starts()[0]["time"] - (reset_time + 0.08)) < 1e-6
    # Settled, but the hand stays inactive until the policy node says it has reset for the trial; a silent
    # policy node (it may have missed the start) is told again.
    ros_graph.wait_until(lambda: len(starts()) >= 2, 10, "the trial start announced again")
    assert transitions == [Transition.TRANSITION_DEACTIVATE] and starts()[1] == starts()[0]
    events_pub = probe.publisher(interfaces.TRIAL_EVENTS, String, qos.EVENTS)
    events_pub.publish(String(data="not json"))  # refused with an error, not a crash
    reset = String(data=json.dumps({"event": "policy_reset", "trial": 1}))
    ros_graph.wait_until(lambda: Transition.TRANSITION_ACTIVATE in transitions or events_pub.publish(reset), 20,
                         "the hand re-activated")
    assert transitions == [Transition.TRANSITION_DEACTIVATE, Transition.TRANSITION_ACTIVATE]
    assert node.alive


def test_the_reset_answer_carries_its_simulated_time_and_other_answers_carry_none():
    assert interfaces.sim_reset_time(interfaces.sim_reset_answer(12.3456789, "object mass x1.00")) == 12.345679
    for other in ("", "reset", "reset at t=soon s: ok", "done at t=1.0 s: ok"):
        assert interfaces.sim_reset_time(other) is None
