"""The Shadow hand node: the only path from the policy to the hand.

A lifecycle node. `configure` opens the controller interface chosen by `controller_interface` (Shadow's
trajectory controller, or one position controller per motor); `activate` commands the measured pose and
starts forwarding; `deactivate`
is a safe stop: the last safe pose is sent once more and nothing else until the next activation.

While active, every policy command (single-point JointTrajectory with Shadow joint names) is validated,
clamped to the joint limits and rate-limited by `safety.SafetyFilter`, then forwarded. The filter starts
from the measured pose (/joint_states), so nothing is forwarded before the first joint state arrives. A
watchdog holds the last safe pose when commands stop; the emergency-stop service holds it until released.
Why the node is not forwarding is on /diagnostics and in the (throttled) log.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from builtin_interfaces.msg import Duration
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from dactyl_core import interfaces, joints
from dactyl_ros import health, qos
from dactyl_ros.lifecycle import SafeLifecycleNode
from dactyl_ros.node_main import StartupError, run_node
from dactyl_ros.params import Param, declare

from .safety import CommandError, SafetyFilter, parse_command, parse_joint_states

TRAJECTORY, POSITION = "trajectory", "position"

PARAMS = (
    Param("controller_interface", TRAJECTORY,
          "where commands go: Shadow's trajectory controller topic (one JointTrajectory, 24 joints) or one "
          "position controller per motor (20 Float64 topics, J0 = J1 + J2 for coupled pairs); read at configure",
          choices=(TRAJECTORY, POSITION)),
    Param("control_period", 0.08, "s between policy commands; the rate limit allows max_joint_speed x this per "
          "command", minimum=0.001, maximum=1.0),
    Param("max_joint_speed", 2.0, "rad/s: no joint target moves faster (the trained policy moves at most "
          "~1.3 rad/s)", minimum=0.01, maximum=20.0),
    Param("command_timeout", 0.25, "s without a policy command before the watchdog holds the last safe pose",
          minimum=0.01, maximum=10.0),
    Param("trajectory_time_from_start", 0.08, "s: time_from_start of forwarded trajectory points (Shadow's "
          "controller needs > 0)", minimum=0.001, maximum=2.0),
    Param("autostart", False, "configure and activate right after start (what a launcher wants)", read_only=True),
    Param("log_period", 1.0, "s between repeated log lines about the same problem", minimum=0.0, maximum=60.0),
    Param("diagnostics_period", 1.0, "s between /diagnostics reports", minimum=0.05, maximum=60.0),
)


class HandNode(SafeLifecycleNode):
    def __init__(self, **kwargs):
        super().__init__(interfaces.HAND_NODE, **kwargs)
        self.params = declare(self, PARAMS)
        self.log = health.ThrottledLog(self.get_logger(), self.params.log_period)
        self.filter: SafetyFilter | None = None
        self.measured: np.ndarray | None = None  # newest /joint_states, table order, Shadow convention
        self.last_command_time: float | None = None  # node clock, of the last accepted policy command
        self.holding = False  # the watchdog sent the hold pose
        self.estopped = False
        self.active = False
        self.config = SimpleNamespace()
        self.counts = dict.fromkeys(interfaces.HAND_DRIVER_COUNTERS, 0)
        self.command_publishers: list = []
        self.input_subscriptions: list = []
        self.watchdog_timers: list = []
        self.diagnostics = self.create_publisher(DiagnosticArray, interfaces.DIAGNOSTICS, qos.EVENTS)
        # Wall-clock timer: diagnostics keep coming even when a simulated /clock stops.
        self.create_timer(self.params.diagnostics_period, self.publish_diagnostics, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.create_service(SetBool, interfaces.HAND_EMERGENCY_STOP, self.on_emergency_stop)
        if self.params.autostart:
            self._autostart_timer = self.create_timer(0.01, self._autostart, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(f"{interfaces.HAND_NODE} ready (unconfigured); controller_interface="
                               f"{self.get_parameter('controller_interface').value}, autostart={self.params.autostart}")

    # ------------------------------------------------------------------------------------- lifecycle

    def _autostart(self) -> None:
        self.destroy_timer(self._autostart_timer)
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            raise StartupError("autostart: configure failed (see the log above)")
        if self.trigger_activate() != TransitionCallbackReturn.SUCCESS:
            raise StartupError("autostart: activate failed (see the log above)")

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        values = {p.name: self.get_parameter(p.name).value for p in PARAMS}
        if values["controller_interface"] not in (TRAJECTORY, POSITION):
            self.get_logger().error(f"controller_interface {values['controller_interface']!r} is not one of "
                                    f"{[TRAJECTORY, POSITION]}; staying unconfigured")
            return TransitionCallbackReturn.FAILURE
        self.config = SimpleNamespace(**values)
        self.filter = SafetyFilter(self.config.max_joint_speed, self.config.control_period)
        if self.config.controller_interface == TRAJECTORY:
            self.command_publishers = [self.create_lifecycle_publisher(JointTrajectory, interfaces.TRAJECTORY_COMMAND, qos.COMMAND)]
        else:
            self.command_publishers = [self.create_lifecycle_publisher(Float64, interfaces.POSITION_CONTROLLER_COMMANDS[name], qos.COMMAND)
                            for name in joints.SHADOW_ACTUATOR_NAMES]
        self.input_subscriptions = [
            self.create_subscription(JointTrajectory, interfaces.POLICY_COMMAND, self.on_policy_command, qos.COMMAND),
            self.create_subscription(JointState, interfaces.JOINT_STATES, self.on_joint_states, qos.SENSOR),
        ]
        self.watchdog_timers = [self.create_timer(min(self.config.command_timeout, self.config.control_period) / 4.0, self.watchdog)]
        self.get_logger().info(f"configured: forwarding to {self.interface_description()}")
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # enables the lifecycle publishers
        self.active = True
        self.holding = False
        self.last_command_time = None
        if self.measured is not None:
            self.prime()
        self.get_logger().info("active: forwarding policy commands" + ("" if self.filter.primed else
                               f" once the hand's pose is known from {interfaces.JOINT_STATES}"))
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.send_hold("deactivate: safe stop")
        self.active = False
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.close_interface()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self.active:
            self.send_hold("shutdown: safe stop")
            self.active = False
        self.close_interface()
        return super().on_shutdown(state)

    def close_interface(self) -> None:
        for publisher in self.command_publishers:
            self.destroy_lifecycle_publisher(publisher)
        for subscription in self.input_subscriptions:
            self.destroy_subscription(subscription)
        for timer in self.watchdog_timers:
            self.destroy_timer(timer)
        self.command_publishers, self.input_subscriptions, self.watchdog_timers = [], [], []
        self.filter = None

    # ------------------------------------------------------------------------------------- inputs

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def on_joint_states(self, msg: JointState) -> None:
        try:
            self.measured = parse_joint_states(msg.name, msg.position)
        except CommandError as err:
            self.log.error("joint_states", f"ignoring malformed {interfaces.JOINT_STATES}: {err}")
            return
        if self.active and not self.filter.primed:
            self.prime()
            self.get_logger().info("hand pose known: forwarding policy commands")

    def prime(self) -> None:
        """Start the safety filter from the measured pose and command that pose at once: the hand holds
        where it is, and a simulator stepping in lockstep with the commands need not wait for the policy's
        next one."""
        self.filter.prime(self.measured, self.now())
        self.forward(self.filter.hold())

    def on_policy_command(self, msg: JointTrajectory) -> None:
        if not self.active:
            self.log.warn("inactive", f"policy command ignored: {self.current_problem()}")
            return
        if self.estopped:
            self.log.error("estop", "policy command ignored: emergency stop engaged (call "
                           f"{interfaces.HAND_EMERGENCY_STOP} with data=false to release)")
            return
        try:
            if len(msg.points) != 1:
                raise CommandError(f"expected a single trajectory point, got {len(msg.points)}")
            targets = parse_command(msg.joint_names, msg.points[0].positions)
            result = self.filter.filter(targets, self.now())
        except CommandError as err:
            self.counts["rejected"] += 1
            self.log.error("bad_command", f"policy command rejected, holding the last safe pose: {err}")
            return
        if result.clamped:
            self.counts["clamped"] += 1
            self.log.error("clamped", f"policy command beyond joint limits, clamped: {list(result.clamped)[:6]}")
        if result.rate_limited:
            self.counts["rate_limited"] += 1
            self.log.warn("rate_limited", f"policy command faster than {self.config.max_joint_speed} rad/s, "
                          f"slowed down: {list(result.rate_limited)[:6]}")
        self.last_command_time = self.now()
        if self.holding:
            self.get_logger().info("policy commands resumed")
        self.holding = False
        self.forward(result.command)

    def on_emergency_stop(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        if request.data:
            self.estopped = True
            held = self.send_hold("emergency stop")
            response.message = "emergency stop engaged: " + ("holding the last safe pose" if held else
                                                              "nothing was being forwarded")
            self.get_logger().error(response.message)
        else:
            self.estopped = False
            response.message = "emergency stop released: policy commands are forwarded again"
            self.get_logger().warning(response.message)
        response.success = True
        self.publish_diagnostics()
        return response

    # ------------------------------------------------------------------------------------- outputs

    def watchdog(self) -> None:
        """Hold the last safe pose once commands stop for longer than command_timeout."""
        if not self.active or self.holding or self.last_command_time is None:
            return
        silent = self.now() - self.last_command_time
        if silent > self.config.command_timeout:
            self.counts["watchdog_holds"] += 1
            self.send_hold(f"watchdog: no policy command for {silent:.2f} s")
            self.holding = True

    def send_hold(self, reason: str) -> bool:
        if self.filter is None or not self.filter.primed or not self.command_publishers:
            return False
        self.forward(self.filter.hold())
        self.log.warn("hold", f"{reason}: holding the last safe pose")
        return True

    def forward(self, command: np.ndarray) -> None:
        if self.config.controller_interface == TRAJECTORY:
            period = self.config.trajectory_time_from_start
            point = JointTrajectoryPoint(positions=command.tolist(), time_from_start=Duration(
                sec=int(period), nanosec=int(round((period % 1.0) * 1e9))))
            # A zero stamp means "start now" to Shadow's (ros_control) trajectory controller.
            self.command_publishers[0].publish(JointTrajectory(joint_names=list(joints.SHADOW_JOINT_NAMES), points=[point]))
        else:
            for publisher, value in zip(self.command_publishers, joints.joint_targets_to_motor_commands(command)):
                publisher.publish(Float64(data=float(value)))
        self.counts["forwarded"] += 1

    def interface_description(self) -> str:
        if self.config.controller_interface == TRAJECTORY:
            return interfaces.TRAJECTORY_COMMAND
        return f"{len(joints.ACTUATORS)} position controllers /sh_rh_<motor>_position_controller/command"

    def current_problem(self) -> str:
        """Why commands are not being forwarded now; empty when they are."""
        if self.filter is None:
            return "unconfigured: call configure then activate"
        if not self.active:
            return "inactive: call activate to forward commands"
        if self.estopped:
            return f"emergency stop engaged (release: {interfaces.HAND_EMERGENCY_STOP} data=false)"
        if not self.filter.primed:
            return f"waiting for {interfaces.JOINT_STATES}: the hand's pose is not known"
        if self.last_command_time is None:
            return f"waiting for policy commands on {interfaces.POLICY_COMMAND}"
        if self.holding:
            return (f"holding the last safe pose: no policy command for "
                    f"{self.now() - self.last_command_time:.1f} s")
        return ""

    def publish_diagnostics(self) -> None:
        problem = self.current_problem()
        level = health.OK if not problem else (health.ERROR if self.estopped else health.WARN)
        message = problem or f"forwarding to {self.interface_description()}"
        values = {"state": "active" if self.active else ("inactive" if self.filter else "unconfigured"),
                  "controller_interface": self.get_parameter("controller_interface").value,
                  "emergency_stop": self.estopped, **self.counts}
        self.diagnostics.publish(health.diagnostic_array(self.get_clock().now().to_msg(), interfaces.HAND_NODE,
                                                         level, message, values))


def main(args=None) -> int:
    return run_node(HandNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
