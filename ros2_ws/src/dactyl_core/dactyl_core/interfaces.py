"""Every ROS name in the graph: topics, services, frames and node names, with their message types.

The nodes, the launch files and the tests import these; no node spells a topic name itself. Only
standard message packages are used (no custom interfaces). Pure data: no rclpy import here.
"""
from __future__ import annotations

from .joints import ACTUATORS
from .scene import DEFAULT_CAMERAS

# --- frames -------------------------------------------------------------------------------------------
WORLD_FRAME = "world"  # the simulation's world frame (z up, m); motion capture is calibrated into it
MOCAP_FRAME = "phasespace"  # PhaseSpace's own frame: millimetres, Y up
CAMERA_NAMES = tuple(c.name for c in DEFAULT_CAMERAS)


def camera_optical_frame(camera: str) -> str:
    return f"{camera}_optical"  # REP 103 optical frame: z forward, x right, y down


# --- node names ---------------------------------------------------------------------------------------
SIM_NODE = "dactyl_sim"
HAND_NODE = "shadow_hand"
MOCAP_NODE = "phasespace"
POLICY_NODE = "dactyl_policy"
TRIAL_NODE = "dactyl_trials"
VISION_NODE = "dactyl_vision"

# --- hardware-facing topics (what the real devices, or dactyl_sim standing in for them, speak) --------
JOINT_STATES = "/joint_states"  # sensor_msgs/JointState: 24 Shadow joint names, rad (Shadow convention)
MOCAP_MARKERS = "/phasespace/markers"  # sensor_msgs/PointCloud2: x, y, z float32 (mm, Y up), id uint32, cond float32
CLOCK = "/clock"  # rosgraph_msgs/Clock (sim only)
TRAJECTORY_COMMAND = "/rh_trajectory_controller/command"  # trajectory_msgs/JointTrajectory, Shadow's controller


def camera_image(camera: str) -> str:
    return f"/cameras/{camera}/image_raw"  # sensor_msgs/Image, rgb8


def camera_info(camera: str) -> str:
    return f"/cameras/{camera}/camera_info"  # sensor_msgs/CameraInfo, same stamp as the image


#: Shadow's per-actuator position controllers (std_msgs/Float64), J0 = J1 + J2 for coupled pairs.
POSITION_CONTROLLER_COMMANDS = {a.shadow_name: a.controller_topic for a in ACTUATORS}

# --- dactyl topics ------------------------------------------------------------------------------------
OBJECT_POSE = "/dactyl/object_pose"  # geometry_msgs/PoseStamped in WORLD_FRAME, stamped with the measurement time
FINGERTIPS = "/dactyl/fingertips"  # geometry_msgs/PoseArray in WORLD_FRAME: FF, MF, RF, LF, TH (orientation unused)
GOAL = "/dactyl/goal"  # geometry_msgs/QuaternionStamped in WORLD_FRAME: the current goal orientation
POLICY_COMMAND = "/dactyl/policy_command"  # trajectory_msgs/JointTrajectory: one point, 24 Shadow joint names
# std_msgs/String, one JSON object per event: the trial manager's trial_start, success and trial_end, and the
# policy node's policy_reset (its LSTM is reset for that trial; the trial manager waits for it in simulation)
TRIAL_EVENTS = "/dactyl/trial_events"
TRIAL_RESULTS = "/dactyl/trial_results"  # std_msgs/String, JSON: per-trial results and the Table-3 row so far
DIAGNOSTICS = "/diagnostics"  # diagnostic_msgs/DiagnosticArray: each node's health and why it is not acting
SIM_GROUND_TRUTH_POSE = "/dactyl_sim/debug/object_pose_ground_truth"  # PoseStamped; never used for control
#: The counters the hand driver reports in its /diagnostics values (key -> what it counts); `dactyl up` prints them.
HAND_DRIVER_COUNTERS = {"forwarded": "commands forwarded", "rejected": "rejected",
                        "clamped": "clamped to joint limits", "rate_limited": "rate-limited",
                        "watchdog_holds": "watchdog holds"}
#: The counters the simulator reports in its /diagnostics values (key -> what it counts); `dactyl up` prints them.
SIM_COUNTERS = {"resets": "resets", "lockstep_timeouts": "control periods without a command in time (lockstep timeouts)",
                "rejected": "malformed commands rejected", "beyond_limits": "commands beyond joint limits",
                "unstable": "unstable simulations"}
#: Whose counters `dactyl up` reports: node -> (name in the report and its JSON, counters).
REPORTED_COUNTERS = {HAND_NODE: ("hand driver", HAND_DRIVER_COUNTERS), SIM_NODE: ("simulator", SIM_COUNTERS)}

# --- services -----------------------------------------------------------------------------------------
SIM_RESET = "/dactyl_sim/reset"  # std_srvs/Trigger: new randomization draw, hand and object back to start
HAND_EMERGENCY_STOP = "/shadow_hand/emergency_stop"  # std_srvs/SetBool: true = stop and hold, false = release
START_TRIAL = "/dactyl_trials/start_trial"  # std_srvs/Trigger


def sim_reset_answer(sim_time: float, details: str) -> str:
    """The simulator's SIM_RESET answer: it starts with the simulated time of the reset, which a caller
    needs because the simulator may have stepped on (and stamped newer messages) by the time it reads it."""
    return f"reset at t={sim_time:.6f} s: {details}"


def sim_reset_time(answer: str) -> float | None:
    """The simulated time in a `sim_reset_answer`, or None for an answer in another format."""
    head, _, _ = answer.partition(" s:")
    if not head.startswith("reset at t="):
        return None
    try:
        return float(head[len("reset at t="):])
    except ValueError:
        return None
