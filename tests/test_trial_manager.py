"""The trial manager as a real process over Fast DDS, on the real hand's path (no simulator to reset): with
nearby goals a trial starts on the first pose measured after the operator's request."""
import json

import numpy as np
from geometry_msgs.msg import PoseStamped, QuaternionStamped
from std_msgs.msg import Header, String
from std_srvs.srv import Trigger

from dactyl_core import interfaces, rotations
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
