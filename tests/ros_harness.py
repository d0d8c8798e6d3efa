"""Multi-process ROS 2 tests: nodes run as real processes over Fast DDS on loopback.

Each `RosGraph` picks its own ROS_DOMAIN_ID so that tests (and developers' sessions) running at the same
time never hear each other. The test process joins the same domain through a `Probe` node that records
messages, publishes, and calls services, spinning in a background thread.

    with RosGraph(tmp_path) as graph:
        sim = graph.start("dactyl_sim.sim_node", "dactyl_sim", params={"real_time": False})
        states = graph.probe.subscribe("/joint_states", JointState)
        graph.wait_until(lambda: len(states) >= 10, 20, "joint states")
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import rclpy
import yaml
from rclpy.executors import SingleThreadedExecutor

from dactyl_ros import qos


def latest_status(log: "MessageLog", node: str):
    """The newest diagnostic_msgs/DiagnosticStatus of `node` in a /diagnostics MessageLog, or None."""
    for array in reversed(log.snapshot()[0]):
        for status in array.status:
            if status.name == node:
                return status
    return None


def status_values(status) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values} if status is not None else {}


class MessageLog:
    """Messages of one topic with their arrival times (monotonic seconds), thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self.messages: list = []
        self.arrivals: list[float] = []

    def add(self, msg) -> None:
        with self._lock:
            self.messages.append(msg)
            self.arrivals.append(time.monotonic())

    def __len__(self) -> int:
        with self._lock:
            return len(self.messages)

    def last(self):
        with self._lock:
            return self.messages[-1] if self.messages else None

    def snapshot(self) -> tuple[list, list[float]]:
        with self._lock:
            return list(self.messages), list(self.arrivals)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.arrivals.clear()


class Probe:
    """The test's own node in the graph's domain."""

    def __init__(self, domain_id: int):
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("test_probe", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # shutdown races end the loop
                if not self.context.ok():
                    return

    def subscribe(self, topic: str, msg_type, profile=qos.SENSOR) -> MessageLog:
        log = MessageLog()
        self.node.create_subscription(msg_type, topic, log.add, profile)
        return log

    def publisher(self, topic: str, msg_type, profile=qos.COMMAND):
        return self.node.create_publisher(msg_type, topic, profile)

    def call(self, service: str, srv_type, request, timeout: float = 10.0):
        client = self.node.create_client(srv_type, service)
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"service {service} did not appear within {timeout} s")
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"service {service} did not answer within {timeout} s")
            time.sleep(0.01)
        return future.result()

    def close(self) -> None:
        self.node.destroy_node()
        self.context.try_shutdown()
        self._thread.join(timeout=2)


class NodeProcess:
    def __init__(self, args: list[str], env: dict, log_path: Path):
        self.args = args
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.process = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self, sig=signal.SIGINT, timeout: float = 5.0) -> int:
        if self.alive:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
        return self.process.returncode

    def kill(self) -> None:
        """Die without cleaning up, as a crashed process would."""
        if self.alive:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


TEST_DOMAINS = range(10, 101)
_used_domains: set[int] = set()


def fresh_domain_id() -> int:
    """A ROS domain that no earlier graph of this test session used, so that a process an earlier test
    left behind can never join a later test's graph. Tests use 10-100, the benchmarks' graphs 101-200; 0-9 are
    left to developers' own graphs (docs/ros_graph.md)."""
    free = [d for d in TEST_DOMAINS if d not in _used_domains] or list(TEST_DOMAINS)
    domain = random.choice(free)
    _used_domains.add(domain)
    return domain


class RosGraph:
    def __init__(self, tmp_path: Path, domain_id: int | None = None):
        self.tmp_path = Path(tmp_path)
        self.domain_id = domain_id if domain_id is not None else fresh_domain_id()
        self.env = {**os.environ, "ROS_DOMAIN_ID": str(self.domain_id), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                    "PYTHONUNBUFFERED": "1", "RCUTILS_LOGGING_BUFFERED_STREAM": "0"}
        self.processes: list[NodeProcess] = []
        self.probe = Probe(self.domain_id)
        self.expected_nodes = {"test_probe"}  # every node this test puts in its domain (see foreign_nodes)

    def expect_nodes(self, names) -> None:
        """Nodes the test starts other than through `start` (a `dactyl up` subprocess)."""
        self.expected_nodes |= set(names)

    def foreign_nodes(self) -> list[str]:
        """Nodes in this domain that the test did not start: another graph sharing the domain, whose
        messages and service calls the test's nodes would answer (a test result not to be trusted)."""
        return sorted(set(self.probe.node.get_node_names()) - self.expected_nodes)

    def start(self, module: str, name: str, params: dict | None = None, remaps: dict | None = None) -> NodeProcess:
        """Run `python -m module` as node `name` with parameters (written to a YAML file) and remappings."""
        args = [sys.executable, "-m", module, "--ros-args", "-r", f"__node:={name}"]
        self.expected_nodes.add(name)
        if params:
            path = self.tmp_path / f"{name}_{len(self.processes)}.yaml"
            path.write_text(yaml.safe_dump({name: {"ros__parameters": params}}))
            args += ["--params-file", str(path)]
        for src, dst in (remaps or {}).items():
            args += ["-r", f"{src}:={dst}"]
        process = NodeProcess(args, self.env, self.tmp_path / f"{name}_{len(self.processes)}.log")
        self.processes.append(process)
        return process

    def wait_until(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {p.args[2]} ---\n{p.output()[-3000:]}" for p in self.processes)
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}\n{logs}")
            time.sleep(0.02)

    def close(self) -> None:
        for process in self.processes:
            process.stop()
        self.probe.close()

    def __enter__(self) -> "RosGraph":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
