"""dactyl_sim: the MuJoCo stand-in for all the hardware (Shadow hand, PhaseSpace, three cameras).

It speaks the real devices' interfaces: /joint_states, PhaseSpace-style markers, camera images, and it
listens on the hand's controller interface (Shadow's trajectory controller topic or the per-motor position
controllers) exactly as the hand driver's output arrives at a real hand. The world it simulates is
`dactyl_core.sim_hand.SimulatedHand`: the training environment's scene and randomization.

Time: the node owns simulated time and always publishes /clock. `real_time` paces it to the wall clock;
otherwise it runs as fast as possible in lockstep with the controller: after each control period's
sensor frame it waits (up to `lockstep_timeout` wall seconds) for the next command, so the graph runs
faster than real time without the policy falling behind. Physics runs in its own thread; ROS callbacks
only hand commands over under a lock.
"""
from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState, PointCloud2
from std_msgs.msg import Float64, Header
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from dactyl_core import interfaces, joints
from dactyl_core.env import load_env_config
from dactyl_core.mocap import load_calibration, markers_from_world
from dactyl_core.randomization import PRESETS
from dactyl_core.sim_hand import SimulatedHand
from dactyl_ros import health, qos
from dactyl_ros.conversions import pose_to_msg, seconds_to_stamp
from dactyl_ros.markers import markers_to_cloud
from dactyl_ros.node_main import StartupError, run_node
from dactyl_ros.params import Param, declare

COMMAND_INTERFACES = ("trajectory", "position_controllers")
CLOCK_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
LOG_THROTTLE_S = 2.0
COMMAND_PERIOD_WINDOW = 10000  # commands kept for the control-period statistics on /diagnostics
# Simulated time a reset takes: no message of the old state shares a stamp with the new one, so "stamped at
# or after the reset" (the trial manager, the policy node) means "of the new state".
RESET_DURATION_S = 0.01

PARAMS = (
    Param("object", "block", "object in the hand", choices=("block", "prism"), read_only=True),
    Param("randomization", "all", "randomization groups switched on (the paper's ablations)", choices=tuple(PRESETS), read_only=True),
    Param("seed", 0, "seed of the randomization draws, noise and start orientations", minimum=0, read_only=True),
    Param("real_time", True, "true: pace simulated time to the wall clock; false: as fast as possible, in lockstep with the controller"),
    Param("speed", 1.0, "with real_time: simulated seconds per wall second", minimum=0.01, maximum=100.0),
    Param("lockstep_timeout", 1.0, "without real_time: wall seconds to wait for a command after each control period "
          "before simulating on with the last one", minimum=0.0, maximum=60.0),
    Param("command_interface", "trajectory", "the hand controller interface the simulated hand obeys",
          choices=COMMAND_INTERFACES, read_only=True),
    Param("joint_state_rate", 100.0, "rate of /joint_states, Hz of simulated time", minimum=1.0, maximum=1000.0),
    Param("camera_rate", 0.0, "rate of camera frames, Hz of simulated time; 0 switches the cameras off "
          "(rendering is expensive on a CPU)", minimum=0.0, maximum=100.0),
    Param("marker_dropout", 0.02, "probability that a marker is occluded in a frame", minimum=0.0, maximum=1.0),
    Param("mocap_calibration", "", "PhaseSpace calibration YAML (empty: dactyl_core/config/mocap_calibration.yaml)", read_only=True),
    Param("diagnostics_period", 1.0, "seconds of simulated time between /diagnostics reports", minimum=0.05),
)


class SimNode(Node):
    def __init__(self):
        super().__init__(interfaces.SIM_NODE)
        self.p = p = declare(self, PARAMS)
        try:
            self.calibration = load_calibration(p.mocap_calibration or None)
            self.hand = SimulatedHand(load_env_config(p.object, p.randomization), seed=p.seed)
        except ValueError as err:
            raise StartupError(f"cannot build the simulation: {err}") from err
        self.marker_noise = (self.hand.config.randomization.observation_noise.marker_noise
                             if self.hand.config.randomization.observation_noise.enabled else 0.0)
        self.lock = threading.Lock()
        self.command_arrived = threading.Event()
        self.pending_motors: np.ndarray | None = None  # (20,) motor commands waiting for the next physics step
        self.clock_offset = 0.0  # simulated time before the last reset: /clock never goes back
        self.stats = dict(commands=0, **dict.fromkeys(interfaces.SIM_COUNTERS, 0))
        self.max_limit_excess = 0.0  # rad: the most any received command exceeded its joint limit
        self.command_times = deque(maxlen=COMMAND_PERIOD_WINDOW)  # simulated time of each complete command

        self.clock_pub = self.create_publisher(Clock, interfaces.CLOCK, CLOCK_QOS)
        self.joint_pub = self.create_publisher(JointState, interfaces.JOINT_STATES, qos.SENSOR)
        self.marker_pub = self.create_publisher(PointCloud2, interfaces.MOCAP_MARKERS, qos.SENSOR)
        self.truth_pub = self.create_publisher(PoseStamped, interfaces.SIM_GROUND_TRUTH_POSE, qos.SENSOR)
        self.diag_pub = self.create_publisher(DiagnosticArray, interfaces.DIAGNOSTICS, qos.EVENTS)
        self.cameras = {}
        if p.camera_rate > 0:
            for name in interfaces.CAMERA_NAMES:
                self.cameras[name] = (self.create_publisher(Image, interfaces.camera_image(name), qos.SENSOR),
                                      self.create_publisher(CameraInfo, interfaces.camera_info(name), qos.SENSOR),
                                      self._camera_info(name))
        if p.command_interface == "trajectory":
            self.create_subscription(JointTrajectory, interfaces.TRAJECTORY_COMMAND, self.on_trajectory, qos.COMMAND)
        else:
            for actuator in joints.ACTUATORS:
                self.create_subscription(Float64, actuator.controller_topic,
                                         lambda msg, index=actuator.index: self.on_motor_command(index, msg), qos.COMMAND)
        self.create_service(Trigger, interfaces.SIM_RESET, self.on_reset)

        self.running = True
        self.thread = threading.Thread(target=self._run, name="physics", daemon=True)
        self.thread.start()
        mode = f"real time x{p.speed:g}" if p.real_time else f"as fast as possible, lockstep timeout {p.lockstep_timeout:g} s"
        cams = f"cameras at {p.camera_rate:g} Hz" if self.cameras else "cameras off"
        self.get_logger().info(f"simulating the {p.object}, randomization {p.randomization}, seed {p.seed}: {mode}; "
                               f"hand obeys the {p.command_interface} interface; {cams}")

    # ------------------------------------------------------------------------------------- commands

    def on_trajectory(self, msg: JointTrajectory) -> None:
        try:
            if not msg.points:
                raise ValueError("trajectory has no points")
            names = list(msg.joint_names)
            positions = np.asarray(msg.points[-1].positions, dtype=np.float64)  # the controller ends at the last point
            if len(positions) != len(names):
                raise ValueError(f"{len(names)} joint names but {len(positions)} positions")
            if len(set(names)) != len(names):
                raise ValueError(f"duplicate joint names in {names}")
            indices = [joints.shadow_index(n) for n in names]
            if not np.isfinite(positions).all():
                raise ValueError(f"non-finite positions {positions.tolist()}")
        except (ValueError, KeyError) as err:
            self._reject(f"trajectory command rejected: {err.args[0] if isinstance(err, KeyError) else err}")
            return
        self._check_limits(positions, joints.COMMAND_LIMITS[indices], names)
        with self.lock:
            full = joints.actuator_targets_to_joint_targets(self.hand.commanded) if self.pending_motors is None \
                else joints.motor_commands_to_joint_targets(self.pending_motors)
            full[indices] = positions
            self.pending_motors = joints.joint_targets_to_motor_commands(full)
            self.stats["commands"] += 1
            self.command_times.append(self._now())
        self.command_arrived.set()

    def on_motor_command(self, index: int, msg: Float64) -> None:
        value = float(msg.data)
        name = joints.ACTUATORS[index].shadow_name
        if not np.isfinite(value):
            self._reject(f"position controller command for {name} rejected: {value}")
            return
        self._check_limits(np.array([value]), joints.MOTOR_COMMAND_LIMITS[[index]], [name])
        with self.lock:
            if self.pending_motors is None:
                self.pending_motors = joints.actuator_targets_to_motor_commands(self.hand.commanded)
            self.pending_motors[index] = value
            self.stats["commands"] += 1
            complete = self.stats["commands"] % joints.NUM_ACTUATORS == 0
            if complete:
                self.command_times.append(self._now())
        if complete:  # one control step's worth of motor commands
            self.command_arrived.set()

    def _check_limits(self, values: np.ndarray, limits: np.ndarray, names: list[str]) -> None:
        """The hand driver must never let a command beyond a joint limit through; count and report any."""
        excess = np.maximum(limits[:, 0] - values, values - limits[:, 1])
        if (excess > 1e-6).any():
            worst = int(np.argmax(excess))
            self.stats["beyond_limits"] += 1
            self.max_limit_excess = max(self.max_limit_excess, float(excess[worst]))
            self.get_logger().error(f"a command beyond the joint limits reached the hand: {names[worst]} = "
                                    f"{values[worst]:.4f} outside {limits[worst].tolist()} (the motor clamps it)",
                                    throttle_duration_sec=LOG_THROTTLE_S)

    def _reject(self, reason: str) -> None:
        self.stats["rejected"] += 1
        self.get_logger().error(reason + "; the hand keeps its last command", throttle_duration_sec=LOG_THROTTLE_S)

    def on_reset(self, request, response):
        with self.lock:
            parameters = self._reset_hand()
            self.pending_motors = None
            self.stats["resets"] += 1
            now = self._now()
        self.command_arrived.set()  # a lockstep wait for a command at the old state's control tick is over
        self._publish_joint_states(now)
        response.success = True
        response.message = interfaces.sim_reset_answer(now, f"object mass x{parameters['object_mass_scale']:.2f}, "
                                                       f"friction x{parameters['object_friction_scale']:.2f}, "
                                                       f"timestep x{parameters['timestep_scale']:.3f}")
        return response

    # ----------------------------------------------------------------------------------- simulation

    def _now(self) -> float:
        return self.clock_offset + self.hand.time

    def _reset_hand(self) -> dict:
        """New randomization draw, hand and object back to start (under the lock); /clock goes on forward."""
        self.clock_offset += self.hand.time + RESET_DURATION_S
        return self.hand.reset()

    def _run(self) -> None:
        """The physics thread: step, publish what is due, pace (real time) or wait for the controller (lockstep)."""
        try:
            self._loop()
        except Exception as err:  # a crash here must be loud, not a silent frozen clock
            if not self.context.ok():
                return  # Ctrl-C or SIGTERM shut the context down under a publish: the node is stopping
            self.get_logger().fatal(f"physics thread stopped: {type(err).__name__}: {err}")
            raise

    def _loop(self) -> None:
        p = self.p
        joint_period, camera_period = 1.0 / p.joint_state_rate, (1.0 / p.camera_rate if p.camera_rate > 0 else None)
        next_joint = next_camera = next_diag = self._now()
        wall_start, sim_start = time.monotonic(), self._now()
        renderer = None
        while self.running:
            with self.lock:
                if self.pending_motors is not None:
                    try:
                        self.hand.command_motors(self.pending_motors)
                    except ValueError as err:
                        self._reject(str(err))
                    self.pending_motors = None
                tick = self.hand.step()
                if self.hand.unstable:
                    self.stats["unstable"] += 1
                    self.get_logger().error("the simulation became unstable; resetting it")
                    self._reset_hand()
                now = self._now()
                frame = self._sensor_frame(now) if tick else None
                if tick and camera_period is not None and now + 1e-9 >= next_camera:
                    if renderer is None:
                        from dactyl_core.render import CameraRenderer

                        renderer = CameraRenderer(self.hand.scene)
                    images = renderer.rgb_all(self.hand.data)
                    next_camera = _next_due(next_camera, camera_period, now)
                else:
                    images = None
            self.clock_pub.publish(Clock(clock=seconds_to_stamp(now)))
            if now + 1e-9 >= next_joint:
                self._publish_joint_states(now)
                next_joint = _next_due(next_joint, joint_period, now)
            if tick:
                self.command_arrived.clear()
                self._publish_frame(frame, images, now)
                if now >= next_diag:
                    self._publish_diagnostics(now, (now - sim_start) / max(time.monotonic() - wall_start, 1e-9))
                    next_diag = now + p.diagnostics_period
                if not p.real_time and not self.command_arrived.wait(p.lockstep_timeout):
                    self.stats["lockstep_timeouts"] += 1
            if p.real_time:
                ahead = (now - sim_start) / p.speed - (time.monotonic() - wall_start)
                if ahead > 0:
                    time.sleep(ahead)
                elif ahead < -0.5:  # fell behind (a busy machine): do not try to catch up in a burst
                    self.get_logger().warn(f"simulation runs {-ahead:.2f} s behind real time",
                                           throttle_duration_sec=10.0)
                    wall_start, sim_start = time.monotonic(), now
        if renderer is not None:
            renderer.close()

    def _sensor_frame(self, now: float):
        """Everything measured at this control tick, taken under the lock (the state changes right after)."""
        measurement = self.hand.measure()
        markers = markers_from_world(measurement.object_markers, measurement.fingertips, self.calibration,
                                     self.hand.rng, self.marker_noise, self.p.marker_dropout)
        return markers, self.hand.object_pose()

    def _publish_frame(self, frame, images, now: float) -> None:
        markers, (position, quat) = frame
        stamp = seconds_to_stamp(now)
        self.marker_pub.publish(markers_to_cloud(markers, stamp))
        self.truth_pub.publish(PoseStamped(header=Header(stamp=stamp, frame_id=interfaces.WORLD_FRAME),
                                           pose=pose_to_msg(position, quat)))
        if images:
            for name, image in images.items():
                image_pub, info_pub, info = self.cameras[name]
                header = Header(stamp=stamp, frame_id=interfaces.camera_optical_frame(name))
                height, width = image.shape[:2]
                image_pub.publish(Image(header=header, height=height, width=width, encoding="rgb8", is_bigendian=0,
                                        step=3 * width, data=image.tobytes()))
                info.header = header
                info_pub.publish(info)

    def _publish_joint_states(self, now: float) -> None:
        with self.lock:
            position, velocity = self.hand.joint_positions(), self.hand.joint_velocities()
        self.joint_pub.publish(JointState(header=Header(stamp=seconds_to_stamp(now)), name=list(joints.SHADOW_JOINT_NAMES),
                                          position=position.tolist(), velocity=velocity.tolist()))

    def _camera_info(self, name: str) -> CameraInfo:
        k = self.hand.scene.camera_intrinsics(name)
        info = CameraInfo(width=k.width, height=k.height, distortion_model="plumb_bob", d=[0.0] * 5)
        info.k = k.k.ravel().tolist()
        info.r = np.eye(3).ravel().tolist()
        info.p = np.hstack([k.k, np.zeros((3, 1))]).ravel().tolist()
        return info

    def _publish_diagnostics(self, now: float, real_time_factor: float) -> None:
        s = self.stats
        level, message = health.OK, "simulating"
        if s["beyond_limits"]:
            level, message = health.ERROR, f"{s['beyond_limits']} command(s) beyond joint limits reached the hand"
        elif s["rejected"]:
            level, message = health.WARN, f"{s['rejected']} malformed command(s) rejected"
        values = {**s, "sim_time": f"{now:.3f}", "real_time_factor": f"{real_time_factor:.2f}",
                  "max_limit_excess_rad": f"{self.max_limit_excess:.6f}"}
        with self.lock:
            intervals = np.diff(np.array(self.command_times)) * 1000.0
        if len(intervals) > 1:  # the control period as the hand sees it, in simulated time
            values.update({f"command_period_{name}_ms": f"{value:.3f}" for name, value in (
                ("p1", np.percentile(intervals, 1)), ("p50", np.percentile(intervals, 50)),
                ("p99", np.percentile(intervals, 99)), ("std", intervals.std()), ("max", intervals.max()))})
            values["command_period_samples"] = len(intervals)
        self.diag_pub.publish(health.diagnostic_array(seconds_to_stamp(now), interfaces.SIM_NODE, level, message, values,
                                                      hardware_id="mujoco"))

    def close(self) -> None:
        self.running = False
        self.command_arrived.set()
        self.thread.join(timeout=5.0)


def _next_due(due: float, period: float, now: float) -> float:
    """The next publication time on a fixed grid; skips ahead rather than bursting after a stall."""
    due += period
    return due if due > now else now + period


def main(args=None) -> int:
    return run_node(SimNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
