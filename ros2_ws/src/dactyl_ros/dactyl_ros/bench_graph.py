"""`dactyl bench-graph`: the ROS graph's timing, each figure next to a baseline measured in the same run.

1. Policy-node latency. The policy node runs as its own process; this process feeds it fingertips, object
   pose, goal and joint states stamped with the wall clock, one input set per step, and times the command
   that comes back. Interleaved with every step, an echo process (no computation) returns a message of the
   same types over the same QoS: the Fast DDS round trip between two rclpy processes on this machine.
   Reported: the node's own latency from the newest input stamp to its command publish (p50/p99), the round
   trip through the policy node, the echo round trip, and their ratio.
2. The mocap graph unthrottled (sim as fast as possible, in lockstep): how many times faster than real
   time it runs, and the control period as seen by the simulated hand (simulated-time intervals between
   commands) over `sim_minutes`.
3. The same graph in real time: wall-clock control-period jitter at the hand.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ECHO_IN, ECHO_OUT = "/bench/ping", "/bench/pong"


def echo_main() -> int:
    """The baseline's other process: answers each ping with a command-sized message, nothing else."""
    from geometry_msgs.msg import PoseStamped
    from rclpy.node import Node
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from dactyl_core import joints

    from . import qos
    from .node_main import run_node

    class Echo(Node):
        def __init__(self):
            super().__init__("bench_echo")
            self.pub = self.create_publisher(JointTrajectory, ECHO_OUT, qos.COMMAND)
            self.names = list(joints.SHADOW_JOINT_NAMES)
            self.create_subscription(PoseStamped, ECHO_IN, self.on_ping, qos.SENSOR)

        def on_ping(self, msg):
            self.pub.publish(JointTrajectory(header=msg.header, joint_names=self.names,
                                             points=[JointTrajectoryPoint(positions=[0.0] * len(self.names))]))

    return run_node(Echo)


def percentiles(samples, scale=1000.0) -> dict:
    a = np.asarray(samples, dtype=np.float64) * scale
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "mean": float(a.mean()),
            "max": float(a.max()), "n": int(a.size)}


class _Waiter:
    """One reply at a time: set by the subscription callback, waited on by the driving loop."""

    def __init__(self):
        self.event = threading.Event()
        self.arrival = 0.0

    def __call__(self, msg) -> None:
        self.arrival = time.perf_counter()
        self.event.set()


def measure_policy_latency(policy: Path, steps: int, pace: float, env: dict, run_dir: Path, progress: bool) -> dict:
    import rclpy
    from geometry_msgs.msg import Point, Pose, PoseArray, PoseStamped, Quaternion, QuaternionStamped
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Header, String
    from tqdm import tqdm
    from trajectory_msgs.msg import JointTrajectory

    from dactyl_core import interfaces, joints

    from . import qos

    run_dir.mkdir(parents=True, exist_ok=True)
    logs = [open(run_dir / name, "w") for name in ("bench_policy.log", "bench_echo.log")]
    policy_proc = subprocess.Popen([sys.executable, "-m", "dactyl_control.policy_node", "--ros-args", "-p",
                                    f"policy:={policy}", "-p", "diagnostics_period:=0.5"], env=env, stdout=logs[0],
                                   stderr=subprocess.STDOUT)
    echo_proc = subprocess.Popen([sys.executable, "-m", "dactyl_ros.bench_graph", "echo"], env=env, stdout=logs[1],
                                 stderr=subprocess.STDOUT)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(env.get("ROS_DOMAIN_ID", "0") or 0))
    node = rclpy.create_node("bench_graph", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    stop = threading.Event()
    spinner = threading.Thread(target=lambda: _spin(executor, stop), daemon=True)
    spinner.start()
    try:
        pose_pub = node.create_publisher(PoseStamped, interfaces.OBJECT_POSE, qos.SENSOR)
        tips_pub = node.create_publisher(PoseArray, interfaces.FINGERTIPS, qos.SENSOR)
        goal_pub = node.create_publisher(QuaternionStamped, interfaces.GOAL, qos.LATCHED)
        joints_pub = node.create_publisher(JointState, interfaces.JOINT_STATES, qos.SENSOR)
        events_pub = node.create_publisher(String, interfaces.TRIAL_EVENTS, qos.EVENTS)
        ping_pub = node.create_publisher(PoseStamped, ECHO_IN, qos.SENSOR)
        command, pong = _Waiter(), _Waiter()
        node.create_subscription(JointTrajectory, interfaces.POLICY_COMMAND, command, qos.COMMAND)
        node.create_subscription(JointTrajectory, ECHO_OUT, pong, qos.COMMAND)
        diagnostics = latest_status(node, interfaces.POLICY_NODE)
        deadline = time.monotonic() + 60
        while not (pose_pub.get_subscription_count() and events_pub.get_subscription_count()
                   and ping_pub.get_subscription_count() and node.count_publishers(interfaces.POLICY_COMMAND)):
            if time.monotonic() > deadline or policy_proc.poll() is not None:
                raise RuntimeError(f"the policy node did not come up; see {run_dir / 'bench_policy.log'}")
            time.sleep(0.05)
        time.sleep(0.5)

        def header():
            return Header(stamp=node.get_clock().now().to_msg(), frame_id=interfaces.WORLD_FRAME)

        goal_pub.publish(QuaternionStamped(header=header(), quaternion=Quaternion(w=1.0)))
        now = node.get_clock().now().nanoseconds * 1e-9
        events_pub.publish(String(data=json.dumps({"event": "trial_start", "trial": 1, "time": now - 1.0})))
        joints_pub.publish(JointState(header=header(), name=list(joints.SHADOW_JOINT_NAMES), position=[0.0] * 24))
        time.sleep(0.3)
        rng = np.random.default_rng(0)
        tips = np.array([1.0, 0.86, 0.26]) + 0.02 * rng.standard_normal((5, 3))
        round_trip, echo_trip, missed = [], [], 0
        for _ in tqdm(range(steps), desc="policy steps", unit="step", file=sys.stderr, disable=not progress):
            step_start = time.perf_counter()
            pong.event.clear()
            sent = time.perf_counter()
            ping_pub.publish(PoseStamped(header=header()))
            if pong.event.wait(1.0):
                echo_trip.append(pong.arrival - sent)
            command.event.clear()
            angle = rng.uniform(-np.pi, np.pi)
            tips_msg = PoseArray(poses=[Pose(position=Point(x=x, y=y, z=z)) for x, y, z in tips])
            pose_msg = PoseStamped(pose=Pose(position=Point(x=1.0, y=0.87, z=0.17),
                                             orientation=Quaternion(z=np.sin(angle / 2), w=np.cos(angle / 2))))
            tips_msg.header = pose_msg.header = header()  # stamped as they go out: the measurement time
            sent = time.perf_counter()
            tips_pub.publish(tips_msg)
            pose_pub.publish(pose_msg)
            if command.event.wait(1.0):
                round_trip.append(command.arrival - sent)
            else:
                missed += 1
            time.sleep(max(0.0, pace - (time.perf_counter() - step_start)))
        time.sleep(1.2)  # one more diagnostics report covering the last steps
        status = diagnostics()
        node_side = {key: float(status[key]) for key in status if key.startswith("latency_")}
        return {"steps": steps, "missed": missed, "policy_round_trip_ms": percentiles(round_trip),
                "dds_round_trip_ms": percentiles(echo_trip), "policy_node_ms": node_side}
    finally:
        for process in (policy_proc, echo_proc):
            process.send_signal(signal.SIGINT)
        for process in (policy_proc, echo_proc):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()
        stop.set()
        spinner.join()  # no thread may be inside rcl when the context goes away
        node.destroy_node()
        context.try_shutdown()


def latest_status(node, name: str):
    """Subscribe to /diagnostics; the returned function gives the newest key-values reported by `name`."""
    from diagnostic_msgs.msg import DiagnosticArray

    from dactyl_core import interfaces

    from . import qos

    latest: dict[str, str] = {}

    def on_array(msg) -> None:
        for status in msg.status:
            if status.name == name:
                latest.clear()
                latest.update({kv.key: kv.value for kv in status.values})

    node.create_subscription(DiagnosticArray, interfaces.DIAGNOSTICS, on_array, qos.EVENTS)
    return lambda: dict(latest)


def _spin(executor, stop: threading.Event) -> None:
    while not stop.is_set():
        executor.spin_once(timeout_sec=0.05)


def measure_graph(policy: Path, real_time: bool, sim_seconds: float, wall_limit: float, env: dict, run_dir: Path,
                  progress: bool) -> dict:
    """Run the mocap graph (trials without end) and time the commands arriving at the simulated hand."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rosgraph_msgs.msg import Clock
    from tqdm import tqdm
    from trajectory_msgs.msg import JointTrajectory

    from dactyl_core import graph, interfaces

    from . import qos
    from .conversions import stamp_to_seconds
    from .launcher import GraphProcesses

    values = graph.validate_arguments({"policy": str(policy), "trials": "0", "real_time": str(real_time).lower()})
    processes = GraphProcesses(graph.resolve(values), run_dir, env)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(processes.env.get("ROS_DOMAIN_ID", "0") or 0))
    node = rclpy.create_node("bench_graph_hand_side", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    clock = {"now": None}
    arrivals: list[float] = []  # wall time of each command at the hand, as this process hears it
    node.create_subscription(Clock, interfaces.CLOCK, lambda m: clock.__setitem__("now", stamp_to_seconds(m.clock)), qos.SENSOR)
    node.create_subscription(JointTrajectory, interfaces.TRAJECTORY_COMMAND, lambda m: arrivals.append(time.monotonic()),
                             qos.EVENTS)
    sim_status = latest_status(node, interfaces.SIM_NODE)  # the sim times each command's arrival itself
    processes.start()
    try:
        while len(arrivals) < 20:  # the graph is up and the policy acting
            executor.spin_once(timeout_sec=0.1)
            if processes.exited():
                raise RuntimeError(f"a node exited; logs in {run_dir}")
        arrivals.clear()
        while clock["now"] is None:
            executor.spin_once(timeout_sec=0.1)
        sim_start, wall_start = clock["now"], time.monotonic()
        bar = tqdm(total=round(sim_seconds), desc=f"simulated seconds ({'real time' if real_time else 'unthrottled'})",
                   unit="s", file=sys.stderr, disable=not progress)
        while clock["now"] - sim_start < sim_seconds and time.monotonic() - wall_start < wall_limit:
            executor.spin_once(timeout_sec=0.1)
            bar.n = min(round(clock["now"] - sim_start), round(sim_seconds))
            bar.refresh()
            if processes.exited():
                raise RuntimeError(f"a node exited; logs in {run_dir}")
        bar.close()
        sim_elapsed, wall_elapsed = clock["now"] - sim_start, time.monotonic() - wall_start
        wall_intervals = np.diff(np.array(arrivals))
        settle = time.monotonic() + 2.5  # a /diagnostics report covering the whole run
        while time.monotonic() < settle:
            executor.spin_once(timeout_sec=0.1)
        status = sim_status()
    finally:
        processes.stop()
        node.destroy_node()
        context.try_shutdown()
    sim_period = {key[len("command_period_"):].removesuffix("_ms"): float(value) for key, value in status.items() if key.startswith("command_period_")}
    return {"real_time": real_time, "sim_seconds": sim_elapsed, "wall_seconds": wall_elapsed,
            "speed_vs_real_time": sim_elapsed / wall_elapsed, "commands": len(arrivals),
            "lockstep_timeouts": int(status.get("lockstep_timeouts", 0)), "resets": int(status.get("resets", 0)),
            "sim_period_ms": sim_period, "wall_period_ms": _period_stats(wall_intervals)}


def _period_stats(intervals: np.ndarray, nominal: float = 0.08) -> dict:
    ms = intervals * 1000.0
    return {"p1": float(np.percentile(ms, 1)), "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "std": float(ms.std()), "max": float(ms.max()), "late_over_1.5_periods": int((intervals > 1.5 * nominal).sum()),
            "n": int(ms.size)}


if __name__ == "__main__" and sys.argv[1:2] == ["echo"]:
    raise SystemExit(echo_main())
